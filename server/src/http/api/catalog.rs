//! Sessions and assets with filters and cursor paging, an asset's file, and the newest
//! thumbnail of a stream at a stable URL.

use axum::extract::{Request, State};
use axum::response::Response;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use app::domain::assets::{Asset, AssetKind};
use app::domain::integrations::LiveSession;
use app::domain::AppError;
use app::ssr::services::catalog::{self, AssetFilter, Paging};

use super::error::{ApiError, Errors};
use super::groups::StreamPath;
use super::{ApiCaller, ApiPath, ApiQuery};
use crate::http::media::{content_type, serve_stored, NO_CACHE};
use crate::http::router::ServerState;

/// Filters and paging of the session list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SessionQuery {
    /// Only this stream group's sessions.
    pub(crate) group_id: Option<i64>,
    /// Started at or after this time (RFC 3339).
    pub(crate) from: Option<DateTime<Utc>>,
    /// Started before this time (RFC 3339).
    pub(crate) to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// Page size, 1–100 (50 by default).
    pub(crate) limit: Option<i64>,
}

/// A page of sessions, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct SessionPage {
    pub(crate) items: Vec<LiveSession>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub(crate) next_cursor: Option<String>,
}

/// Filters and paging of the asset list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct AssetQuery {
    /// Only this stream's assets.
    pub(crate) stream_id: Option<i64>,
    /// Only this session's assets.
    pub(crate) session_id: Option<i64>,
    /// `thumbnail`, `motion_clip`, `recording` or `replay`.
    pub(crate) kind: Option<AssetKind>,
    /// Made at or after this time (RFC 3339).
    pub(crate) from: Option<DateTime<Utc>>,
    /// Made before this time (RFC 3339).
    pub(crate) to: Option<DateTime<Utc>>,
    /// `next_cursor` of the previous page.
    pub(crate) cursor: Option<String>,
    /// Page size, 1–100 (50 by default).
    pub(crate) limit: Option<i64>,
}

/// A page of assets, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct AssetPage {
    pub(crate) items: Vec<Asset>,
    /// Pass as `cursor` for the next page; absent on the last one.
    pub(crate) next_cursor: Option<String>,
}

/// An asset id in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct AssetPath {
    /// The asset.
    pub(crate) asset_id: i64,
}

/// The organisation's live sessions.
#[utoipa::path(get, path = "/api/v1/sessions", tag = "sessions and assets",
    params(SessionQuery), responses((status = 200, body = SessionPage), Errors))]
pub(crate) async fn list_sessions(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<SessionQuery>,
) -> Result<Json<SessionPage>, ApiError> {
    let paging = Paging {
        cursor: q.cursor,
        limit: q.limit,
        from: q.from,
        to: q.to,
    };
    let page = catalog::sessions(&s.app, &caller, q.group_id, &paging).await?;
    Ok(Json(SessionPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// The organisation's assets: thumbnails, motion clips, recording files, replays.
#[utoipa::path(get, path = "/api/v1/assets", tag = "sessions and assets",
    params(AssetQuery), responses((status = 200, body = AssetPage), Errors))]
pub(crate) async fn list_assets(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiQuery(q): ApiQuery<AssetQuery>,
) -> Result<Json<AssetPage>, ApiError> {
    let filter = AssetFilter {
        stream_id: q.stream_id,
        session_id: q.session_id,
        kind: q.kind,
    };
    let paging = Paging {
        cursor: q.cursor,
        limit: q.limit,
        from: q.from,
        to: q.to,
    };
    let page = catalog::assets(&s.app, &caller, filter, &paging).await?;
    Ok(Json(AssetPage {
        items: page.items,
        next_cursor: page.next_cursor,
    }))
}

/// One asset.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}", tag = "sessions and assets",
    params(AssetPath), responses((status = 200, body = Asset), Errors))]
pub(crate) async fn get_asset(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<AssetPath>,
) -> Result<Json<Asset>, ApiError> {
    Ok(Json(
        catalog::asset_file(&s.app, &caller, p.asset_id)
            .await?
            .asset,
    ))
}

/// An asset's file (JPEG, WebP or MP4; range requests work). A replay is a playlist of
/// segments: play it through the dashboard or a share link instead.
#[utoipa::path(get, path = "/api/v1/assets/{asset_id}/file", tag = "sessions and assets",
    params(AssetPath),
    responses((status = 200, description = "The file", content(("image/jpeg"), ("image/webp"), ("video/mp4"))), Errors))]
pub(crate) async fn asset_file(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<AssetPath>,
    request: Request,
) -> Result<Response, ApiError> {
    let row = catalog::asset_file(&s.app, &caller, p.asset_id).await?;
    if row.asset.kind == AssetKind::Replay {
        return Err(ApiError(AppError::NotFound("File of this asset".into())));
    }
    Ok(serve_stored(
        &s.store,
        &row.path,
        content_type(&row.asset.format),
        "private, max-age=31536000, immutable",
        request,
    )
    .await)
}

/// The stream's newest thumbnail (JPEG), at a stable URL; not cached.
#[utoipa::path(get, path = "/api/v1/streams/{stream_id}/thumbnail.jpg", tag = "sessions and assets",
    params(StreamPath),
    responses((status = 200, description = "The newest thumbnail", content_type = "image/jpeg"), Errors))]
pub(crate) async fn latest_thumbnail(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
    request: Request,
) -> Result<Response, ApiError> {
    let row = catalog::latest_thumbnail(&s.app, &caller, p.stream_id, "jpeg").await?;
    Ok(serve_stored(&s.store, &row.path, "image/jpeg", NO_CACHE, request).await)
}
