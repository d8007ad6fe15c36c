//! The REST API's errors: an [`AppError`] as an HTTP status and a JSON body naming a code,
//! a message, the fields that are wrong (with their values and allowed ranges) and, for a
//! stale write, the current settings. 5xx bodies carry only a reference to the log.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

use app::domain::settings::StreamProcessing;
use app::domain::{AppError, FieldError};

/// What every failed call answers.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    pub(crate) error: ErrorDetail,
}

/// The error itself.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    /// Stable machine code: `unauthenticated`, `forbidden`, `package_required`, `not_found`,
    /// `validation_failed`, `conflict`, `bad_request`, `rate_limited`, `limit_reached`,
    /// `busy`, `internal`.
    pub(crate) code: String,
    /// What a person reads.
    pub(crate) message: String,
    /// For `validation_failed`: every wrong field with its value and the allowed range.
    pub(crate) fields: Vec<FieldError>,
    /// For `conflict`: the settings as they are now.
    pub(crate) current: Option<Vec<StreamProcessing>>,
}

/// An error a handler returns.
#[derive(Debug)]
pub(crate) struct ApiError(pub AppError);

impl From<AppError> for ApiError {
    fn from(e: AppError) -> Self {
        ApiError(e)
    }
}

impl ApiError {
    /// A 400 for a request that could not be read.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        ApiError(AppError::BadRequest(message.into()))
    }
}

fn code(e: &AppError) -> &'static str {
    match e {
        AppError::Unauthenticated => "unauthenticated",
        AppError::Forbidden(_) => "forbidden",
        AppError::PackageRequired(_) => "package_required",
        AppError::NotFound(_) => "not_found",
        AppError::Validation(_) => "validation_failed",
        AppError::Conflict { .. } => "conflict",
        AppError::BadRequest(_) => "bad_request",
        AppError::RateLimited { .. } => "rate_limited",
        AppError::LimitReached { .. } => "limit_reached",
        AppError::Busy { .. } => "busy",
        AppError::Internal(_) | AppError::Transport(_) => "internal",
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let message = match &e {
            AppError::Unauthenticated => {
                "An API key is needed: send `Authorization: Bearer lpk_…` with an active key."
                    .into()
            }
            e => e.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: code(&e).into(),
                message,
                fields: e.field_errors().to_vec(),
                current: match &e {
                    AppError::Conflict { current, .. } => Some(current.clone()),
                    _ => None,
                },
            },
        };
        let mut response = (status, Json(body)).into_response();
        match e {
            AppError::Unauthenticated => {
                response.headers_mut().insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"api\""),
                );
            }
            e => {
                if let Some(v) = e
                    .retry_after()
                    .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
                {
                    response.headers_mut().insert(header::RETRY_AFTER, v);
                }
            }
        }
        response
    }
}

/// The error answers every route may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Errors {
    /// The request could not be read (malformed JSON, a wrong type, a bad path or query).
    #[response(status = 400)]
    BadRequest(#[to_schema] ErrorBody),
    /// No API key, or an unknown or revoked one.
    #[response(status = 401)]
    Unauthenticated(#[to_schema] ErrorBody),
    /// The key's role may not do this, or the organisation lacks the package.
    #[response(status = 403)]
    Forbidden(#[to_schema] ErrorBody),
    /// No such thing in the key's organisation.
    #[response(status = 404)]
    NotFound(#[to_schema] ErrorBody),
    /// A value outside its allowed range: every wrong field is named.
    #[response(status = 422)]
    Invalid(#[to_schema] ErrorBody),
    /// An organisation limit is reached (webhooks, API keys, stream groups…).
    #[response(status = 409)]
    LimitReached(#[to_schema] ErrorBody),
    /// Too many requests from this client, or too many jobs of the organisation at once.
    #[response(status = 429)]
    RateLimited(#[to_schema] ErrorBody),
    /// The server is too busy for this now (`Retry-After` says when to try again).
    #[response(status = 503)]
    Busy(#[to_schema] ErrorBody),
    /// Something failed on the server; the body has a reference for the log.
    #[response(status = 500)]
    Internal(#[to_schema] ErrorBody),
}

/// What a write of versioned settings may also answer.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub(crate) enum Conflicts {
    /// Someone changed the settings since the version given: nothing was saved; the body has
    /// the current values.
    #[response(status = 409)]
    Conflict(#[to_schema] ErrorBody),
}
