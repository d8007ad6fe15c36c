//! Stream groups (an ingest and its transcoding profiles) and their streams.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use app::domain::streams::{NewStreamGroup, StreamGroupDetail, StreamGroupSummary, StreamInfo};
use app::ssr::services::streams;

use super::error::{ApiError, Errors};
use super::{ApiCaller, ApiJson, ApiPath};
use crate::http::router::ServerState;

/// A group id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct GroupPath {
    /// The stream group.
    pub(crate) group_id: i64,
}

/// A stream id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct StreamPath {
    /// The stream (an ingest or a transcoding profile).
    pub(crate) stream_id: i64,
}

/// A new name for a group.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct GroupRename {
    /// 1–80 characters; the profiles are renamed "<name> <quality>".
    pub(crate) name: String,
}

/// A freshly issued publish key.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct StreamKey {
    /// Publish to `rtmp://<host>:1935/live/<stream_key>`; the old key stops working.
    pub(crate) stream_key: String,
}

fn host(headers: &HeaderMap) -> Option<&str> {
    headers.get("host").and_then(|h| h.to_str().ok())
}

/// The organisation's stream groups with their live status.
#[utoipa::path(get, path = "/api/v1/stream-groups", tag = "stream groups",
    responses((status = 200, body = Vec<StreamGroupSummary>), Errors))]
pub(crate) async fn list_groups(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<StreamGroupSummary>>, ApiError> {
    Ok(Json(streams::list_groups(&s.app, &caller).await?))
}

/// Creates a group: its ingest with a fresh publish key, its transcoding profiles, and the
/// live processing settings of every stream (ingest first, then profiles best first).
#[utoipa::path(post, path = "/api/v1/stream-groups", tag = "stream groups",
    request_body = NewStreamGroup,
    responses((status = 201, body = StreamGroupDetail), Errors))]
pub(crate) async fn create_group(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewStreamGroup>,
) -> Result<(StatusCode, Json<StreamGroupDetail>), ApiError> {
    let id = streams::create_group(&s.app, &caller, &input).await?;
    let detail = streams::group_detail(&s.app, &caller, id, host(&headers)).await?;
    Ok((StatusCode::CREATED, Json(detail)))
}

/// One group with its streams and publish details (the key only for roles that may see it).
#[utoipa::path(get, path = "/api/v1/stream-groups/{group_id}", tag = "stream groups",
    params(GroupPath), responses((status = 200, body = StreamGroupDetail), Errors))]
pub(crate) async fn get_group(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
) -> Result<Json<StreamGroupDetail>, ApiError> {
    Ok(Json(
        streams::group_detail(&s.app, &caller, p.group_id, host(&headers)).await?,
    ))
}

/// Renames a group.
#[utoipa::path(patch, path = "/api/v1/stream-groups/{group_id}", tag = "stream groups",
    params(GroupPath), request_body = GroupRename,
    responses((status = 200, body = StreamGroupDetail), Errors))]
pub(crate) async fn rename_group(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    ApiJson(body): ApiJson<GroupRename>,
) -> Result<Json<StreamGroupDetail>, ApiError> {
    streams::rename_group(&s.app, &caller, p.group_id, &body.name).await?;
    Ok(Json(
        streams::group_detail(&s.app, &caller, p.group_id, host(&headers)).await?,
    ))
}

/// Deletes a group with its streams and settings; a live publisher is disconnected.
#[utoipa::path(delete, path = "/api/v1/stream-groups/{group_id}", tag = "stream groups",
    params(GroupPath), responses((status = 204), Errors))]
pub(crate) async fn delete_group(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
) -> Result<StatusCode, ApiError> {
    streams::delete_group(&s.app, &caller, p.group_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Issues a new publish key (admins); the old key stops working and a publisher on it is cut.
#[utoipa::path(post, path = "/api/v1/stream-groups/{group_id}/key", tag = "stream groups",
    params(GroupPath), responses((status = 200, body = StreamKey), Errors))]
pub(crate) async fn regenerate_key(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
) -> Result<Json<StreamKey>, ApiError> {
    Ok(Json(StreamKey {
        stream_key: streams::regenerate_key(&s.app, &caller, p.group_id).await?,
    }))
}

/// An SRT passphrase to set, or `null` to publish without one.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SrtPassphrase {
    /// 10 to 79 printable ASCII characters, no spaces; SRT publishers must then encrypt
    /// (AES) with it. `null` or empty: no passphrase.
    pub(crate) passphrase: Option<String>,
}

/// Sets or clears the group's SRT passphrase (admins). Answers the group with its
/// `publish.srt_url`, which then carries the passphrase. Connected publishers stay.
#[utoipa::path(put, path = "/api/v1/stream-groups/{group_id}/srt-passphrase", tag = "stream groups",
    params(GroupPath), request_body = SrtPassphrase,
    responses((status = 200, body = StreamGroupDetail), Errors))]
pub(crate) async fn set_srt_passphrase(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    ApiJson(body): ApiJson<SrtPassphrase>,
) -> Result<Json<StreamGroupDetail>, ApiError> {
    streams::set_srt_passphrase(&s.app, &caller, p.group_id, body.passphrase).await?;
    Ok(Json(
        streams::group_detail(&s.app, &caller, p.group_id, host(&headers)).await?,
    ))
}

/// How long the group's live session waits for a dropped publisher.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct ReconnectGrace {
    /// 0 to 300 seconds (0: a drop ends the session at once); `null`: the server's default.
    pub(crate) seconds: Option<i64>,
}

/// Sets the group's reconnect grace (editors). A publisher whose connection drops (no
/// unpublish) and publishes again within it continues the same live session: one replay with
/// a discontinuity, a new recording piece, `session.resumed` instead of an end and a start.
#[utoipa::path(put, path = "/api/v1/stream-groups/{group_id}/reconnect-grace", tag = "stream groups",
    params(GroupPath), request_body = ReconnectGrace,
    responses((status = 200, body = StreamGroupDetail), Errors))]
pub(crate) async fn set_reconnect_grace(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    ApiJson(body): ApiJson<ReconnectGrace>,
) -> Result<Json<StreamGroupDetail>, ApiError> {
    streams::set_reconnect_grace(&s.app, &caller, p.group_id, body.seconds).await?;
    Ok(Json(
        streams::group_detail(&s.app, &caller, p.group_id, host(&headers)).await?,
    ))
}

/// One stream.
#[utoipa::path(get, path = "/api/v1/streams/{stream_id}", tag = "stream groups",
    params(StreamPath), responses((status = 200, body = StreamInfo), Errors))]
pub(crate) async fn get_stream(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
) -> Result<Json<StreamInfo>, ApiError> {
    Ok(Json(streams::stream(&s.app, &caller, p.stream_id).await?))
}
