//! The public REST API, `/api/v1`: JSON in and out, authenticated by organisation API keys
//! (`Authorization: Bearer lpk_…`), never by the dashboard's cookie. Every route calls the
//! same services as the dashboard, so the validation, the role checks and the results are
//! the same. The OpenAPI document is generated from these handlers (utoipa) and served at
//! `/api/v1/openapi.json`, with a reference page at `/api/docs`.

pub(crate) mod catalog;
pub(crate) mod clips;
pub(crate) mod delivery;
pub(crate) mod error;
pub(crate) mod groups;
pub(crate) mod operations;
pub(crate) mod processing;
pub(crate) mod retention;

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::Router;
use serde::de::DeserializeOwned;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use app::domain::AppError;
use app::ssr::auth::Caller;
use app::ssr::services::integrations;

use super::router::ServerState;
use error::ApiError;

/// Where the document is served.
pub(crate) const OPENAPI_PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Live Processing API",
        version = "1",
        description = "Stream groups, live processing settings, sessions, assets, clips and share links of one organisation. Authenticate with an API key made by an admin in the dashboard (Organisation → API keys): `Authorization: Bearer lpk_…`. A key acts with the role it was given. Errors are JSON: `{\"error\": {\"code\", \"message\", \"fields\", \"current\"}}`; out-of-range settings answer 422 naming each field, its value and the allowed range; stale writes of versioned settings answer 409 with the current values."
    ),
    components(schemas(error::ErrorBody, error::ErrorDetail, app::domain::FieldError, app::domain::settings::StreamProcessing)),
    modifiers(&BearerAuth),
    security(("api_key" = [])),
    tags(
        (name = "stream groups", description = "Ingest streams and their transcoding profiles"),
        (name = "live processing", description = "Thumbnail, motion clip, recording and replay settings, and job states"),
        (name = "sessions and assets", description = "Live sessions and the files they made"),
        (name = "clips", description = "Clips cut from replays and their share links"),
        (name = "delivery", description = "Public URLs for websites to embed, and signed, expiring URLs"),
        (name = "operations", description = "What the server reports about its own state"),
        (name = "retention", description = "How long thumbnails, motion clips, recordings, replays and shared clips are kept"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An organisation API key, `lpk_…`"))
                    .build(),
            ),
        );
    }
}

/// The API's routes, the OpenAPI document and the reference page.
pub(crate) fn routes() -> Router<ServerState> {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(groups::list_groups, groups::create_group))
        .routes(routes!(
            groups::get_group,
            groups::rename_group,
            groups::delete_group
        ))
        .routes(routes!(groups::regenerate_key))
        .routes(routes!(groups::set_srt_passphrase))
        .routes(routes!(groups::set_reconnect_grace))
        .routes(routes!(groups::get_stream))
        .routes(routes!(processing::get_stream_processing))
        .routes(routes!(
            processing::get_process,
            processing::replace_process,
            processing::patch_process
        ))
        .routes(routes!(processing::sync_group))
        .routes(routes!(processing::get_jobs))
        .routes(routes!(catalog::list_sessions))
        .routes(routes!(catalog::list_assets))
        .routes(routes!(catalog::get_asset))
        .routes(routes!(catalog::asset_file))
        .routes(routes!(catalog::latest_thumbnail))
        .routes(routes!(clips::list_clips, clips::create_clip))
        .routes(routes!(clips::delete_clip))
        .routes(routes!(clips::revoke_link))
        .routes(routes!(delivery::get_delivery, delivery::put_delivery))
        .routes(routes!(delivery::rotate_delivery))
        .routes(routes!(
            delivery::get_group_delivery,
            delivery::put_group_delivery
        ))
        .routes(routes!(delivery::sign_asset))
        .routes(routes!(delivery::sign_clip))
        .routes(routes!(delivery::share_recording))
        .routes(routes!(delivery::list_keys, delivery::create_key))
        .routes(routes!(delivery::revoke_key))
        .routes(routes!(operations::list_quarantine))
        .routes(routes!(operations::usage))
        .routes(routes!(retention::get_defaults, retention::put_defaults))
        .routes(routes!(retention::get_group, retention::put_group))
        .split_for_parts();
    router.merge(SwaggerUi::new("/api/docs").url(OPENAPI_PATH, doc))
}

/// The caller an API key acts as.
pub(crate) struct ApiCaller(pub Caller);

impl FromRequestParts<ServerState> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ServerState,
    ) -> Result<Self, Self::Rejection> {
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let key = header("authorization")
            .and_then(|v| v.strip_prefix("Bearer ").map(str::trim))
            .or_else(|| header("x-api-key").map(str::trim))
            .ok_or(ApiError(AppError::Unauthenticated))?;
        Ok(ApiCaller(
            integrations::authenticate(&state.app, key).await?,
        ))
    }
}

/// A JSON body whose problems answer as API errors (400), not axum's plain text.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        axum::Json::<T>::from_request(req, state)
            .await
            .map(|axum::Json(v)| ApiJson(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// A query string whose problems answer as API errors (400).
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(v)| ApiQuery(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// Path parameters whose problems answer as API errors (400).
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| ApiPath(v))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}
