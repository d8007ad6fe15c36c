//! A failure limiter: after `max_failures` failures for one key within `window`, further
//! attempts are refused until the window has passed. Used for logins (per address and per
//! account), wrong RTMP keys per address, and share-token lookups.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts failures per key in a fixed window.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    entries: Mutex<HashMap<String, (u32, Instant)>>,
}

impl FailureLimiter {
    /// Allows `max_failures` failures per key in every `window`.
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures,
            window,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` when `key` has used up its failures.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some(&(count, start)) if count >= self.max_failures => {
                let elapsed = now.saturating_duration_since(start);
                if elapsed < self.window {
                    Err(self.window - elapsed)
                } else {
                    Ok(())
                }
            }
            _ => Ok(()),
        }
    }

    /// Records a failure for `key`.
    pub fn fail(&self, key: &str, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() > 100_000 {
            let window = self.window;
            entries.retain(|_, (_, start)| now.saturating_duration_since(*start) < window);
        }
        let entry = entries.entry(key.to_string()).or_insert((0, now));
        if now.saturating_duration_since(entry.1) >= self.window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    /// Forgets `key` (after a success).
    pub fn clear(&self, key: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_max_failures_until_the_window_passes() {
        let l = FailureLimiter::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(l.check("a", t0).is_ok());
            l.fail("a", t0);
        }
        let retry = l
            .check("a", t0 + Duration::from_secs(10))
            .expect_err("blocked");
        assert_eq!(retry, Duration::from_secs(50));
        assert!(l.check("b", t0).is_ok(), "other keys are not affected");
        assert!(l.check("a", t0 + Duration::from_secs(61)).is_ok());
        l.clear("a");
        assert!(l.check("a", t0).is_ok());
    }
}
