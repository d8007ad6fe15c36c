//! Answers to the public media's database lookups, kept for a moment.
//!
//! A viewer's player asks for a playlist every second and a segment every few seconds, and a
//! homepage may embed a stream's latest thumbnail on every visit: each request used to read
//! the database twice (the token, then the asset) before the file was opened. Only found
//! answers are kept (a miss is counted against the address instead, and a random token must
//! not grow the map), for at most the time to live (a second by default), in maps of bounded size.
//!
//! A delivery switched off or a token rotated on this node is forgotten at once
//! ([`Lookups::forget`]); on another node of a cluster it takes effect within
//! the time to live.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::repo::assets::AssetRow;
use crate::domain::assets::AssetKind;

/// How long a public token's stream or an asset row is believed without asking the database
/// (`--public-lookup-ttl-ms`).
pub const DEFAULT_TTL: Duration = Duration::from_secs(1);
/// Entries per map; a full map first drops what expired, then everything.
pub const CAPACITY: usize = 4096;

/// A map whose entries expire, bounded in size.
#[derive(Debug)]
pub struct Memo<K, V> {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<K, (Instant, V)>>,
}

impl<K: Eq + Hash, V: Clone> Memo<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The value kept for `key` if it is younger than the time to live at `now`.
    pub fn get<Q>(&self, key: &Q, now: Instant) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| now.saturating_duration_since(*at) < self.ttl)
            .map(|(_, v)| v.clone())
    }

    /// Keeps `value` for `key` from `now` (nothing, with no time to live).
    pub fn put(&self, key: K, value: V, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| now.saturating_duration_since(*at) < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (now, value));
    }

    /// The value kept for `key`, else what `fetch` finds (kept when it found something;
    /// a miss is never kept).
    pub async fn get_or_fetch<Q, E>(
        &self,
        key: &Q,
        fetch: impl Future<Output = Result<Option<V>, E>>,
    ) -> Result<Option<V>, E>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ToOwned<Owned = K> + ?Sized,
    {
        let now = Instant::now();
        if let Some(v) = self.get(key, now) {
            return Ok(Some(v));
        }
        let found = fetch.await?;
        if let Some(v) = &found {
            self.put(key.to_owned(), v.clone(), now);
        }
        Ok(found)
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The newest asset of one kind and format of a stream.
type LatestKey = (i64, AssetKind, String);

/// The public media's kept answers (one per server, shared by every request).
#[derive(Debug)]
pub struct Lookups {
    /// Public token → its stream, while delivery is on.
    pub tokens: Memo<String, i64>,
    /// Asset id → its row (replays, whose playlist and segments are asked for by id).
    pub assets: Memo<i64, AssetRow>,
    /// A stream's newest thumbnail or clip.
    pub latest: Memo<LatestKey, AssetRow>,
}

impl Default for Lookups {
    fn default() -> Self {
        Self::new(DEFAULT_TTL)
    }
}

impl Lookups {
    /// Kept for `ttl` (zero: nothing is kept).
    pub fn new(ttl: Duration) -> Self {
        Self {
            tokens: Memo::new(ttl, CAPACITY),
            assets: Memo::new(ttl, CAPACITY),
            latest: Memo::new(ttl, CAPACITY),
        }
    }

    /// After any change of a stream's delivery (switched off, token rotated, group
    /// deleted): nothing kept outlives it on this node.
    pub fn forget(&self) {
        self.tokens.clear();
        self.assets.clear();
        self.latest.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_kept_for_its_time_to_live_only() {
        let memo = Memo::new(Duration::from_secs(1), 8);
        let t0 = Instant::now();
        memo.put("a".to_string(), 1, t0);
        assert_eq!(memo.get(&"a".to_string(), t0), Some(1));
        assert_eq!(
            memo.get(&"a".to_string(), t0 + Duration::from_millis(999)),
            Some(1)
        );
        assert_eq!(
            memo.get(&"a".to_string(), t0 + Duration::from_secs(1)),
            None
        );
        assert_eq!(memo.get(&"b".to_string(), t0), None);
        // A later put starts the time again.
        memo.put("a".to_string(), 2, t0 + Duration::from_secs(2));
        assert_eq!(
            memo.get(&"a".to_string(), t0 + Duration::from_millis(2500)),
            Some(2)
        );
        memo.clear();
        assert!(memo.is_empty());
    }

    #[test]
    fn no_time_to_live_keeps_nothing() {
        let memo = Memo::new(Duration::ZERO, 8);
        let t0 = Instant::now();
        memo.put(1, 1, t0);
        assert!(memo.is_empty());
        assert_eq!(memo.get(&1, t0), None);
    }

    #[test]
    fn a_full_map_drops_what_expired_then_everything() {
        let memo = Memo::new(Duration::from_secs(1), 4);
        let t0 = Instant::now();
        memo.put(1, 1, t0);
        memo.put(2, 2, t0);
        let later = t0 + Duration::from_millis(600);
        memo.put(3, 3, later);
        memo.put(4, 4, later);
        // Full: 1 and 2 have expired by now and make room; 3 and 4 stay.
        let now = t0 + Duration::from_millis(1200);
        memo.put(5, 5, now);
        assert_eq!(memo.len(), 3);
        assert_eq!(memo.get(&3, now), Some(3));
        assert_eq!(memo.get(&5, now), Some(5));
        // Full of live entries: it starts again empty, never past its capacity.
        memo.put(6, 6, now);
        memo.put(7, 7, now);
        assert_eq!(memo.len(), 1);
        assert_eq!(memo.get(&7, now), Some(7));
        // A key already there is only replaced.
        memo.put(7, 8, now);
        assert_eq!(memo.len(), 1);
        // Ten thousand keys never hold more than the capacity.
        for k in 0..10_000 {
            memo.put(1000 + k, k, now);
            assert!(memo.len() <= 4);
        }
    }
}
