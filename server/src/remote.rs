//! Media in S3-compatible object storage (`--storage s3://bucket/prefix`), through the
//! `object_store` crate. Live work is written to the data folder first; a finished
//! thumbnail, motion clip or recording file is uploaded under its path relative to the data
//! folder (inside the prefix) *before* its row is written, so a row never points at a missing
//! object, and every node can serve it (locally when the file is there, else from the
//! store). An object without a row is garbage only when this node proves it: start-up repair
//! finds the local file it uploaded from without a row (the crash fell between upload and
//! row), and a node whose lease passed on deletes what it uploaded but could not index.

use std::ops::Range;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, PutPayload};
use tokio::io::AsyncWriteExt;

/// Files up to this size are sent in one PUT; larger ones in 5 MiB parts.
const SINGLE_PUT: u64 = 8 << 20;

/// Where the storage flags point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Inside the bucket, without leading or trailing `/` (may be empty).
    pub prefix: String,
}

/// Parses `s3://bucket[/prefix]`.
pub fn parse_location(text: &str) -> Result<S3Location, String> {
    let rest = text
        .strip_prefix("s3://")
        .ok_or_else(|| format!("{text:?}: expected `local` or s3://bucket[/prefix]"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
    if !valid_bucket {
        return Err(format!(
            "{bucket:?} is not an S3 bucket name (3–63 lower-case letters, digits, `-`, `.`)"
        ));
    }
    let prefix = prefix.trim_matches('/').to_string();
    if prefix
        .split('/')
        .any(|p| p == ".." || p == "." || (p.is_empty() && !prefix.is_empty()))
    {
        return Err(format!("{prefix:?} is not a usable prefix"));
    }
    Ok(S3Location {
        bucket: bucket.to_string(),
        prefix,
    })
}

/// What connects to the store.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    pub endpoint: Option<String>,
    pub region: String,
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<String>,
}

/// The object store holding finished media.
#[derive(Clone)]
pub struct Remote {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    /// `s3://bucket/prefix` (never the credentials), for logs.
    pub url: String,
}

impl std::fmt::Debug for Remote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Remote").field("url", &self.url).finish()
    }
}

/// Why an object operation failed.
pub type RemoteError = object_store::Error;

impl Remote {
    /// Connects to the bucket (credentials from the settings, else the usual AWS
    /// environment variables).
    pub fn connect(location: &S3Location, s: &S3Settings) -> Result<Self, RemoteError> {
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(&location.bucket)
            .with_region(&s.region);
        if let Some(e) = &s.endpoint {
            b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
        }
        if let Some(k) = &s.access_key_id {
            b = b.with_access_key_id(k);
        }
        if let Some(k) = &s.secret_access_key {
            b = b.with_secret_access_key(k);
        }
        Ok(Self {
            store: Arc::new(b.build()?),
            prefix: location.prefix.clone(),
            url: format!(
                "s3://{}{}{}",
                location.bucket,
                if location.prefix.is_empty() { "" } else { "/" },
                location.prefix
            ),
        })
    }

    /// The object of a path relative to the data folder; `None` for anything that could
    /// leave the prefix (the key parser refuses `..` and empty parts).
    fn key(&self, rel: &str) -> Option<Key> {
        if rel.starts_with('/')
            || rel
                .split('/')
                .any(|p| p.is_empty() || p == "." || p == "..")
        {
            return None;
        }
        let full = if self.prefix.is_empty() {
            rel.to_string()
        } else {
            format!("{}/{rel}", self.prefix)
        };
        Key::parse(full).ok()
    }

    fn bad_key(rel: &str) -> RemoteError {
        RemoteError::Generic {
            store: "media",
            source: format!("not a media path: {rel:?}").into(),
        }
    }

    /// Uploads a finished local file under `rel`.
    pub async fn upload(&self, local: &std::path::Path, rel: &str) -> Result<(), RemoteError> {
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        let io = |e: std::io::Error| RemoteError::Generic {
            store: "media",
            source: Box::new(e),
        };
        let size = tokio::fs::metadata(local).await.map_err(io)?.len();
        if size <= SINGLE_PUT {
            let bytes = tokio::fs::read(local).await.map_err(io)?;
            self.store.put(&key, PutPayload::from(bytes)).await?;
            return Ok(());
        }
        let mut file = tokio::fs::File::open(local).await.map_err(io)?;
        let mut w = object_store::buffered::BufWriter::new(self.store.clone(), key);
        let copied = tokio::io::copy(&mut file, &mut w).await;
        match copied {
            Ok(_) => w.shutdown().await.map_err(io),
            Err(e) => {
                let _ = w.abort().await;
                Err(io(e))
            }
        }
    }

    /// Writes small bytes (a playlist) as the object `rel`.
    pub async fn write(&self, rel: &str, bytes: Vec<u8>) -> Result<(), RemoteError> {
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        self.store.put(&key, PutPayload::from(bytes)).await?;
        Ok(())
    }

    /// Deletes an object; one that is already gone is not an error.
    pub async fn delete(&self, rel: &str) -> Result<(), RemoteError> {
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        match self.store.delete(&key).await {
            Ok(()) | Err(RemoteError::NotFound { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Deletes every object under the folder `rel` (a shared clip's); none is not an error.
    pub async fn delete_folder(&self, rel: &str) -> Result<(), RemoteError> {
        use futures::TryStreamExt;
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        let found: Vec<_> = self.store.list(Some(&key)).try_collect().await?;
        for meta in found {
            match self.store.delete(&meta.location).await {
                Ok(()) | Err(RemoteError::NotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Copies the object `from` to `to` inside the store (no bytes through this node).
    pub async fn copy(&self, from: &str, to: &str) -> Result<(), RemoteError> {
        let src = self.key(from).ok_or_else(|| Self::bad_key(from))?;
        let dst = self.key(to).ok_or_else(|| Self::bad_key(to))?;
        self.store.copy(&src, &dst).await
    }

    /// The objects under the folder `rel`: each one's path (relative to the data folder, as
    /// [`Remote::key`] takes it) and size.
    pub async fn list(&self, rel: &str) -> Result<Vec<(String, u64)>, RemoteError> {
        use futures::TryStreamExt;
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        let found: Vec<_> = self.store.list(Some(&key)).try_collect().await?;
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        Ok(found
            .into_iter()
            .filter_map(|meta| {
                let full = meta.location.to_string();
                let rel = full.strip_prefix(&strip)?.to_string();
                Some((rel, meta.size))
            })
            .collect())
    }

    /// Downloads the object `rel` into the file `to`.
    pub async fn download(&self, rel: &str, to: &std::path::Path) -> Result<(), RemoteError> {
        let bytes = self.read(rel).await?;
        tokio::fs::write(to, &bytes)
            .await
            .map_err(|e| RemoteError::Generic {
                store: "media",
                source: Box::new(e),
            })
    }

    /// Whether an object exists.
    pub async fn exists(&self, rel: &str) -> Result<bool, RemoteError> {
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        match self.store.head(&key).await {
            Ok(_) => Ok(true),
            Err(RemoteError::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The whole object (tests, small files).
    pub async fn read(&self, rel: &str) -> Result<bytes::Bytes, RemoteError> {
        let key = self.key(rel).ok_or_else(|| Self::bad_key(rel))?;
        self.store.get(&key).await?.bytes().await
    }

    /// Serves an object over HTTP as a file would be: one byte range (`206` with
    /// `Content-Range`, `416` when unsatisfiable), `ETag` with `If-None-Match` (`304`).
    pub async fn serve(&self, rel: &str, headers: &HeaderMap) -> Response {
        let Some(key) = self.key(rel) else {
            return (StatusCode::NOT_FOUND, "Not found.").into_response();
        };
        let meta = match self.store.head(&key).await {
            Ok(m) => m,
            Err(RemoteError::NotFound { .. }) => {
                return (StatusCode::NOT_FOUND, "Not found.").into_response()
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read a media object");
                return (StatusCode::BAD_GATEWAY, "The media store did not answer.")
                    .into_response();
            }
        };
        let etag = meta.e_tag.clone();
        if let (Some(tag), Some(asked)) = (&etag, headers.get(header::IF_NONE_MATCH)) {
            if asked
                .to_str()
                .is_ok_and(|a| a.split(',').any(|t| t.trim() == tag))
            {
                let mut r = StatusCode::NOT_MODIFIED.into_response();
                if let Ok(v) = HeaderValue::from_str(tag) {
                    r.headers_mut().insert(header::ETAG, v);
                }
                return r;
            }
        }
        let wanted = match headers
            .get(header::RANGE)
            .map(|v| parse_range(v.to_str().unwrap_or(""), meta.size))
        {
            None => None,
            Some(Ok(r)) => Some(r),
            Some(Err(())) => {
                let mut r = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                if let Ok(v) = HeaderValue::from_str(&format!("bytes */{}", meta.size)) {
                    r.headers_mut().insert(header::CONTENT_RANGE, v);
                }
                return r;
            }
        };
        let opts = GetOptions {
            range: wanted.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let got = match self.store.get_opts(&key, opts).await {
            Ok(g) => g,
            Err(e) => {
                tracing::error!(error = %e, "cannot read a media object");
                return (StatusCode::BAD_GATEWAY, "The media store did not answer.")
                    .into_response();
            }
        };
        let range = got.range.clone();
        let body = Body::from_stream(got.into_stream().map(|c| c.map_err(std::io::Error::other)));
        let mut r = Response::new(body);
        let h = r.headers_mut();
        h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        h.insert(
            header::CONTENT_LENGTH,
            HeaderValue::from(range.end - range.start),
        );
        if let Some(tag) = etag.as_deref().and_then(|t| HeaderValue::from_str(t).ok()) {
            h.insert(header::ETAG, tag);
        }
        if wanted.is_some() {
            *r.status_mut() = StatusCode::PARTIAL_CONTENT;
            if let Ok(v) = HeaderValue::from_str(&format!(
                "bytes {}-{}/{}",
                range.start,
                range.end.saturating_sub(1),
                meta.size
            )) {
                r.headers_mut().insert(header::CONTENT_RANGE, v);
            }
        }
        r
    }
}

/// One range of `bytes=a-b`, `bytes=a-` or `bytes=-n` over an object of `size` bytes, as the
/// half-open range to read; `Err` when unsatisfiable. Several ranges are answered with the
/// first.
fn parse_range(text: &str, size: u64) -> Result<Range<u64>, ()> {
    let spec = text.trim().strip_prefix("bytes=").ok_or(())?;
    let first = spec.split(',').next().ok_or(())?.trim();
    let (a, b) = first.split_once('-').ok_or(())?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| ());
    let range = match (a.trim().is_empty(), b.trim().is_empty()) {
        (false, false) => num(a)?..num(b)?.saturating_add(1).min(size),
        (false, true) => num(a)?..size,
        (true, false) => size.saturating_sub(num(b)?)..size,
        (true, true) => return Err(()),
    };
    if range.start >= range.end || range.start >= size {
        return Err(());
    }
    Ok(range)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_and_ranges_parse_strictly() {
        assert_eq!(
            parse_location("s3://media/lp/a"),
            Ok(S3Location {
                bucket: "media".into(),
                prefix: "lp/a".into()
            })
        );
        assert_eq!(
            parse_location("s3://media").map(|l| l.prefix),
            Ok(String::new())
        );
        for bad in [
            "media",
            "s3://",
            "s3://UPPER",
            "s3://a/../b",
            "s3://bucket/a//b",
        ] {
            assert!(parse_location(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_range("bytes=0-9", 100), Ok(0..10));
        assert_eq!(parse_range("bytes=90-", 100), Ok(90..100));
        assert_eq!(parse_range("bytes=-10", 100), Ok(90..100));
        assert_eq!(parse_range("bytes=95-200", 100), Ok(95..100));
        for bad in [
            "bytes=100-",
            "bytes=-",
            "bytes=5-2",
            "items=0-1",
            "bytes=x-1",
        ] {
            assert!(parse_range(bad, 100).is_err(), "{bad}");
        }
    }
}
