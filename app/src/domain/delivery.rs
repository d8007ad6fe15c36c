//! Delivery to viewers without an account: a stream's public URLs (switched on per stream,
//! behind a token that can be rotated) and the shape of signed, expiring URLs. One source
//! for the server's routes, the REST API and the dashboard.

use serde::{Deserialize, Serialize};

/// Where a stream's public files are, under `/p/<token>/`.
pub const PUBLIC_THUMBNAIL_JPEG: &str = "thumbnail.jpg";
pub const PUBLIC_THUMBNAIL_WEBP: &str = "thumbnail.webp";
pub const PUBLIC_MOTION_MP4: &str = "motion.mp4";
pub const PUBLIC_MOTION_WEBP: &str = "motion.webp";
/// The live replay's playlist (it redirects to the current session's replay).
pub const PUBLIC_REPLAY: &str = "replay.m3u8";

/// A stream's public URLs (paths; the API makes them absolute with the request's host).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct PublicUrls {
    /// The newest thumbnail, JPEG.
    pub thumbnail_url: String,
    /// The newest thumbnail, WebP.
    pub thumbnail_webp_url: String,
    /// The newest motion clip, MP4.
    pub motion_clip_url: String,
    /// The newest motion clip, animated WebP.
    pub motion_clip_webp_url: String,
    /// The live replay (HLS) of the current or last session.
    pub replay_url: String,
}

impl PublicUrls {
    /// The URLs behind `token`.
    pub fn of(token: &str) -> Self {
        let at = |file: &str| format!("/p/{token}/{file}");
        Self {
            thumbnail_url: at(PUBLIC_THUMBNAIL_JPEG),
            thumbnail_webp_url: at(PUBLIC_THUMBNAIL_WEBP),
            motion_clip_url: at(PUBLIC_MOTION_MP4),
            motion_clip_webp_url: at(PUBLIC_MOTION_WEBP),
            replay_url: at(PUBLIC_REPLAY),
        }
    }

    /// The same URLs under `origin` (`https://host`).
    pub fn absolute(self, origin: &str) -> Self {
        let o = origin.trim_end_matches('/');
        Self {
            thumbnail_url: format!("{o}{}", self.thumbnail_url),
            thumbnail_webp_url: format!("{o}{}", self.thumbnail_webp_url),
            motion_clip_url: format!("{o}{}", self.motion_clip_url),
            motion_clip_webp_url: format!("{o}{}", self.motion_clip_webp_url),
            replay_url: format!("{o}{}", self.replay_url),
        }
    }
}

/// Whether a stream's files are public, and where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct StreamDelivery {
    pub stream_id: i64,
    /// Anyone with the URLs may read the stream's latest thumbnail and motion clip and its
    /// live replay.
    pub public: bool,
    /// The newest thumbnail, JPEG (`null` while not public).
    pub thumbnail_url: Option<String>,
    /// The newest thumbnail, WebP.
    pub thumbnail_webp_url: Option<String>,
    /// The newest motion clip, MP4.
    pub motion_clip_url: Option<String>,
    /// The newest motion clip, animated WebP.
    pub motion_clip_webp_url: Option<String>,
    /// The live replay (HLS) of the current or last session.
    pub replay_url: Option<String>,
}

impl StreamDelivery {
    /// A stream's delivery with `urls` while public.
    pub fn new(stream_id: i64, urls: Option<PublicUrls>) -> Self {
        let url = |f: fn(&PublicUrls) -> &String| urls.as_ref().map(|u| f(u).clone());
        Self {
            stream_id,
            public: urls.is_some(),
            thumbnail_url: url(|u| &u.thumbnail_url),
            thumbnail_webp_url: url(|u| &u.thumbnail_webp_url),
            motion_clip_url: url(|u| &u.motion_clip_url),
            motion_clip_webp_url: url(|u| &u.motion_clip_webp_url),
            replay_url: url(|u| &u.replay_url),
        }
    }

    /// The public URLs while public.
    pub fn urls(&self) -> Option<PublicUrls> {
        Some(PublicUrls {
            thumbnail_url: self.thumbnail_url.clone()?,
            thumbnail_webp_url: self.thumbnail_webp_url.clone()?,
            motion_clip_url: self.motion_clip_url.clone()?,
            motion_clip_webp_url: self.motion_clip_webp_url.clone()?,
            replay_url: self.replay_url.clone()?,
        })
    }
}

/// What a signed URL opens: an asset (a replay with its playlist and segments, or one file)
/// or a shared clip's folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignedTarget {
    Asset(i64),
    Clip(i64),
}

impl SignedTarget {
    /// Its form in the URL and the signed message: `a<id>` or `c<id>`.
    pub fn key(self) -> String {
        match self {
            SignedTarget::Asset(id) => format!("a{id}"),
            SignedTarget::Clip(id) => format!("c{id}"),
        }
    }

    /// Reads `a<id>` or `c<id>` (digits only, no leading zero).
    pub fn parse(s: &str) -> Option<Self> {
        let (kind, digits) = s.split_at_checked(1)?;
        if digits.is_empty()
            || digits.starts_with('0')
            || !digits.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let id = digits.parse().ok()?;
        match kind {
            "a" => Some(SignedTarget::Asset(id)),
            "c" => Some(SignedTarget::Clip(id)),
            _ => None,
        }
    }
}

/// The message a signed URL's signature covers: `<key id>/<expires>/<target>`.
pub fn signed_message(key_id: &str, expires: i64, target: SignedTarget) -> String {
    format!("{key_id}/{expires}/{}", target.key())
}

/// The folder every file of a signed target is under:
/// `/v/<key id>/<expires>/<signature>/<target>/`.
pub fn signed_prefix(key_id: &str, expires: i64, signature: &str, target: SignedTarget) -> String {
    format!("/v/{key_id}/{expires}/{signature}/{}/", target.key())
}

/// Longest validity of a signed URL the API makes (a backend signing itself may choose any).
pub const MAX_SIGNED_SECONDS: i64 = 7 * 24 * 3600;

/// A URL signing key as listed (its secret is shown once, when made).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SigningKeyInfo {
    pub key_id: String,
    pub name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A new signing key with its secret (the only time it is shown).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct NewSigningKey {
    pub key_id: String,
    pub name: String,
    /// HMAC-SHA256 key: sign `<key id>/<expires>/<target>` with it.
    pub secret: String,
}

/// A signed URL and when it stops working.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct SignedUrl {
    /// The playlist (replay, clip) or the file (thumbnail, motion clip, recording); every
    /// file beside it under the same folder is covered too.
    pub url: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_round_trip_and_junk_is_refused() {
        for t in [SignedTarget::Asset(1), SignedTarget::Clip(42)] {
            assert_eq!(SignedTarget::parse(&t.key()), Some(t));
        }
        for bad in [
            "",
            "a",
            "a0",
            "a01",
            "x1",
            "a1x",
            "a-1",
            "A1",
            "a1/..",
            "a99999999999999999999",
        ] {
            assert_eq!(SignedTarget::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn public_urls_stay_under_the_token() {
        let u = PublicUrls::of("tok").absolute("https://x.example/");
        assert_eq!(u.thumbnail_url, "https://x.example/p/tok/thumbnail.jpg");
        assert_eq!(u.replay_url, "https://x.example/p/tok/replay.m3u8");
    }
}
