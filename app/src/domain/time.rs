//! How times are shown: always UTC, always the same format.

use chrono::{DateTime, Utc};

/// `2026-11-25 10:20:00 UTC`
pub fn format_utc(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

/// `1h 02m 03s`, `4m 05s`, `6s`
pub fn format_duration_s(total: i64) -> String {
    let (h, m, s) = (total / 3600, (total % 3600) / 60, total % 60);
    if h > 0 {
        format!("{h}h {m:02}m {s:02}s")
    } else if m > 0 {
        format!("{m}m {s:02}s")
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn formats() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 25, 9, 5, 1)
            .single()
            .expect("valid date");
        assert_eq!(format_utc(&t), "2026-11-25 09:05:01 UTC");
        assert_eq!(format_duration_s(3723), "1h 02m 03s");
        assert_eq!(format_duration_s(245), "4m 05s");
        assert_eq!(format_duration_s(6), "6s");
    }
}
