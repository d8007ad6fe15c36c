//! Retention rules: an organisation's defaults (admins set them) and a group's overrides
//! (editors set them), validated with the domain's rules. The runs themselves are the
//! server's (`server::retention`).

use super::super::auth::Caller;
use super::super::repo;
use super::super::state::{AppState, OrInternal};
use super::streams::find_group;
use crate::domain::retention::{GroupRetention, RetainedKind, RetentionRules, RetentionRun};
use crate::domain::roles::Permission;
use crate::domain::AppError;

/// The organisation's defaults.
pub async fn defaults(state: &AppState, caller: &Caller) -> Result<RetentionRules, AppError> {
    caller.require(Permission::ViewStreams)?;
    repo::retention::rules(&state.db, caller.organisation_id, 0)
        .await
        .or_internal()
}

/// Replaces the organisation's defaults.
pub async fn set_defaults(
    state: &AppState,
    caller: &Caller,
    rules: &RetentionRules,
) -> Result<RetentionRules, AppError> {
    caller.require(Permission::ManageMembers)?;
    rules.validate()?;
    repo::retention::set_rules(&state.db, caller.organisation_id, 0, rules)
        .await
        .or_internal()?;
    tracing::info!(
        org.id = caller.organisation_id,
        "retention defaults changed"
    );
    defaults(state, caller).await
}

/// A group's own rules and the defaults it falls back to.
pub async fn of_group(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<GroupRetention, AppError> {
    caller.require(Permission::ViewStreams)?;
    let group = find_group(state, caller, group_id).await?;
    Ok(GroupRetention {
        rules: repo::retention::rules(&state.db, caller.organisation_id, group.id)
            .await
            .or_internal()?,
        defaults: repo::retention::rules(&state.db, caller.organisation_id, 0)
            .await
            .or_internal()?,
        removed: repo::retention::log_of_group(&state.db, group.id, REMOVED_LISTED)
            .await
            .or_internal()?
            .into_iter()
            .filter_map(|l| {
                Some(RetentionRun {
                    kind: RetainedKind::from_key(&l.kind)?,
                    items: l.items,
                    bytes: l.bytes,
                    reason: l.reason,
                    at: l.at,
                })
            })
            .collect(),
    })
}

/// Lines of the removal log shown with a group.
const REMOVED_LISTED: i64 = 50;

/// Replaces a group's own rules (a kind left out follows the organisation's default).
pub async fn set_group(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    rules: &RetentionRules,
) -> Result<GroupRetention, AppError> {
    caller.require(Permission::EditStreams)?;
    let group = find_group(state, caller, group_id).await?;
    rules.validate()?;
    repo::retention::set_rules(&state.db, caller.organisation_id, group.id, rules)
        .await
        .or_internal()?;
    tracing::info!(group.id = group.id, "retention rules changed");
    of_group(state, caller, group_id).await
}
