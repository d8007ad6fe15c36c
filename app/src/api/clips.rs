//! Replay: the player page's data, clips and share links, saving a span of the buffer, and
//! the public share page.

use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::domain::assets::Asset;
use crate::domain::clips::{Clip, LinkExpiry, NewClip, PublicShare, ReplayView, ShareLink};
use crate::domain::AppError;

/// One replay session with its timeline thumbnails and its stream's clips.
#[server(endpoint = "get_replay_view")]
pub async fn get_replay_view(group_id: i64, replay_id: i64) -> Result<ReplayView, AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::replay_view(&state, &caller, group_id, replay_id).await
}

/// Cuts a clip (instantly) and makes its share link.
#[server(input = Json, endpoint = "create_clip")]
pub async fn create_clip(clip: NewClip) -> Result<Clip, AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::create(&state, &caller, &clip).await
}

/// A stream's clips, newest first.
#[server(endpoint = "list_clips")]
pub async fn list_clips(stream_id: i64) -> Result<Vec<Clip>, AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::list(&state, &caller, stream_id).await
}

/// Revokes a share link.
#[server(endpoint = "revoke_share_link")]
pub async fn revoke_share_link(link_id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::revoke_link(&state, &caller, link_id).await
}

/// Deletes a clip with its links and files.
#[server(endpoint = "delete_clip")]
pub async fn delete_clip(clip_id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::delete(&state, &caller, clip_id).await
}

/// Shares a whole replay session (live or ended).
#[server(endpoint = "share_replay")]
pub async fn share_replay(
    replay_id: i64,
    title: String,
    expiry: LinkExpiry,
) -> Result<ShareLink, AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::share_replay(&state, &caller, replay_id, &title, expiry).await
}

/// Shares a recording file (or every file of its session).
#[server(endpoint = "share_recording")]
pub async fn share_recording(
    asset_id: i64,
    title: String,
    expiry: LinkExpiry,
    whole_session: bool,
) -> Result<ShareLink, AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::share_recording(&state, &caller, asset_id, &title, expiry, whole_session).await
}

/// Saves the last `seconds` of a replay buffer as a permanent recording.
#[server(endpoint = "save_replay_span")]
pub async fn save_replay_span(replay_id: i64, seconds: i64) -> Result<Asset, AppError> {
    use crate::ssr::{auth, services::clips, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    clips::save_span(&state, &caller, replay_id, seconds).await
}

/// What a share link's public page shows; not-found for wrong, expired and revoked tokens.
#[server(endpoint = "get_public_share")]
pub async fn get_public_share(token: String) -> Result<PublicShare, AppError> {
    use crate::ssr::{services::clips, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.or_internal()?;
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or("localhost");
    let scheme = if state.config.secure_cookies {
        "https"
    } else {
        "http"
    };
    let client = super::auth::client_address().await.or_internal()?;
    let origin = format!("{scheme}://{host}");
    crate::ssr::request_memo::RequestMemo::get_or(format!("share/{token}"), || {
        clips::public_share(&state, &token, &client, &origin)
    })
    .await
}
