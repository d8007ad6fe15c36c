//! When to restart a crashed ffmpeg: exponential backoff from 250 ms to 4 s (the fifth
//! failure), each delay spread by up to ±20 % so sessions that failed together do not restart
//! together; a run that stayed up 30 s resets the count; more than five failures in a row
//! gives up (six spawns at most).

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
        }
    }

    /// A run started at `now`.
    pub(crate) fn started(&mut self, now: Instant) {
        self.started = Some(now);
    }

    /// The run ended in failure at `now`.
    pub(crate) fn failed(&mut self, now: Instant) -> Decision {
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
    fn jitter_stays_within_a_fifth() {
        assert_eq!(jitter(1000, 0), 800);
        assert_eq!(jitter(1000, 400), 1200);
        assert!((0..1000).all(|r| (800..=1200).contains(&jitter(1000, r))));
    }
}
