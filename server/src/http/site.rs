//! The browser's code under `/pkg/`: the hydrate wasm, the route chunks split out of it, the
//! JS glue, the CSS and the split manifest. Sent gzipped to browsers that accept it,
//! compressed once per file and build (keyed by size and modification time, so a rebuilt site
//! is never answered with an old compressed copy) and kept in memory; revalidated by ETag.
//! Files the build did not make, hidden names and anything outside the folder are not found.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;

use super::media::{not_found, serve};
use super::router::ServerState;

/// Browsers revalidate (the names carry no hash), and get 304 while the build is the same.
const CACHE: &str = "no-cache";
/// Larger files (a debug build's wasm) are sent as they are rather than held in memory.
const MAX_PACKED: u64 = 32 * 1024 * 1024;
/// At most this many compressed files are kept (a site has a few dozen).
const MAX_FILES: usize = 512;

/// One file's compressed copy, for the build that made it.
struct Packed {
    len: u64,
    modified: SystemTime,
    gz: Bytes,
}

/// Compressed copies of the site's files, one per name.
#[derive(Default)]
pub(crate) struct SiteFiles {
    packed: Mutex<HashMap<String, Arc<Packed>>>,
    /// One compression at a time: many first requests at once (a crowd, or a client before
    /// any authentication) compress a file once, not once each.
    packing: tokio::sync::Mutex<()>,
}

pub(crate) fn routes() -> Router<ServerState> {
    Router::new().route("/pkg/{file}", get(pkg))
}

/// What a `/pkg/` file is, by its extension; `None` for anything the build does not make.
fn content_type(file: &str) -> Option<&'static str> {
    let ok = !file.starts_with('.')
        && file
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if !ok {
        return None;
    }
    match file.rsplit_once('.').map(|(_, ext)| ext) {
        Some("wasm") => Some("application/wasm"),
        Some("js") => Some("text/javascript"),
        Some("css") => Some("text/css"),
        Some("json") => Some("application/json"),
        _ => None,
    }
}

fn accepts_gzip(request: &Request) -> bool {
    request
        .headers()
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let gzip = parts.next().is_some_and(|c| c.eq_ignore_ascii_case("gzip"));
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            gzip && !refused
        })
}

/// An ETag for one build of a file.
fn etag(len: u64, modified: SystemTime) -> String {
    let nanos = modified
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    format!("\"{len:x}-{nanos:x}-gz\"")
}

async fn pkg(State(s): State<ServerState>, Path(file): Path<String>, request: Request) -> Response {
    let Some(ctype) = content_type(&file) else {
        return not_found();
    };
    let path = PathBuf::from(s.leptos.site_root.as_ref())
        .join(s.leptos.site_pkg_dir.as_ref())
        .join(&file);
    let Ok(meta) = tokio::fs::metadata(&path).await else {
        return not_found();
    };
    if !meta.is_file() {
        return not_found();
    }
    let modified = meta.modified().unwrap_or(UNIX_EPOCH);
    if !accepts_gzip(&request) || meta.len() > MAX_PACKED {
        return serve(path, ctype, CACHE, request).await;
    }
    let tag = etag(meta.len(), modified);
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        match s.site.packed(&file, &path, meta.len(), modified).await {
            Some(gz) => {
                let mut r = Response::new(Body::from(gz));
                r.headers_mut()
                    .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
                r.headers_mut()
                    .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
                r
            }
            // Changed while it was read, or unreadable: as it is.
            None => return serve(path, ctype, CACHE, request).await,
        }
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    response
}

impl SiteFiles {
    /// The gzipped bytes of `path` as it is now (`len`, `modified`): kept, or made once.
    async fn packed(
        &self,
        name: &str,
        path: &FsPath,
        len: u64,
        modified: SystemTime,
    ) -> Option<Bytes> {
        let kept = |files: &Self| {
            files
                .lock()
                .get(name)
                .filter(|p| p.len == len && p.modified == modified)
                .map(|p| p.gz.clone())
        };
        if let Some(gz) = kept(self) {
            return Some(gz);
        }
        let _packing = self.packing.lock().await;
        // Made by the request this one waited for.
        if let Some(gz) = kept(self) {
            return Some(gz);
        }
        let path = path.to_path_buf();
        let gz = tokio::task::spawn_blocking(move || -> Option<Bytes> {
            let raw = std::fs::read(&path).ok()?;
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            encoder.write_all(&raw).ok()?;
            // The file must still be the one that was stat'ed (a build may be writing it).
            let now = std::fs::metadata(&path).ok()?;
            (raw.len() as u64 == len && now.modified().ok()? == modified)
                .then_some(())
                .and(encoder.finish().ok().map(Bytes::from))
        })
        .await
        .ok()??;
        let mut packed = self.lock();
        if packed.len() >= MAX_FILES {
            packed.clear();
        }
        packed.insert(
            name.to_string(),
            Arc::new(Packed {
                len,
                modified,
                gz: gz.clone(),
            }),
        );
        Some(gz)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Packed>>> {
        self.packed.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(accept: &str) -> Request {
        Request::builder()
            .header(header::ACCEPT_ENCODING, accept)
            .body(Body::empty())
            .expect("request")
    }

    #[test]
    fn only_the_builds_own_kinds_of_file_are_served() {
        assert_eq!(content_type("livepro.wasm"), Some("application/wasm"));
        assert_eq!(content_type("chunk_12.wasm"), Some("application/wasm"));
        assert_eq!(
            content_type("__wasm_split.______________________.js"),
            Some("text/javascript")
        );
        assert_eq!(
            content_type("__wasm_split_manifest.json"),
            Some("application/json")
        );
        for bad in [
            ".env.json",
            "../secret.js",
            "a/b.js",
            "livepro.d.ts",
            "x.wasm.gz",
            "",
            "a b.css",
        ] {
            assert_eq!(content_type(bad), None, "{bad}");
        }
    }

    #[test]
    fn gzip_is_sent_only_to_browsers_that_accept_it() {
        assert!(accepts_gzip(&request("gzip, deflate, br")));
        assert!(accepts_gzip(&request("br;q=1.0, GZIP;q=0.8")));
        assert!(!accepts_gzip(&request("br")));
        assert!(!accepts_gzip(&request("gzip;q=0")));
        assert!(!accepts_gzip(&request("identity")));
        assert!(!accepts_gzip(&request("xgzip")));
    }
}
