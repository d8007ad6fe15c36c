//! API keys and webhooks, for admins on the organisation page.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::integrations::{Integrations, NewApiKey, NewWebhook, NewWebhookCreated};
use crate::domain::roles::Role;
use crate::domain::AppError;

/// The organisation's API keys and webhooks with their newest deliveries.
#[server(endpoint = "get_integrations")]
pub async fn get_integrations() -> Result<Integrations, AppError> {
    use crate::ssr::{auth, services::integrations, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    integrations::overview(&state, &caller).await
}

/// Makes an API key; the secret comes back this once.
#[server(endpoint = "create_api_key")]
pub async fn create_api_key(name: String, role: Role) -> Result<NewApiKey, AppError> {
    use crate::ssr::{auth, services::integrations, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    integrations::create_key(&state, &caller, &name, role).await
}

/// Revokes an API key.
#[server(endpoint = "revoke_api_key")]
pub async fn revoke_api_key(id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::integrations, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    integrations::revoke_key(&state, &caller, id).await
}

/// Registers a webhook endpoint; its signing secret comes back this once.
#[server(input = Json, endpoint = "create_webhook")]
pub async fn create_webhook(webhook: NewWebhook) -> Result<NewWebhookCreated, AppError> {
    use crate::ssr::{auth, services::integrations, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    integrations::create_webhook(&state, &caller, &webhook).await
}

/// Removes a webhook endpoint and its delivery log.
#[server(endpoint = "delete_webhook")]
pub async fn delete_webhook(id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::integrations, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    integrations::delete_webhook(&state, &caller, id).await
}
