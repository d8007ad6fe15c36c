//! The axum router: Leptos SSR routes and server functions with the app state in context,
//! the built site's static files, a health check, and the common layers.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRef, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::{middleware, Router};
use leptos::config::LeptosOptions;
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

use app::ssr::net::{client_ip, ClientIp};
use app::ssr::AppState;
use app::{shell, App};

use super::{api, csrf, error_status, media, public, share};
use crate::media_store::MediaStore;

/// What axum handlers share.
#[derive(Clone)]
pub(crate) struct ServerState {
    pub(crate) leptos: LeptosOptions,
    pub(crate) app: AppState,
    pub(crate) store: MediaStore,
    pub(crate) node: std::sync::Arc<crate::node::Node>,
    /// Storyboard sprite sheets, made on demand.
    pub(crate) sheets: std::sync::Arc<crate::storyboard::Sheets>,
    /// The site's `/pkg/` files, gzipped once per build.
    pub(crate) site: std::sync::Arc<super::site::SiteFiles>,
    /// Replay segments kept in memory for a moment.
    pub(crate) hot: std::sync::Arc<super::hot::HotFiles>,
}

impl FromRef<ServerState> for LeptosOptions {
    fn from_ref(s: &ServerState) -> Self {
        s.leptos.clone()
    }
}

impl FromRef<ServerState> for AppState {
    fn from_ref(s: &ServerState) -> Self {
        s.app.clone()
    }
}

/// Builds the whole HTTP application; with `metrics`, every request is counted and timed.
pub(crate) fn router(state: ServerState, metrics: bool) -> Router {
    let routes = generate_route_list(App);
    let app_state = state.app.clone();
    let context = move || {
        provide_context(app_state.clone());
        provide_context(app::ssr::request_memo::RequestMemo::default());
    };
    let options = state.leptos.clone();
    let router = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .merge(media::routes())
        .merge(share::routes())
        .merge(public::routes())
        .merge(super::site::routes())
        .merge(api::routes())
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<
            ServerState,
            _,
        >(context, shell))
        .layer(middleware::from_fn(error_status::map_server_fn_errors))
        .layer(middleware::from_fn(csrf::same_origin))
        .layer(middleware::from_fn_with_state(
            state.app.clone(),
            stamp_client_ip,
        ))
        .layer(middleware::from_fn_with_state(
            state.app.config.secure_cookies,
            security_headers,
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // A request body that stops arriving is cut (a slow body holds a connection).
        .layer(RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
        .layer(TraceLayer::new_for_http())
        .layer(middleware::from_fn(request_id));
    let router = if metrics {
        router.layer(middleware::from_fn(crate::metrics::track_http))
    } else {
        router
    };
    router.with_state(state)
}

/// Whether a load balancer should send new work to this node: 200 with the node's id and
/// live streams, or 503 with the reason (stopping, database gone, disk full).
async fn readyz(State(state): State<ServerState>) -> Response {
    use axum::response::IntoResponse;
    let node = &state.node;
    let body = |ready: bool, reason: Option<&str>| {
        axum::Json(serde_json::json!({
            "node": node.id,
            "ready": ready,
            "reason": reason,
            "live_sessions": node.live_sessions(),
        }))
    };
    match node.ready() {
        Ok(()) => body(true, None).into_response(),
        Err(why) => (
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            body(false, Some(why)),
        )
            .into_response(),
    }
}

/// Longest pause while a request body arrives.
const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// Puts the client's address (behind trusted proxies, the one they name) in the request.
async fn stamp_client_ip(
    State(app): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(ConnectInfo(peer)) = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .copied()
    {
        let ip = client_ip(peer.ip(), request.headers(), &app.config.trusted_proxies);
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

/// A request's id: the client's `X-Request-Id` when it is a short, plain token (a proxy in
/// front may set one), otherwise a fresh random one. Every log line written while the request
/// is handled carries it (with the route pattern, never the path: share tokens live in
/// paths), and the response returns it.
async fn request_id(mut request: Request, next: Next) -> Response {
    use tracing::Instrument;
    let given = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
        })
        .map(str::to_owned);
    let id = given.unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %request.method(),
        route = %route
    );
    // Valid by construction: a checked client id or hex digits.
    let value = HeaderValue::from_str(&id).ok();
    if let Some(v) = &value {
        request.headers_mut().insert(REQUEST_ID, v.clone());
    }
    let mut response = next.run(request).instrument(span).await;
    if let Some(v) = value {
        response.headers_mut().insert(REQUEST_ID, v);
    }
    response
}

const REQUEST_ID: &str = "x-request-id";

/// The security headers every response gets unless its handler chose its own.
async fn security_headers(State(secure): State<bool>, request: Request, next: Next) -> Response {
    // Share pages may be framed (their embed snippet); nothing else may.
    let framable = app::ssr::headers::framable(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !framable && !headers.contains_key(header::X_FRAME_OPTIONS) {
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    for (name, value) in app::ssr::headers::defaults(secure) {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    response
}
