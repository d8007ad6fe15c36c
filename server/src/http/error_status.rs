//! Server functions answer every error with 500 and the error as JSON. This layer reads the
//! [`AppError`] back and gives the response its real status (401, 403, 404, 409, 422, 429…)
//! so logs, proxies and API clients see what happened. The Leptos client decodes any 4xx/5xx
//! the same way.

use axum::body::{to_bytes, Body};
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

use app::domain::AppError;

/// The header server_fn puts on error responses.
const SERVER_FN_ERROR: &str = "serverfnerror";

/// Rewrites the status of server-function error responses.
pub(crate) async fn map_server_fn_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    if !response.headers().contains_key(SERVER_FN_ERROR) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, 1 << 20).await else {
        return Response::from_parts(parts, Body::empty());
    };
    if let Ok(error) = serde_json::from_slice::<AppError>(&bytes) {
        parts.status =
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if let Some(v) = error
            .retry_after()
            .and_then(|s| HeaderValue::from_str(&s.to_string()).ok())
        {
            parts.headers.insert(axum::http::header::RETRY_AFTER, v);
        }
    }
    Response::from_parts(parts, Body::from(bytes))
}
