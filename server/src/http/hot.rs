//! Media files in memory for a moment: replay segments, and the newest thumbnail and motion
//! clip behind a public link. Every viewer of a live stream (or of a homepage showing its
//! thumbnail) asks for the same newest files within seconds of each other; such a file never
//! changes once it has its name (it is written beside, then renamed), so its bytes are read
//! from the data folder once and answered from memory after, without opening or reading the
//! file again.
//!
//! Bounded: files up to [`MAX_FILE`], [`MAX_BYTES`] in all (the oldest go first), each for
//! [`TTL`], and only once unchanged for a second. A kept file is answered only while the
//! same file is still on disk under its name (one `stat`: its inode, size and modification
//! time): a segment the replay window or retention removed is gone at once, as from disk, and
//! a file put in its place is read anew. Only plain GETs of local files: a range or
//! conditional request, and media only in object storage, go the usual way.

use std::collections::{HashMap, VecDeque};
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

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

/// Which file a name stood for when it was read: the same inode, size and modification time
/// mean the same bytes (files are renamed into place, never written where they are served).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl Stamp {
    pub(crate) fn of(meta: &Metadata) -> Self {
        Self {
            inode: meta.ino(),
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }
}

#[derive(Default)]
struct Held {
    files: HashMap<String, (Instant, Stamp, Bytes)>,
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

    /// The bytes kept for `rel` and the file they were read from, if younger than [`TTL`].
    pub(crate) fn get(&self, rel: &str, now: Instant) -> Option<(Stamp, Bytes)> {
        self.lock()
            .files
            .get(rel)
            .filter(|(at, _, _)| now.saturating_duration_since(*at) < TTL)
            .map(|(_, stamp, b)| (*stamp, b.clone()))
    }

    /// Keeps `bytes`, read from the file `stamp` names, for `rel`, dropping the oldest files
    /// while over [`MAX_BYTES`].
    pub(crate) fn put(&self, rel: &str, stamp: Stamp, bytes: Bytes, now: Instant) {
        if bytes.len() as u64 > MAX_FILE {
            return;
        }
        self.forget(rel);
        let mut held = self.lock();
        while held.bytes + bytes.len() > MAX_BYTES {
            let Some(oldest) = held.order.pop_front() else {
                break;
            };
            if let Some((_, _, b)) = held.files.remove(&oldest) {
                held.bytes -= b.len();
            }
        }
        held.bytes += bytes.len();
        held.order.push_back(rel.to_string());
        held.files.insert(rel.to_string(), (now, stamp, bytes));
    }

    /// Drops what is kept for `rel` (its file is gone).
    pub(crate) fn forget(&self, rel: &str) {
        let mut held = self.lock();
        if let Some((_, _, old)) = held.files.remove(rel) {
            held.bytes -= old.len();
            held.order.retain(|n| n != rel);
        }
    }

    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.lock().bytes
    }
}

/// Serves an immutable media file (a replay segment, a thumbnail, a clip) by its path
/// relative to the data folder: from memory when it is kept, else read once and kept;
/// anything else as [`serve_stored`] does.
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
    if let Some((stamp, bytes)) = hot.get(rel, now) {
        if store
            .resolve(rel)
            .and_then(|p| std::fs::symlink_metadata(p).ok())
            .is_some_and(|meta| Stamp::of(&meta) == stamp)
        {
            return answer(bytes, content_type, cache);
        }
        hot.forget(rel);
    }
    let Some(path) = store.local_copy(rel).await else {
        return serve_stored(store, rel, content_type, cache, request).await;
    };
    let read = tokio::task::spawn_blocking(move || -> Option<(Stamp, Bytes)> {
        let meta = std::fs::symlink_metadata(&path).ok()?;
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
        (bytes.len() as u64 == meta.len()).then(|| (Stamp::of(&meta), Bytes::from(bytes)))
    })
    .await
    .ok()
    .flatten();
    match read {
        Some((stamp, bytes)) => {
            hot.put(rel, stamp, bytes.clone(), now);
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

    const STAMP: Stamp = Stamp {
        inode: 1,
        len: 0,
        modified: None,
    };

    #[test]
    fn files_are_kept_for_their_time_and_within_the_bytes_bound() {
        let hot = HotFiles::default();
        let t0 = Instant::now();
        let mb = |n: usize| Bytes::from(vec![7u8; n * 1024 * 1024]);
        hot.put("a", STAMP, mb(1), t0);
        assert_eq!(hot.get("a", t0).map(|(_, b)| b.len()), Some(1024 * 1024));
        assert_eq!(hot.get("a", t0 + TTL), None, "not past its time");
        // Too large for memory: not kept.
        hot.put("big", STAMP, mb(5), t0);
        assert_eq!(hot.get("big", t0), None);
        // Replaced, not counted twice.
        hot.put("a", STAMP, mb(2), t0);
        assert_eq!(hot.bytes(), 2 * 1024 * 1024);
        // 40 files of 4 MiB: never more than the bound, the oldest gone first.
        for i in 0..40 {
            hot.put(&format!("s{i}"), STAMP, mb(4), t0);
            assert!(hot.bytes() <= MAX_BYTES);
        }
        assert_eq!(hot.get("a", t0), None);
        assert_eq!(hot.get("s0", t0), None);
        assert!(hot.get("s39", t0).is_some());
    }

    /// A kept file is answered from memory only while the same file is on disk under its
    /// name: another file renamed into its place (a thumbnail made again) is read anew.
    #[tokio::test]
    async fn a_file_put_in_the_place_of_a_kept_one_is_read_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = MediaStore::new(dir.path());
        let hot = HotFiles::default();
        let file = dir.path().join("t.jpg");
        let settle = |path: &std::path::Path| {
            let old = SystemTime::now() - Duration::from_secs(5);
            std::fs::File::options()
                .write(true)
                .open(path)
                .and_then(|f| f.set_modified(old))
                .expect("dated");
        };
        let (store, hot) = (&store, &hot);
        let fetch = move || async move {
            let plain = Request::new(Body::empty());
            let r = serve_immutable(store, hot, "t.jpg", "image/jpeg", "max-age=5", plain).await;
            axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .expect("body")
        };
        std::fs::write(&file, b"first").expect("write");
        settle(&file);
        assert_eq!(fetch().await, "first");
        assert!(
            hot.get("t.jpg", Instant::now()).is_some(),
            "kept once settled"
        );
        // Another file renamed over it: the kept bytes are not answered for it.
        let next = dir.path().join("t.jpg.part");
        std::fs::write(&next, b"second, longer").expect("write");
        settle(&next);
        std::fs::rename(&next, &file).expect("renamed into place");
        assert_eq!(fetch().await, "second, longer");
        assert_eq!(fetch().await, "second, longer", "and kept in its turn");
    }
}
