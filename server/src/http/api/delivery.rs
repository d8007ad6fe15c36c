//! Delivery to viewers without an account: a stream's public URLs (on/off, token rotation)
//! and signed, expiring URLs with the organisation's signing keys.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use app::domain::delivery::{
    NewSigningKey, SignedTarget, SignedUrl, SigningKeyInfo, StreamDelivery,
};
use app::ssr::services::delivery;

use super::error::{ApiError, Errors};
use super::groups::GroupPath;
use super::{ApiCaller, ApiJson, ApiPath};
use crate::http::router::ServerState;

/// A stream id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct StreamPath {
    /// The stream.
    pub(crate) stream_id: i64,
}

/// Switches public delivery.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DeliveryInput {
    /// Anyone with the URLs may read the stream's newest thumbnail and motion clip and its
    /// live replay.
    pub(crate) public: bool,
}

/// How long a signed URL works.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SignInput {
    /// Seconds from now, 1–604800 (7 days).
    pub(crate) expires_in_s: i64,
}

/// A new signing key's name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyInput {
    /// 1–80 characters.
    pub(crate) name: String,
}

/// An asset id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AssetPath {
    /// The asset.
    pub(crate) asset_id: i64,
}

/// A clip id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ClipPath {
    /// The clip.
    pub(crate) clip_id: i64,
}

/// A signing key id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct KeyPath {
    /// The key's public id (`key_…`).
    pub(crate) key_id: String,
}

/// `http(s)://host` of the request, for absolute URLs a website can embed.
fn origin(s: &ServerState, headers: &HeaderMap) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = if s.app.config.secure_cookies {
        "https"
    } else {
        "http"
    };
    format!("{scheme}://{host}")
}

fn absolute(s: &ServerState, headers: &HeaderMap, d: StreamDelivery) -> StreamDelivery {
    let o = origin(s, headers);
    StreamDelivery::new(d.stream_id, d.urls().map(|u| u.absolute(&o)))
}

/// Whether the stream's files are public, and their URLs when they are.
#[utoipa::path(get, path = "/api/v1/streams/{stream_id}/delivery", tag = "delivery",
    params(StreamPath), responses((status = 200, body = StreamDelivery), Errors))]
pub(crate) async fn get_delivery(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
    headers: HeaderMap,
) -> Result<Json<StreamDelivery>, ApiError> {
    let d = delivery::get(&s.app, &caller, p.stream_id).await?;
    Ok(Json(absolute(&s, &headers, d)))
}

/// Switches public delivery on or off (editors). The URLs stay the same across switches;
/// rotate the token to change them.
#[utoipa::path(put, path = "/api/v1/streams/{stream_id}/delivery", tag = "delivery",
    params(StreamPath), request_body = DeliveryInput,
    responses((status = 200, body = StreamDelivery), Errors))]
pub(crate) async fn put_delivery(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<DeliveryInput>,
) -> Result<Json<StreamDelivery>, ApiError> {
    let d = delivery::set_public(&s.app, &caller, p.stream_id, input.public).await?;
    Ok(Json(absolute(&s, &headers, d)))
}

/// Gives the stream a new public token: the old URLs stop at once.
#[utoipa::path(post, path = "/api/v1/streams/{stream_id}/delivery/rotate", tag = "delivery",
    params(StreamPath), responses((status = 200, body = StreamDelivery), Errors))]
pub(crate) async fn rotate_delivery(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
    headers: HeaderMap,
) -> Result<Json<StreamDelivery>, ApiError> {
    let d = delivery::rotate(&s.app, &caller, p.stream_id).await?;
    Ok(Json(absolute(&s, &headers, d)))
}

/// The delivery of every stream of a group.
#[derive(Debug, serde::Serialize, ToSchema)]
pub(crate) struct GroupDelivery {
    /// The ingest stream first, then the transcoding profiles.
    pub(crate) streams: Vec<StreamDelivery>,
}

fn absolute_all(s: &ServerState, headers: &HeaderMap, all: Vec<StreamDelivery>) -> GroupDelivery {
    GroupDelivery {
        streams: all.into_iter().map(|d| absolute(s, headers, d)).collect(),
    }
}

/// Whether each stream of the group is public, and its URLs when it is.
#[utoipa::path(get, path = "/api/v1/groups/{group_id}/delivery", tag = "delivery",
    params(GroupPath), responses((status = 200, body = GroupDelivery), Errors))]
pub(crate) async fn get_group_delivery(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    headers: HeaderMap,
) -> Result<Json<GroupDelivery>, ApiError> {
    let all = delivery::of_group(&s.app, &caller, p.group_id).await?;
    Ok(Json(absolute_all(&s, &headers, all)))
}

/// Switches public delivery of every stream of the group at once (editors); each stream keeps
/// its own URLs.
#[utoipa::path(put, path = "/api/v1/groups/{group_id}/delivery", tag = "delivery",
    params(GroupPath), request_body = DeliveryInput,
    responses((status = 200, body = GroupDelivery), Errors))]
pub(crate) async fn put_group_delivery(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<DeliveryInput>,
) -> Result<Json<GroupDelivery>, ApiError> {
    let all = delivery::set_group_public(&s.app, &caller, p.group_id, input.public).await?;
    Ok(Json(absolute_all(&s, &headers, all)))
}

fn absolute_url(s: &ServerState, headers: &HeaderMap, u: SignedUrl) -> SignedUrl {
    SignedUrl {
        url: format!("{}{}", origin(s, headers), u.url),
        ..u
    }
}

/// A signed URL for an asset: a replay's playlist (its segments are covered by the same
/// signature), or the file of a thumbnail, motion clip or recording.
#[utoipa::path(post, path = "/api/v1/assets/{asset_id}/signed-url", tag = "delivery",
    params(AssetPath), request_body = SignInput,
    responses((status = 200, body = SignedUrl), Errors))]
pub(crate) async fn sign_asset(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<AssetPath>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<SignInput>,
) -> Result<Json<SignedUrl>, ApiError> {
    let u = delivery::sign(
        &s.app,
        &caller,
        SignedTarget::Asset(p.asset_id),
        input.expires_in_s,
    )
    .await?;
    Ok(Json(absolute_url(&s, &headers, u)))
}

/// A signed URL for a clip's playlist (its segments and MP4 are covered too).
#[utoipa::path(post, path = "/api/v1/clips/{clip_id}/signed-url", tag = "delivery",
    params(ClipPath), request_body = SignInput,
    responses((status = 200, body = SignedUrl), Errors))]
pub(crate) async fn sign_clip(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<ClipPath>,
    headers: HeaderMap,
    ApiJson(input): ApiJson<SignInput>,
) -> Result<Json<SignedUrl>, ApiError> {
    let u = delivery::sign(
        &s.app,
        &caller,
        SignedTarget::Clip(p.clip_id),
        input.expires_in_s,
    )
    .await?;
    Ok(Json(absolute_url(&s, &headers, u)))
}

/// A recording share link's settings.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ShareRecordingInput {
    /// 1–120 characters, shown on the share page.
    pub(crate) title: String,
    pub(crate) expiry: app::domain::clips::LinkExpiry,
    /// Share every recording file of the asset's stream and session (played in turn).
    #[serde(default)]
    pub(crate) whole_session: bool,
}

/// Shares a recording (or its whole session) with a link `/s/<token>` anyone may open until
/// it expires or is revoked; the page plays it on phones and desktops and offers an embed
/// snippet.
#[utoipa::path(post, path = "/api/v1/assets/{asset_id}/share", tag = "delivery",
    params(AssetPath), request_body = ShareRecordingInput,
    responses((status = 201, body = app::domain::clips::ShareLink), Errors))]
pub(crate) async fn share_recording(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<AssetPath>,
    ApiJson(input): ApiJson<ShareRecordingInput>,
) -> Result<(StatusCode, Json<app::domain::clips::ShareLink>), ApiError> {
    let link = app::ssr::services::clips::share_recording(
        &s.app,
        &caller,
        p.asset_id,
        &input.title,
        input.expiry,
        input.whole_session,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(link)))
}

/// The organisation's URL signing keys (admins), without secrets.
#[utoipa::path(get, path = "/api/v1/signing-keys", tag = "delivery",
    responses((status = 200, body = Vec<SigningKeyInfo>), Errors))]
pub(crate) async fn list_keys(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<SigningKeyInfo>>, ApiError> {
    Ok(Json(delivery::keys(&s.app, &caller).await?))
}

/// Makes a signing key for a backend that signs its own URLs; the secret is in this answer
/// only.
#[utoipa::path(post, path = "/api/v1/signing-keys", tag = "delivery",
    request_body = KeyInput, responses((status = 201, body = NewSigningKey), Errors))]
pub(crate) async fn create_key(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<KeyInput>,
) -> Result<(StatusCode, Json<NewSigningKey>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(delivery::create_key(&s.app, &caller, &input.name).await?),
    ))
}

/// Revokes a signing key: every URL it signed stops at once.
#[utoipa::path(delete, path = "/api/v1/signing-keys/{key_id}", tag = "delivery",
    params(KeyPath), responses((status = 204), Errors))]
pub(crate) async fn revoke_key(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<KeyPath>,
) -> Result<StatusCode, ApiError> {
    delivery::revoke_key(&s.app, &caller, &p.key_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
