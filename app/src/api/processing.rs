//! Live processing settings of a stream group.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::delivery::StreamDelivery;
use crate::domain::overview::ProcessingOverview;
use crate::domain::settings::{ProcessChange, SaveOutcome, SettingsChange, StreamProcessing};
use crate::domain::AppError;

/// Settings of every stream of a group.
#[server(endpoint = "get_processing")]
pub async fn get_processing(group_id: i64) -> Result<Vec<StreamProcessing>, AppError> {
    use crate::ssr::{auth, services::processing, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    processing::get(&state, &caller, group_id).await
}

/// Everything the Live Processing tab shows: settings, job states, the newest assets.
#[server(endpoint = "get_processing_overview")]
pub async fn get_processing_overview(group_id: i64) -> Result<ProcessingOverview, AppError> {
    use crate::ssr::{auth, services::processing, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    processing::overview(&state, &caller, group_id).await
}

/// Saves changes (all or nothing); stale versions are refused with the current values.
#[server(input = Json, endpoint = "update_processing")]
pub async fn update_processing(
    group_id: i64,
    changes: Vec<ProcessChange>,
) -> Result<SaveOutcome, AppError> {
    use crate::ssr::{auth, services::processing, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    processing::update(&state, &caller, group_id, &changes).await
}

/// Who changed which setting of the group, when, from what to what.
#[server(endpoint = "processing_history")]
pub async fn processing_history(group_id: i64) -> Result<Vec<SettingsChange>, AppError> {
    use crate::ssr::{auth, services::processing, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    processing::history(&state, &caller, group_id).await
}

/// Switches a stream's public delivery (editors).
#[server(endpoint = "set_public_delivery")]
pub async fn set_public_delivery(stream_id: i64, public: bool) -> Result<StreamDelivery, AppError> {
    use crate::ssr::{auth, services::delivery, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    delivery::set_public(&state, &caller, stream_id, public).await
}

/// Switches public delivery of every stream of a group at once (editors).
#[server(endpoint = "set_group_public_delivery")]
pub async fn set_group_public_delivery(
    group_id: i64,
    public: bool,
) -> Result<Vec<StreamDelivery>, AppError> {
    use crate::ssr::{auth, services::delivery, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    delivery::set_group_public(&state, &caller, group_id, public).await
}

/// Gives a stream a new public token; the old URLs stop at once (editors).
#[server(endpoint = "rotate_public_token")]
pub async fn rotate_public_token(stream_id: i64) -> Result<StreamDelivery, AppError> {
    use crate::ssr::{auth, services::delivery, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    delivery::rotate(&state, &caller, stream_id).await
}
