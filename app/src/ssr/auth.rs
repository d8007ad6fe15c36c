//! Who is calling: login sessions in an http-only, SameSite cookie (only the token's hash
//! is stored), resolved into a [`Caller`] whose role every service checks.

use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};

use super::repo;
use super::state::{AppState, OrInternal};
use super::tokens;
use crate::domain::account::CurrentUser;
use crate::domain::roles::{Permission, Role};
use crate::domain::AppError;

/// Name of the login cookie over plain HTTP.
pub const SESSION_COOKIE: &str = "lp_session";
/// Name of the login cookie when cookies are secure: the `__Host-` prefix makes the browser
/// refuse it unless it was set by this host, over HTTPS, for the whole site, so a sibling
/// subdomain cannot plant one.
pub const SECURE_SESSION_COOKIE: &str = "__Host-lp_session";

fn cookie_name(secure: bool) -> &'static str {
    if secure {
        SECURE_SESSION_COOKIE
    } else {
        SESSION_COOKIE
    }
}

/// An authenticated member acting in one organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub user_id: i64,
    pub email: String,
    pub display_name: String,
    pub organisation_id: i64,
    pub organisation_name: String,
    pub role: Role,
}

impl Caller {
    /// Refuses unless the caller's role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), AppError> {
        if self.role.can(permission) {
            Ok(())
        } else {
            Err(AppError::Forbidden(format!(
                "{} may not {}",
                self.role.label(),
                describe(permission)
            )))
        }
    }

    /// The caller as the dashboard shows them.
    pub fn current_user(&self) -> CurrentUser {
        CurrentUser {
            user_id: self.user_id,
            email: self.email.clone(),
            display_name: self.display_name.clone(),
            organisation_id: self.organisation_id,
            organisation_name: self.organisation_name.clone(),
            role: self.role,
        }
    }
}

fn describe(p: Permission) -> &'static str {
    match p {
        Permission::ViewStreams => "view streams",
        Permission::ViewStreamKey => "see stream keys",
        Permission::EditStreams => "change streams",
        Permission::EditProcessing => "change live processing settings",
        Permission::ManageClips => "manage clips",
        Permission::RegenerateStreamKey => "regenerate stream keys",
        Permission::ManageMembers => "manage members",
        Permission::ManageIntegrations => "manage API keys and webhooks",
        Permission::ManageOwners => "manage owners",
    }
}

/// The session token in a request's cookies, if any (only the secure cookie's when cookies
/// are secure).
pub fn session_token(headers: &HeaderMap, secure: bool) -> Option<String> {
    let name = cookie_name(secure);
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
        .filter(|v| !v.is_empty())
}

/// The caller behind `headers`, if signed in.
pub async fn resolve(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, AppError> {
    let Some(token) = session_token(headers, state.config.secure_cookies) else {
        return Ok(None);
    };
    repo::sessions::find(&state.db, &tokens::hash_token(&token), state.clock.now())
        .await
        .or_internal()
}

/// The caller of the current server function (from its request), if signed in.
pub async fn optional_caller(state: &AppState) -> Result<Option<Caller>, AppError> {
    let headers: HeaderMap = leptos_axum::extract().await.or_internal()?;
    resolve(state, &headers).await
}

/// The session token of the current server function's request; refuses without one.
pub async fn current_token(state: &AppState) -> Result<String, AppError> {
    let headers: HeaderMap = leptos_axum::extract().await.or_internal()?;
    session_token(&headers, state.config.secure_cookies).ok_or(AppError::Unauthenticated)
}

/// The caller of the current server function; refuses when not signed in.
pub async fn caller(state: &AppState) -> Result<Caller, AppError> {
    optional_caller(state)
        .await?
        .ok_or(AppError::Unauthenticated)
}

/// The `Set-Cookie` value that stores a new session token.
pub fn session_cookie(token: &str, max_age_s: u64, secure: bool) -> HeaderValue {
    let name = cookie_name(secure);
    let secure = if secure { "; Secure" } else { "" };
    let value =
        format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_s}{secure}");
    HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The `Set-Cookie` value that removes the session cookie.
pub fn clear_cookie(secure: bool) -> HeaderValue {
    session_cookie("", 0, secure)
}

/// Sets a cookie on the current server function's response.
pub fn set_cookie(value: HeaderValue) {
    if let Some(response) = leptos::prelude::use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(SET_COOKIE, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_session_cookie_among_others() {
        let mut h = HeaderMap::new();
        h.insert(COOKIE, HeaderValue::from_static("a=1; lp_session=tok; b=2"));
        assert_eq!(session_token(&h, false).as_deref(), Some("tok"));
        assert_eq!(
            session_token(&h, true),
            None,
            "a plain cookie is not taken when secure"
        );
        h.insert(
            COOKIE,
            HeaderValue::from_static("lp_session=x; __Host-lp_session=sec"),
        );
        assert_eq!(session_token(&h, true).as_deref(), Some("sec"));
        h.insert(COOKIE, HeaderValue::from_static("lp_session="));
        assert_eq!(session_token(&h, false), None);
    }

    #[test]
    fn cookie_is_http_only_and_same_site() {
        let c = session_cookie("t", 60, true);
        let s = c.to_str().expect("ascii");
        assert!(s.contains("HttpOnly") && s.contains("SameSite=Lax") && s.contains("Secure"));
        assert!(s.starts_with("__Host-lp_session=t; Path=/;"), "{s}");
        assert!(!s.contains("Domain"));
    }
}
