//! Replay segments in memory for a moment. Every viewer of a live stream asks for the same
//! newest segments within seconds of each other; a segment never changes once it has its name
//! (ffmpeg writes it beside, then renames it), so its bytes are read from the data folder once
//! and answered from memory after, without opening, reading or stat'ing the file again.
//!
//! Bounded: files up to [`MAX_FILE`], [`MAX_BYTES`] in all (the oldest go first), each for
//! [`TTL`], and only once unchanged for a second. A kept file is answered only while it is
//! still on disk (one `stat`): a segment the replay window or retention removed is gone at
//! once, as from disk. Only plain
//! GETs of local files: a range or conditional request, and media only in object storage, go
//! the usual way.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::Response;
use bytes::Bytes;

use super::media::serve_stored;
use crate::media_store::MediaStore;

/// How long a segment is answered from memory.
pub(crate) const TTL: Duration = Duration::from_secs(30);
/// Larger files are streamed from disk.
pub(crate) const MAX_FILE: u64 = 4 * 1024 * 1024;
/// Bytes held in all.
pub(crate) const MAX_BYTES: usize = 64 * 1024 * 1024;
/// A file is kept only once it has not been written to for this long.
const SETTLED: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Held {
    files: HashMap<String, (Instant, Bytes)>,
    /// Names in the order they came in (the oldest is dropped first).
    order: VecDeque<String>,
    bytes: usize,
}

/// Immutable media files kept in memory.
#[derive(Default)]
pub(crate) struct HotFiles {
    held: Mutex<Held>,
}

impl HotFiles {
    fn lock(&self) -> std::sync::MutexGuard<'_, Held> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The bytes kept for `rel`, if younger than [`TTL`].
    pub(crate) fn get(&self, rel: &str, now: Instant) -> Option<Bytes> {
        self.lock()
            .files
            .get(rel)
            .filter(|(at, _)| now.saturating_duration_since(*at) < TTL)
            .map(|(_, b)| b.clone())
    }

    /// Keeps `bytes` for `rel`, dropping the oldest files while over [`MAX_BYTES`].
    pub(crate) fn put(&self, rel: &str, bytes: Bytes, now: Instant) {
        if bytes.len() as u64 > MAX_FILE {
            return;
        }
        self.forget(rel);
        let mut held = self.lock();
        while held.bytes + bytes.len() > MAX_BYTES {
            let Some(oldest) = held.order.pop_front() else {
                break;
            };
            if let Some((_, b)) = held.files.remove(&oldest) {
                held.bytes -= b.len();
            }
        }
        held.bytes += bytes.len();
        held.order.push_back(rel.to_string());
        held.files.insert(rel.to_string(), (now, bytes));
    }

    /// Drops what is kept for `rel` (its file is gone).
    pub(crate) fn forget(&self, rel: &str) {
        let mut held = self.lock();
        if let Some((_, old)) = held.files.remove(rel) {
            held.bytes -= old.len();
            held.order.retain(|n| n != rel);
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Serves an immutable media file (a replay segment) by its path relative to the data
/// folder: from memory when it is kept, else read once and kept; anything else as
/// [`serve_stored`] does.
pub(crate) async fn serve_immutable(
    store: &MediaStore,
    hot: &HotFiles,
    rel: &str,
    content_type: &'static str,
    cache: &'static str,
    request: Request,
) -> Response {
    let plain = [
        header::RANGE,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_RANGE,
    ]
    .iter()
    .all(|h| !request.headers().contains_key(h));
    if !plain {
        return serve_stored(store, rel, content_type, cache, request).await;
    }
    let now = Instant::now();
    if let Some(bytes) = hot.get(rel, now) {
        if store
            .resolve(rel)
            .is_some_and(|p| std::fs::symlink_metadata(p).is_ok())
        {
            return answer(bytes, content_type, cache);
        }
        hot.forget(rel);
    }
    let Some(path) = store.local_copy(rel).await else {
        return serve_stored(store, rel, content_type, cache, request).await;
    };
    let read = tokio::task::spawn_blocking(move || -> Option<Bytes> {
        let meta = std::fs::metadata(&path).ok()?;
        // Settled: a file written to within the last second (an init segment being made) is
        // streamed as it is, never kept.
        let settled = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= SETTLED);
        if !meta.is_file() || meta.len() > MAX_FILE || !settled {
            return None;
        }
        let bytes = std::fs::read(&path).ok()?;
        (bytes.len() as u64 == meta.len()).then(|| Bytes::from(bytes))
    })
    .await
    .ok()
    .flatten();
    match read {
        Some(bytes) => {
            hot.put(rel, bytes.clone(), now);
            answer(bytes, content_type, cache)
        }
        None => serve_stored(store, rel, content_type, cache, request).await,
    }
}

fn answer(bytes: Bytes, content_type: &'static str, cache: &'static str) -> Response {
    let mut r = Response::new(Body::from(bytes));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_kept_for_their_time_and_within_the_bytes_bound() {
        let hot = HotFiles::default();
        let t0 = Instant::now();
        let mb = |n: usize| Bytes::from(vec![7u8; n * 1024 * 1024]);
        hot.put("a", mb(1), t0);
        assert_eq!(hot.get("a", t0).map(|b| b.len()), Some(1024 * 1024));
        assert_eq!(hot.get("a", t0 + TTL), None, "not past its time");
        // Too large for memory: not kept.
        hot.put("big", mb(5), t0);
        assert_eq!(hot.get("big", t0), None);
        // Replaced, not counted twice.
        hot.put("a", mb(2), t0);
        assert_eq!(hot.bytes(), 2 * 1024 * 1024);
        // 40 files of 4 MiB: never more than the bound, the oldest gone first.
        for i in 0..40 {
            hot.put(&format!("s{i}"), mb(4), t0);
            assert!(hot.bytes() <= MAX_BYTES);
        }
        assert_eq!(hot.get("a", t0), None);
        assert_eq!(hot.get("s0", t0), None);
        assert!(hot.get("s39", t0).is_some());
    }
}
