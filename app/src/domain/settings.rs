//! Live processing settings: the four processes, the ranges the seeds give for each of
//! their settings, and the one validation every caller (browser form, server fn, REST API)
//! goes through. No I/O here: this module is compiled to wasm too.

use serde::{Deserialize, Serialize};
use std::fmt;

use super::error::FieldError;

/// One of the four live processes a stream can run.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProcessKind {
    Thumbnail,
    MotionClip,
    Recording,
    Replay,
}

impl ProcessKind {
    /// Every process, in the order the dashboard shows them.
    pub const ALL: [ProcessKind; 4] = [
        ProcessKind::Thumbnail,
        ProcessKind::MotionClip,
        ProcessKind::Recording,
        ProcessKind::Replay,
    ];

    /// The stable key used in the database, the API and field names.
    pub fn key(self) -> &'static str {
        match self {
            ProcessKind::Thumbnail => "thumbnail",
            ProcessKind::MotionClip => "motion_clip",
            ProcessKind::Recording => "recording",
            ProcessKind::Replay => "replay",
        }
    }

    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            ProcessKind::Thumbnail => "Thumbnail",
            ProcessKind::MotionClip => "Motion Clip",
            ProcessKind::Recording => "Recording",
            ProcessKind::Replay => "Replay",
        }
    }

    /// Parses [`ProcessKind::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }

    /// The interval rule, for processes that repeat.
    pub fn interval_rule(self) -> Option<&'static Rule> {
        match self {
            ProcessKind::Thumbnail => Some(&THUMBNAIL_INTERVAL),
            ProcessKind::MotionClip => Some(&MOTION_CLIP_INTERVAL),
            ProcessKind::Recording | ProcessKind::Replay => None,
        }
    }

    /// The duration rule, for processes that have a length.
    pub fn duration_rule(self) -> Option<&'static Rule> {
        match self {
            ProcessKind::Thumbnail => None,
            ProcessKind::MotionClip => Some(&MOTION_CLIP_DURATION),
            ProcessKind::Recording => Some(&RECORDING_DURATION),
            ProcessKind::Replay => Some(&REPLAY_DURATION),
        }
    }
}

impl fmt::Display for ProcessKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// The allowed range of one numeric setting, in whole seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    /// Machine name, `process.setting` (e.g. `thumbnail.interval`).
    pub field: &'static str,
    /// Human name (e.g. `Thumbnail interval`).
    pub label: &'static str,
    pub min: u32,
    pub max: u32,
    /// Whether "entire stream" is allowed instead of a number.
    pub allows_entire_stream: bool,
}

/// Longest numeric recording piece or replay window: one day. Longer means "entire stream".
pub const MAX_SPAN_SECONDS: u32 = 86_400;

/// Thumbnail `interval`: time between snapshots, 10–3600 s.
pub const THUMBNAIL_INTERVAL: Rule = Rule {
    field: "thumbnail.interval",
    label: "Thumbnail interval",
    min: 10,
    max: 3600,
    allows_entire_stream: false,
};
/// Motion clip `interval`: time between clips, 10–3600 s.
pub const MOTION_CLIP_INTERVAL: Rule = Rule {
    field: "motion_clip.interval",
    label: "Motion clip interval",
    min: 10,
    max: 3600,
    allows_entire_stream: false,
};
/// Motion clip `duration`: length of each clip, 1–60 s.
pub const MOTION_CLIP_DURATION: Rule = Rule {
    field: "motion_clip.duration",
    label: "Motion clip duration",
    min: 1,
    max: 60,
    allows_entire_stream: false,
};
/// Recording `duration`: the longest piece one file holds, 1 s to the entire stream.
pub const RECORDING_DURATION: Rule = Rule {
    field: "recording.duration",
    label: "Recording duration",
    min: 1,
    max: MAX_SPAN_SECONDS,
    allows_entire_stream: true,
};
/// Replay `duration`: the rolling buffer, 1 s to the entire stream.
pub const REPLAY_DURATION: Rule = Rule {
    field: "replay.duration",
    label: "Replay duration",
    min: 1,
    max: MAX_SPAN_SECONDS,
    allows_entire_stream: true,
};

impl Rule {
    /// The allowed range as people read it: `10–3600 s`, `1–86400 s or entire stream`.
    pub fn allowed(&self) -> String {
        if self.allows_entire_stream {
            format!("{}–{} s or entire stream", self.min, self.max)
        } else {
            format!("{}–{} s", self.min, self.max)
        }
    }

    /// Checks a number of seconds against the range.
    pub fn check(&self, seconds: i64) -> Result<u32, FieldError> {
        match u32::try_from(seconds) {
            Ok(s) if (self.min..=self.max).contains(&s) => Ok(s),
            _ => Err(self.error(seconds.to_string())),
        }
    }

    /// Checks a span (number or entire stream) against the range.
    pub fn check_span(&self, span: SpanInput) -> Result<Span, FieldError> {
        match span {
            SpanInput::EntireStream if self.allows_entire_stream => Ok(Span::EntireStream),
            SpanInput::EntireStream => Err(self.error("entire stream".into())),
            SpanInput::Seconds(s) => self.check(s).map(Span::Seconds),
        }
    }

    /// Parses what a person typed into a form field, then checks it.
    pub fn parse(&self, text: &str) -> Result<u32, FieldError> {
        let trimmed = text.trim();
        match trimmed.parse::<i64>() {
            Ok(n) => self.check(n),
            Err(_) if trimmed.is_empty() => Err(self.error(String::new())),
            Err(_) => Err(self.error(trimmed.to_string())),
        }
    }

    /// The error for `value`, naming the field, the value and the allowed range.
    pub fn error(&self, value: String) -> FieldError {
        FieldError::new(self.field, self.label, value, self.allowed())
    }
}

/// A length that may be "the entire stream".
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Span {
    Seconds(u32),
    EntireStream,
}

impl Span {
    /// Seconds, or `None` for the entire stream.
    pub fn seconds(self) -> Option<u32> {
        match self {
            Span::Seconds(s) => Some(s),
            Span::EntireStream => None,
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Span::Seconds(s) => write!(f, "{s}"),
            Span::EntireStream => f.write_str("Entire stream"),
        }
    }
}

/// An unchecked span as it arrives from a form or the API.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanInput {
    Seconds(i64),
    EntireStream,
}

/// Unchecked settings of one process, as they arrive from a form or the API.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessInput {
    pub enabled: bool,
    /// Seconds between runs (thumbnail, motion clip).
    pub interval: Option<i64>,
    /// Length (motion clip, recording, replay).
    pub duration: Option<SpanInput>,
}

/// A partial change of one process's settings (the REST API's PATCH): what is given
/// replaces the current value, what is left out stays.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct ProcessPatch {
    pub enabled: Option<bool>,
    pub interval: Option<i64>,
    pub duration: Option<SpanInput>,
}

impl ProcessPatch {
    /// The current settings with this patch applied (unchecked: validate the result).
    pub fn apply(&self, current: &ProcessConfig) -> ProcessInput {
        let base = current.to_input();
        ProcessInput {
            enabled: self.enabled.unwrap_or(base.enabled),
            interval: self.interval.or(base.interval),
            duration: self.duration.or(base.duration),
        }
    }
}

/// Checked settings of one process. Only [`ProcessConfig::validate`] makes one (reading one
/// from JSON goes through it too), so a value of this type is always inside the seeds'
/// ranges.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "UncheckedConfig")]
pub struct ProcessConfig {
    kind: ProcessKind,
    enabled: bool,
    interval: Option<u32>,
    duration: Option<Span>,
}

/// The fields of a [`ProcessConfig`] as they arrive, before the rules are checked.
#[derive(Deserialize)]
struct UncheckedConfig {
    kind: ProcessKind,
    enabled: bool,
    interval: Option<u32>,
    duration: Option<Span>,
}

impl TryFrom<UncheckedConfig> for ProcessConfig {
    type Error = String;

    fn try_from(u: UncheckedConfig) -> Result<Self, String> {
        let input = ProcessInput {
            enabled: u.enabled,
            interval: u.interval.map(i64::from),
            duration: u.duration.map(|d| match d {
                Span::Seconds(s) => SpanInput::Seconds(i64::from(s)),
                Span::EntireStream => SpanInput::EntireStream,
            }),
        };
        ProcessConfig::validate(u.kind, &input).map_err(|errors| {
            errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

impl ProcessConfig {
    /// Checks `input` against the rules of `kind`; every wrong field is reported.
    pub fn validate(kind: ProcessKind, input: &ProcessInput) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let interval = match (kind.interval_rule(), input.interval) {
            (Some(rule), Some(value)) => rule.check(value).map_err(|e| errors.push(e)).ok(),
            (Some(rule), None) => {
                errors.push(rule.error(String::new()));
                None
            }
            (None, _) => None,
        };
        let duration = match (kind.duration_rule(), input.duration) {
            (Some(rule), Some(value)) => rule.check_span(value).map_err(|e| errors.push(e)).ok(),
            (Some(rule), None) => {
                errors.push(rule.error(String::new()));
                None
            }
            (None, _) => None,
        };
        if errors.is_empty() {
            Ok(Self {
                kind,
                enabled: input.enabled,
                interval,
                duration,
            })
        } else {
            Err(errors)
        }
    }

    /// The defaults a new stream starts with: everything off, sensible values filled in.
    pub fn default_for(kind: ProcessKind) -> Self {
        let (interval, duration) = match kind {
            ProcessKind::Thumbnail => (Some(10), None),
            ProcessKind::MotionClip => (Some(30), Some(Span::Seconds(3))),
            ProcessKind::Recording => (None, Some(Span::EntireStream)),
            ProcessKind::Replay => (None, Some(Span::Seconds(600))),
        };
        Self {
            kind,
            enabled: false,
            interval,
            duration,
        }
    }

    /// Which process these settings belong to.
    pub fn kind(&self) -> ProcessKind {
        self.kind
    }
    /// Whether the process runs.
    pub fn enabled(&self) -> bool {
        self.enabled
    }
    /// Seconds between runs, for thumbnails and motion clips.
    pub fn interval(&self) -> Option<u32> {
        self.interval
    }
    /// Length of a clip, a recording piece or the replay window.
    pub fn duration(&self) -> Option<Span> {
        self.duration
    }

    /// Back to an unchecked input, e.g. to fill a form.
    pub fn to_input(&self) -> ProcessInput {
        ProcessInput {
            enabled: self.enabled,
            interval: self.interval.map(i64::from),
            duration: self.duration.map(|d| match d {
                Span::Seconds(s) => SpanInput::Seconds(i64::from(s)),
                Span::EntireStream => SpanInput::EntireStream,
            }),
        }
    }

    /// Field-by-field differences, for the change history: `(field, old, new)`.
    pub fn diff(&self, new: &ProcessConfig) -> Vec<(&'static str, String, String)> {
        let mut out = Vec::new();
        if self.enabled != new.enabled {
            out.push(("enabled", self.enabled.to_string(), new.enabled.to_string()));
        }
        if self.interval != new.interval {
            out.push(("interval", fmt_opt(self.interval), fmt_opt(new.interval)));
        }
        if self.duration != new.duration {
            out.push(("duration", fmt_opt(self.duration), fmt_opt(new.duration)));
        }
        out
    }
}

fn fmt_opt<T: fmt::Display>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Settings of all four processes of one stream, each with its version for conflict checks.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamProcessing {
    pub stream_id: i64,
    pub processes: Vec<VersionedConfig>,
}

impl StreamProcessing {
    /// The settings of one process (every stream has all four).
    pub fn get(&self, kind: ProcessKind) -> Option<&VersionedConfig> {
        self.processes.iter().find(|p| p.config.kind() == kind)
    }
}

/// A process's settings with the version they were read at.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct VersionedConfig {
    pub config: ProcessConfig,
    pub version: i64,
}

/// One requested change: new settings for one process of one stream, based on `version`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessChange {
    pub stream_id: i64,
    pub kind: ProcessKind,
    /// The version the editor loaded; a different current version means someone else saved.
    pub version: i64,
    pub input: ProcessInput,
}

/// Validates a batch of changes, tagging each error with its stream.
pub fn validate_changes(
    changes: &[ProcessChange],
) -> Result<Vec<(i64, ProcessConfig, i64)>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut valid = Vec::with_capacity(changes.len());
    for change in changes {
        match ProcessConfig::validate(change.kind, &change.input) {
            Ok(config) => valid.push((change.stream_id, config, change.version)),
            Err(errs) => errors.extend(errs.into_iter().map(|e| e.for_stream(change.stream_id))),
        }
    }
    if errors.is_empty() {
        Ok(valid)
    } else {
        Err(errors)
    }
}

/// One entry of a stream's settings history: who changed which setting, when, from what to
/// what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsChange {
    pub stream_id: i64,
    pub stream_name: String,
    pub process: ProcessKind,
    pub field: String,
    pub old_value: String,
    pub new_value: String,
    pub changed_by: String,
    pub changed_at: chrono::DateTime<chrono::Utc>,
}

/// The outcome of saving settings.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SaveOutcome {
    /// Applied to the live session now, or at the next ingest.
    pub apply: super::jobs::ApplyMode,
    /// The settings after the save, with their new versions.
    pub settings: Vec<StreamProcessing>,
    /// How many process settings actually changed.
    pub changed: usize,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_a_config_checks_its_ranges() {
        let ok = ProcessConfig::validate(
            ProcessKind::Thumbnail,
            &ProcessInput {
                enabled: true,
                interval: Some(15),
                duration: None,
            },
        )
        .expect("valid");
        let json = serde_json::to_string(&ok).expect("json");
        assert_eq!(
            serde_json::from_str::<ProcessConfig>(&json).expect("reads back"),
            ok
        );
        let bad = json.replace("15", "5");
        let err = serde_json::from_str::<ProcessConfig>(&bad).expect_err("out of range");
        assert!(err.to_string().contains("10–3600 s"), "{err}");
    }

    fn input(interval: Option<i64>, duration: Option<SpanInput>) -> ProcessInput {
        ProcessInput {
            enabled: true,
            interval,
            duration,
        }
    }

    #[test]
    fn thumbnail_interval_boundaries() {
        for (secs, ok) in [
            (9, false),
            (10, true),
            (3600, true),
            (3601, false),
            (-1, false),
        ] {
            let r = ProcessConfig::validate(ProcessKind::Thumbnail, &input(Some(secs), None));
            assert_eq!(r.is_ok(), ok, "thumbnail interval {secs}");
        }
    }

    #[test]
    fn motion_clip_boundaries() {
        for (dur, ok) in [(0, false), (1, true), (60, true), (61, false)] {
            let r = ProcessConfig::validate(
                ProcessKind::MotionClip,
                &input(Some(30), Some(SpanInput::Seconds(dur))),
            );
            assert_eq!(r.is_ok(), ok, "clip duration {dur}");
        }
        for (int, ok) in [(9, false), (10, true), (3600, true), (3601, false)] {
            let r = ProcessConfig::validate(
                ProcessKind::MotionClip,
                &input(Some(int), Some(SpanInput::Seconds(3))),
            );
            assert_eq!(r.is_ok(), ok, "clip interval {int}");
        }
        let entire = ProcessConfig::validate(
            ProcessKind::MotionClip,
            &input(Some(30), Some(SpanInput::EntireStream)),
        );
        assert!(
            entire.is_err(),
            "a motion clip cannot last the entire stream"
        );
    }

    #[test]
    fn recording_and_replay_allow_entire_stream() {
        for kind in [ProcessKind::Recording, ProcessKind::Replay] {
            for (span, ok) in [
                (SpanInput::Seconds(0), false),
                (SpanInput::Seconds(1), true),
                (SpanInput::Seconds(86_400), true),
                (SpanInput::Seconds(86_401), false),
                (SpanInput::EntireStream, true),
            ] {
                let r = ProcessConfig::validate(kind, &input(None, Some(span)));
                assert_eq!(r.is_ok(), ok, "{kind:?} {span:?}");
            }
            let cfg = ProcessConfig::validate(kind, &input(None, Some(SpanInput::EntireStream)))
                .expect("entire stream is valid");
            assert_eq!(cfg.duration(), Some(Span::EntireStream));
        }
    }

    #[test]
    fn error_names_field_value_and_range() {
        let errs = ProcessConfig::validate(ProcessKind::Thumbnail, &input(Some(9), None))
            .expect_err("9 s is below the minimum");
        assert_eq!(errs.len(), 1);
        let e = &errs[0];
        assert_eq!(e.field, "thumbnail.interval");
        assert_eq!(e.value, "9");
        assert_eq!(e.allowed, "10–3600 s");
        let msg = e.to_string();
        assert!(
            msg.contains("Thumbnail interval") && msg.contains('9') && msg.contains("10–3600 s"),
            "{msg}"
        );
    }

    #[test]
    fn every_wrong_field_is_reported() {
        let errs = ProcessConfig::validate(
            ProcessKind::MotionClip,
            &input(Some(5), Some(SpanInput::Seconds(61))),
        )
        .expect_err("both fields are wrong");
        let fields: Vec<_> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["motion_clip.interval", "motion_clip.duration"]);
    }

    #[test]
    fn parse_reports_what_was_typed() {
        assert_eq!(THUMBNAIL_INTERVAL.parse(" 15 "), Ok(15));
        assert_eq!(
            THUMBNAIL_INTERVAL.parse("abc").map_err(|e| e.value),
            Err("abc".into())
        );
        assert_eq!(
            THUMBNAIL_INTERVAL.parse("").map_err(|e| e.value),
            Err(String::new())
        );
        assert_eq!(
            MOTION_CLIP_DURATION.parse("61").map_err(|e| e.value),
            Err("61".into())
        );
    }

    #[test]
    fn defaults_are_valid() {
        for kind in ProcessKind::ALL {
            let d = ProcessConfig::default_for(kind);
            assert_eq!(ProcessConfig::validate(kind, &d.to_input()), Ok(d));
        }
    }

    #[test]
    fn diff_lists_changed_fields() {
        let old = ProcessConfig::default_for(ProcessKind::Thumbnail);
        let new =
            ProcessConfig::validate(ProcessKind::Thumbnail, &input(Some(20), None)).expect("valid");
        assert_eq!(
            old.diff(&new),
            vec![
                ("enabled", "false".into(), "true".into()),
                ("interval", "10".into(), "20".into())
            ]
        );
    }

    #[test]
    fn batch_errors_carry_the_stream() {
        let changes = [ProcessChange {
            stream_id: 7,
            kind: ProcessKind::Thumbnail,
            version: 1,
            input: input(Some(3601), None),
        }];
        let errs = validate_changes(&changes).expect_err("out of range");
        assert_eq!(errs[0].stream_id, Some(7));
    }

    #[test]
    fn patches_change_only_what_they_name() {
        let current = ProcessConfig::default_for(ProcessKind::MotionClip);
        let patched = ProcessPatch {
            interval: Some(20),
            ..ProcessPatch::default()
        }
        .apply(&current);
        assert_eq!(patched.interval, Some(20));
        assert_eq!(patched.duration, Some(SpanInput::Seconds(3)));
        assert!(!patched.enabled);
    }

    #[test]
    fn process_keys_round_trip() {
        for kind in ProcessKind::ALL {
            assert_eq!(ProcessKind::from_key(kind.key()), Some(kind));
        }
        assert_eq!(ProcessKind::from_key("nope"), None);
    }
}
