//! Files behind share links and clips. `/s/{token}/…` serves what one active link opens (a
//! clip folder, or a replay's playlist and segments and a poster) to anyone holding the
//! token and nothing else: wrong, expired and revoked tokens all get the same not-found, and
//! an address that misses too often is slowed down. `/media/clips/{id}/…` serves clip files
//! to members of the owning organisation.

use axum::extract::{Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use app::domain::assets::AssetKind;
use app::domain::AppError;
use app::ssr::net::ClientIp;
use app::ssr::repo::{self, clips::ShareTarget};
use app::ssr::services;

use super::media::{self, not_found, NO_CACHE};
use super::router::ServerState;
use crate::clips::cut::{INIT, MP4, PLAYLIST, POSTER};
use crate::storyboard;

/// Segments and downloads behind a link: private, and short-lived so a revoked link stops
/// working everywhere soon.
const SHORT: &str = "private, max-age=300";

/// Routes of shared and clip files.
pub(crate) fn routes() -> Router<ServerState> {
    Router::new()
        .route("/s/{token}/{*rest}", get(shared_file))
        .route("/media/clips/{id}/{file}", get(member_clip_file))
}

/// Whether `file` names a file of a clip folder; its content type and caching.
pub(crate) fn clip_member(file: &str) -> Option<(&'static str, &'static str)> {
    match file {
        PLAYLIST => Some(("application/vnd.apple.mpegurl", NO_CACHE)),
        INIT | MP4 => Some(("video/mp4", SHORT)),
        POSTER => Some(("image/jpeg", SHORT)),
        _ => {
            let n = file.strip_prefix("seg_")?.strip_suffix(".m4s")?;
            (!n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .then_some(("video/iso.segment", SHORT))
        }
    }
}

async fn shared_file(
    State(s): State<ServerState>,
    Path((token, rest)): Path<(String, String)>,
    request: Request,
) -> Response {
    let client = request
        .extensions()
        .get::<ClientIp>()
        .map(|c| c.0.to_string())
        .unwrap_or_default();
    let found = match services::clips::find_share(&s.app, &token, &client).await {
        Ok(Some(f)) => f,
        Ok(None) => return not_found(),
        Err(AppError::RateLimited { retry_after_s }) => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", retry_after_s.to_string())],
                "Too many requests.",
            )
                .into_response()
        }
        Err(_) => return (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.").into_response(),
    };
    if storyboard::is_storyboard(&rest) {
        let span = match &found.target {
            ShareTarget::Clip(clip) => Some(storyboard::clip_span(&clip.clip)),
            ShareTarget::Replay { asset_id, .. } => {
                match repo::assets::get(&s.app.db, *asset_id).await {
                    Ok(Some(row)) => storyboard::replay_span(&s.store, &row).await,
                    _ => None,
                }
            }
            ShareTarget::Recording(pieces) => pieces.first().and_then(piece_span),
        };
        return storyboard::answer(&s.app.db, &s.store, &s.sheets, span, &rest, true).await;
    }
    match found.target {
        ShareTarget::Recording(pieces) => {
            if rest == POSTER {
                let thumb = match pieces
                    .first()
                    .and_then(|p| Some((p.stream_id, p.session_id?)))
                {
                    Some((stream, session)) => repo::assets::latest_of_session(
                        &s.app.db,
                        stream,
                        session,
                        AssetKind::Thumbnail,
                        "jpeg",
                    )
                    .await
                    .ok()
                    .flatten(),
                    None => None,
                };
                return match thumb {
                    Some(t) => {
                        media::serve_stored(&s.store, &t.path, "image/jpeg", NO_CACHE, request)
                            .await
                    }
                    None => not_found(),
                };
            }
            // parts/{n}/recording.mp4 and parts/{n}/storyboard…
            let mut it = rest.splitn(3, '/');
            let (Some("parts"), Some(n), Some(file)) = (it.next(), it.next(), it.next()) else {
                return not_found();
            };
            let Some(piece) = n
                .parse::<usize>()
                .ok()
                .filter(|v| *v >= 1 && !n.starts_with('0') && n.len() <= 4)
                .and_then(|v| pieces.get(v - 1))
            else {
                return not_found();
            };
            if file == "recording.mp4" {
                return media::serve_stored(&s.store, &piece.path, "video/mp4", SHORT, request)
                    .await;
            }
            if storyboard::is_storyboard(file) {
                let span = piece_span(piece);
                return storyboard::answer(&s.app.db, &s.store, &s.sheets, span, file, true).await;
            }
            not_found()
        }
        ShareTarget::Clip(clip) => {
            let Some((ctype, cache)) = clip_member(&rest) else {
                return not_found();
            };
            let rel = format!("{}/{rest}", clip.dir);
            media::serve_stored(&s.store, &rel, ctype, cache, request).await
        }
        ShareTarget::Replay {
            path,
            stream_id,
            session_id,
            ..
        } => {
            if rest == POSTER {
                let Ok(Some(thumb)) = repo::assets::latest_of_session(
                    &s.app.db,
                    stream_id,
                    session_id,
                    AssetKind::Thumbnail,
                    "jpeg",
                )
                .await
                else {
                    return not_found();
                };
                return media::serve_stored(&s.store, &thumb.path, "image/jpeg", NO_CACHE, request)
                    .await;
            }
            let Some((ctype, cache)) = media::replay_member(&rest) else {
                return not_found();
            };
            let Some(rel) = media::replay_file_path(&path, &rest) else {
                return not_found();
            };
            media::serve_stored(&s.store, &rel, ctype, cache, request).await
        }
    }
}

/// The span of a shared recording file.
fn piece_span(p: &repo::clips::RecordingPiece) -> Option<storyboard::Span> {
    Some(storyboard::Span {
        stream_id: p.stream_id,
        start: p.started_at,
        duration_s: p.duration_ms? as f64 / 1000.0,
    })
}

/// `/media/clips/{id}/{file}` for members.
async fn member_clip_file(
    State(s): State<ServerState>,
    Path((id, file)): Path<(i64, String)>,
    request: Request,
) -> Response {
    let story = storyboard::is_storyboard(&file);
    let Some((ctype, cache)) = clip_member(&file).or(story.then_some(("", ""))) else {
        return not_found();
    };
    let org = match media::caller_org(&s.app, request.headers()).await {
        Ok(o) => o,
        Err(e) => return e,
    };
    let Ok(Some(clip)) = repo::clips::get(&s.app.db, org, id).await else {
        return not_found();
    };
    if story {
        let span = Some(storyboard::clip_span(&clip.clip));
        return storyboard::answer(&s.app.db, &s.store, &s.sheets, span, &file, true).await;
    }
    let rel = format!("{}/{file}", clip.dir);
    media::serve_stored(&s.store, &rel, ctype, cache, request).await
}

#[cfg(test)]
mod tests {
    use super::clip_member;

    #[test]
    fn only_clip_files_of_a_strict_form_are_served() {
        for ok in [
            "clip.m3u8",
            "init.mp4",
            "seg_000001.m4s",
            "poster.jpg",
            "clip.mp4",
        ] {
            assert!(clip_member(ok).is_some(), "{ok}");
        }
        for bad in [
            "../x",
            "seg_.m4s",
            "seg_1.m4s/x",
            "clip.frag.mp4",
            "poster.webp",
            "x.part",
        ] {
            assert!(clip_member(bad).is_none(), "{bad}");
        }
    }
}
