//! Stream groups: list, create, show, regenerate the key, delete.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::streams::{NewStreamGroup, StreamGroupDetail, StreamGroupSummary};
use crate::domain::AppError;

/// The organisation's stream groups.
#[server(endpoint = "list_stream_groups")]
pub async fn list_stream_groups() -> Result<Vec<StreamGroupSummary>, AppError> {
    use crate::ssr::{auth, services::streams, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    streams::list_groups(&state, &caller).await
}

/// One group with its streams and publish details.
#[server(endpoint = "get_stream_group")]
pub async fn get_stream_group(id: i64) -> Result<StreamGroupDetail, AppError> {
    use crate::ssr::{auth, services::streams, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.or_internal()?;
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok());
    streams::group_detail(&state, &caller, id, host).await
}

/// Creates a group; returns its id.
#[server(input = Json, endpoint = "create_stream_group")]
pub async fn create_stream_group(group: NewStreamGroup) -> Result<i64, AppError> {
    use crate::ssr::{auth, services::streams, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    streams::create_group(&state, &caller, &group).await
}

/// Issues a new publish key for a group; returns it.
#[server(endpoint = "regenerate_stream_key")]
pub async fn regenerate_stream_key(id: i64) -> Result<String, AppError> {
    use crate::ssr::{auth, services::streams, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    streams::regenerate_key(&state, &caller, id).await
}

/// Sets a group's SRT passphrase (10 to 79 characters); an empty one clears it.
#[server(endpoint = "set_srt_passphrase")]
pub async fn set_srt_passphrase(id: i64, passphrase: String) -> Result<(), AppError> {
    use crate::ssr::{auth, services::streams, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    streams::set_srt_passphrase(&state, &caller, id, Some(passphrase)).await
}

/// Sets how long a group's session waits for a dropped publisher, in seconds.
#[server(endpoint = "set_reconnect_grace")]
pub async fn set_reconnect_grace(id: i64, seconds: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::streams, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    streams::set_reconnect_grace(&state, &caller, id, Some(seconds)).await
}

/// Deletes a group.
#[server(endpoint = "delete_stream_group")]
pub async fn delete_stream_group(id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::streams, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    streams::delete_group(&state, &caller, id).await
}
