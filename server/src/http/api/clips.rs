//! Clips cut from replays (instantly, without re-encoding) and their share links.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::IntoParams;

use app::domain::clips::{Clip, NewClip};
use app::ssr::services::clips;

use super::error::{ApiError, Errors};
use super::{ApiCaller, ApiJson, ApiPath, ApiQuery};
use crate::http::router::ServerState;

/// Which stream's clips.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ClipQuery {
    /// The stream.
    pub(crate) stream_id: i64,
}

/// A clip id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ClipPath {
    /// The clip.
    pub(crate) clip_id: i64,
}

/// A share link id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct LinkPath {
    /// The share link.
    pub(crate) link_id: i64,
}

/// A stream's clips, newest first, each with its newest share link.
#[utoipa::path(get, path = "/api/v1/clips", tag = "clips",
    params(ClipQuery), responses((status = 200, body = Vec<Clip>), Errors))]
pub(crate) async fn list_clips(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<ClipQuery>,
) -> Result<Json<Vec<Clip>>, ApiError> {
    Ok(Json(clips::list(&s.app, &caller, q.stream_id).await?))
}

/// Cuts a clip from a replay between two wall-clock times (1–600 s; cut outward at segment
/// boundaries) and makes its share link. The MP4 download follows within a second or so.
#[utoipa::path(post, path = "/api/v1/clips", tag = "clips",
    request_body = NewClip, responses((status = 201, body = Clip), Errors))]
pub(crate) async fn create_clip(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(input): ApiJson<NewClip>,
) -> Result<(StatusCode, Json<Clip>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(clips::create(&s.app, &caller, &input).await?),
    ))
}

/// Deletes a clip, its share links and its files.
#[utoipa::path(delete, path = "/api/v1/clips/{clip_id}", tag = "clips",
    params(ClipPath), responses((status = 204), Errors))]
pub(crate) async fn delete_clip(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<ClipPath>,
) -> Result<StatusCode, ApiError> {
    clips::delete(&s.app, &caller, p.clip_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Revokes a share link: from now on it shows not-found.
#[utoipa::path(post, path = "/api/v1/share-links/{link_id}/revoke", tag = "clips",
    params(LinkPath), responses((status = 204), Errors))]
pub(crate) async fn revoke_link(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<LinkPath>,
) -> Result<StatusCode, ApiError> {
    clips::revoke_link(&s.app, &caller, p.link_id).await?;
    Ok(StatusCode::NO_CONTENT)
}
