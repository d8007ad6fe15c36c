//! What start-up repair could not settle (the organisation's quarantine).

use axum::extract::State;
use axum::Json;

use app::domain::assets::QuarantinedFile;
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
