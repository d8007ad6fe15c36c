//! Live processing settings per stream and process (read, replace, patch, sync across
//! profiles) with optimistic concurrency, and the state of every job.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use app::domain::jobs::{ApplyMode, JobStatus};
use app::domain::settings::{
    ProcessInput, ProcessKind, ProcessPatch, SaveOutcome, StreamProcessing, VersionedConfig,
};
use app::domain::AppError;
use app::ssr::services::processing;

use super::error::{ApiError, Conflicts, Errors};
use super::groups::{GroupPath, StreamPath};
use super::{ApiCaller, ApiJson, ApiPath, ApiQuery};
use crate::http::router::ServerState;

/// A stream and one of its processes in the path.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub(crate) struct ProcessPath {
    /// The stream.
    pub(crate) stream_id: i64,
    /// `thumbnail`, `motion_clip`, `recording` or `replay`.
    pub(crate) process: ProcessKind,
}

/// The version a write is based on, when not sent as `If-Match`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct VersionQuery {
    /// The version read earlier; a different current version answers 409. Same as
    /// `If-Match: "<version>"`. Without either, the write applies to what is current.
    pub(crate) version: Option<i64>,
}

/// One process's settings after a write, and whether they reached the live stream.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ProcessSaved {
    pub(crate) settings: VersionedConfig,
    /// `applied_live`: the group is live and the change applied without a reconnect;
    /// `next_ingest`: it applies when the next session starts.
    pub(crate) apply: ApplyMode,
}

/// Copy one stream's settings to every transcoding profile of its group.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct SyncRequest {
    /// The stream whose settings are copied.
    pub(crate) from_stream_id: i64,
    /// Which processes; all four when empty or left out.
    #[serde(default)]
    pub(crate) processes: Vec<ProcessKind>,
}

fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).unwrap_or(HeaderValue::from_static("\"0\""))
}

/// The version from `If-Match` (`"3"`, `3` or `W/"3"`) or the query.
fn version(headers: &HeaderMap, query: &VersionQuery) -> Result<Option<i64>, ApiError> {
    match headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        Some(v) => {
            let v = v.trim().trim_start_matches("W/").trim_matches('"');
            v.parse::<i64>().map(Some).map_err(|_| {
                ApiError::bad_request("If-Match must be a settings version, e.g. \"3\"")
            })
        }
        None => Ok(query.version),
    }
}

fn saved(outcome: SaveOutcome, stream_id: i64, kind: ProcessKind) -> Result<Response, ApiError> {
    let settings = outcome
        .settings
        .iter()
        .find(|s| s.stream_id == stream_id)
        .and_then(|s| s.get(kind))
        .copied()
        .ok_or(ApiError(AppError::NotFound("Settings".into())))?;
    let mut r = Json(ProcessSaved {
        settings,
        apply: outcome.apply,
    })
    .into_response();
    r.headers_mut().insert(header::ETAG, etag(settings.version));
    Ok(r)
}

/// The settings of a stream's four processes, each with its version.
#[utoipa::path(get, path = "/api/v1/streams/{stream_id}/processing", tag = "live processing",
    params(StreamPath), responses((status = 200, body = StreamProcessing), Errors))]
pub(crate) async fn get_stream_processing(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
) -> Result<Json<StreamProcessing>, ApiError> {
    Ok(Json(
        processing::for_stream(&s.app, &caller, p.stream_id).await?,
    ))
}

/// One process's settings; the `ETag` is its version.
#[utoipa::path(get, path = "/api/v1/streams/{stream_id}/processing/{process}", tag = "live processing",
    params(ProcessPath), responses((status = 200, body = VersionedConfig), Errors))]
pub(crate) async fn get_process(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<ProcessPath>,
) -> Result<Response, ApiError> {
    let all = processing::for_stream(&s.app, &caller, p.stream_id).await?;
    let v = *all
        .get(p.process)
        .ok_or(ApiError(AppError::NotFound("Settings".into())))?;
    let mut r = Json(v).into_response();
    r.headers_mut().insert(header::ETAG, etag(v.version));
    Ok(r)
}

/// Replaces one process's settings. Ranges: thumbnail interval 10–3600 s; motion clip
/// duration 1–60 s and interval 10–3600 s; recording and replay duration 1–86400 s or
/// `"entire_stream"`.
#[utoipa::path(put, path = "/api/v1/streams/{stream_id}/processing/{process}", tag = "live processing",
    params(ProcessPath, VersionQuery, ("If-Match" = Option<String>, Header, description = "The version the change is based on, e.g. \"3\"")),
    request_body = ProcessInput,
    responses((status = 200, body = ProcessSaved), Conflicts, Errors))]
pub(crate) async fn replace_process(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<ProcessPath>,
    ApiQuery(q): ApiQuery<VersionQuery>,
    ApiJson(input): ApiJson<ProcessInput>,
) -> Result<Response, ApiError> {
    let v = version(&headers, &q)?;
    let outcome = processing::set_one(&s.app, &caller, p.stream_id, p.process, input, v).await?;
    saved(outcome, p.stream_id, p.process)
}

/// Changes the given fields of one process's settings, keeping the others.
#[utoipa::path(patch, path = "/api/v1/streams/{stream_id}/processing/{process}", tag = "live processing",
    params(ProcessPath, VersionQuery, ("If-Match" = Option<String>, Header, description = "The version the change is based on, e.g. \"3\"")),
    request_body = ProcessPatch,
    responses((status = 200, body = ProcessSaved), Conflicts, Errors))]
pub(crate) async fn patch_process(
    State(s): State<ServerState>,
    headers: HeaderMap,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<ProcessPath>,
    ApiQuery(q): ApiQuery<VersionQuery>,
    ApiJson(patch): ApiJson<ProcessPatch>,
) -> Result<Response, ApiError> {
    let v = version(&headers, &q)?;
    let outcome = processing::patch_one(&s.app, &caller, p.stream_id, p.process, patch, v).await?;
    saved(outcome, p.stream_id, p.process)
}

/// "Sync settings across profiles": copies one stream's settings to every transcoding
/// profile of the group, in one save.
#[utoipa::path(post, path = "/api/v1/stream-groups/{group_id}/processing/sync", tag = "live processing",
    params(GroupPath), request_body = SyncRequest,
    responses((status = 200, body = SaveOutcome), Conflicts, Errors))]
pub(crate) async fn sync_group(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<GroupPath>,
    ApiJson(body): ApiJson<SyncRequest>,
) -> Result<Json<SaveOutcome>, ApiError> {
    Ok(Json(
        processing::sync(
            &s.app,
            &caller,
            p.group_id,
            body.from_stream_id,
            &body.processes,
        )
        .await?,
    ))
}

/// The state of each process's job: idle, starting, running, restarting (with the last
/// error) or failed (with the reason).
#[utoipa::path(get, path = "/api/v1/streams/{stream_id}/jobs", tag = "live processing",
    params(StreamPath), responses((status = 200, body = Vec<JobStatus>), Errors))]
pub(crate) async fn get_jobs(
    State(s): State<ServerState>,
    ApiCaller(caller): ApiCaller,
    ApiPath(p): ApiPath<StreamPath>,
) -> Result<Json<Vec<JobStatus>>, ApiError> {
    Ok(Json(processing::jobs(&s.app, &caller, p.stream_id).await?))
}
