//! Thumbnails: a JPEG and a WebP of a segment's first keyframe (only that frame is decoded),
//! registered as assets; the newest ones are kept, older ones deleted. For a stream whose
//! thumbnails are off, storyboard tiles instead: a small JPEG of a keyframe every
//! [`TILE_INTERVAL_S`], registered as thumbnails of format [`TILE_FORMAT`] (listed nowhere but
//! in storyboards, no webhook).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::domain::settings::ProcessKind;
use app::ssr::repo::assets::{self, NewAsset};

use super::error::JobError;
use super::segment::Segment;
use super::share::{self, Announce, Board, Made};
use super::RunnerCtx;
use crate::ffmpeg::{args, process};
use crate::media::{jpeg, webp};
use crate::media_store::{MediaStore, RenditionKey};

/// Makes one thumbnail from `seg`; in a group, a link to the thumbnail leader's of the same
/// keyframe when it has one ([`super::share`]). `announce` tells followers when it is made.
pub(crate) async fn make(
    ctx: Arc<RunnerCtx>,
    key: RenditionKey,
    seg: Segment,
    board: Arc<Board>,
    announce: Announce,
) -> Result<(), JobError> {
    let target = files_of(&ctx, key, seg.start);
    let (jpg, wbp) = (target.main.clone(), target.webp.clone());
    let shared = match board.thumbnail_leader(key.stream_id) {
        Some(leader) => match board.follow_thumbnail(leader, seg.start).await {
            Some(made) => link_into(&made, &target).await.map(|s| (s, "linked")),
            None => None,
        },
        None => match board.thumbnail_renderer(key.stream_id) {
            Some(leader) if board.rendered_for(key.stream_id, leader, seg.start).await => {
                sizes_of(&target).await.map(|s| (s, "leader"))
            }
            _ => None,
        },
    };
    let ((jpg_size, webp_size), source) = match shared {
        Some(made) => made,
        None => {
            let smaller = board.claim_narrow(key.stream_id, seg.start).await;
            let sizes = render_with_smaller(&ctx, key, &seg, &target, smaller).await?;
            (sizes, "own")
        }
    };
    crate::metrics::thumbnail_made(source);
    announce.send_replace(Some(target));
    let (w, h) = jpeg_size(&jpg, "the thumbnail is not a JPEG").await?;
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

/// A thumbnail's two files, named by the start (media seconds) of the segment it shows.
fn files_of(ctx: &RunnerCtx, key: RenditionKey, start: f64) -> Made {
    let ms = (start * 1000.0).round().max(0.0) as u64;
    Made {
        main: ctx.store.thumbnail(key, ms, "jpg"),
        webp: ctx.store.thumbnail(key, ms, "webp"),
    }
}

/// The sizes of a thumbnail's two files, put in place by its leader.
async fn sizes_of(target: &Made) -> Option<(u64, u64)> {
    let main = tokio::fs::metadata(&target.main).await.ok()?.len();
    let webp = tokio::fs::metadata(&target.webp).await.ok()?.len();
    Some((main, webp))
}

/// Renders this stream's thumbnail into `target` and, from the same decode, the narrower
/// streams' ones it claimed, each put in its stream's place (written beside as
/// `.lead.part`, so never over a file the stream writes itself). Returns this stream's
/// sizes. Should the run fail with the others in it, this stream's is made again alone.
async fn render_with_smaller(
    ctx: &RunnerCtx,
    key: RenditionKey,
    seg: &Segment,
    target: &Made,
    claims: Vec<share::Claim>,
) -> Result<(u64, u64), JobError> {
    let mut smaller = Vec::new();
    for claim in claims {
        let theirs = RenditionKey {
            stream_id: claim.stream_id,
            ..key
        };
        let made = files_of(ctx, theirs, claim.start);
        let lead = |p: &Path| {
            let mut s = p.as_os_str().to_owned();
            s.push(".lead");
            MediaStore::part(Path::new(&s))
        };
        let parts = (lead(&made.main), lead(&made.webp));
        let dir_made = match made.main.parent() {
            Some(dir) => tokio::fs::create_dir_all(dir).await.is_ok(),
            None => false,
        };
        // A claim dropped here tells its stream to make its own.
        if dir_made {
            smaller.push((claim, made, parts));
        }
    }
    let files = [target.main.as_path(), target.webp.as_path()];
    let run = |smaller: &[(share::Claim, Made, (PathBuf, PathBuf))]| {
        let outputs: Vec<_> = smaller
            .iter()
            .map(|(c, _, (jpg, webp))| (c.size, jpg.clone(), webp.clone()))
            .collect();
        render(ctx, &files, move |parts| {
            args::thumbnail(&seg.init, &seg.path, &parts[0], &parts[1], &outputs)
        })
    };
    let sizes = match run(&smaller).await {
        Ok(sizes) => sizes,
        Err(e) if !smaller.is_empty() => {
            tracing::info!(error = %e, "cannot make a group's thumbnails together; making this stream's alone");
            for (_, _, parts) in smaller.drain(..) {
                remove_parts(&parts).await;
            }
            run(&[]).await?
        }
        Err(e) => return Err(e),
    };
    for (claim, made, parts) in smaller {
        let placed =
            claim.placing() && share::publish_both(&parts.0, &parts.1, &made).await.is_ok();
        if !placed {
            remove_parts(&parts).await;
        }
        claim.done(placed);
    }
    Ok((sizes[0], sizes[1]))
}

/// Removes the leader's `.lead.part` files written for a narrower stream (its own writes,
/// never the stream's files).
async fn remove_parts((jpg, webp): &(PathBuf, PathBuf)) {
    let _ = tokio::fs::remove_file(jpg).await;
    let _ = tokio::fs::remove_file(webp).await;
}

/// Links the leader's thumbnail into `target`; `None` (and a log line) when that fails.
async fn link_into(made: &Made, target: &Made) -> Option<(u64, u64)> {
    if let Some(dir) = target.main.parent() {
        tokio::fs::create_dir_all(dir).await.ok()?;
    }
    match share::link(made, target).await {
        Ok(sizes) => Some(sizes),
        Err(e) => {
            tracing::debug!(error = %e, "cannot link the leader's thumbnail; making one");
            None
        }
    }
}

/// Runs the ffmpeg `argv_for` gives for the `.part` files of `files` (one of the node's
/// thumbnail permits held meanwhile), then makes each file final; returns their sizes.
async fn render(
    ctx: &RunnerCtx,
    files: &[&Path],
    argv_for: impl FnOnce(&[PathBuf]) -> Vec<OsString>,
) -> Result<Vec<u64>, JobError> {
    if let Some(dir) = files.first().and_then(|f| f.parent()) {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    let parts: Vec<PathBuf> = files.iter().map(|f| MediaStore::part(f)).collect();
    {
        let _permit = ctx
            .thumbnail_permits
            .acquire()
            .await
            .map_err(|_| JobError::refused("the server is stopping"))?;
        let argv = argv_for(&parts);
        process::run(
            "ffmpeg",
            &ctx.config.ffmpeg,
            &argv,
            Duration::from_secs(20),
            0,
        )
        .await?;
    }
    let mut sizes = Vec::with_capacity(files.len());
    for (part, file) in parts.iter().zip(files) {
        sizes.push(
            MediaStore::publish(part, file)
                .await
                .map_err(JobError::io(file))?,
        );
    }
    Ok(sizes)
}

/// The width and height of a JPEG file, or `invalid`.
async fn jpeg_size(path: &Path, invalid: &'static str) -> Result<(u32, u32), JobError> {
    tokio::fs::read(path)
        .await
        .ok()
        .and_then(|b| jpeg::size(&b))
        .ok_or(JobError::Invalid(invalid))
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
    let sizes = render(&ctx, &[&jpg], |parts| {
        args::storyboard_tile(&seg.init, &seg.path, &parts[0])
    })
    .await?;
    let size = sizes[0];
    let (w, h) = jpeg_size(&jpg, "the storyboard tile is not a JPEG").await?;
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
