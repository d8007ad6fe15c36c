//! The job board: the state of every process of every live stream, as the dashboard reads it.

use std::collections::HashMap;
use std::sync::Mutex;

use app::domain::jobs::{JobState, JobStatus};
use app::domain::settings::ProcessKind;

/// Job states by (stream, process). Absent means idle.
#[derive(Debug, Default)]
pub struct JobBoard(Mutex<HashMap<(i64, ProcessKind), JobState>>);

impl JobBoard {
    /// Records a state.
    pub fn set(&self, stream_id: i64, kind: ProcessKind, state: JobState) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if state == JobState::Idle {
            m.remove(&(stream_id, kind));
        } else {
            m.insert((stream_id, kind), state);
        }
    }

    /// Sets a state unless the job has failed for good (a failure stays until the session ends).
    pub fn set_unless_failed(&self, stream_id: i64, kind: ProcessKind, state: JobState) {
        if !matches!(self.get(stream_id, kind), JobState::Failed { .. }) {
            self.set(stream_id, kind, state);
        }
    }

    /// The state of one job.
    pub fn get(&self, stream_id: i64, kind: ProcessKind) -> JobState {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.get(&(stream_id, kind)).cloned().unwrap_or(JobState::Idle)
    }

    /// Every process of the given streams.
    pub fn statuses(&self, stream_ids: &[i64]) -> Vec<JobStatus> {
        let m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        stream_ids
            .iter()
            .flat_map(|&stream_id| {
                ProcessKind::ALL
                    .into_iter()
                    .map(move |process| (stream_id, process))
            })
            .map(|(stream_id, process)| JobStatus {
                stream_id,
                process,
                state: m
                    .get(&(stream_id, process))
                    .cloned()
                    .unwrap_or(JobState::Idle),
            })
            .collect()
    }

    /// Forgets every job of a stream (back to idle).
    pub fn clear_stream(&self, stream_id: i64) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|(s, _), _| *s != stream_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_sticks_until_cleared() {
        let b = JobBoard::default();
        b.set(
            1,
            ProcessKind::Thumbnail,
            JobState::Failed {
                reason: "boom".into(),
            },
        );
        b.set_unless_failed(1, ProcessKind::Thumbnail, JobState::Running);
        assert!(matches!(
            b.get(1, ProcessKind::Thumbnail),
            JobState::Failed { .. }
        ));
        b.clear_stream(1);
        assert_eq!(b.get(1, ProcessKind::Thumbnail), JobState::Idle);
        assert_eq!(b.statuses(&[1, 2]).len(), 8);
    }
}
