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

/// The most one checkpoint carries (after the store was away for long, the rest follows).
const CHECKPOINT_MAX_BYTES: u64 = 32 << 20;

/// The folder of an open recording's checkpoints in the store: `{file}.chunks/`, one object
/// per checkpoint named by its byte offset in the file.
pub(crate) fn checkpoints_of(rel: &str) -> String {
    format!("{rel}.chunks")
}

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
    /// With object storage: bytes of the file already in the store as checkpoints.
    checkpointed: u64,
    last_checkpoint: std::time::Instant,
    /// The checkpoint being sent (in the background: the worker never waits for the
    /// store) and the offset it ends at.
    sending: Option<(u64, tokio::task::JoinHandle<bool>)>,
}

impl OpenFile {
    /// With object storage, every `checkpoint_every` (5 s by default): sends the bytes
    /// written since the last checkpoint, so that a node that dies loses at most about that
    /// much of its open recording (the node taking over finishes the file from the
    /// checkpoints: [`recover_checkpointed`]). A failure is retried at the next interval,
    /// from the same offset.
    async fn checkpoint(&mut self, ctx: &RunnerCtx) {
        let Some(remote) = ctx.store.remote() else {
            return;
        };
        let every = ctx.config.checkpoint_every;
        if let Some((end, handle)) = self.sending.take() {
            if !handle.is_finished() {
                self.sending = Some((end, handle));
                return;
            }
            if handle.await.unwrap_or(false) {
                self.checkpointed = end;
            }
        }
        if self.written <= self.checkpointed || self.last_checkpoint.elapsed() < every {
            return;
        }
        self.last_checkpoint = std::time::Instant::now();
        let Some(rel) = ctx.store.relative(&self.target) else {
            return;
        };
        let from = self.checkpointed;
        let len = (self.written - from).min(CHECKPOINT_MAX_BYTES);
        let read = async {
            use tokio::io::{AsyncReadExt, AsyncSeekExt};
            let mut f = tokio::fs::File::open(&self.part).await?;
            f.seek(std::io::SeekFrom::Start(from)).await?;
            let mut buf = vec![0; usize::try_from(len).unwrap_or(0)];
            f.read_exact(&mut buf).await?;
            Ok::<_, std::io::Error>(buf)
        };
        let bytes = match read.await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %rel, error = %e, "cannot read the recording for a checkpoint");
                return;
            }
        };
        let name = format!("{}/{from:016}", checkpoints_of(&rel));
        let remote = remote.clone();
        let sent = tokio::spawn(async move {
            match tokio::time::timeout(every * 2, remote.write(&name, bytes)).await {
                Ok(Ok(())) => true,
                Ok(Err(e)) => {
                    tracing::warn!(path = %rel, error = %e, "cannot send a recording checkpoint yet");
                    false
                }
                Err(_) => {
                    tracing::warn!(path = %rel, "a recording checkpoint timed out; retried later");
                    false
                }
            }
        });
        self.sending = Some((from + len, sent));
    }

    /// Waits for the checkpoint being sent (so none lands after the file's checkpoints are
    /// deleted).
    async fn settle(&mut self) {
        if let Some((_, handle)) = self.sending.take() {
            let _ = handle.await;
        }
    }
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
                // The moment its first frame went out live (storyboards place thumbnails
                // against it).
                opened_at: seg.wall,
                written: init.bytes.len() as u64,
                checkpointed: 0,
                last_checkpoint: std::time::Instant::now(),
                sending: None,
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
        open.checkpoint(ctx).await;
        Ok(closed)
    }

    /// Closes the current file: sync, rename, probe, register.
    pub(crate) async fn close(&mut self, ctx: &RunnerCtx) -> Option<Closed> {
        if let Some(open) = self.open.as_mut() {
            open.settle().await;
        }
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
        let closed = register(
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
        .await;
        if closed.is_some() {
            forget_checkpoints(ctx, &target).await;
        }
        closed
    }
}

/// The file is in the store with its row: its checkpoints are garbage.
pub(crate) async fn forget_checkpoints(ctx: &RunnerCtx, target: &std::path::Path) {
    let (Some(remote), Some(rel)) = (ctx.store.remote(), ctx.store.relative(target)) else {
        return;
    };
    if let Err(e) = remote.delete_folder(&checkpoints_of(&rel)).await {
        tracing::warn!(path = %rel, error = %e, "cannot delete a recording's checkpoints (deleted at its next recovery)");
    }
}

/// With object storage, after a takeover (the session's epochs before `epoch`) or for a
/// session ended for a dead node (every epoch up to its last): the recording files those
/// epochs' node left open are finished from their checkpoints — the checkpoints, contiguous
/// from the start, joined, cut back to the last whole fragment, uploaded and registered as
/// repaired — so the node's death costs only the seconds after its last checkpoint. A file
/// that got its row after all only loses its checkpoints. On any error the checkpoints stay
/// (for the next recovery, or the dead node's own repair at its next start).
pub(crate) async fn recover_checkpointed(
    ctx: &RunnerCtx,
    organisation_id: i64,
    group_id: i64,
    session_id: i64,
    epochs: std::ops::Range<i64>,
    streams: &[i64],
) {
    let Some(remote) = ctx.store.remote() else {
        return;
    };
    for epoch in epochs {
        for &stream_id in streams {
            let key = RenditionKey {
                organisation_id,
                group_id,
                session_id,
                stream_id,
                epoch,
            };
            let Some(folder) = ctx
                .store
                .relative(&ctx.store.rendition(key).join("recordings"))
            else {
                continue;
            };
            let objects = match remote.list(&folder).await {
                Ok(o) => o,
                Err(e) => {
                    tracing::warn!(path = %folder, error = %e, "cannot look for recording checkpoints");
                    continue;
                }
            };
            let mut pieces: std::collections::BTreeMap<String, Vec<(u64, u64, String)>> =
                Default::default();
            for (rel, size) in objects {
                let Some((file, offset)) = rel.rsplit_once('/') else {
                    continue;
                };
                let (Some(piece), Ok(offset)) = (file.strip_suffix(".chunks"), offset.parse())
                else {
                    continue;
                };
                pieces
                    .entry(piece.to_string())
                    .or_default()
                    .push((offset, size, rel.clone()));
            }
            for (piece, chunks) in pieces {
                if let Err(e) = recover_piece(ctx, remote, key, &piece, chunks).await {
                    tracing::warn!(path = %piece, error = %e, "cannot finish a recording from its checkpoints yet");
                }
            }
        }
    }
}

async fn recover_piece(
    ctx: &RunnerCtx,
    remote: &crate::remote::Remote,
    key: RenditionKey,
    piece: &str,
    mut chunks: Vec<(u64, u64, String)>,
) -> Result<(), JobError> {
    let db = &ctx.state.db;
    let forget = || async {
        remote
            .delete_folder(&checkpoints_of(piece))
            .await
            .map_err(|_| JobError::refused("the media store is unavailable"))
    };
    if app::ssr::repo::assets::exists_path(db, piece).await? {
        return forget().await;
    }
    let target = ctx
        .store
        .resolve(piece)
        .ok_or(JobError::Invalid("a recording outside the data folder"))?;
    if let Some(dir) = target.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    chunks.sort();
    let part = MediaStore::part(&target);
    let mut bytes = Vec::new();
    for (offset, _, rel) in &chunks {
        if *offset != bytes.len() as u64 {
            break; // a gap: what follows cannot be placed
        }
        let chunk = remote
            .read(rel)
            .await
            .map_err(|_| JobError::refused("the media store is unavailable"))?;
        bytes.extend_from_slice(&chunk);
    }
    let whole = fmp4::complete_prefix(&bytes);
    let has_media = whole > 0
        && fmp4::timescales(&bytes[..whole]).is_ok()
        && bytes[..whole].windows(4).any(|w| w == b"mdat");
    if !has_media {
        return Err(JobError::Invalid("checkpoints without a whole fragment"));
    }
    tokio::fs::write(&part, &bytes[..whole])
        .await
        .map_err(JobError::io(&part))?;
    let size = MediaStore::publish(&part, &target)
        .await
        .map_err(JobError::io(&target))?;
    if app::ssr::repo::assets::exists_path(db, piece).await? {
        // Registered meanwhile (its node came back): this copy is not needed.
        let _ = tokio::fs::remove_file(&target).await;
        return forget().await;
    }
    let file = Finished {
        path: &target,
        size,
        written_s: 0.0,
        integrity: Integrity::Repaired,
        created_at: ctx.state.clock.now(),
    };
    if register(ctx, key, file, super::Writer::Settled)
        .await
        .is_none()
    {
        return Err(JobError::refused("cannot register the recovered recording"));
    }
    tracing::info!(path = %piece, bytes = size, "finished a dead node's recording from its checkpoints");
    forget().await
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
