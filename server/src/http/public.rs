//! Media for viewers without an account, for websites to embed:
//!
//! - `/p/{token}/…`: a stream's public delivery (while an editor has it on): the newest
//!   thumbnail and motion clip at stable URLs (short caching with an ETag, so a CDN revalidates
//!   cheaply), and the live replay (`replay.m3u8` redirects to the current session's playlist
//!   under `r{asset}/`, whose segments never change and are cached for good).
//! - `/v/{key}/{expires}/{signature}/{target}/…`: a signed URL (scheme in the README). The
//!   signature covers the target (an asset or a clip) and the expiry, not the file, so the
//!   playlist and every segment beside it are covered by one signature.
//!
//! Both answer any origin (CORS `*`, `Cross-Origin-Resource-Policy: cross-origin`), never
//! with credentials. A wrong, rotated or switched-off token, and a bad, expired or revoked
//! signature look alike (404 for tokens, 403 for signatures), and misses slow an address down.

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;

use app::domain::assets::AssetKind;
use app::domain::delivery::{
    SignedTarget, PUBLIC_MOTION_MP4, PUBLIC_MOTION_WEBP, PUBLIC_REPLAY, PUBLIC_THUMBNAIL_JPEG,
    PUBLIC_THUMBNAIL_WEBP,
};
use app::domain::AppError;
use app::ssr::net::ClientIp;
use app::ssr::repo;
use app::ssr::services::delivery;

use super::hot;
use super::media::{self, content_type, not_found, replay_file_path, replay_member};
use super::router::ServerState;
use super::share::clip_member;
use crate::storyboard;

/// The newest thumbnail or clip: a CDN may keep it a few seconds, then revalidates.
const LATEST: &str = "public, max-age=5";
/// A live playlist.
const PLAYLIST: &str = "public, max-age=1";
/// A segment never changes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Behind a signature: only the viewer's browser keeps it, briefly (the URL expires).
const SIGNED: &str = "private, max-age=60";
const SIGNED_PLAYLIST: &str = "private, no-cache";

/// Routes of public and signed media.
pub(crate) fn routes() -> Router<ServerState> {
    Router::new()
        .route("/p/{token}/{file}", get(latest).options(preflight))
        .route(
            "/p/{token}/{replay}/{*rest}",
            get(public_replay).options(preflight),
        )
        .route(
            "/v/{key}/{expires}/{sig}/{target}/{*rest}",
            get(signed).options(preflight),
        )
}

/// What a player on another origin may send first.
async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    cross_origin(r.headers_mut());
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("range, if-none-match, if-modified-since"),
    );
    r.headers_mut().insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

/// Any origin may read these (no credentials are ever honoured here).
fn cross_origin(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("content-length, content-range, etag"),
    );
    h.insert(
        HeaderName::from_static("cross-origin-resource-policy"),
        HeaderValue::from_static("cross-origin"),
    );
}

fn with_cors(mut r: Response) -> Response {
    cross_origin(r.headers_mut());
    r
}

fn client_of(request: &Request) -> String {
    request
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_default()
}

fn refused(e: AppError) -> Response {
    match e {
        AppError::RateLimited { retry_after_s } => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_s.to_string())],
            "Too many requests.",
        )
            .into_response(),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.").into_response(),
    }
}

/// The stream behind a public token, or the response to give instead.
// The error is the response a handler returns as it is; boxing it would only move it.
#[allow(clippy::result_large_err)]
async fn public_stream(s: &ServerState, token: &str, client: &str) -> Result<i64, Response> {
    match delivery::find_public(&s.app, token, client).await {
        Ok(Some(stream)) => Ok(stream),
        Ok(None) => Err(with_cors(not_found())),
        Err(e) => Err(with_cors(refused(e))),
    }
}

/// `/p/{token}/thumbnail.jpg|webp`, `motion.mp4|webp`, `replay.m3u8`.
async fn latest(
    State(s): State<ServerState>,
    Path((token, file)): Path<(String, String)>,
    request: Request,
) -> Response {
    let (kind, format) = match file.as_str() {
        PUBLIC_THUMBNAIL_JPEG => (AssetKind::Thumbnail, "jpeg"),
        PUBLIC_THUMBNAIL_WEBP => (AssetKind::Thumbnail, "webp"),
        PUBLIC_MOTION_MP4 => (AssetKind::MotionClip, "mp4"),
        PUBLIC_MOTION_WEBP => (AssetKind::MotionClip, "webp"),
        PUBLIC_REPLAY => (AssetKind::Replay, "m3u8"),
        _ => return with_cors(not_found()),
    };
    let client = client_of(&request);
    let stream = match public_stream(&s, &token, &client).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Ok(Some(row)) = delivery::public_latest(&s.app, stream, kind, format).await else {
        return with_cors(not_found());
    };
    if kind == AssetKind::Replay {
        // The current session's playlist, by a URL whose segments never change.
        let mut r =
            Redirect::to(&format!("/p/{token}/r{}/replay.m3u8", row.asset.id)).into_response();
        r.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(PLAYLIST));
        return with_cors(r);
    }
    // The row names the content: its id is a strong validator.
    let etag = format!("\"a{}\"", row.asset.id);
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut request = request;
        // Our ETag decides, not the file's dates; not fresh, the whole file is due. Every
        // viewer of a page showing the stream asks for the same file: from memory once read.
        request.headers_mut().remove(header::IF_MODIFIED_SINCE);
        request.headers_mut().remove(header::IF_NONE_MATCH);
        hot::serve_immutable(
            &s.store,
            &s.hot,
            &row.path,
            content_type(format),
            LATEST,
            request,
        )
        .await
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(LATEST));
    h.remove(header::LAST_MODIFIED);
    with_cors(r)
}

/// `/p/{token}/r{asset}/replay.m3u8` and its segments: a replay of the token's stream.
async fn public_replay(
    State(s): State<ServerState>,
    Path((token, replay, rest)): Path<(String, String, String)>,
    request: Request,
) -> Response {
    let story = storyboard::is_storyboard(&rest);
    let Some((ctype, cache)) = replay_member(&rest).or(story.then_some(("", ""))) else {
        return with_cors(not_found());
    };
    let Some(asset_id) = replay
        .strip_prefix('r')
        .filter(|d| !d.starts_with('0'))
        .and_then(|d| d.parse::<i64>().ok())
    else {
        return with_cors(not_found());
    };
    let client = client_of(&request);
    let stream = match public_stream(&s, &token, &client).await {
        Ok(id) => id,
        Err(r) => return r,
    };
    let row = match delivery::public_asset(&s.app, asset_id).await {
        Ok(Some(r)) if r.asset.stream_id == stream && r.asset.kind == AssetKind::Replay => r,
        _ => return with_cors(not_found()),
    };
    if story {
        let span = storyboard::replay_span(&s.store, &row).await;
        return with_cors(
            storyboard::answer(&s.app.db, &s.store, &s.sheets, span, &rest, false).await,
        );
    }
    let Some(rel) = replay_file_path(&row.path, &rest) else {
        return with_cors(not_found());
    };
    let public_cache = if cache == media::NO_CACHE {
        PLAYLIST
    } else {
        IMMUTABLE
    };
    let mut r = if public_cache == IMMUTABLE {
        hot::serve_immutable(&s.store, &s.hot, &rel, ctype, public_cache, request).await
    } else {
        media::serve_stored(&s.store, &rel, ctype, public_cache, request).await
    };
    r.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(public_cache),
    );
    with_cors(r)
}

/// `/v/{key}/{expires}/{sig}/{target}/{file…}`: a file of a signed asset or clip.
async fn signed(
    State(s): State<ServerState>,
    Path((key, expires, sig, target, rest)): Path<(String, String, String, String, String)>,
    request: Request,
) -> Response {
    let forbidden = || with_cors((StatusCode::FORBIDDEN, "Forbidden.").into_response());
    let (Some(target), Ok(expires)) = (SignedTarget::parse(&target), expires.parse::<i64>()) else {
        return forbidden();
    };
    let client = client_of(&request);
    let org = match delivery::check_signed(&s.app, &key, expires, &sig, target, &client).await {
        Ok(Some(org)) => org,
        Ok(None) => return forbidden(),
        Err(e) => return with_cors(refused(e)),
    };
    if storyboard::is_storyboard(&rest) {
        let span = match target {
            SignedTarget::Asset(id) => match repo::assets::get(&s.app.db, id).await {
                Ok(Some(r)) if r.organisation_id == org => match r.asset.kind {
                    AssetKind::Replay => storyboard::replay_span(&s.store, &r).await,
                    AssetKind::Recording => storyboard::recording_span(&r),
                    _ => None,
                },
                _ => None,
            },
            SignedTarget::Clip(id) => match repo::clips::get(&s.app.db, org, id).await {
                Ok(Some(c)) => Some(storyboard::clip_span(&c.clip)),
                _ => None,
            },
        };
        return with_cors(
            storyboard::answer(&s.app.db, &s.store, &s.sheets, span, &rest, true).await,
        );
    }
    // A replay's segments are kept in memory (`hot`); files made later (a clip's MP4) are not.
    let (rel, ctype, playlist, segment) = match target {
        SignedTarget::Asset(id) => {
            let row = match repo::assets::get(&s.app.db, id).await {
                Ok(Some(r)) if r.organisation_id == org => r,
                _ => return with_cors(not_found()),
            };
            if row.asset.kind == AssetKind::Replay {
                let Some((ctype, cache)) = replay_member(&rest) else {
                    return with_cors(not_found());
                };
                let Some(rel) = replay_file_path(&row.path, &rest) else {
                    return with_cors(not_found());
                };
                let playlist = cache == media::NO_CACHE;
                (rel, ctype, playlist, !playlist)
            } else if rest == format!("{id}.{}", row.asset.format) {
                (row.path, content_type(&row.asset.format), false, false)
            } else {
                return with_cors(not_found());
            }
        }
        SignedTarget::Clip(id) => {
            let Some((ctype, cache)) = clip_member(&rest) else {
                return with_cors(not_found());
            };
            let clip = match repo::clips::get(&s.app.db, org, id).await {
                Ok(Some(c)) => c,
                _ => return with_cors(not_found()),
            };
            (
                format!("{}/{rest}", clip.dir),
                ctype,
                cache == media::NO_CACHE,
                false,
            )
        }
    };
    let cache = if playlist { SIGNED_PLAYLIST } else { SIGNED };
    let mut r = if segment {
        hot::serve_immutable(&s.store, &s.hot, &rel, ctype, cache, request).await
    } else {
        media::serve_stored(&s.store, &rel, ctype, cache, request).await
    };
    r.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    with_cors(r)
}
