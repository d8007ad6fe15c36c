//! Motion clips: the last `duration` seconds cut from segments already on disk (only those
//! seconds are decoded), scaled to at most 480 px wide, muted, written as MP4 and animated
//! WebP from one decode, at low CPU priority so live segmenting always wins.

use std::sync::Arc;
use std::time::Duration;

use app::domain::settings::ProcessKind;
use app::ssr::repo::assets::NewAsset;

use super::error::JobError;
use super::segment::Segment;
use super::thumbnails::prune;
use super::RunnerCtx;
use crate::ffmpeg::{args, process};
use crate::media::webp;
use crate::media_store::{MediaStore, RenditionKey};

/// Niceness of clip encoding.
const CLIP_NICE: u8 = 10;

/// Makes one clip of the window `[from, to]` (media seconds) out of `segments`, which cover
/// it and come from one ffmpeg run.
pub(crate) async fn make(
    ctx: Arc<RunnerCtx>,
    key: RenditionKey,
    segments: Vec<Segment>,
    from: f64,
    to: f64,
) -> Result<(), JobError> {
    let first = segments
        .first()
        .ok_or(JobError::Invalid("a clip without segments"))?;
    let duration = (to - from).round().max(1.0) as u32;
    let offset = (from - first.start).max(0.0);
    let ms = (to * 1000.0).round().max(0.0) as u64;
    let mp4 = ctx.store.motion_clip(key, ms, "mp4");
    let wbp = ctx.store.motion_clip(key, ms, "webp");
    if let Some(dir) = mp4.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    let (mp4_part, webp_part) = (MediaStore::part(&mp4), MediaStore::part(&wbp));
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
    let mp4_size = MediaStore::publish(&mp4_part, &mp4)
        .await
        .map_err(JobError::io(&mp4))?;
    let webp_size = MediaStore::publish(&webp_part, &wbp)
        .await
        .map_err(JobError::io(&wbp))?;
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
