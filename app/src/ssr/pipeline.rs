//! The boundary between the dashboard and the media pipeline. The server implements
//! [`Pipeline`] and hands it over in [`crate::ssr::AppState`]; `app` never depends on the
//! server crate.

use crate::domain::jobs::{ApplyMode, JobStatus};

/// What the dashboard asks of the media pipeline.
pub trait Pipeline: Send + Sync + 'static {
    /// Job states of every process of the given streams.
    fn job_states(&self, stream_ids: &[i64]) -> Vec<JobStatus>;
    /// Settings of a group changed: apply them to its live session, if any.
    fn settings_changed(&self, group_id: i64) -> ApplyMode;
    /// A group's key was revoked or the group deleted: end its live session, if any.
    fn disconnect_group(&self, group_id: i64);
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
}
