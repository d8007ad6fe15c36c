//! Motion clips: the last `duration` seconds cut from segments already on disk (only those
//! seconds are decoded), scaled to at most 480 px wide, muted, written as MP4 and animated
//! WebP from one decode, at low CPU priority so live segmenting always wins. In a transcoding
//! group, a stream follows the group's narrowest rendition that is wide enough
//! ([`super::share`]): the same window is linked, not cut again.

use std::sync::Arc;
use std::time::Duration;

use app::domain::settings::ProcessKind;
use app::ssr::repo::assets::NewAsset;

use super::error::JobError;
use super::segment::Segment;
use super::share::{self, Announce, Board, Made, Source};
use super::thumbnails::prune;
use super::RunnerCtx;
use crate::ffmpeg::{args, process};
use crate::media::webp;
use crate::media_store::{MediaStore, RenditionKey};

/// Niceness of clip encoding.
const CLIP_NICE: u8 = 10;

/// One clip to make: the window `[from, to]` (media seconds) and this stream's segments
/// covering it (from one ffmpeg run).
pub(crate) struct ClipWork {
    pub(crate) parts: Vec<Segment>,
    pub(crate) from: f64,
    pub(crate) to: f64,
    /// Where followers hear that it is made; dropped unmade when the clip fails or is shed.
    pub(crate) announce: Announce,
}

/// Makes one clip, from the group leader's work when this stream follows one, else (or when
/// that fails) from its own segments.
pub(crate) async fn make(
    ctx: Arc<RunnerCtx>,
    key: RenditionKey,
    work: ClipWork,
    board: Arc<Board>,
) -> Result<(), JobError> {
    let ClipWork {
        parts,
        from,
        to,
        announce,
    } = work;
    let first = parts
        .first()
        .ok_or(JobError::Invalid("a clip without segments"))?;
    let duration = (to - from).round().max(1.0) as u32;
    let ms = (to * 1000.0).round().max(0.0) as u64;
    let mp4 = ctx.store.motion_clip(key, ms, "mp4");
    let wbp = ctx.store.motion_clip(key, ms, "webp");
    if let Some(dir) = mp4.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    let shared = match board.leader(key.stream_id) {
        Some(leader) => board.follow(leader, from, to).await,
        None => None,
    };
    let target = Made {
        main: mp4.clone(),
        webp: wbp.clone(),
    };
    let (mp4_size, webp_size) = pictures(&ctx, shared, &parts, from, duration, &target).await?;
    announce.send_replace(Some(target));
    let info = tokio::fs::read(&wbp)
        .await
        .ok()
        .and_then(|b| webp::info(&b))
        .ok_or(JobError::Invalid("the clip's WebP is unreadable"))?;
    let now = ctx.state.clock.now();
    let duration_ms = i64::from(duration) * 1000;
    for (path, format, size) in [(&mp4, "mp4", mp4_size), (&wbp, "webp", webp_size)] {
        let Some(rel) = ctx.store.relative(path) else {
            continue;
        };
        let row = NewAsset {
            organisation_id: key.organisation_id,
            stream_id: key.stream_id,
            session_id: Some(key.session_id),
            kind: ProcessKind::MotionClip,
            format,
            path: rel,
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            duration_ms: Some(duration_ms),
            width: Some(info.width),
            height: Some(info.height),
            integrity: None,
            created_at: now,
        };
        let id = super::register_asset(&ctx, key, &row, super::Writer::Live).await?;
        ctx.emit_asset(id);
    }
    // Ready this long after its last frame went out live.
    let due = first.wall + chrono::Duration::milliseconds(((to - first.start) * 1000.0) as i64);
    let lag = (chrono::Utc::now() - due).num_milliseconds() as f64 / 1000.0;
    crate::metrics::produced(
        &ctx,
        key.stream_id,
        ProcessKind::MotionClip,
        mp4_size + webp_size,
        Some(lag),
    );
    prune(
        &ctx,
        key.stream_id,
        ProcessKind::MotionClip,
        ctx.config.keep_clips,
    )
    .await;
    Ok(())
}

/// Writes the clip's two files: linked from the leader's, cut from the leader's segments, or
/// cut from `own` segments (when there is no leader, or the rest failed). Returns their sizes.
async fn pictures(
    ctx: &RunnerCtx,
    shared: Option<Source>,
    own: &[Segment],
    from: f64,
    duration: u32,
    target: &Made,
) -> Result<(u64, u64), JobError> {
    match shared {
        Some(Source::Made(made)) => match share::link(&made, target).await {
            Ok(sizes) => {
                crate::metrics::clip_made("linked");
                return Ok(sizes);
            }
            Err(e) => tracing::debug!(error = %e, "cannot link the leader's clip; cutting"),
        },
        Some(Source::Segments(segments)) => {
            match cut(ctx, &segments, from, duration, target).await {
                Ok(sizes) => {
                    crate::metrics::clip_made("leader");
                    return Ok(sizes);
                }
                Err(e) => {
                    tracing::info!(error = %e, "cannot cut from the leader's segments; cutting from this stream's")
                }
            }
        }
        None => {}
    }
    let sizes = cut(ctx, own, from, duration, target).await?;
    crate::metrics::clip_made("own");
    Ok(sizes)
}

/// Cuts `[from, from + duration]` out of `segments` (one run) into the target files.
async fn cut(
    ctx: &RunnerCtx,
    segments: &[Segment],
    from: f64,
    duration: u32,
    target: &Made,
) -> Result<(u64, u64), JobError> {
    let first = segments
        .first()
        .ok_or(JobError::Invalid("a clip without segments"))?;
    let offset = (from - first.start).max(0.0);
    let (mp4_part, webp_part) = (
        MediaStore::part(&target.main),
        MediaStore::part(&target.webp),
    );
    {
        let _permit = ctx
            .clip_permits
            .acquire()
            .await
            .map_err(|_| JobError::refused("the server is stopping"))?;
        let paths: Vec<_> = segments.iter().map(|s| s.path.clone()).collect();
        let argv = args::motion_clip(&first.init, &paths, offset, duration, &mp4_part, &webp_part);
        process::run(
            "ffmpeg",
            &ctx.config.ffmpeg,
            &argv,
            Duration::from_secs(60),
            CLIP_NICE,
        )
        .await?;
    }
    share::publish_both(&mp4_part, &webp_part, target).await
}
