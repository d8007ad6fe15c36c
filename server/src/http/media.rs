//! Media files over HTTP, to members of the owning organisation only: assets by id (with
//! the right content type, range requests for MP4, and long private caching since an asset
//! never changes), the latest thumbnail of a stream at a stable URL (not cached), and replay
//! playlists with their segments. Every file is found through the asset row and the media
//! store; no request text is joined onto a path except segment names of a strict form.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use app::domain::settings::ProcessKind;
use app::ssr::repo::assets::{self, AssetRow};
use app::ssr::{auth, repo, AppState};

use super::router::ServerState;
use crate::media_store::MediaStore;
use crate::storyboard;

/// Routes under `/media`.
pub(crate) fn routes() -> Router<ServerState> {
    Router::new()
        .route("/media/assets/{file}", get(asset))
        .route("/media/streams/{stream}/{file}", get(latest_of_stream))
        .route("/media/replay/{id}/{*rest}", get(replay_file))
        .route("/media/assets/{id}/{file}", get(recording_storyboard))
}

pub(super) fn not_found() -> Response {
    (StatusCode::NOT_FOUND, "Not found.").into_response()
}

/// The caller's organisation, if signed in.
// The error is the response a handler returns as it is; boxing it would only move it.
#[allow(clippy::result_large_err)]
pub(super) async fn caller_org(state: &AppState, headers: &HeaderMap) -> Result<i64, Response> {
    match auth::resolve(state, headers).await {
        Ok(Some(c)) => Ok(c.organisation_id),
        Ok(None) => Err((StatusCode::UNAUTHORIZED, "Please sign in.").into_response()),
        Err(_) => Err((StatusCode::INTERNAL_SERVER_ERROR, "Internal error.").into_response()),
    }
}

/// An asset of the caller's organisation (another organisation's reads as not found).
#[allow(clippy::result_large_err)]
async fn owned_asset(state: &AppState, headers: &HeaderMap, id: i64) -> Result<AssetRow, Response> {
    let org = caller_org(state, headers).await?;
    match assets::get(&state.db, id).await {
        Ok(Some(row)) if row.organisation_id == org => Ok(row),
        _ => Err(not_found()),
    }
}

pub(crate) fn content_type(format: &str) -> &'static str {
    match format {
        "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "m3u8" => "application/vnd.apple.mpegurl",
        _ => "application/octet-stream",
    }
}

/// Serves a file with ranges and conditional requests, then sets our headers.
pub(crate) async fn serve(
    path: std::path::PathBuf,
    content_type: &str,
    cache: &'static str,
    request: Request,
) -> Response {
    let mut response = match ServeFile::new(path).oneshot(request).await {
        Ok(r) => r.map(Body::new),
        Err(_) => return not_found(),
    };
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    response
}

/// Serves a finished file by its path relative to the data folder: from the data folder when
/// it is there, else (media in object storage, made on another node) from the store.
pub(crate) async fn serve_stored(
    store: &MediaStore,
    rel: &str,
    content_type: &str,
    cache: &'static str,
    request: Request,
) -> Response {
    let Some(path) = store.resolve(rel) else {
        return not_found();
    };
    let remote = match (store.local_copy(rel).await, store.remote()) {
        (None, Some(remote)) => remote,
        _ => return serve(path, content_type, cache, request).await,
    };
    let mut response = remote.serve(rel, request.headers()).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let headers = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(content_type) {
            headers.insert(header::CONTENT_TYPE, v);
        }
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    }
    response
}

const IMMUTABLE: &str = "private, max-age=31536000, immutable";
pub(crate) const NO_CACHE: &str = "private, no-cache";

/// `/media/assets/{id}.{ext}`
async fn asset(
    State(s): State<ServerState>,
    Path(file): Path<String>,
    request: Request,
) -> Response {
    let Some(id) = file.split('.').next().and_then(|n| n.parse::<i64>().ok()) else {
        return not_found();
    };
    let row = match owned_asset(&s.app, request.headers(), id).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    if row.asset.kind == ProcessKind::Replay {
        return not_found();
    }
    serve_stored(
        &s.store,
        &row.path,
        content_type(&row.asset.format),
        IMMUTABLE,
        request,
    )
    .await
}

/// `/media/streams/{stream}/latest.jpg` (or `.webp`): the newest thumbnail; and
/// `latest-clip.mp4` (or `.webp`): the newest motion clip. Never cached.
async fn latest_of_stream(
    State(s): State<ServerState>,
    Path((stream, file)): Path<(i64, String)>,
    request: Request,
) -> Response {
    let (kind, format) = match file.as_str() {
        "latest.jpg" => (ProcessKind::Thumbnail, "jpeg"),
        "latest.webp" => (ProcessKind::Thumbnail, "webp"),
        "latest-clip.mp4" => (ProcessKind::MotionClip, "mp4"),
        "latest-clip.webp" => (ProcessKind::MotionClip, "webp"),
        _ => return not_found(),
    };
    let org = match caller_org(&s.app, request.headers()).await {
        Ok(o) => o,
        Err(e) => return e,
    };
    if !matches!(
        repo::streams::group_of_stream(&s.app.db, org, stream).await,
        Ok(Some(_))
    ) {
        return not_found();
    }
    let Ok(Some(row)) = assets::latest(&s.app.db, stream, kind, format).await else {
        return not_found();
    };
    serve_stored(&s.store, &row.path, content_type(format), NO_CACHE, request).await
}

/// `/media/assets/{id}/storyboard.vtt` and its sheets: a recording's storyboard.
async fn recording_storyboard(
    State(s): State<ServerState>,
    Path((id, file)): Path<(i64, String)>,
    request: Request,
) -> Response {
    if !storyboard::is_storyboard(&file) {
        return not_found();
    }
    let row = match owned_asset(&s.app, request.headers(), id).await {
        Ok(r) if r.asset.kind == ProcessKind::Recording => r,
        Ok(_) => return not_found(),
        Err(e) => return e,
    };
    let span = storyboard::recording_span(&row);
    storyboard::answer(&s.app.db, &s.store, &s.sheets, span, &file, true).await
}

/// Whether `rest` names a replay file: `replay.m3u8`, or `segments/r{n}/init.mp4` or
/// `segments/r{n}/seg_{n}.m4s`. Nothing else is served from a replay folder.
pub(crate) fn replay_member(rest: &str) -> Option<(&'static str, &'static str)> {
    if rest == "replay.m3u8" {
        return Some((content_type("m3u8"), NO_CACHE));
    }
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    // Segments a later epoch of the session wrote (after a takeover): `e{n}/segments/…`.
    let rest = match rest.split_once('/') {
        Some((first, inner))
            if first
                .strip_prefix('e')
                .is_some_and(|n| digits(n) && !n.starts_with('0')) =>
        {
            inner
        }
        _ => rest,
    };
    let mut parts = rest.split('/');
    let (Some("segments"), Some(run), Some(file), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    if !run.strip_prefix('r').is_some_and(digits) {
        return None;
    }
    if file == "init.mp4" {
        return Some(("video/mp4", IMMUTABLE));
    }
    match file
        .strip_prefix("seg_")
        .and_then(|f| f.strip_suffix(".m4s"))
    {
        Some(n) if digits(n) => Some(("video/iso.segment", IMMUTABLE)),
        _ => None,
    }
}

/// `/media/replay/{id}/replay.m3u8` and the segments it lists, and its storyboard.
async fn replay_file(
    State(s): State<ServerState>,
    Path((id, rest)): Path<(i64, String)>,
    request: Request,
) -> Response {
    if storyboard::is_storyboard(&rest) {
        let row = match owned_asset(&s.app, request.headers(), id).await {
            Ok(r) if r.asset.kind == ProcessKind::Replay => r,
            Ok(_) => return not_found(),
            Err(e) => return e,
        };
        let span = storyboard::replay_span(&s.store, &row).await;
        return storyboard::answer(&s.app.db, &s.store, &s.sheets, span, &rest, true).await;
    }
    let Some((ctype, cache)) = replay_member(&rest) else {
        return not_found();
    };
    let row = match owned_asset(&s.app, request.headers(), id).await {
        Ok(r) => r,
        Err(e) => return e,
    };
    if row.asset.kind != ProcessKind::Replay {
        return not_found();
    }
    let Some(rel) = replay_file_path(&row.path, &rest) else {
        return not_found();
    };
    if cache == NO_CACHE {
        return serve_stored(&s.store, &rel, ctype, cache, request).await;
    }
    super::hot::serve_immutable(&s.store, &s.hot, &rel, ctype, cache, request).await
}

/// The path (relative to the data folder) of a replay's file: its playlist, or `rest` (a
/// [`replay_member`]) beside it.
pub(crate) fn replay_file_path(playlist: &str, rest: &str) -> Option<String> {
    if rest == "replay.m3u8" {
        return Some(playlist.to_string());
    }
    crate::media_store::replay_file(playlist, rest)
}

#[cfg(test)]
mod tests {
    use super::replay_member;

    #[test]
    fn only_replay_files_of_a_strict_form_are_served() {
        assert!(replay_member("replay.m3u8").is_some());
        assert!(replay_member("segments/r0/init.mp4").is_some());
        assert!(replay_member("segments/r12/seg_000001.m4s").is_some());
        assert!(replay_member("e2/segments/r3/seg_000001.m4s").is_some());
        assert!(replay_member("e2/segments/r3/init.mp4").is_some());
        for bad in [
            "../replay.m3u8",
            "segments/../../x",
            "segments/r0/../../../etc/passwd",
            "segments/rx/init.mp4",
            "segments/r0/seg_.m4s",
            "segments/r0/seg_1.m4s/x",
            "recordings/recording-0001.mp4",
            "segments/r0/live.m3u8",
            "e2/replay.m3u8",
            "e0/segments/r0/init.mp4",
            "e02/segments/r0/init.mp4",
            "e2/e3/segments/r0/init.mp4",
            "ex/segments/r0/init.mp4",
        ] {
            assert!(replay_member(bad).is_none(), "{bad}");
        }
    }
}
