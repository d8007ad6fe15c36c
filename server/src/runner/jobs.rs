//! The job board: the state of every process of every live stream, as the dashboard reads it,
//! with what the metrics read besides (when each last produced something, how late, and the
//! encoder's speed).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use app::domain::jobs::{JobState, JobStatus};
use app::domain::status::JobFailure;

/// Restarts and failures kept for the status page.
const FAILURES_KEPT: usize = 100;
use app::domain::settings::ProcessKind;

/// Job states by (stream, process). Absent means idle.
#[derive(Debug, Default)]
pub struct JobBoard(Mutex<Board>);

#[derive(Debug, Default)]
struct Board {
    states: HashMap<(i64, ProcessKind), JobState>,
    /// The newest restarts and failures, oldest first.
    failures: std::collections::VecDeque<JobFailure>,
    outputs: HashMap<(i64, ProcessKind), Output>,
    speeds: HashMap<i64, f64>,
}

/// The last thing a job produced.
#[derive(Debug, Clone, Copy)]
struct Output {
    at: Instant,
    lag: Option<f64>,
}

/// One job as the metrics read it.
#[derive(Debug, Clone)]
pub struct JobSnapshot {
    pub stream_id: i64,
    pub process: ProcessKind,
    pub state: JobState,
    pub last_success: Option<Instant>,
    /// Seconds between when the last output was due and when it was ready.
    pub lag: Option<f64>,
}

impl JobBoard {
    fn board(&self) -> std::sync::MutexGuard<'_, Board> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a state.
    pub fn set(&self, stream_id: i64, kind: ProcessKind, state: JobState) {
        let mut board = self.board();
        let (outcome, reason) = match &state {
            JobState::Restarting { last_error, .. } => ("restarting", last_error.as_str()),
            JobState::Failed { reason } => ("failed", reason.as_str()),
            _ => ("", ""),
        };
        if !outcome.is_empty() && board.states.get(&(stream_id, kind)) != Some(&state) {
            if board.failures.len() == FAILURES_KEPT {
                board.failures.pop_front();
            }
            board.failures.push_back(JobFailure {
                at: chrono::Utc::now(),
                stream_id,
                process: kind,
                outcome: outcome.into(),
                reason: reason.into(),
            });
        }
        let m = &mut board.states;
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
        self.board()
            .states
            .get(&(stream_id, kind))
            .cloned()
            .unwrap_or(JobState::Idle)
    }

    /// Every process of the given streams.
    pub fn statuses(&self, stream_ids: &[i64]) -> Vec<JobStatus> {
        let board = self.board();
        let m = &board.states;
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
        let mut b = self.board();
        b.states.retain(|(s, _), _| *s != stream_id);
        b.outputs.retain(|(s, _), _| *s != stream_id);
        b.speeds.remove(&stream_id);
    }

    /// A job produced something at `at`, `lag` seconds after it was due (if it had a due time).
    pub fn succeeded(&self, stream_id: i64, kind: ProcessKind, at: Instant, lag: Option<f64>) {
        self.board()
            .outputs
            .insert((stream_id, kind), Output { at, lag });
    }

    /// The encoder of a stream produces `ratio` media seconds per second.
    pub fn set_speed(&self, stream_id: i64, ratio: f64) {
        self.board().speeds.insert(stream_id, ratio);
    }

    /// Every job that is not idle or has produced something, for the metrics.
    pub fn snapshot(&self) -> Vec<JobSnapshot> {
        let b = self.board();
        let mut keys: Vec<_> = b.states.keys().chain(b.outputs.keys()).copied().collect();
        keys.sort_by_key(|(s, k)| (*s, k.key()));
        keys.dedup();
        keys.into_iter()
            .map(|(stream_id, process)| {
                let out = b.outputs.get(&(stream_id, process));
                JobSnapshot {
                    stream_id,
                    process,
                    state: b
                        .states
                        .get(&(stream_id, process))
                        .cloned()
                        .unwrap_or(JobState::Idle),
                    last_success: out.map(|o| o.at),
                    lag: out.and_then(|o| o.lag),
                }
            })
            .collect()
    }

    /// The newest restarts and failures, newest first.
    pub fn recent_failures(&self) -> Vec<JobFailure> {
        self.board().failures.iter().rev().cloned().collect()
    }

    /// Encoder speeds by stream.
    pub fn speeds(&self) -> Vec<(i64, f64)> {
        let mut v: Vec<_> = self.board().speeds.iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by_key(|(k, _)| *k);
        v
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
