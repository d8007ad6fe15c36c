//! The boundary between the dashboard and the media pipeline. The server implements
//! [`Pipeline`] and hands it over in [`crate::ssr::AppState`]; `app` never depends on the
//! server crate.

use crate::domain::status::{JobFailure, MachineStatus};
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};

use crate::domain::jobs::{ApplyMode, JobStatus, StorageStatus};
use crate::domain::AppError;
use crate::ssr::limiter::JobSlot;

/// What a media operation gives back: its result or a client-safe error.
pub type MediaFuture<T> = Pin<Box<dyn Future<Output = Result<T, MediaError>> + Send + 'static>>;

/// Why a media operation failed, in terms a client may see (details are in the server's
/// log under the reference).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaError {
    /// It cannot be done as asked (a span outside the buffer, an empty replay…).
    #[error("{0}")]
    Refused(String),
    #[error("the server's disk is almost full; try again later")]
    DiskFull,
    #[error("the media pipeline is not running")]
    NotRunning,
    #[error("the media pipeline failed (reference {0})")]
    Internal(String),
}

impl From<MediaError> for AppError {
    fn from(e: MediaError) -> Self {
        match e {
            MediaError::Refused(reason) => AppError::BadRequest(reason),
            MediaError::DiskFull => AppError::Busy { retry_after_s: 30 },
            MediaError::NotRunning => AppError::BadRequest(e.to_string()),
            MediaError::Internal(reference) => AppError::Internal(reference),
        }
    }
}

/// A span of a replay buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaySpan {
    /// From an in point to an out point (wall clock, as the player shows them).
    Between(DateTime<Utc>, DateTime<Utc>),
    /// The last this many seconds of the buffer.
    Last(u32),
}

/// The files of a freshly cut clip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipFiles {
    /// Its folder, relative to the data folder.
    pub dir: String,
    /// The span actually covered (segment boundaries).
    pub starts_at: DateTime<Utc>,
    pub duration_ms: i64,
}

/// What the dashboard asks of the media pipeline.
pub trait Pipeline: Send + Sync + 'static {
    /// Job states of every process of the given streams.
    fn job_states(&self, stream_ids: &[i64]) -> Vec<JobStatus>;
    /// Settings of a group changed: apply them to its live session, if any.
    fn settings_changed(&self, group_id: i64) -> ApplyMode;
    /// A group's key was revoked or the group deleted: end its live session, if any.
    fn disconnect_group(&self, group_id: i64);
    /// Cuts a clip of `span` out of the replay at `replay` (relative to the data folder),
    /// without re-encoding.
    fn cut_clip(
        &self,
        organisation_id: i64,
        replay: String,
        span: ReplaySpan,
    ) -> MediaFuture<ClipFiles>;
    /// Makes a clip's poster and MP4 download in the background; records them on its row.
    /// `slot` is the organisation's job slot, held until the clip is finished.
    fn finish_clip(&self, clip_id: i64, dir: String, slot: JobSlot);
    /// Removes a deleted clip's folder in the background.
    fn remove_clip(&self, dir: String);
    /// Copies `span` of a replay into a permanent recording; returns its asset id.
    fn save_span(&self, replay: String, span: ReplaySpan) -> MediaFuture<i64>;
    /// The data folder's disk, and the organisation's use of its quota.
    fn storage(&self, organisation_id: i64) -> StorageStatus;
    /// The machine (CPU sampled over a moment) and the jobs that recently restarted or
    /// failed, newest first, for the server's status page.
    fn machine(&self) -> MediaFuture<(MachineStatus, Vec<JobFailure>)>;
}

/// A pipeline with nothing running, for tools that only touch the database (the CLI) and
/// for repository tests.
#[derive(Debug, Default)]
pub struct NoPipeline;

impl Pipeline for NoPipeline {
    fn job_states(&self, _stream_ids: &[i64]) -> Vec<JobStatus> {
        Vec::new()
    }
    fn settings_changed(&self, _group_id: i64) -> ApplyMode {
        ApplyMode::NextIngest
    }
    fn disconnect_group(&self, _group_id: i64) {}
    fn cut_clip(&self, _: i64, _: String, _: ReplaySpan) -> MediaFuture<ClipFiles> {
        Box::pin(async { Err(MediaError::NotRunning) })
    }
    fn finish_clip(&self, _clip_id: i64, _dir: String, _slot: JobSlot) {}
    fn remove_clip(&self, _dir: String) {}
    fn storage(&self, _: i64) -> StorageStatus {
        StorageStatus::default()
    }
    fn machine(&self) -> MediaFuture<(MachineStatus, Vec<JobFailure>)> {
        Box::pin(async { Err(MediaError::NotRunning) })
    }
    fn save_span(&self, _: String, _: ReplaySpan) -> MediaFuture<i64> {
        Box::pin(async { Err(MediaError::NotRunning) })
    }
}
