//! What the dashboard knows of the media pipeline's jobs: the state of each process of each
//! stream, and whether a settings change reached a live session.

use serde::{Deserialize, Serialize};

use super::settings::ProcessKind;

/// The state of one process's job.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum JobState {
    /// Not running: no live session, or the process is off.
    Idle,
    Starting,
    Running,
    /// Crashed and waiting to start again.
    Restarting {
        attempt: u32,
        last_error: String,
    },
    /// Gave up after repeated failures.
    Failed {
        reason: String,
    },
    /// Not started for now, for a reason that passes by itself (the disk is almost full).
    Paused {
        reason: String,
    },
}

impl JobState {
    /// Short label for the dashboard.
    pub fn label(&self) -> &'static str {
        match self {
            JobState::Idle => "Idle",
            JobState::Starting => "Starting",
            JobState::Running => "Running",
            JobState::Restarting { .. } => "Restarting",
            JobState::Failed { .. } => "Failed",
            JobState::Paused { .. } => "Paused",
        }
    }
}

/// A job state tagged with its stream and process.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobStatus {
    pub stream_id: i64,
    pub process: ProcessKind,
    pub state: JobState,
}

/// How the reason of a session ended because its media could not be processed begins (the
/// ingest writes it, the dashboard and the API show it as the processes' failure).
pub const UNSUPPORTED_MEDIA: &str = "unsupported media:";

/// Where a saved settings change takes effect.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplyMode {
    /// The group is live and the pipeline applied the change without a reconnect.
    AppliedLive,
    /// Not live now: the change applies when the next session starts.
    NextIngest,
}

/// The data folder's disk as the pipeline sees it, and the organisation's use of its quota.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageStatus {
    pub free_bytes: u64,
    pub total_bytes: u64,
    /// Below the free-space threshold: thumbnails, motion clips, clip exports and saved
    /// spans wait; recordings and replays go on as long as they can.
    pub low: bool,
    /// The organisation's media on disk and its quota.
    #[serde(default)]
    pub quota: QuotaStatus,
}

/// An organisation's storage against its quota.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaStatus {
    /// Bytes of the organisation's media on disk (a file linked twice counts once).
    pub used_bytes: u64,
    /// The quota, if the operator set one (or a server default applies).
    pub quota_bytes: Option<u64>,
    pub level: QuotaLevel,
}

/// Where use stands against the quota.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaLevel {
    /// Below 90 %, or no quota.
    #[default]
    Ok,
    /// 90 % or more: a warning (and a `storage.quota` webhook).
    Warning,
    /// 100 % or more: new thumbnails, motion clips, clips and saved spans stop (and
    /// recordings too, if the operator chose so) until space is freed or the quota raised.
    Full,
}

/// Parses a size such as `500MB`, `50GB`, `1.5TB` or `2GiB` (no unit: bytes).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n >= 0.0)?;
    let scale: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "TB" => 1_000_000_000_000,
        "KIB" => 1 << 10,
        "MIB" => 1 << 20,
        "GIB" => 1 << 30,
        "TIB" => 1 << 40,
        _ => return None,
    };
    let bytes = n * scale as f64;
    (1.0..9.0e18).contains(&bytes).then_some(bytes as u64)
}

impl QuotaStatus {
    /// The level of `used` against `quota`.
    pub fn of(used_bytes: u64, quota_bytes: Option<u64>) -> Self {
        let level = match quota_bytes {
            Some(q) if used_bytes >= q => QuotaLevel::Full,
            Some(q) if used_bytes.saturating_mul(10) >= q.saturating_mul(9) => QuotaLevel::Warning,
            _ => QuotaLevel::Ok,
        };
        Self {
            used_bytes,
            quota_bytes,
            level,
        }
    }

    /// Used, as a whole percentage of the quota.
    pub fn percent(&self) -> Option<u64> {
        self.quota_bytes
            .filter(|q| *q > 0)
            .map(|q| self.used_bytes.saturating_mul(100) / q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_decimal_and_binary_units() {
        assert_eq!(parse_size("500MB"), Some(500_000_000));
        assert_eq!(parse_size(" 1.5 GB "), Some(1_500_000_000));
        assert_eq!(parse_size("2GiB"), Some(2 << 30));
        assert_eq!(parse_size("4096"), Some(4096));
        for bad in ["", "MB", "-1GB", "0", "12 parsecs", "1e3"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }

    #[test]
    fn quota_levels_at_90_and_100_percent() {
        assert_eq!(QuotaStatus::of(10, None).level, QuotaLevel::Ok);
        assert_eq!(QuotaStatus::of(89, Some(100)).level, QuotaLevel::Ok);
        assert_eq!(QuotaStatus::of(90, Some(100)).level, QuotaLevel::Warning);
        assert_eq!(QuotaStatus::of(100, Some(100)).level, QuotaLevel::Full);
        assert_eq!(QuotaStatus::of(150, Some(100)).percent(), Some(150));
    }
}
