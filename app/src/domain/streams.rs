//! Stream groups and their streams: one ingest (what the broadcaster publishes) plus the
//! transcoding profiles made from it. Validation of what a new group may look like.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::error::FieldError;
use super::settings::{ProcessConfig, ProcessInput, ProcessKind};

/// Whether a stream is the published one or a rendition made from it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamRole {
    Ingest,
    Profile,
}

impl StreamRole {
    /// Stable key in the database.
    pub fn key(self) -> &'static str {
        match self {
            StreamRole::Ingest => "ingest",
            StreamRole::Profile => "profile",
        }
    }
    /// Parses [`StreamRole::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "ingest" => Some(StreamRole::Ingest),
            "profile" => Some(StreamRole::Profile),
            _ => None,
        }
    }
}

/// A transcoding profile a group can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProfilePreset {
    /// Quality label, also the preset's key: `1080p`.
    pub quality: &'static str,
    pub width: u32,
    pub height: u32,
    /// Target video bitrate.
    pub video_kbps: u32,
}

/// The profiles on offer, best first.
pub const PROFILE_PRESETS: [ProfilePreset; 4] = [
    ProfilePreset {
        quality: "1080p",
        width: 1920,
        height: 1080,
        video_kbps: 4500,
    },
    ProfilePreset {
        quality: "720p",
        width: 1280,
        height: 720,
        video_kbps: 2500,
    },
    ProfilePreset {
        quality: "480p",
        width: 854,
        height: 480,
        video_kbps: 1200,
    },
    ProfilePreset {
        quality: "360p",
        width: 640,
        height: 360,
        video_kbps: 800,
    },
];

/// The quality label of the ingest stream, which is passed through as published.
pub const SOURCE_QUALITY: &str = "Source";

/// Looks a preset up by its quality label.
pub fn preset(quality: &str) -> Option<ProfilePreset> {
    PROFILE_PRESETS.into_iter().find(|p| p.quality == quality)
}

/// Longest stream group name.
pub const MAX_NAME_CHARS: usize = 80;

/// What the creation form (and the API) sends to make a stream group.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewStreamGroup {
    pub name: String,
    /// Quality labels of the transcoding profiles; empty means no transcoding.
    pub profiles: Vec<String>,
    /// Live processing settings per stream: the ingest first, then each profile in order.
    /// Empty means the defaults (everything off).
    pub processing: Vec<[ProcessInput; 4]>,
}

/// A [`NewStreamGroup`] that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidNewStreamGroup {
    pub name: String,
    pub profiles: Vec<ProfilePreset>,
    /// One entry per stream, ingest first.
    pub processing: Vec<[ProcessConfig; 4]>,
}

/// Checks a group's name: trimmed, 1–80 characters.
pub fn check_group_name(name: &str) -> Result<String, FieldError> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_NAME_CHARS {
        return Err(FieldError::new(
            "name",
            "Name",
            name.to_string(),
            format!("1–{MAX_NAME_CHARS} characters"),
        ));
    }
    Ok(trimmed.to_string())
}

impl NewStreamGroup {
    /// Checks the name, the profiles and every stream's settings.
    pub fn validate(&self) -> Result<ValidNewStreamGroup, Vec<FieldError>> {
        let mut errors = Vec::new();
        let name = check_group_name(&self.name)
            .map_err(|e| errors.push(e))
            .unwrap_or_default();
        let mut profiles = Vec::new();
        for quality in &self.profiles {
            match preset(quality) {
                Some(p) if !profiles.contains(&p) => profiles.push(p),
                _ => errors.push(FieldError::new(
                    "profiles",
                    "Transcoding profile",
                    quality.clone(),
                    "each of 1080p, 720p, 480p, 360p at most once".into(),
                )),
            }
        }
        // Keep the profiles in preset order (best first), whatever order the form sent.
        profiles.sort_by_key(|p| std::cmp::Reverse(p.height));
        let streams = 1 + self.profiles.len();
        let mut processing = Vec::with_capacity(streams);
        if self.processing.is_empty() {
            processing.resize(streams, ProcessKind::ALL.map(ProcessConfig::default_for));
        } else if self.processing.len() != streams {
            errors.push(FieldError::new(
                "processing",
                "Live processing settings",
                format!("{} streams", self.processing.len()),
                format!("one entry per stream ({streams})"),
            ));
        } else {
            for (index, inputs) in self.processing.iter().enumerate() {
                let mut configs = Vec::with_capacity(4);
                for (kind, input) in ProcessKind::ALL.into_iter().zip(inputs.iter()) {
                    match ProcessConfig::validate(kind, input) {
                        Ok(c) => configs.push(c),
                        Err(errs) => errors.extend(errs.into_iter().map(|e| FieldError {
                            field: format!("streams[{index}].{}", e.field),
                            ..e
                        })),
                    }
                }
                if let Ok(array) = <[ProcessConfig; 4]>::try_from(configs) {
                    processing.push(array);
                }
            }
        }
        if errors.is_empty() {
            Ok(ValidNewStreamGroup {
                name,
                profiles,
                processing,
            })
        } else {
            Err(errors)
        }
    }
}

/// Idle or live, as the stream list and overview show it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum LiveStatus {
    Idle,
    Live {
        session_id: i64,
        since: DateTime<Utc>,
    },
}

/// One stream of a group as the dashboard lists it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    pub id: i64,
    pub role: StreamRole,
    pub name: String,
    pub quality: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_kbps: Option<u32>,
}

/// A stream group in the streams list.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamGroupSummary {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub profiles: Vec<String>,
    pub status: LiveStatus,
}

/// Everything the stream overview page shows.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamGroupDetail {
    pub id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// Ingest first, then profiles best first.
    pub streams: Vec<StreamInfo>,
    pub status: LiveStatus,
    /// Where to publish; the key is only present for roles that may see it.
    pub publish: PublishInfo,
    /// Seconds the live session waits for a dropped publisher to come back (the same
    /// session goes on if it does).
    #[serde(default)]
    pub reconnect_grace_s: i64,
}

/// The longest reconnect grace a group may have, in seconds.
pub const MAX_RECONNECT_GRACE_S: i64 = 300;

/// Publish details for a group's ingest.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishInfo {
    /// Server URL as OBS wants it: `rtmp://host:1935/live`.
    pub server_url: String,
    /// The stream key, `None` when the caller's role may not see it.
    pub stream_key: Option<String>,
    /// The whole SRT URL to publish to (stream id and, when the group has one, passphrase
    /// included): `srt://host:9000?streamid=<key>`. `None` when the server has no SRT
    /// listener or the caller's role may not see the key.
    #[serde(default)]
    pub srt_url: Option<String>,
    /// The group's SRT passphrase, for the same roles as the key; `None` when it has none.
    #[serde(default)]
    pub srt_passphrase: Option<String>,
}

/// SRT passphrases are 10 to 79 characters (the protocol's bounds); printable ASCII without
/// spaces here, so they paste into OBS and URLs unchanged.
pub fn validate_srt_passphrase(p: &str) -> Result<(), String> {
    if !(10..=79).contains(&p.len()) {
        return Err("an SRT passphrase has 10 to 79 characters".into());
    }
    if !p.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("use letters, digits and punctuation only (no spaces)".into());
    }
    Ok(())
}

/// The SRT URL to publish to: `srt://host:port?streamid=<key>`, with `&passphrase=` when
/// the group has one (percent-encoded: it may hold `&` or `#`).
pub fn srt_publish_url(server: &str, key: &str, passphrase: Option<&str>) -> String {
    let mut url = format!("{server}?streamid={key}");
    if let Some(p) = passphrase {
        url.push_str("&passphrase=");
        for b in p.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                url.push(char::from(b));
            } else {
                url.push_str(&format!("%{b:02X}"));
            }
        }
    }
    url
}

impl PublishInfo {
    /// The full publish URL (`server_url/key`), when the key is visible.
    pub fn full_url(&self) -> Option<String> {
        self.stream_key
            .as_ref()
            .map(|k| format!("{}/{}", self.server_url, k))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::settings::SpanInput;

    fn group(name: &str, profiles: &[&str]) -> NewStreamGroup {
        NewStreamGroup {
            name: name.into(),
            profiles: profiles.iter().map(|s| s.to_string()).collect(),
            processing: vec![],
        }
    }

    #[test]
    fn profiles_are_checked_and_ordered() {
        let v = group("Show", &["360p", "1080p", "720p"])
            .validate()
            .expect("valid");
        let q: Vec<_> = v.profiles.iter().map(|p| p.quality).collect();
        assert_eq!(q, ["1080p", "720p", "360p"]);
        assert_eq!(v.processing.len(), 4, "defaults for ingest + 3 profiles");
        assert!(group("Show", &["720p", "720p"]).validate().is_err());
        assert!(group("Show", &["4k"]).validate().is_err());
    }

    #[test]
    fn name_is_required_and_bounded() {
        assert!(group("  ", &[]).validate().is_err());
        assert!(group(&"x".repeat(81), &[]).validate().is_err());
        assert_eq!(
            group(" Live ", &[]).validate().map(|v| v.name),
            Ok("Live".into())
        );
    }

    #[test]
    fn processing_errors_name_the_stream() {
        let mut g = group("Show", &["720p"]);
        let ok = ProcessKind::ALL.map(|k| ProcessConfig::default_for(k).to_input());
        let mut bad = ok;
        bad[1].duration = Some(SpanInput::Seconds(61));
        g.processing = vec![ok, bad];
        let errs = g.validate().expect_err("clip of 61 s");
        assert_eq!(errs[0].field, "streams[1].motion_clip.duration");
    }

    #[test]
    fn full_url_joins_server_and_key() {
        let p = PublishInfo {
            server_url: "rtmp://h:1935/live".into(),
            stream_key: Some("k".into()),
            srt_url: None,
            srt_passphrase: None,
        };
        assert_eq!(p.full_url().as_deref(), Some("rtmp://h:1935/live/k"));
    }

    #[test]
    fn srt_urls_and_passphrases() {
        assert_eq!(
            srt_publish_url("srt://h:9000", "k1", None),
            "srt://h:9000?streamid=k1"
        );
        assert_eq!(
            srt_publish_url("srt://h:9000", "k1", Some("a&b#c d%")),
            "srt://h:9000?streamid=k1&passphrase=a%26b%23c%20d%25"
        );
        assert!(validate_srt_passphrase("correct-horse").is_ok());
        assert!(validate_srt_passphrase("short").is_err());
        assert!(validate_srt_passphrase(&"x".repeat(80)).is_err());
        assert!(validate_srt_passphrase("with a space").is_err());
    }
}
