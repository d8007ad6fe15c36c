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
    Ok(Some(SessionInfo {
        user: caller.current_user(),
        packages,
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
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let input = accounts::SignUp {
        organisation_name,
        display_name,
        email,
        password,
    };
    let token = accounts::sign_up(&state, input).await?;
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
    if let Some(token) = auth::session_token(&headers) {
        accounts::log_out(&state, &token).await?;
    }
    auth::set_cookie(auth::clear_cookie(state.config.secure_cookies));
    leptos_axum::redirect("/login");
    Ok(())
}

/// The client's IP address, for rate limiting.
#[cfg(feature = "ssr")]
pub(crate) async fn client_address() -> Result<String, leptos::server_fn::error::ServerFnErrorErr> {
    use axum::extract::ConnectInfo;
    let info: Option<ConnectInfo<std::net::SocketAddr>> = leptos_axum::extract().await.ok();
    Ok(info
        .map(|ConnectInfo(a)| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into()))
}
