//! Clips and share links: what a broadcaster cuts from a replay and hands to viewers. The
//! rules (title, span, expiry) live here so the player form, the server functions and the
//! REST API check them the same way.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::error::FieldError;

/// Longest title.
pub const TITLE_MAX: usize = 120;
/// Shortest clip, in seconds (one segment).
pub const CLIP_MIN_S: i64 = 1;
/// Longest clip, in seconds.
pub const CLIP_MAX_S: i64 = 600;
/// Longest span "save the last N minutes" keeps, in seconds.
pub const SAVE_MAX_S: i64 = 86_400;

/// How long a share link works.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkExpiry {
    Never,
    Hour,
    Day,
    Week,
    Month,
}

impl LinkExpiry {
    /// Every choice, in the order the form lists them.
    pub const ALL: [LinkExpiry; 5] = [
        LinkExpiry::Never,
        LinkExpiry::Hour,
        LinkExpiry::Day,
        LinkExpiry::Week,
        LinkExpiry::Month,
    ];

    /// The moment a link made at `now` stops working.
    pub fn expires_at(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let d = match self {
            LinkExpiry::Never => return None,
            LinkExpiry::Hour => Duration::hours(1),
            LinkExpiry::Day => Duration::days(1),
            LinkExpiry::Week => Duration::days(7),
            LinkExpiry::Month => Duration::days(30),
        };
        Some(now + d)
    }

    /// Stable key (forms, API).
    pub fn key(self) -> &'static str {
        match self {
            LinkExpiry::Never => "never",
            LinkExpiry::Hour => "hour",
            LinkExpiry::Day => "day",
            LinkExpiry::Week => "week",
            LinkExpiry::Month => "month",
        }
    }

    /// Parses [`LinkExpiry::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.key() == key)
    }

    /// How the form says it.
    pub fn label(self) -> &'static str {
        match self {
            LinkExpiry::Never => "Never expires",
            LinkExpiry::Hour => "Expires in 1 hour",
            LinkExpiry::Day => "Expires in 24 hours",
            LinkExpiry::Week => "Expires in 7 days",
            LinkExpiry::Month => "Expires in 30 days",
        }
    }
}

/// A clip to cut: a span of a replay (wall-clock, as the player shows it) and a title.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewClip {
    /// The replay asset (one session of one stream).
    pub replay_id: i64,
    pub title: String,
    /// In point.
    pub from: DateTime<Utc>,
    /// Out point.
    pub to: DateTime<Utc>,
    pub expiry: LinkExpiry,
}

/// A checked [`NewClip`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidClip {
    pub replay_id: i64,
    pub title: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub expiry: LinkExpiry,
}

/// Checks a title: trimmed, 1–120 characters.
pub fn check_title(title: &str) -> Result<String, FieldError> {
    let t = title.trim();
    let n = t.chars().count();
    if n == 0 || n > TITLE_MAX {
        return Err(FieldError::new(
            "title",
            "Title",
            if n == 0 {
                String::new()
            } else {
                format!("{n} characters")
            },
            format!("1–{TITLE_MAX} characters"),
        ));
    }
    Ok(t.to_string())
}

/// Checks the length of a clip between `from` and `to`.
pub fn check_span(from: DateTime<Utc>, to: DateTime<Utc>) -> Result<(), FieldError> {
    let ms = (to - from).num_milliseconds();
    if !(CLIP_MIN_S * 1000..=CLIP_MAX_S * 1000).contains(&ms) {
        return Err(FieldError::new(
            "span",
            "Clip length (out point minus in point)",
            format!("{:.1} s", ms as f64 / 1000.0),
            format!("{CLIP_MIN_S}–{CLIP_MAX_S} s"),
        ));
    }
    Ok(())
}

impl NewClip {
    /// Checks every field; every wrong one is reported.
    pub fn validate(&self) -> Result<ValidClip, Vec<FieldError>> {
        let mut errors = Vec::new();
        let title = check_title(&self.title).map_err(|e| errors.push(e)).ok();
        let _ = check_span(self.from, self.to).map_err(|e| errors.push(e));
        match title {
            Some(title) if errors.is_empty() => Ok(ValidClip {
                replay_id: self.replay_id,
                title,
                from: self.from,
                to: self.to,
                expiry: self.expiry,
            }),
            _ => Err(errors),
        }
    }
}

/// Checks how many seconds of the buffer "save the last N minutes" keeps.
pub fn check_save_seconds(seconds: i64) -> Result<u32, FieldError> {
    if (CLIP_MIN_S..=SAVE_MAX_S).contains(&seconds) {
        Ok(seconds as u32)
    } else {
        Err(FieldError::new(
            "seconds",
            "Span to save",
            seconds.to_string(),
            format!("{CLIP_MIN_S}–{SAVE_MAX_S} s"),
        ))
    }
}

/// Whether a clip's MP4 download exists yet.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mp4State {
    Pending,
    Ready,
    Failed,
}

impl Mp4State {
    /// Stable key in the database.
    pub fn key(self) -> &'static str {
        match self {
            Mp4State::Pending => "pending",
            Mp4State::Ready => "ready",
            Mp4State::Failed => "failed",
        }
    }
    /// Parses [`Mp4State::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        match key {
            "pending" => Some(Mp4State::Pending),
            "ready" => Some(Mp4State::Ready),
            "failed" => Some(Mp4State::Failed),
            _ => None,
        }
    }
}

/// A share link as its owners see it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareLink {
    pub id: i64,
    /// `/s/<token>`.
    pub path: String,
    pub title: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ShareLink {
    /// Whether viewers can open it at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }
}

/// The path of the public page of a token.
pub fn share_path(token: &str) -> String {
    format!("/s/{token}")
}

/// A clip as the dashboard lists it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clip {
    pub id: i64,
    pub stream_id: i64,
    pub replay_id: Option<i64>,
    pub title: String,
    /// When its source session started.
    pub session_started_at: Option<DateTime<Utc>>,
    pub starts_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub mp4: Mp4State,
    /// Members' playlist URL.
    pub playlist_url: String,
    /// Members' MP4 URL (works once [`Clip::mp4`] is ready).
    pub mp4_url: String,
    pub poster_url: Option<String>,
    /// The WebVTT storyboard (seek-bar previews).
    pub storyboard_url: String,
    /// Its share link (the newest one).
    pub share: Option<ShareLink>,
}

/// What a viewer's share page shows: nothing else of the organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicShare {
    pub title: String,
    /// When the shared moment happened (clip start or session start).
    pub date: DateTime<Utc>,
    /// `None` while a shared live replay is still live.
    pub duration_ms: Option<i64>,
    pub is_live: bool,
    /// The HLS playlist under the share path.
    pub playlist_url: String,
    /// Absolute URL of the preview image, for link previews in chat apps.
    pub image_url: Option<String>,
    /// Absolute URL of the page itself.
    pub page_url: String,
    pub mp4_url: Option<String>,
    /// The WebVTT storyboard under the share path.
    pub storyboard_url: String,
    /// A shared recording: its files in order (one, or every file of a session), each
    /// played in turn. Empty for clips and replays.
    pub parts: Vec<SharePart>,
}

/// One file of a shared recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SharePart {
    /// The MP4 under the share path.
    pub url: String,
    pub storyboard_url: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<i64>,
}

/// The folder of part `n` (1-based) of a shared recording, under the share path.
pub fn share_part_path(base: &str, n: usize) -> String {
    format!("{base}/parts/{n}")
}

/// A thumbnail placed on a replay's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimelineThumb {
    pub at: DateTime<Utc>,
    pub url: String,
}

/// The player page of one replay session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayView {
    pub replay: super::overview::SessionAsset,
    pub group_name: String,
    pub stream_name: String,
    pub quality: String,
    pub thumbnails: Vec<TimelineThumb>,
    pub clips: Vec<Clip>,
    /// Live session shares of this replay.
    pub shares: Vec<ShareLink>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
            .single()
            .expect("time")
            + Duration::seconds(s)
    }

    fn clip(title: &str, from: i64, to: i64) -> NewClip {
        NewClip {
            replay_id: 1,
            title: title.into(),
            from: t(from),
            to: t(to),
            expiry: LinkExpiry::Day,
        }
    }

    #[test]
    fn spans_and_titles_are_bounded() {
        assert!(clip("Goal", 0, 1).validate().is_ok());
        assert!(clip("Goal", 0, 600).validate().is_ok());
        let e = clip("Goal", 0, 601).validate().expect_err("too long");
        assert_eq!(e[0].field, "span");
        assert_eq!(e[0].allowed, "1–600 s");
        assert!(clip("Goal", 5, 5).validate().is_err(), "empty span");
        assert!(clip("Goal", 5, 2).validate().is_err(), "out before in");
        let e = clip("  ", 0, 700).validate().expect_err("both wrong");
        let fields: Vec<_> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "span"]);
        assert!(clip(&"x".repeat(121), 0, 5).validate().is_err());
        assert_eq!(
            clip("  Save!  ", 0, 5).validate().map(|v| v.title),
            Ok("Save!".into())
        );
    }

    #[test]
    fn expiry_and_links() {
        assert_eq!(LinkExpiry::Never.expires_at(t(0)), None);
        assert_eq!(LinkExpiry::Hour.expires_at(t(0)), Some(t(3600)));
        for e in LinkExpiry::ALL {
            assert_eq!(LinkExpiry::from_key(e.key()), Some(e));
        }
        let link = ShareLink {
            id: 1,
            path: share_path("abc"),
            title: "x".into(),
            created_at: t(0),
            expires_at: Some(t(10)),
            revoked_at: None,
        };
        assert_eq!(link.path, "/s/abc");
        assert!(link.is_active(t(9)));
        assert!(!link.is_active(t(10)));
        let revoked = ShareLink {
            revoked_at: Some(t(1)),
            expires_at: None,
            ..link
        };
        assert!(!revoked.is_active(t(2)));
    }

    #[test]
    fn save_span_is_bounded() {
        assert_eq!(check_save_seconds(300), Ok(300));
        assert!(check_save_seconds(0).is_err());
        assert!(check_save_seconds(86_401).is_err());
    }
}
