//! The one state the server builds at start-up and hands to axum handlers and, through
//! context, to server functions.

use leptos::prelude::use_context;
use std::sync::Arc;
use std::time::Duration;

use super::clock::Clock;
use super::db::Db;
use super::limiter::{FailureLimiter, OrgJobs};
use super::lookups::Lookups;
use super::net::IpNet;
use super::outbound::OutboundPolicy;
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
    /// The public media's lookups, kept for a moment.
    pub lookups: Arc<Lookups>,
}

/// Settings the app half needs (the server has more).
#[derive(Debug, Clone)]
pub struct AppConfig {
    /// Public RTMP server URL shown to broadcasters (`rtmp://host:1935/live`); when `None`
    /// it is built from the dashboard's host name and [`AppConfig::rtmp_port`].
    pub rtmp_public_url: Option<String>,
    pub rtmp_port: u16,
    /// The reconnect grace of groups that set none, in seconds.
    pub reconnect_grace_s: i64,
    /// The SRT ingest's port, `None` when the server does not listen for SRT.
    pub srt_port: Option<u16>,
    /// Public SRT server URL (`srt://live.example.com:9000`); when `None` it is built from the
    /// dashboard's host name and [`AppConfig::srt_port`].
    pub srt_public_url: Option<String>,
    /// Mark cookies `Secure` (set when served over HTTPS).
    pub secure_cookies: bool,
    /// Packages a newly signed-up organisation starts with.
    pub default_packages: Vec<Package>,
    /// How long a login lasts.
    pub session_ttl: Duration,
    /// Where webhooks may be sent.
    pub outbound: OutboundPolicy,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<IpNet>,
    /// Whether anyone may sign up (else only invitations make accounts).
    pub sign_up_open: bool,
    /// What one organisation may have.
    pub org_limits: OrgLimits,
    /// This server among the nodes sharing the database (its data folder's id).
    pub node_id: String,
}

/// What one organisation may have or run at once; reaching a limit is a clear error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OrgLimits {
    pub stream_groups: u64,
    pub webhooks: u64,
    pub api_keys: u64,
    pub pending_invitations: u64,
    /// Clips being finished and spans being saved, at once.
    pub clip_jobs: u64,
    /// Clips kept (each holds its own copy of the span's segments).
    pub clips: u64,
    /// Replay spans saved as recordings.
    pub saved_spans: u64,
}

impl Default for OrgLimits {
    fn default() -> Self {
        Self {
            stream_groups: 100,
            webhooks: 20,
            api_keys: 50,
            pending_invitations: 100,
            clip_jobs: 4,
            clips: 1000,
            saved_spans: 200,
        }
    }
}

impl Default for AppConfig {
    fn default() -> Self {
        Self {
            rtmp_public_url: None,
            rtmp_port: 1935,
            reconnect_grace_s: 10,
            srt_port: None,
            srt_public_url: None,
            secure_cookies: false,
            default_packages: vec![Package::Transcoding],
            session_ttl: Duration::from_secs(14 * 24 * 3600),
            outbound: OutboundPolicy::default(),
            trusted_proxies: Vec::new(),
            sign_up_open: true,
            org_limits: OrgLimits::default(),
            node_id: "node".into(),
        }
    }
}

/// Rate limits shared by every request. Login attempts count before the password is
/// checked; an account is never locked, only slowed per (account, client address).
#[derive(Debug)]
pub struct Limits {
    /// Login attempts per client address (successes are taken back).
    pub login_by_address: FailureLimiter,
    /// Login attempts per account and client address (cleared by a success).
    pub login_by_account_address: FailureLimiter,
    /// Sign-ups per client address.
    pub sign_up_by_address: FailureLimiter,
    /// Sign-ups in all (a flood from many addresses).
    pub sign_up_total: FailureLimiter,
    /// Share-link and invitation lookups that found nothing, per client address.
    pub share_lookups: FailureLimiter,
    /// Clips being finished and spans being saved, per organisation.
    pub clip_jobs: OrgJobs,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            login_by_address: FailureLimiter::new(20, Duration::from_secs(300)),
            login_by_account_address: FailureLimiter::new(5, Duration::from_secs(300)),
            sign_up_by_address: FailureLimiter::new(10, Duration::from_secs(3600)),
            sign_up_total: FailureLimiter::new(200, Duration::from_secs(3600)),
            share_lookups: FailureLimiter::new(30, Duration::from_secs(300)),
            clip_jobs: OrgJobs::new(OrgLimits::default().clip_jobs as usize),
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
