//! Sign-up, login, logout and "who am I".

use leptos::prelude::*;

use crate::domain::account::SessionInfo;
use crate::domain::AppError;

/// The signed-in user with their organisation's enabled packages, or `None`.
#[server(endpoint = "current_session")]
pub async fn current_session() -> Result<Option<SessionInfo>, AppError> {
    use crate::ssr::{auth, repo, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let Some(caller) = auth::optional_caller(&state).await? else {
        return Ok(None);
    };
    let packages = repo::orgs::enabled_packages(&state.db, caller.organisation_id)
        .await
        .or_internal()?;
    let memberships = repo::users::memberships(&state.db, caller.user_id)
        .await
        .or_internal()?;
    Ok(Some(SessionInfo {
        user: caller.current_user(),
        packages,
        memberships,
    }))
}

/// Signs in and sets the session cookie; redirects to the streams list.
#[server(endpoint = "login")]
pub async fn login(email: String, password: String) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let client = client_address().await.or_internal()?;
    let token = accounts::log_in(&state, &email, password, &client).await?;
    auth::set_cookie(auth::session_cookie(
        &token,
        state.config.session_ttl.as_secs(),
        state.config.secure_cookies,
    ));
    leptos_axum::redirect("/streams");
    Ok(())
}

/// Creates an organisation and its owner, signs in; redirects to the streams list.
#[server(endpoint = "sign_up")]
pub async fn sign_up(
    organisation_name: String,
    display_name: String,
    email: String,
    password: String,
) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let client = client_address().await.or_internal()?;
    let input = accounts::SignUp {
        organisation_name,
        display_name,
        email,
        password,
    };
    let token = accounts::sign_up(&state, input, &client).await?;
    auth::set_cookie(auth::session_cookie(
        &token,
        state.config.session_ttl.as_secs(),
        state.config.secure_cookies,
    ));
    leptos_axum::redirect("/streams");
    Ok(())
}

/// Ends the session and clears the cookie; redirects to the login page.
#[server(endpoint = "logout")]
pub async fn logout() -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let headers: axum::http::HeaderMap = leptos_axum::extract().await.or_internal()?;
    if let Some(token) = auth::session_token(&headers, state.config.secure_cookies) {
        accounts::log_out(&state, &token).await?;
    }
    auth::set_cookie(auth::clear_cookie(state.config.secure_cookies));
    leptos_axum::redirect("/login");
    Ok(())
}

/// Moves this session to another of the user's organisations; reloads into its streams.
#[server(endpoint = "switch_organisation")]
pub async fn switch_organisation(organisation_id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let _caller = auth::caller(&state).await?;
    let token = auth::current_token(&state).await?;
    accounts::switch_organisation(&state, &token, organisation_id).await?;
    leptos_axum::redirect("/streams");
    Ok(())
}

/// Changes the signed-in user's password; every other session of theirs ends. Returns how
/// many ended.
#[server(endpoint = "change_password")]
pub async fn change_password(
    current_password: String,
    new_password: String,
) -> Result<u64, AppError> {
    use crate::ssr::{auth, services::accounts, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    let token = auth::current_token(&state).await?;
    let client = client_address().await.or_internal()?;
    accounts::change_password(
        &state,
        &caller,
        &token,
        current_password,
        new_password,
        &client,
    )
    .await
}

/// Ends every other session of the signed-in user; returns how many ended.
#[server(endpoint = "sign_out_other_sessions")]
pub async fn sign_out_other_sessions() -> Result<u64, AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    let token = auth::current_token(&state).await?;
    accounts::sign_out_others(&state, &caller, &token).await
}

/// The client's IP address (behind trusted proxies, the one they name), for rate limiting.
#[cfg(feature = "ssr")]
pub(crate) async fn client_address() -> Result<String, leptos::server_fn::error::ServerFnErrorErr> {
    use crate::ssr::net::ClientIp;
    use axum::extract::ConnectInfo;
    use axum::Extension;
    if let Ok(Extension(ClientIp(ip))) = leptos_axum::extract::<Extension<ClientIp>>().await {
        return Ok(ip.to_string());
    }
    let info: Option<ConnectInfo<std::net::SocketAddr>> = leptos_axum::extract().await.ok();
    Ok(info
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into()))
}
