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

use super::{api, csrf, error_status, media, share};
use crate::media_store::MediaStore;

/// What axum handlers share.
#[derive(Clone)]
pub(crate) struct ServerState {
    pub(crate) leptos: LeptosOptions,
    pub(crate) app: AppState,
    pub(crate) store: MediaStore,
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

/// Builds the whole HTTP application.
pub(crate) fn router(state: ServerState) -> Router {
    let routes = generate_route_list(App);
    let app_state = state.app.clone();
    let context = move || {
        provide_context(app_state.clone());
        provide_context(app::ssr::request_memo::RequestMemo::default());
    };
    let options = state.leptos.clone();
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .merge(media::routes())
        .merge(share::routes())
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
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        // A request body that stops arriving is cut (a slow body holds a connection).
        .layer(RequestBodyTimeoutLayer::new(BODY_IDLE_TIMEOUT))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
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

/// The security headers every response gets unless its handler chose its own.
async fn security_headers(State(secure): State<bool>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (name, value) in app::ssr::headers::defaults(secure) {
        if !headers.contains_key(&name) {
            headers.insert(name, value);
        }
    }
    response
}
