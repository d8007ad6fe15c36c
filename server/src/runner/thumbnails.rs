//! Thumbnails: a JPEG and a WebP of a segment's first keyframe (only that frame is decoded),
//! registered as assets; the newest ones are kept, older ones deleted. For a stream whose
//! thumbnails are off, storyboard tiles instead: a small JPEG of a keyframe every
//! [`TILE_INTERVAL_S`], registered as thumbnails of format [`TILE_FORMAT`] (listed nowhere but
//! in storyboards, no webhook).

use std::sync::Arc;
use std::time::Duration;

use app::domain::settings::ProcessKind;
use app::ssr::repo::assets::{self, NewAsset};

use super::error::JobError;
use super::segment::Segment;
use super::RunnerCtx;
use crate::ffmpeg::{args, process};
use crate::media::{jpeg, webp};
use crate::media_store::{MediaStore, RenditionKey};

/// Makes one thumbnail from `seg`.
pub(crate) async fn make(
    ctx: Arc<RunnerCtx>,
    key: RenditionKey,
    seg: Segment,
) -> Result<(), JobError> {
    let ms = (seg.start * 1000.0).round().max(0.0) as u64;
    let jpg = ctx.store.thumbnail(key, ms, "jpg");
    let wbp = ctx.store.thumbnail(key, ms, "webp");
    if let Some(dir) = jpg.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    let (jpg_part, webp_part) = (MediaStore::part(&jpg), MediaStore::part(&wbp));
    {
        let _permit = ctx
            .thumbnail_permits
            .acquire()
            .await
            .map_err(|_| JobError::refused("the server is stopping"))?;
        let argv = args::thumbnail(&seg.init, &seg.path, &jpg_part, &webp_part);
        process::run(
            "ffmpeg",
            &ctx.config.ffmpeg,
            &argv,
            Duration::from_secs(20),
            0,
        )
        .await?;
    }
    let jpg_size = MediaStore::publish(&jpg_part, &jpg)
        .await
        .map_err(JobError::io(&jpg))?;
    let webp_size = MediaStore::publish(&webp_part, &wbp)
        .await
        .map_err(JobError::io(&wbp))?;
    let (w, h) = match tokio::fs::read(&jpg)
        .await
        .ok()
        .and_then(|b| jpeg::size(&b))
    {
        Some(s) => s,
        None => return Err(JobError::Invalid("the thumbnail is not a JPEG")),
    };
    let webp_ok = tokio::fs::read(&wbp)
        .await
        .ok()
        .and_then(|b| webp::info(&b))
        .is_some();
    if !webp_ok {
        return Err(JobError::Invalid("the thumbnail's WebP is unreadable"));
    }
    for (path, format, size) in [(&jpg, "jpeg", jpg_size), (&wbp, "webp", webp_size)] {
        let Some(rel) = ctx.store.relative(path) else {
            continue;
        };
        let row = NewAsset {
            organisation_id: key.organisation_id,
            stream_id: key.stream_id,
            session_id: Some(key.session_id),
            kind: ProcessKind::Thumbnail,
            format,
            path: rel,
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            duration_ms: None,
            width: Some(w),
            height: Some(h),
            integrity: None,
            // The moment it shows (storyboards and the Rewatch timeline place it there).
            created_at: seg.wall,
        };
        let id = super::register_asset(&ctx, key, &row, super::Writer::Live).await?;
        ctx.emit_asset(id);
    }
    // Ready this long after the moment it shows went out live.
    let lag = (chrono::Utc::now() - seg.wall).num_milliseconds() as f64 / 1000.0;
    crate::metrics::produced(
        &ctx,
        key.stream_id,
        ProcessKind::Thumbnail,
        jpg_size + webp_size,
        Some(lag),
    );
    prune(
        &ctx,
        key.stream_id,
        ProcessKind::Thumbnail,
        ctx.config.keep_thumbnails,
    )
    .await;
    Ok(())
}

/// Seconds between storyboard tiles while thumbnails are off.
pub(crate) const TILE_INTERVAL_S: u32 = 10;
/// The asset format of a storyboard tile.
pub(crate) const TILE_FORMAT: &str = app::domain::assets::TILE_FORMAT;
/// Tiles kept per stream: six hours at one per 10 s (about 4 KB each).
const KEEP_TILES: i64 = 2160;

/// Makes a storyboard tile from `seg` (thumbnails off): one keyframe decoded, a 160×90 JPEG.
pub(crate) async fn make_tile(
    ctx: Arc<RunnerCtx>,
    key: RenditionKey,
    seg: Segment,
) -> Result<(), JobError> {
    let ms = (seg.start * 1000.0).round().max(0.0) as u64;
    let jpg = ctx.store.thumbnail(key, ms, "tile.jpg");
    if let Some(dir) = jpg.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    let part = MediaStore::part(&jpg);
    {
        let _permit = ctx
            .thumbnail_permits
            .acquire()
            .await
            .map_err(|_| JobError::refused("the server is stopping"))?;
        let argv = args::storyboard_tile(&seg.init, &seg.path, &part);
        process::run(
            "ffmpeg",
            &ctx.config.ffmpeg,
            &argv,
            Duration::from_secs(20),
            0,
        )
        .await?;
    }
    let size = MediaStore::publish(&part, &jpg)
        .await
        .map_err(JobError::io(&jpg))?;
    let Some((w, h)) = tokio::fs::read(&jpg)
        .await
        .ok()
        .and_then(|b| jpeg::size(&b))
    else {
        return Err(JobError::Invalid("the storyboard tile is not a JPEG"));
    };
    let Some(rel) = ctx.store.relative(&jpg) else {
        return Ok(());
    };
    let row = NewAsset {
        organisation_id: key.organisation_id,
        stream_id: key.stream_id,
        session_id: Some(key.session_id),
        kind: ProcessKind::Thumbnail,
        format: TILE_FORMAT,
        path: rel,
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        duration_ms: None,
        width: Some(w),
        height: Some(h),
        integrity: None,
        created_at: seg.wall,
    };
    super::register_asset(&ctx, key, &row, super::Writer::Live).await?;
    prune(
        &ctx,
        key.stream_id,
        ProcessKind::Thumbnail,
        KEEP_TILES.max(ctx.config.keep_thumbnails),
    )
    .await;
    Ok(())
}

/// Deletes a stream's assets of `kind` beyond the newest `keep` files: rows first, then
/// files, so a crash in between leaves files without rows (quarantined at the next start),
/// never rows without files.
pub(crate) async fn prune(ctx: &RunnerCtx, stream_id: i64, kind: ProcessKind, keep: i64) {
    let Ok(old) = assets::beyond_newest(&ctx.state.db, stream_id, kind, keep).await else {
        return;
    };
    if old.is_empty() {
        return;
    }
    let ids: Vec<i64> = old.iter().map(|r| r.asset.id).collect();
    if let Err(e) = assets::delete(&ctx.state.db, &ids).await {
        tracing::warn!(stream.id = stream_id, error = %e, "cannot prune old assets now");
        return;
    }
    for row in &old {
        if let Some(path) = ctx.store.resolve(&row.path) {
            let _ = tokio::fs::remove_file(path).await;
        }
        // The row is gone: the object is garbage (a failure leaves it, never a dangling row).
        if let Some(remote) = ctx.store.remote() {
            if let Err(e) = remote.delete(&row.path).await {
                tracing::warn!(path = %row.path, error = %e, "cannot delete a pruned object");
            }
        }
    }
}
