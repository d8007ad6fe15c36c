//! The server's status page, for server admins (made by the operator's CLI): the machine,
//! every live session with its job states, recent restarts and failures, retention runs.

use super::super::auth::Caller;
use super::super::repo;
use super::super::state::{AppState, OrInternal};
use crate::domain::retention::RetainedKind;
use crate::domain::status::{LiveSessionRow, LiveStream, RetentionRow, ServerStatus};
use crate::domain::AppError;

/// A node whose heartbeat is older than this is shown as not answering (nodes beat every
/// few seconds).
const NODE_ALIVE_WITHIN_S: i64 = 15;

/// Retention runs listed.
const RETENTION_LISTED: i64 = 20;

/// Everything the status page shows; only for server admins.
pub async fn server_status(state: &AppState, caller: &Caller) -> Result<ServerStatus, AppError> {
    if !repo::users::is_server_admin(&state.db, caller.user_id)
        .await
        .or_internal()?
    {
        return Err(AppError::Forbidden(
            "only server admins see the server's status (the operator makes them with `server user make-admin`)".into(),
        ));
    }
    let mut live = Vec::new();
    for (organisation, group_id, group, started_at, node) in
        repo::live_sessions::all_live(&state.db)
            .await
            .or_internal()?
    {
        let streams = repo::streams::streams_of(&state.db, group_id)
            .await
            .or_internal()?
            .into_iter()
            .map(|s| LiveStream {
                jobs: state.pipeline.job_states(&[s.id]),
                name: s.name,
            })
            .collect();
        live.push(LiveSessionRow {
            organisation,
            group_id,
            group,
            started_at,
            node,
            streams,
        });
    }
    let retention = repo::retention::recent_all(&state.db, RETENTION_LISTED)
        .await
        .or_internal()?
        .into_iter()
        .filter_map(|(organisation, group_id, l)| {
            Some(RetentionRow {
                at: l.at,
                organisation,
                group_id,
                kind: RetainedKind::from_key(&l.kind)?,
                items: l.items,
                bytes: l.bytes,
                reason: l.reason,
            })
        })
        .collect();
    let (machine, failures) = state.pipeline.machine().await.map_err(AppError::from)?;
    let now = state.clock.now();
    let nodes = repo::nodes::all(
        &state.db,
        now - chrono::Duration::seconds(NODE_ALIVE_WITHIN_S),
    )
    .await
    .or_internal()?;
    Ok(ServerStatus {
        version: env!("CARGO_PKG_VERSION").into(),
        node_id: state.config.node_id.clone(),
        nodes,
        machine,
        live,
        failures,
        retention,
        fetched_at: state.clock.now(),
    })
}
