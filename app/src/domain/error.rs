//! The errors that cross the wire: a field error for bad input and the client-safe
//! [`AppError`] every server function and API route returns. Internal details never go in
//! here; the server logs them and sends [`AppError::Internal`].

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};
use std::fmt;

use super::packages::Package;
use super::settings::StreamProcessing;

/// One input that is out of its allowed range.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Machine name, e.g. `thumbnail.interval`.
    pub field: String,
    /// Human name, e.g. `Thumbnail interval`.
    pub label: String,
    /// What was given, as text (empty when nothing was given).
    pub value: String,
    /// The allowed range, e.g. `10–3600 s`.
    pub allowed: String,
    /// The stream the field belongs to, when a form edits several.
    pub stream_id: Option<i64>,
}

impl FieldError {
    /// An error for `field` holding `value`, which must be within `allowed`.
    pub fn new(field: &str, label: &str, value: String, allowed: String) -> Self {
        Self {
            field: field.into(),
            label: label.into(),
            value,
            allowed,
            stream_id: None,
        }
    }

    /// The same error, attributed to a stream.
    pub fn for_stream(self, stream_id: i64) -> Self {
        Self {
            stream_id: Some(stream_id),
            ..self
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.value.is_empty() {
            write!(f, "{} is required (allowed: {})", self.label, self.allowed)
        } else {
            write!(
                f,
                "{} must be {}; got {}",
                self.label, self.allowed, self.value
            )
        }
    }
}

/// Everything that can go wrong, in terms a client may see.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, thiserror::Error)]
pub enum AppError {
    #[error("Please sign in.")]
    Unauthenticated,
    #[error("Your role does not allow this: {0}.")]
    Forbidden(String),
    #[error("{} is not enabled for this organisation (Upgrade needed).", .0.label())]
    PackageRequired(Package),
    #[error("{0} not found.")]
    NotFound(String),
    #[error("{}", join_fields(.0))]
    Validation(Vec<FieldError>),
    #[error("{message}")]
    Conflict {
        message: String,
        /// The settings as they are now, so the editor can show them.
        current: Vec<StreamProcessing>,
    },
    #[error("{0}")]
    BadRequest(String),
    #[error("Too many attempts; try again in {retry_after_s} s.")]
    RateLimited { retry_after_s: u64 },
    #[error("The organisation has reached its limit of {limit} {what}.")]
    LimitReached { what: String, limit: u64 },
    #[error("The server is busy; try again in {retry_after_s} s.")]
    Busy { retry_after_s: u64 },
    #[error("Something went wrong on the server (reference {0}).")]
    Internal(String),
    #[error("Could not reach the server: {0}")]
    Transport(String),
}

fn join_fields(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    /// Seconds after which a retry may succeed, for `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            AppError::RateLimited { retry_after_s } | AppError::Busy { retry_after_s } => {
                Some(*retry_after_s)
            }
            _ => None,
        }
    }

    /// The field errors, when this is a validation error.
    pub fn field_errors(&self) -> &[FieldError] {
        match self {
            AppError::Validation(errors) => errors,
            _ => &[],
        }
    }

    /// The HTTP status this error maps to on the REST API.
    pub fn status(&self) -> u16 {
        match self {
            AppError::Unauthenticated => 401,
            AppError::Forbidden(_) | AppError::PackageRequired(_) => 403,
            AppError::NotFound(_) => 404,
            AppError::Validation(_) => 422,
            AppError::Conflict { .. } => 409,
            AppError::BadRequest(_) => 400,
            AppError::RateLimited { .. } => 429,
            AppError::LimitReached { .. } => 409,
            AppError::Busy { .. } => 503,
            AppError::Internal(_) => 500,
            AppError::Transport(_) => 502,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(msg) | ServerFnErrorErr::MissingArg(msg) => {
                AppError::BadRequest(msg)
            }
            other => AppError::Transport(other.to_string()),
        }
    }
}

impl From<Vec<FieldError>> for AppError {
    fn from(errors: Vec<FieldError>) -> Self {
        AppError::Validation(errors)
    }
}

impl From<FieldError> for AppError {
    fn from(error: FieldError) -> Self {
        AppError::Validation(vec![error])
    }
}
