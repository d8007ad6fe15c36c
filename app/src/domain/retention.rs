//! Retention: how long each kind of asset is kept. An organisation sets defaults; a stream
//! group may override them kind by kind. A rule keeps assets for N days, and/or the newest N
//! of them (per stream; shared clips per group); a rule with neither keeps everything.

use serde::{Deserialize, Serialize};

use super::error::{AppError, FieldError};

/// What retention applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RetainedKind {
    Thumbnail,
    MotionClip,
    Recording,
    /// A session's replay buffer (its playlist and segments).
    Replay,
    /// Shared clips cut from replays.
    Clip,
}

impl RetainedKind {
    pub const ALL: [RetainedKind; 5] = [
        RetainedKind::Thumbnail,
        RetainedKind::MotionClip,
        RetainedKind::Recording,
        RetainedKind::Replay,
        RetainedKind::Clip,
    ];

    /// The key used in storage and field names.
    pub fn key(self) -> &'static str {
        match self {
            RetainedKind::Thumbnail => "thumbnail",
            RetainedKind::MotionClip => "motion_clip",
            RetainedKind::Recording => "recording",
            RetainedKind::Replay => "replay",
            RetainedKind::Clip => "clip",
        }
    }

    /// The name shown to people (plural).
    pub fn label(self) -> &'static str {
        match self {
            RetainedKind::Thumbnail => "Thumbnails",
            RetainedKind::MotionClip => "Motion clips",
            RetainedKind::Recording => "Recordings",
            RetainedKind::Replay => "Replay sessions",
            RetainedKind::Clip => "Shared clips",
        }
    }

    /// The kind of a key.
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// Longest age limit: ten years.
pub const MAX_KEEP_DAYS: u32 = 3650;
/// Largest count limit.
pub const MAX_KEEP_NEWEST: u32 = 100_000;

/// One kind's rule: neither limit set keeps everything ("keep forever").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct KeepRule {
    /// Delete what is older than this many days (1–3650); absent: no age limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
    /// Keep only this many of the newest (1–100000); absent: no count limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_newest: Option<u32>,
}

impl KeepRule {
    /// Keeps everything.
    pub const FOREVER: KeepRule = KeepRule {
        keep_days: None,
        keep_newest: None,
    };

    /// Whether the rule ever deletes anything.
    pub fn limits(&self) -> bool {
        self.keep_days.is_some() || self.keep_newest.is_some()
    }

    /// The rule's errors, with fields named `<kind>.keep_days` and `<kind>.keep_newest`.
    pub fn check(&self, kind: RetainedKind) -> Vec<FieldError> {
        let mut errors = Vec::new();
        if let Some(d) = self.keep_days.filter(|d| !(1..=MAX_KEEP_DAYS).contains(d)) {
            errors.push(FieldError::new(
                &format!("{}.keep_days", kind.key()),
                &format!("{}: keep days", kind.label()),
                d.to_string(),
                format!("1–{MAX_KEEP_DAYS} days"),
            ));
        }
        if let Some(n) = self
            .keep_newest
            .filter(|n| !(1..=MAX_KEEP_NEWEST).contains(n))
        {
            errors.push(FieldError::new(
                &format!("{}.keep_newest", kind.key()),
                &format!("{}: keep newest", kind.label()),
                n.to_string(),
                format!("1–{MAX_KEEP_NEWEST}"),
            ));
        }
        errors
    }
}

/// An organisation's defaults, or a group's overrides: a rule per kind. In a group, a kind
/// without a rule follows the organisation's default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RetentionRules {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<KeepRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub motion_clip: Option<KeepRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<KeepRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay: Option<KeepRule>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clip: Option<KeepRule>,
}

impl RetentionRules {
    /// The rule for `kind`, if one is set.
    pub fn get(&self, kind: RetainedKind) -> Option<KeepRule> {
        match kind {
            RetainedKind::Thumbnail => self.thumbnail,
            RetainedKind::MotionClip => self.motion_clip,
            RetainedKind::Recording => self.recording,
            RetainedKind::Replay => self.replay,
            RetainedKind::Clip => self.clip,
        }
    }

    /// Sets (or clears) the rule for `kind`.
    pub fn set(&mut self, kind: RetainedKind, rule: Option<KeepRule>) {
        let slot = match kind {
            RetainedKind::Thumbnail => &mut self.thumbnail,
            RetainedKind::MotionClip => &mut self.motion_clip,
            RetainedKind::Recording => &mut self.recording,
            RetainedKind::Replay => &mut self.replay,
            RetainedKind::Clip => &mut self.clip,
        };
        *slot = rule;
    }

    /// Every rule checked; all errors at once.
    pub fn validate(&self) -> Result<(), AppError> {
        let errors: Vec<FieldError> = RetainedKind::ALL
            .into_iter()
            .filter_map(|k| self.get(k).map(|r| r.check(k)))
            .flatten()
            .collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AppError::Validation(errors))
        }
    }

    /// The rule in force for `kind` in a group with these overrides under `defaults`.
    pub fn effective(&self, defaults: &RetentionRules, kind: RetainedKind) -> KeepRule {
        self.get(kind)
            .or_else(|| defaults.get(kind))
            .unwrap_or(KeepRule::FOREVER)
    }
}

/// A group's retention as the dashboard and the API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct GroupRetention {
    /// The group's own rules.
    pub rules: RetentionRules,
    /// The organisation's defaults, for the kinds the group leaves to them.
    pub defaults: RetentionRules,
    /// What retention removed from the group, newest first.
    #[serde(default)]
    pub removed: Vec<RetentionRun>,
}

/// What one retention run removed of one kind, and why (`age` or `count`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
pub struct RetentionRun {
    pub kind: RetainedKind,
    pub items: i64,
    pub bytes: i64,
    pub reason: String,
    pub at: chrono::DateTime<chrono::Utc>,
}

impl KeepRule {
    /// How people read the rule: "Kept forever", "30 days", "Newest 5", "30 days, newest 5".
    pub fn describe(&self) -> String {
        match (self.keep_days, self.keep_newest) {
            (None, None) => "Kept forever".into(),
            (Some(d), None) => format!("{d} days"),
            (None, Some(n)) => format!("Newest {n}"),
            (Some(d), Some(n)) => format!("{d} days, newest {n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_named_with_field_value_and_range() {
        let rules = RetentionRules {
            thumbnail: Some(KeepRule {
                keep_days: Some(0),
                keep_newest: Some(100_001),
            }),
            recording: Some(KeepRule {
                keep_days: Some(3650),
                keep_newest: Some(1),
            }),
            ..RetentionRules::default()
        };
        let Err(AppError::Validation(errors)) = rules.validate() else {
            panic!("invalid");
        };
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].field, "thumbnail.keep_days");
        assert_eq!(errors[0].value, "0");
        assert_eq!(errors[0].allowed, "1–3650 days");
        assert_eq!(errors[1].field, "thumbnail.keep_newest");
        assert_eq!(errors[1].allowed, "1–100000");
    }

    #[test]
    fn a_group_rule_overrides_the_default_and_forever_is_the_fallback() {
        let defaults = RetentionRules {
            recording: Some(KeepRule {
                keep_days: Some(30),
                keep_newest: None,
            }),
            ..RetentionRules::default()
        };
        let group = RetentionRules {
            thumbnail: Some(KeepRule::FOREVER),
            recording: Some(KeepRule {
                keep_days: None,
                keep_newest: Some(5),
            }),
            ..RetentionRules::default()
        };
        assert_eq!(
            group
                .effective(&defaults, RetainedKind::Recording)
                .keep_newest,
            Some(5)
        );
        assert!(!group.effective(&defaults, RetainedKind::Thumbnail).limits());
        assert_eq!(
            RetentionRules::default()
                .effective(&defaults, RetainedKind::Recording)
                .keep_days,
            Some(30)
        );
        assert_eq!(
            group.effective(&defaults, RetainedKind::Replay),
            KeepRule::FOREVER
        );
    }

    #[test]
    fn json_leaves_unset_rules_out() {
        let rules = RetentionRules {
            clip: Some(KeepRule {
                keep_days: Some(7),
                keep_newest: None,
            }),
            ..RetentionRules::default()
        };
        assert_eq!(
            serde_json::to_string(&rules).expect("json"),
            r#"{"clip":{"keep_days":7}}"#
        );
        let back: RetentionRules =
            serde_json::from_str(r#"{"clip":{"keep_days":7}}"#).expect("parse");
        assert_eq!(back, rules);
    }
}
