//! What every part of the runner shares: its settings, the settings of each live stream's
//! processes, the job board, the semaphores that bound ffmpeg work, the disk state and the
//! event channel; and the one way a finished file gets its row.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use app::domain::settings::{ProcessConfig, ProcessKind, StreamProcessing};
use app::ssr::{repo, AppState};
use tokio::sync::{broadcast, Semaphore};

use super::disk;
use super::error::JobError;
use super::jobs::JobBoard;
use crate::events::PipelineEvent;
use crate::media_store::{MediaStore, RenditionKey};

/// Settings of the runner.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
    /// x264 preset for transcoding profiles.
    pub x264_preset: String,
    /// Thumbnails kept per stream (JPEG and WebP each).
    pub keep_thumbnails: i64,
    /// Motion clips kept per stream (MP4 and WebP each).
    pub keep_clips: i64,
    /// Thumbnail and clip jobs at once, each.
    pub parallel_jobs: usize,
    /// The storage quota of organisations without their own.
    pub default_quota_bytes: Option<u64>,
    /// Whether recordings stop too when an organisation's quota is used up.
    pub quota_stops_recordings: bool,
    /// How often storage use is measured.
    pub usage_interval: std::time::Duration,
    /// This node (its data folder's id): the owner written on the leases it takes.
    pub node_id: String,
    /// How long a lease lasts without a heartbeat.
    pub lease_ttl: std::time::Duration,
    /// With object storage: how often an open recording's new bytes go to the store.
    pub checkpoint_every: std::time::Duration,
    /// How long a dropped publisher's session waits for it to come back, for groups that set
    /// none.
    pub reconnect_grace: std::time::Duration,
    /// How often a live session reads its organisation's packages again.
    pub package_check: std::time::Duration,
}

impl Default for RunnerConfig {
    fn default() -> Self {
        Self {
            ffmpeg: "ffmpeg".into(),
            ffprobe: "ffprobe".into(),
            x264_preset: "superfast".into(),
            keep_thumbnails: 200,
            keep_clips: 100,
            parallel_jobs: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2),
            default_quota_bytes: None,
            quota_stops_recordings: false,
            usage_interval: std::time::Duration::from_secs(30),
            node_id: "node".into(),
            lease_ttl: std::time::Duration::from_secs(6),
            checkpoint_every: std::time::Duration::from_secs(5),
            reconnect_grace: std::time::Duration::from_secs(10),
            package_check: std::time::Duration::from_secs(10),
        }
    }
}

/// The settings of one stream's four processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSettings([ProcessConfig; 4]);

impl StreamSettings {
    /// Everything off.
    pub fn off() -> Self {
        Self(ProcessKind::ALL.map(ProcessConfig::default_for))
    }

    /// From the saved settings of a stream.
    pub fn from_processing(p: &StreamProcessing) -> Self {
        Self(ProcessKind::ALL.map(|k| {
            p.get(k)
                .map(|v| v.config)
                .unwrap_or_else(|| ProcessConfig::default_for(k))
        }))
    }

    /// One process's settings.
    pub fn get(&self, kind: ProcessKind) -> ProcessConfig {
        self.0[ProcessKind::ALL
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(0)]
    }

    /// Whether any process is on.
    pub fn any_enabled(&self) -> bool {
        self.0.iter().any(ProcessConfig::enabled)
    }
}

/// What every part of the runner shares.
pub struct RunnerCtx {
    pub state: AppState,
    pub store: MediaStore,
    pub jobs: JobBoard,
    pub config: RunnerConfig,
    pub thumbnail_permits: Semaphore,
    pub clip_permits: Semaphore,
    /// Shared clips being finished (poster and MP4 export) at once.
    pub finish_permits: Semaphore,
    /// The data folder's free space (optional work waits when it is low).
    pub disk: disk::DiskState,
    /// Each organisation's storage against its quota.
    pub usage: super::usage::Usage,
    pub events: broadcast::Sender<PipelineEvent>,
    /// This node's leases as last seen held (for files another epoch writes too).
    pub leases: super::leases::LeaseBook,
    /// The other nodes' live work, as their heartbeats publish it.
    pub peers: super::peers::Peers,
    runs: AtomicU32,
    settings: Mutex<HashMap<i64, StreamSettings>>,
    /// Clips being finished on this node.
    finishing: Mutex<std::collections::HashSet<i64>>,
}

impl RunnerCtx {
    /// A new context.
    pub fn new(state: AppState, store: MediaStore, config: RunnerConfig) -> Self {
        let n = config.parallel_jobs.max(1);
        Self {
            state,
            store,
            jobs: JobBoard::default(),
            // Thumbnails are short and time-critical: more of them may run at once.
            thumbnail_permits: Semaphore::new(n * 2),
            clip_permits: Semaphore::new(n),
            finish_permits: Semaphore::new(2),
            disk: disk::DiskState::default(),
            usage: super::usage::Usage::default(),
            config,
            events: broadcast::channel(1024).0,
            leases: super::leases::LeaseBook::default(),
            peers: super::peers::Peers::default(),
            runs: AtomicU32::new(0),
            settings: Mutex::new(HashMap::new()),
            finishing: Mutex::default(),
        }
    }

    /// A number no other ffmpeg run of this process has (names its segment folder).
    pub fn next_run(&self) -> u32 {
        self.runs.fetch_add(1, Ordering::Relaxed)
    }

    /// Marks a clip as being finished here; `false` if it already is.
    pub(crate) fn begin_finishing(&self, clip_id: i64) -> bool {
        self.finishing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(clip_id)
    }

    /// A clip's finishing here ended.
    pub(crate) fn end_finishing(&self, clip_id: i64) {
        self.finishing
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&clip_id);
    }

    /// The streams live on this node now.
    pub fn live_streams(&self) -> Vec<i64> {
        let m = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        let mut v: Vec<i64> = m.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Whether a live stream's process is on.
    pub fn is_enabled(&self, stream_id: i64, kind: ProcessKind) -> bool {
        let m = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&stream_id).is_some_and(|s| s.get(kind).enabled())
    }

    pub(super) fn publish_settings(&self, settings: &HashMap<i64, StreamSettings>) {
        let mut m = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        m.extend(settings.iter().map(|(k, v)| (*k, *v)));
    }

    pub(super) fn forget_settings(&self, streams: impl Iterator<Item = i64>) {
        let mut m = self.settings.lock().unwrap_or_else(|p| p.into_inner());
        for s in streams {
            m.remove(&s);
        }
    }

    /// Announces a registered asset.
    pub fn emit_asset(&self, asset_id: i64) {
        self.emit(PipelineEvent::AssetCreated { asset_id });
    }

    /// Announces an event (dropped when nobody listens).
    pub fn emit(&self, event: PipelineEvent) {
        let _ = self.events.send(event);
    }
}

/// Uploads a finished file to the object store, retrying for about 25 s (the store may be
/// briefly unavailable); the file stays in the data folder either way.
async fn upload(
    ctx: &RunnerCtx,
    remote: &crate::remote::Remote,
    rel: &str,
) -> Result<(), JobError> {
    let local = ctx
        .store
        .resolve(rel)
        .ok_or(JobError::Invalid("a file outside the data folder"))?;
    let mut wait = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        match remote.upload(&local, rel).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < 8 => {
                tracing::warn!(path = %rel, attempt, error = %e, "cannot upload a file yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => {
                tracing::error!(path = %rel, error = %e, "cannot upload a file; it stays in the data folder");
                return Err(JobError::refused("the media store is unavailable"));
            }
        }
    }
}

/// With object storage: a finished file that is in the store and indexed leaves the data
/// folder, which then holds only live work (every node serves the file from the store).
async fn evict_local_copy(ctx: &RunnerCtx, rel: &str) {
    let Some(local) = ctx.store.resolve(rel) else {
        return;
    };
    match tokio::fs::remove_file(&local).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(path = %rel, error = %e, "cannot remove a file's local copy"),
    }
}

/// Who registers a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The session's live pipeline: only while this node holds the session's lease.
    Live,
    /// Someone who does not race the live pipeline: start-up repair (the old writers are
    /// proven dead) or a member saving a span of a replay.
    Settled,
}

/// Inserts the row of a live session's file that is already in place, while this node holds
/// the session with the key's epoch (after a takeover the old owner registers nothing),
/// retrying a failing database (locked, briefly unavailable) for about 25 s: a finished file
/// must get its row, not be lost. A file whose row still cannot be written stays on disk and
/// is registered (or quarantined) at the next start.
pub async fn register_asset(
    ctx: &RunnerCtx,
    key: RenditionKey,
    row: &repo::assets::NewAsset,
    writer: Writer,
) -> Result<i64, JobError> {
    let lease = repo::live_sessions::Lease {
        session_id: key.session_id,
        epoch: key.epoch,
    };
    // With object storage the object goes first: a row never points at a missing object.
    let finished = std::time::Instant::now();
    if let Some(remote) = ctx.store.remote() {
        upload(ctx, remote, &row.path).await?;
    }
    let mut wait = Duration::from_millis(250);
    let mut attempt = 1;
    loop {
        let inserted = match writer {
            Writer::Live => {
                repo::assets::insert_fenced(&ctx.state.db, row, lease, &ctx.config.node_id).await
            }
            Writer::Settled => repo::assets::insert(&ctx.state.db, row).await.map(Some),
        };
        match inserted {
            Ok(Some(id)) => {
                if ctx.store.remote().is_some() {
                    crate::metrics::uploaded("file", finished.elapsed());
                    evict_local_copy(ctx, &row.path).await;
                }
                return Ok(id);
            }
            Ok(None) => {
                tracing::warn!(path = %row.path, session.id = key.session_id, epoch = key.epoch, "not registered: another node took the session over");
                // Uploaded by this node and never to be indexed: garbage, proven.
                if let Some(remote) = ctx.store.remote() {
                    if let Err(e) = remote.delete(&row.path).await {
                        tracing::warn!(path = %row.path, error = %e, "cannot delete an object that will not be indexed");
                    }
                }
                return Err(JobError::refused(
                    "another node took the stream over; this node no longer writes for it",
                ));
            }
            Err(e) if attempt < 8 => {
                tracing::warn!(path = %row.path, attempt, error = %e, "cannot register a file yet; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(8));
                attempt += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
