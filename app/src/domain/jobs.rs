//! What the dashboard knows of the media pipeline's jobs: the state of each process of each
//! stream, and whether a settings change reached a live session.

use serde::{Deserialize, Serialize};

use super::settings::ProcessKind;

/// The state of one process's job.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum JobState {
    /// Not running: no live session, or the process is off.
    Idle,
    Starting,
    Running,
    /// Crashed and waiting to start again.
    Restarting {
        attempt: u32,
        last_error: String,
    },
    /// Gave up after repeated failures.
    Failed {
        reason: String,
    },
    /// Not started for now, for a reason that passes by itself (the disk is almost full).
    Paused {
        reason: String,
    },
}

impl JobState {
    /// Short label for the dashboard.
    pub fn label(&self) -> &'static str {
        match self {
            JobState::Idle => "Idle",
            JobState::Starting => "Starting",
            JobState::Running => "Running",
            JobState::Restarting { .. } => "Restarting",
            JobState::Failed { .. } => "Failed",
            JobState::Paused { .. } => "Paused",
        }
    }
}

/// A job state tagged with its stream and process.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub stream_id: i64,
    pub process: ProcessKind,
    pub state: JobState,
}

/// Where a saved settings change takes effect.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// The group is live and the pipeline applied the change without a reconnect.
    AppliedLive,
    /// Not live now: the change applies when the next session starts.
    NextIngest,
}

/// The data folder's disk as the pipeline sees it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageStatus {
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Below the free-space threshold: thumbnails, motion clips, clip exports and saved
    /// spans wait; recordings and replays go on as long as they can.
    pub low: bool,
}
