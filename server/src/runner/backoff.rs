//! When to restart a crashed ffmpeg: exponential backoff from 250 ms to 4 s (the fifth
//! failure), each delay spread by up to ±20 % so sessions that failed together do not restart
//! together; a run that made progress (wrote a segment) or stayed up 30 s resets the count, so
//! an ffmpeg killed again and again while it records always comes back at once; more than five
//! failures in a row without progress gives up (six spawns at most).

use std::time::{Duration, Instant};

/// What to do after a child exited unexpectedly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    RestartAfter(Duration),
    GiveUp,
}

/// Restart bookkeeping for one supervised process.
#[derive(Debug, Clone)]
pub(crate) struct RestartPolicy {
    failures: u32,
    started: Option<Instant>,
    progressed: bool,
}

/// Failures in a row before giving up.
pub(crate) const MAX_FAILURES: u32 = 5;
/// A run this long counts as healthy.
pub(crate) const HEALTHY_RUN: Duration = Duration::from_secs(30);

impl Default for RestartPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl RestartPolicy {
    /// A fresh policy.
    pub(crate) fn new() -> Self {
        Self {
            failures: 0,
            started: None,
            progressed: false,
        }
    }

    /// A run started at `now`.
    pub(crate) fn started(&mut self, now: Instant) {
        self.started = Some(now);
        self.progressed = false;
    }

    /// The current run produced output: it was working when it ended.
    pub(crate) fn progressed(&mut self) {
        self.progressed = true;
    }

    /// The run ended in failure at `now`.
    pub(crate) fn failed(&mut self, now: Instant) -> Decision {
        if self.progressed
            || self
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
        Decision::RestartAfter(Duration::from_millis(jitter(ms, rand::random::<u32>())))
    }

    /// Failures in a row so far.
    pub(crate) fn failures(&self) -> u32 {
        self.failures
    }
}

/// `ms` spread by up to ±20 % by `random`.
fn jitter(ms: u64, random: u32) -> u64 {
    let spread = ms / 5;
    ms - spread + u64::from(random) % (2 * spread + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_then_gives_up_and_a_healthy_run_resets() {
        let mut p = RestartPolicy::new();
        let t = Instant::now();
        p.started(t);
        for nominal in [250u64, 500, 1000, 2000, 4000] {
            let Decision::RestartAfter(d) = p.failed(t) else {
                panic!("gave up early");
            };
            let ms = d.as_millis() as u64;
            assert!(
                ms >= nominal * 8 / 10 && ms <= nominal * 12 / 10,
                "{ms} vs {nominal}"
            );
        }
        assert_eq!(p.failed(t), Decision::GiveUp);
        let mut p = RestartPolicy::new();
        p.started(t);
        for _ in 0..4 {
            p.failed(t);
        }
        p.started(t);
        assert!(matches!(
            p.failed(t + HEALTHY_RUN),
            Decision::RestartAfter(d) if d <= Duration::from_millis(300)
        ));
    }

    #[test]
    fn a_run_that_made_progress_restarts_at_once_however_often_it_is_killed() {
        let mut p = RestartPolicy::new();
        let t = Instant::now();
        for _ in 0..50 {
            p.started(t);
            p.progressed();
            assert!(matches!(
                p.failed(t + Duration::from_secs(2)),
                Decision::RestartAfter(d) if d <= Duration::from_millis(300)
            ));
        }
        // Progress once does not excuse later runs that make none.
        for _ in 0..MAX_FAILURES - 1 {
            p.started(t);
            assert!(matches!(p.failed(t), Decision::RestartAfter(_)));
        }
        p.started(t);
        assert_eq!(p.failed(t), Decision::GiveUp);
    }

    #[test]
    fn jitter_stays_within_a_fifth() {
        assert_eq!(jitter(1000, 0), 800);
        assert_eq!(jitter(1000, 400), 1200);
        assert!((0..1000).all(|r| (800..=1200).contains(&jitter(1000, r))));
    }
}
