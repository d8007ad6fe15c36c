//! Retention rules: the organisation's defaults and each group's overrides.

use axum::extract::State;
use axum::Json;

use app::domain::retention::{GroupRetention, RetentionRules};
use app::ssr::services::retention;

use super::error::{ApiError, Errors};
use super::groups::GroupPath;
use super::{ApiCaller, ApiJson, ApiPath};
use crate::http::router::ServerState;

/// The organisation's default retention, a rule per kind (`thumbnail`, `motion_clip`,
/// `recording`, `replay`, `clip`); a kind without a rule is kept forever.
#[utoipa::path(get, path = "/api/v1/retention", tag = "retention",
    responses((status = 200, body = RetentionRules), Errors))]
pub(crate) async fn get_defaults(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
) -> Result<Json<RetentionRules>, ApiError> {
    Ok(Json(retention::defaults(&s.app, &caller).await?))
}

/// Replaces the organisation's default retention (admins). Each rule keeps `keep_days`
/// (1–3650) and/or the `keep_newest` (1–100000) items; a rule with neither keeps everything.
#[utoipa::path(put, path = "/api/v1/retention", tag = "retention",
    request_body = RetentionRules,
    responses((status = 200, body = RetentionRules), Errors))]
pub(crate) async fn put_defaults(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiJson(rules): ApiJson<RetentionRules>,
) -> Result<Json<RetentionRules>, ApiError> {
    Ok(Json(
        retention::set_defaults(&s.app, &caller, &rules).await?,
    ))
}

/// A group's own retention rules and the defaults its other kinds follow.
#[utoipa::path(get, path = "/api/v1/stream-groups/{group_id}/retention", tag = "retention",
    params(GroupPath), responses((status = 200, body = GroupRetention), Errors))]
pub(crate) async fn get_group(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
) -> Result<Json<GroupRetention>, ApiError> {
    Ok(Json(
        retention::of_group(&s.app, &caller, p.group_id).await?,
    ))
}

/// Replaces a group's own retention rules (editors); a kind left out follows the
/// organisation's default.
#[utoipa::path(put, path = "/api/v1/stream-groups/{group_id}/retention", tag = "retention",
    params(GroupPath), request_body = RetentionRules,
    responses((status = 200, body = GroupRetention), Errors))]
pub(crate) async fn put_group(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    ApiJson(rules): ApiJson<RetentionRules>,
) -> Result<Json<GroupRetention>, ApiError> {
    Ok(Json(
        retention::set_group(&s.app, &caller, p.group_id, &rules).await?,
    ))
}
