//! What the server reports about the organisation's storage: its use against its quota, and
//! what start-up repair could not settle (the quarantine).

use axum::extract::State;
use axum::Json;

use app::domain::assets::QuarantinedFile;
use app::domain::jobs::StorageStatus;
use app::ssr::services::catalog;

use super::error::{ApiError, Errors};
use super::ApiCaller;
use crate::http::router::ServerState;

/// Files and folders start-up repair moved aside instead of deleting (admins), newest
/// first: the operator finds them under `quarantine/` in the data folder.
#[utoipa::path(get, path = "/api/v1/quarantine", tag = "operations",
    responses((status = 200, body = Vec<QuarantinedFile>), Errors))]
pub(crate) async fn list_quarantine(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<Vec<QuarantinedFile>>, ApiError> {
    Ok(Json(catalog::quarantined(&s.app, &caller).await?))
}

/// The organisation's storage: its media on disk against its quota (`level` is `ok` below
/// 90 %, `warning` from 90 %, `full` from 100 %: new thumbnails, motion clips, clips and saved
/// spans wait), and the server's free disk space.
#[utoipa::path(get, path = "/api/v1/usage", tag = "operations",
    responses((status = 200, body = StorageStatus), Errors))]
pub(crate) async fn usage(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<StorageStatus>, ApiError> {
    caller.require(app::domain::roles::Permission::ViewStreams)?;
    Ok(Json(s.app.pipeline.storage(caller.organisation_id)))
}
