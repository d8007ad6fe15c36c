//! The one state the server builds at start-up and hands to axum handlers and, through
//! context, to server functions.

use leptos::prelude::use_context;
use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use super::db::Db;
use super::limiter::FailureLimiter;
use super::pipeline::Pipeline;
use crate::domain::packages::Package;
use crate::domain::AppError;

/// Shared server state; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub config: Arc<AppConfig>,
    pub pipeline: Arc<dyn Pipeline>,
    pub clock: Arc<dyn Clock>,
    pub limits: Arc<Limits>,
}

/// Settings the app half needs (the server has more).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Public RTMP server URL shown to broadcasters (`rtmp://host:1935/live`); when `None`
    /// it is built from the dashboard's host name and [`AppConfig::rtmp_port`].
    pub rtmp_public_url: Option<String>,
    pub rtmp_port: u16,
    /// Mark cookies `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Packages a newly signed-up organisation starts with.
    pub default_packages: Vec<Package>,
    /// How long a login lasts.
    pub session_ttl: Duration,
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            rtmp_public_url: None,
            rtmp_port: 1935,
            secure_cookies: false,
            default_packages: vec![Package::Transcoding],
            session_ttl: Duration::from_secs(14 * 24 * 3600),
        }
    }
}

/// Rate limits shared by every request.
#[derive(Debug)]
pub struct Limits {
    /// Failed logins per client address.
    pub login_by_address: FailureLimiter,
    /// Failed logins per account (e-mail).
    pub login_by_account: FailureLimiter,
    /// Share-link lookups that found nothing, per client address.
    pub share_lookups: FailureLimiter,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_by_address: FailureLimiter::new(20, Duration::from_secs(300)),
            login_by_account: FailureLimiter::new(8, Duration::from_secs(300)),
            share_lookups: FailureLimiter::new(30, Duration::from_secs(300)),
        }
    }
}

impl AppState {
    /// The state a server function runs with (provided by the server as context).
    pub fn from_context() -> Result<Self, AppError> {
        use_context::<AppState>().ok_or_else(|| internal("AppState missing from context"))
    }
}

/// Logs an unexpected error with a short reference and returns the client-safe error.
pub fn internal(error: impl std::fmt::Display) -> AppError {
    let reference = format!("{:08x}", rand::random::<u32>());
    tracing::error!(error.reference = %reference, "{error}");
    AppError::Internal(reference)
}

/// `?` on a database error: log it, answer Internal.
pub trait OrInternal<T> {
    /// Maps any error into [`AppError::Internal`], logging it.
    fn or_internal(self) -> Result<T, AppError>;
}

impl<T, E: std::fmt::Display> OrInternal<T> for Result<T, E> {
    fn or_internal(self) -> Result<T, AppError> {
        self.map_err(internal)
    }
}
