//! Recording: the rendition's segments appended into fragmented MP4 files of at most
//! `duration` each (one per session for "entire stream"). Each fragment is about a second, so
//! the file on disk is playable at every moment and a kill loses at most the fragment being
//! written. A file is written as `.part` and renamed when it closes; then probed for its
//! integrity and registered as an asset.

use std::path::PathBuf;
use std::sync::Arc;

use app::domain::assets::Integrity;
use app::domain::settings::{ProcessKind, Span};
use app::ssr::repo::assets::NewAsset;
use chrono::{DateTime, Utc};
use tokio::io::AsyncWriteExt;

use super::error::JobError;
use super::segment::{InitInfo, Segment};
use super::RunnerCtx;
use crate::ffmpeg::probe;
use crate::media::fmp4;
use crate::media_store::{MediaStore, RenditionKey};

/// Slack when deciding whether a segment still fits under the limit.
const FIT_SLACK_S: f64 = 0.25;

struct OpenFile {
    part: PathBuf,
    target: PathBuf,
    file: tokio::fs::File,
    init: Arc<InitInfo>,
    base: f64,
    duration: f64,
    limit: Span,
    opened_at: DateTime<Utc>,
    /// Bytes in the file after the last whole fragment.
    written: u64,
}

/// A finished recording file.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Closed {
    pub(crate) asset_id: i64,
    pub(crate) path: PathBuf,
    pub(crate) duration_s: f64,
    pub(crate) integrity: Integrity,
}

/// The recording of one rendition in one session.
pub(crate) struct Recorder {
    key: RenditionKey,
    next_index: u32,
    open: Option<OpenFile>,
}

impl Recorder {
    /// A recorder with no file open yet.
    pub(crate) fn new(key: RenditionKey) -> Self {
        Self {
            key,
            next_index: 1,
            open: None,
        }
    }

    /// Appends a segment (its bytes already read), first closing the current file if the
    /// segment would not fit under the file's limit or belongs to a different init segment.
    pub(crate) async fn append(
        &mut self,
        ctx: &RunnerCtx,
        seg: &Segment,
        bytes: &[u8],
        init: &Arc<InitInfo>,
        limit: Span,
    ) -> Result<Option<Closed>, JobError> {
        let mut closed = None;
        if let Some(open) = self.open.as_mut() {
            // The limit as set now: a live change applies to the open file at this segment.
            open.limit = limit;
            let overflows = matches!(open.limit, Span::Seconds(l) if open.duration > 0.0 && open.duration + seg.duration > f64::from(l) + FIT_SLACK_S);
            if overflows || open.init.bytes != init.bytes {
                closed = self.close(ctx).await;
            }
        }
        if self.open.is_none() {
            let target = ctx.store.recording(self.key, self.next_index);
            self.next_index += 1;
            if let Some(dir) = target.parent() {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(JobError::io(dir))?;
            }
            let part = MediaStore::part(&target);
            let mut file = tokio::fs::File::create(&part)
                .await
                .map_err(JobError::io(&part))?;
            if let Err(e) = file.write_all(&init.bytes).await {
                // Nothing usable was written: the empty file goes (it is ours, just made).
                drop(file);
                let _ = tokio::fs::remove_file(&part).await;
                return Err(JobError::io(&part)(e));
            }
            self.open = Some(OpenFile {
                part,
                target,
                file,
                init: init.clone(),
                base: seg.start,
                duration: 0.0,
                limit,
                opened_at: ctx.state.clock.now(),
                written: init.bytes.len() as u64,
            });
        }
        let Some(open) = self.open.as_mut() else {
            return Ok(closed);
        };
        let mut fragment = bytes.to_vec();
        fmp4::rebase(&mut fragment, &open.init.timescales, open.base)?;
        let wrote = async {
            open.file.write_all(&fragment).await?;
            // Hand the bytes to the kernel at once: a crash of this process loses nothing
            // written.
            open.file.flush().await
        }
        .await;
        if let Err(e) = wrote {
            // A short write (a full disk) must not leave half a fragment for the next one to
            // follow: cut the file back to its last whole fragment; this segment is lost.
            use tokio::io::AsyncSeekExt;
            let _ = open.file.set_len(open.written).await;
            let _ = open.file.seek(std::io::SeekFrom::Start(open.written)).await;
            return Err(JobError::io(&open.part)(e));
        }
        open.written += fragment.len() as u64;
        open.duration += seg.duration;
        Ok(closed)
    }

    /// Closes the current file: sync, rename, probe, register.
    pub(crate) async fn close(&mut self, ctx: &RunnerCtx) -> Option<Closed> {
        let OpenFile {
            part,
            target,
            mut file,
            duration,
            opened_at,
            ..
        } = self.open.take()?;
        let _ = file.flush().await;
        drop(file);
        let size = match MediaStore::publish(&part, &target).await {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(path = %part.display(), "cannot finish recording: {e}");
                return None;
            }
        };
        register(
            ctx,
            self.key,
            Finished {
                path: &target,
                size,
                written_s: duration,
                integrity: Integrity::Ok,
                created_at: opened_at,
            },
            super::Writer::Live,
        )
        .await
    }
}

/// A finished recording file to register.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Finished<'a> {
    pub(crate) path: &'a std::path::Path,
    pub(crate) size: u64,
    /// Seconds written into it (0 when unknown).
    pub(crate) written_s: f64,
    pub(crate) integrity: Integrity,
    pub(crate) created_at: DateTime<Utc>,
}

/// Probes a finished file and registers it; a probe shorter than what was written marks
/// it partial.
pub(crate) async fn register(
    ctx: &RunnerCtx,
    key: RenditionKey,
    file: Finished<'_>,
    writer: super::Writer,
) -> Option<Closed> {
    let Finished {
        path,
        size,
        written_s,
        integrity,
        created_at,
    } = file;
    let probe = probe::probe(&ctx.config.ffprobe, path).await;
    let (duration, width, height, integrity) = match &probe {
        Ok(p) => {
            let d = p.duration_s.unwrap_or(0.0);
            let integrity = if written_s > 0.0 && d + 1.0 < written_s {
                Integrity::Partial
            } else {
                integrity
            };
            (d, p.width, p.height, integrity)
        }
        Err(e) => {
            tracing::warn!(path = %path.display(), "recording does not probe: {e}");
            (written_s, None, None, Integrity::Partial)
        }
    };
    let rel = ctx.store.relative(path)?;
    let row = NewAsset {
        organisation_id: key.organisation_id,
        stream_id: key.stream_id,
        session_id: Some(key.session_id),
        kind: ProcessKind::Recording,
        format: "mp4",
        path: rel,
        size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
        duration_ms: Some((duration * 1000.0).round() as i64),
        width,
        height,
        integrity: Some(integrity),
        created_at,
    };
    match super::register_asset(ctx, key, &row, writer).await {
        Ok(asset_id) => {
            ctx.emit_asset(asset_id);
            Some(Closed {
                asset_id,
                path: path.to_path_buf(),
                duration_s: duration,
                integrity,
            })
        }
        Err(e) => {
            tracing::error!("cannot register recording: {e}");
            None
        }
    }
}
