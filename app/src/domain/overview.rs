//! What the Live Processing tab shows of a stream group in one fetch: its streams, their
//! settings, the state of every job and the newest assets of each stream. The tab re-fetches
//! it on Refresh and every few seconds while visible.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::assets::Asset;
use super::jobs::{JobState, JobStatus};
use super::settings::{ProcessConfig, ProcessKind, StreamProcessing};
use super::streams::{LiveStatus, StreamInfo};

/// Thumbnails kept in a stream's history strip.
pub const THUMBNAIL_STRIP: i64 = 8;
/// Motion clips kept in a stream's history strip.
pub const CLIP_STRIP: i64 = 6;
/// Replay sessions and recording files listed per stream.
pub const SESSIONS_LISTED: i64 = 20;

/// A file of one live session (a replay playlist or a recording piece).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionAsset {
    pub asset: Asset,
    pub session_started_at: DateTime<Utc>,
    /// `None` while the session is live.
    pub session_ended_at: Option<DateTime<Utc>>,
}

impl SessionAsset {
    /// Whether its session is still live.
    pub fn is_live(&self) -> bool {
        self.session_ended_at.is_none()
    }
}

/// A thumbnail or motion clip with its WebP twin (made from the same frames).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The JPEG thumbnail or the MP4 clip.
    pub asset: Asset,
    /// The WebP of the same moment, when it exists.
    pub webp_url: Option<String>,
}

/// The newest assets of one stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct StreamAssets {
    pub stream_id: i64,
    /// Newest first.
    pub thumbnails: Vec<Preview>,
    /// Newest first.
    pub motion_clips: Vec<Preview>,
    /// Replay playlists, one per session, newest first.
    pub replays: Vec<SessionAsset>,
    /// Recording files, newest first.
    pub recordings: Vec<SessionAsset>,
}

/// The whole Live Processing tab of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessingOverview {
    pub group_id: i64,
    pub status: LiveStatus,
    /// Ingest first, then the transcoding profiles.
    pub streams: Vec<StreamInfo>,
    pub settings: Vec<StreamProcessing>,
    pub jobs: Vec<JobStatus>,
    pub assets: Vec<StreamAssets>,
    /// When the server put this together.
    pub fetched_at: DateTime<Utc>,
    /// The server's disk (optional work pauses when it is almost full).
    pub storage: crate::domain::jobs::StorageStatus,
    /// Each stream's public delivery (in the order of `streams`).
    pub delivery: Vec<crate::domain::delivery::StreamDelivery>,
}

impl ProcessingOverview {
    /// The saved settings of one process of one stream (defaults if none were saved).
    pub fn config(&self, stream_id: i64, kind: ProcessKind) -> ProcessConfig {
        self.settings
            .iter()
            .find(|s| s.stream_id == stream_id)
            .and_then(|s| s.get(kind))
            .map(|v| v.config)
            .unwrap_or_else(|| ProcessConfig::default_for(kind))
    }

    /// The job state of one process of one stream.
    pub fn job(&self, stream_id: i64, kind: ProcessKind) -> JobState {
        self.jobs
            .iter()
            .find(|j| j.stream_id == stream_id && j.process == kind)
            .map(|j| j.state.clone())
            .unwrap_or(JobState::Idle)
    }

    /// The assets of one stream.
    pub fn assets_of(&self, stream_id: i64) -> StreamAssets {
        self.assets
            .iter()
            .find(|a| a.stream_id == stream_id)
            .cloned()
            .unwrap_or_else(|| StreamAssets {
                stream_id,
                ..StreamAssets::default()
            })
    }

    /// Whether any stream of the group has one of `kinds` switched on.
    pub fn any_enabled(&self, kinds: &[ProcessKind]) -> bool {
        self.streams
            .iter()
            .any(|s| kinds.iter().any(|k| self.config(s.id, *k).enabled()))
    }

    /// A stream's public URLs, when its delivery is on.
    pub fn public_urls(&self, stream_id: i64) -> Option<crate::domain::delivery::PublicUrls> {
        self.delivery
            .iter()
            .find(|d| d.stream_id == stream_id && d.public)
            .and_then(|d| d.urls())
    }

    /// Whether the group is live now.
    pub fn is_live(&self) -> bool {
        matches!(self.status, LiveStatus::Live { .. })
    }
}

/// The stable URL of a stream's newest thumbnail (`jpg` or `webp`).
pub fn latest_thumbnail_url(stream_id: i64, ext: &str) -> String {
    format!("/media/streams/{stream_id}/latest.{ext}")
}

/// The stable URL of a stream's newest motion clip (`mp4` or `webp`).
pub fn latest_clip_url(stream_id: i64, ext: &str) -> String {
    format!("/media/streams/{stream_id}/latest-clip.{ext}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::{ProcessInput, VersionedConfig};
    use crate::domain::streams::StreamRole;

    fn overview() -> ProcessingOverview {
        let stream = |id, role| StreamInfo {
            id,
            role,
            name: format!("s{id}"),
            quality: "Source".into(),
            width: None,
            height: None,
            video_kbps: None,
        };
        let on = ProcessConfig::validate(
            ProcessKind::Thumbnail,
            &ProcessInput {
                enabled: true,
                interval: Some(10),
                duration: None,
            },
        )
        .expect("valid");
        ProcessingOverview {
            storage: Default::default(),
            delivery: vec![],
            group_id: 1,
            status: LiveStatus::Idle,
            streams: vec![
                stream(1, StreamRole::Ingest),
                stream(2, StreamRole::Profile),
            ],
            settings: vec![StreamProcessing {
                stream_id: 2,
                processes: vec![VersionedConfig {
                    config: on,
                    version: 4,
                }],
            }],
            jobs: vec![JobStatus {
                stream_id: 2,
                process: ProcessKind::Thumbnail,
                state: JobState::Running,
            }],
            assets: vec![],
            fetched_at: Utc::now(),
        }
    }

    #[test]
    fn lookups_fall_back_to_defaults() {
        let o = overview();
        assert!(o.config(2, ProcessKind::Thumbnail).enabled());
        assert!(!o.config(1, ProcessKind::Thumbnail).enabled());
        assert_eq!(o.job(2, ProcessKind::Thumbnail), JobState::Running);
        assert_eq!(o.job(1, ProcessKind::Recording), JobState::Idle);
        assert!(o.any_enabled(&[ProcessKind::Thumbnail, ProcessKind::MotionClip]));
        assert!(!o.any_enabled(&[ProcessKind::Replay]));
        assert_eq!(o.assets_of(9).stream_id, 9);
    }
}
