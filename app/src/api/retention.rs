//! Retention rules of a stream group and the organisation's defaults.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::retention::{GroupRetention, RetentionRules};
use crate::domain::AppError;

/// A group's own rules, the defaults it follows, and what retention removed.
#[server(endpoint = "get_group_retention")]
pub async fn get_group_retention(group_id: i64) -> Result<GroupRetention, AppError> {
    use crate::ssr::{auth, services::retention, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    retention::of_group(&state, &caller, group_id).await
}

/// Replaces a group's own rules (editors).
#[server(input = Json, endpoint = "set_group_retention")]
pub async fn set_group_retention(
    group_id: i64,
    rules: RetentionRules,
) -> Result<GroupRetention, AppError> {
    use crate::ssr::{auth, services::retention, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    retention::set_group(&state, &caller, group_id, &rules).await
}

/// The organisation's defaults.
#[server(endpoint = "get_retention_defaults")]
pub async fn get_retention_defaults() -> Result<RetentionRules, AppError> {
    use crate::ssr::{auth, services::retention, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    retention::defaults(&state, &caller).await
}

/// Replaces the organisation's defaults (admins).
#[server(input = Json, endpoint = "set_retention_defaults")]
pub async fn set_retention_defaults(rules: RetentionRules) -> Result<RetentionRules, AppError> {
    use crate::ssr::{auth, services::retention, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    retention::set_defaults(&state, &caller, &rules).await
}
