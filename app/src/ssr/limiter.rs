//! An attempt limiter: after `max` attempts (or failures) for one key within `window`,
//! further ones are refused until the window has passed. Used for logins (per client address
//! and per account-and-address), sign-ups, wrong RTMP keys per address, and share-token
//! lookups.
//!
//! Memory is bounded whatever the keys: a key is stored as a 16-byte digest, entries expire
//! with the window (two generations: the current window's map and the previous one's,
//! swapped every window), and a generation holds at most `capacity` keys (when full it is
//! swapped early, forgetting the oldest generation).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

type Key = [u8; 16];

#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u32,
    since: Instant,
}

#[derive(Debug)]
struct Generations {
    current: HashMap<Key, Entry>,
    previous: HashMap<Key, Entry>,
    swapped: Instant,
}

/// Counts attempts per key in a fixed window.
#[derive(Debug)]
pub struct FailureLimiter {
    max: u32,
    window: Duration,
    capacity: usize,
    inner: Mutex<Generations>,
}

fn digest(key: &str) -> Key {
    let d = Sha256::digest(key.as_bytes());
    let mut k = [0u8; 16];
    k.copy_from_slice(&d[..16]);
    k
}

impl FailureLimiter {
    /// Allows `max` per key in every `window`, tracking up to 100 000 keys per window.
    pub fn new(max: u32, window: Duration) -> Self {
        Self::with_capacity(max, window, 100_000)
    }

    /// Like [`FailureLimiter::new`] with a chosen number of keys per window.
    pub fn with_capacity(max: u32, window: Duration, capacity: usize) -> Self {
        Self {
            max,
            window,
            capacity: capacity.max(1),
            inner: Mutex::new(Generations {
                current: HashMap::new(),
                previous: HashMap::new(),
                swapped: Instant::now(),
            }),
        }
    }

    fn lock(&self, now: Instant) -> std::sync::MutexGuard<'_, Generations> {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if now.saturating_duration_since(g.swapped) >= self.window {
            g.previous = std::mem::take(&mut g.current);
            g.swapped = now;
        }
        g
    }

    fn live(&self, e: Option<&Entry>, now: Instant) -> Option<Entry> {
        e.copied()
            .filter(|e| now.saturating_duration_since(e.since) < self.window)
    }

    fn entry(&self, g: &mut Generations, key: Key, now: Instant) -> Entry {
        let found = self
            .live(g.current.get(&key), now)
            .or_else(|| self.live(g.previous.get(&key), now));
        found.unwrap_or(Entry {
            count: 0,
            since: now,
        })
    }

    fn store(&self, g: &mut Generations, key: Key, e: Entry, now: Instant) {
        if g.current.len() >= self.capacity && !g.current.contains_key(&key) {
            g.previous = std::mem::take(&mut g.current);
            g.swapped = now;
        }
        g.current.insert(key, e);
    }

    fn retry_after(&self, e: &Entry, now: Instant) -> Duration {
        self.window
            .saturating_sub(now.saturating_duration_since(e.since))
            .max(Duration::from_secs(1))
    }

    /// `Err(retry_after)` when `key` has used up its attempts; counts nothing.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut g = self.lock(now);
        let e = self.entry(&mut g, digest(key), now);
        if e.count >= self.max {
            Err(self.retry_after(&e, now))
        } else {
            Ok(())
        }
    }

    /// Counts an attempt *before* it is made: `Err(retry_after)` (and nothing counted) when
    /// `key` has used up its attempts. Concurrent attempts cannot pass together.
    pub fn hit(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let k = digest(key);
        let mut g = self.lock(now);
        let mut e = self.entry(&mut g, k, now);
        if e.count >= self.max {
            return Err(self.retry_after(&e, now));
        }
        e.count += 1;
        self.store(&mut g, k, e, now);
        Ok(())
    }

    /// Records a failure for `key` (counted after the fact).
    pub fn fail(&self, key: &str, now: Instant) {
        let k = digest(key);
        let mut g = self.lock(now);
        let mut e = self.entry(&mut g, k, now);
        e.count = e.count.saturating_add(1);
        self.store(&mut g, k, e, now);
    }

    /// Takes back one counted attempt (it succeeded).
    pub fn forgive(&self, key: &str, now: Instant) {
        let k = digest(key);
        let mut g = self.lock(now);
        if let Some(e) = g.current.get_mut(&k) {
            e.count = e.count.saturating_sub(1);
        }
    }

    /// Forgets `key` (after a success).
    pub fn clear(&self, key: &str) {
        let k = digest(key);
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.current.remove(&k);
        g.previous.remove(&k);
    }

    /// Keys tracked now (both generations).
    pub fn tracked(&self) -> usize {
        let g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        g.current.len() + g.previous.len()
    }
}

/// Background jobs an organisation runs at once (clip finishing, saved spans): a slot is
/// taken before the job starts and given back when the [`JobSlot`] is dropped.
#[derive(Debug)]
pub struct OrgJobs {
    max: usize,
    running: std::sync::Arc<Mutex<HashMap<i64, usize>>>,
}

/// One running job of an organisation.
#[derive(Debug)]
pub struct JobSlot {
    org: i64,
    running: std::sync::Arc<Mutex<HashMap<i64, usize>>>,
}

impl OrgJobs {
    /// At most `max` jobs per organisation.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            running: std::sync::Arc::default(),
        }
    }

    /// A slot for one more job of `org`, unless it already runs its most.
    pub fn try_start(&self, org: i64) -> Option<JobSlot> {
        let mut m = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(org).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(JobSlot {
            org,
            running: self.running.clone(),
        })
    }

    /// Jobs of `org` running now.
    pub fn running(&self, org: i64) -> usize {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&org)
            .copied()
            .unwrap_or(0)
    }
}

impl Drop for JobSlot {
    fn drop(&mut self) {
        let mut m = self.running.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.org) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.org);
            }
        }
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

    #[test]
    fn attempts_count_before_they_are_made() {
        let l = FailureLimiter::new(2, Duration::from_secs(60));
        let t0 = Instant::now();
        assert!(l.hit("k", t0).is_ok());
        assert!(l.hit("k", t0).is_ok());
        assert!(
            l.hit("k", t0).is_err(),
            "a third concurrent attempt is refused"
        );
        l.forgive("k", t0);
        assert!(l.hit("k", t0).is_ok());
    }

    #[test]
    fn an_organisation_runs_at_most_its_jobs() {
        let jobs = OrgJobs::new(2);
        let a = jobs.try_start(1).expect("first");
        let _b = jobs.try_start(1).expect("second");
        assert!(jobs.try_start(1).is_none(), "a third waits");
        assert!(
            jobs.try_start(2).is_some(),
            "another organisation is not affected"
        );
        drop(a);
        assert_eq!(jobs.running(1), 1);
        assert!(jobs.try_start(1).is_some());
    }

    #[test]
    fn memory_is_bounded_whatever_the_keys() {
        let l = FailureLimiter::with_capacity(1, Duration::from_secs(60), 1000);
        let t0 = Instant::now();
        let huge = "x".repeat(4096);
        for i in 0..10_000 {
            l.fail(&format!("{huge}{i}"), t0);
        }
        assert!(l.tracked() <= 2000, "tracked {}", l.tracked());
        // Entries expire with the window.
        let l = FailureLimiter::new(1, Duration::from_secs(60));
        let t1 = Instant::now();
        for i in 0..100 {
            l.fail(&i.to_string(), t1);
        }
        l.fail("late", t1 + Duration::from_secs(61));
        l.fail("later", t1 + Duration::from_secs(122));
        assert!(l.tracked() <= 2, "tracked {}", l.tracked());
    }
}
