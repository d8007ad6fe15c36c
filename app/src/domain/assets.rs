//! Assets: the files live processing makes (thumbnails, motion clips, recordings, replay
//! playlists), as the dashboard lists them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::settings::ProcessKind;

/// Which process made an asset (same keys as [`ProcessKind`]).
pub type AssetKind = ProcessKind;

/// Whether a recording file is sound.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Integrity {
    /// Closed normally and probed whole.
    Ok,
    /// Left open by a crash; truncated to its last whole fragment and probed.
    Repaired,
    /// Probed shorter than what was written, or unreadable at the end.
    Partial,
}

impl Integrity {
    /// Stable key in the database.
    pub fn key(self) -> &'static str {
        match self {
            Integrity::Ok => "ok",
            Integrity::Repaired => "repaired",
            Integrity::Partial => "partial",
        }
    }
    /// Parses [`Integrity::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "ok" => Some(Integrity::Ok),
            "repaired" => Some(Integrity::Repaired),
            "partial" => Some(Integrity::Partial),
            _ => None,
        }
    }
}

/// One asset as the dashboard shows it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Asset {
    pub id: i64,
    pub stream_id: i64,
    pub session_id: Option<i64>,
    pub kind: AssetKind,
    /// `jpeg`, `webp`, `mp4`, `m3u8`.
    pub format: String,
    /// Where the browser fetches it.
    pub url: String,
    pub size_bytes: i64,
    pub duration_ms: Option<i64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub integrity: Option<Integrity>,
    /// When it was made; for a thumbnail, the moment it shows; for a recording, when it
    /// started.
    pub created_at: DateTime<Utc>,
    /// Replays and recordings: the WebVTT storyboard (seek-bar previews over sprite sheets).
    pub storyboard_url: Option<String>,
}

/// The format of a storyboard tile: a small keyframe JPEG made while a stream's thumbnails
/// are off. Stored as a thumbnail asset but listed only in storyboards.
pub const TILE_FORMAT: &str = "tile";

/// The storyboard (WebVTT) of a replay or recording asset.
pub fn storyboard_url(id: i64, kind: AssetKind) -> Option<String> {
    match kind {
        AssetKind::Replay => Some(format!("/media/replay/{id}/storyboard.vtt")),
        AssetKind::Recording => Some(format!("/media/assets/{id}/storyboard.vtt")),
        _ => None,
    }
}

/// The URL of an asset's file.
pub fn asset_url(id: i64, format: &str) -> String {
    match format {
        "m3u8" => format!("/media/replay/{id}/replay.m3u8"),
        _ => format!("/media/assets/{id}.{format}"),
    }
}

/// A file (or folder) start-up repair could not settle and moved to the quarantine instead
/// of deleting: the operator decides.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuarantinedFile {
    pub id: i64,
    /// Where it was, relative to the data folder.
    pub original_path: String,
    /// Why it could not be kept in place.
    pub reason: String,
    pub size_bytes: i64,
    pub created_at: DateTime<Utc>,
}
