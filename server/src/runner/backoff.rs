//! When to restart a crashed ffmpeg: exponential backoff from 250 ms to 5 s; a run that
//! stayed up 30 s resets the count; more than five failures in a row gives up.

use std::time::{Duration, Instant};

/// What to do after a child exited unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    RestartAfter(Duration),
    GiveUp,
}

/// Restart bookkeeping for one supervised process.
#[derive(Debug, Clone)]
pub struct RestartPolicy {
    failures: u32,
    started: Option<Instant>,
}

/// Failures in a row before giving up.
pub const MAX_FAILURES: u32 = 5;
/// A run this long counts as healthy.
pub const HEALTHY_RUN: Duration = Duration::from_secs(30);

impl Default for RestartPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RestartPolicy {
    /// A fresh policy.
    pub fn new() -> Self {
        Self {
            failures: 0,
            started: None,
        }
    }

    /// A run started at `now`.
    pub fn started(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// The run ended in failure at `now`.
    pub fn failed(&mut self, now: Instant) -> Decision {
        if self
            .started
            .is_some_and(|s| now.saturating_duration_since(s) >= HEALTHY_RUN)
        {
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures > MAX_FAILURES {
            return Decision::GiveUp;
        }
        let ms = 250u64.saturating_mul(1 << (self.failures - 1).min(10));
        Decision::RestartAfter(Duration::from_millis(ms.min(5_000)))
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_gives_up_and_a_healthy_run_resets() {
        let mut p = RestartPolicy::new();
        let t = Instant::now();
        p.started(t);
        let delays: Vec<_> = (0..5).map(|_| p.failed(t)).collect();
        assert_eq!(
            delays,
            [250, 500, 1000, 2000, 4000]
                .map(|ms| Decision::RestartAfter(Duration::from_millis(ms)))
                .to_vec()
        );
        assert_eq!(p.failed(t), Decision::GiveUp);
        let mut p = RestartPolicy::new();
        p.started(t);
        for _ in 0..4 {
            p.failed(t);
        }
        p.started(t);
        assert_eq!(
            p.failed(t + HEALTHY_RUN),
            Decision::RestartAfter(Duration::from_millis(250))
        );
    }
}
