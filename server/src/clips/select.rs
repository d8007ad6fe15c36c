//! Which segments of a replay playlist a span covers: cut outward at segment boundaries
//! (a segment starts on a keyframe), within one ffmpeg run (one init segment).

use app::ssr::pipeline::ReplaySpan;
use chrono::{DateTime, Duration, Utc};

use crate::media::m3u8::Entry;
use crate::runner::error::JobError;

fn end_of(e: &Entry) -> DateTime<Utc> {
    e.program_date_time + Duration::milliseconds((e.duration * 1000.0).round() as i64)
}

/// The index range of `entries` covering `wanted`, or why there is none.
pub fn select(entries: &[Entry], wanted: ReplaySpan) -> Result<std::ops::Range<usize>, JobError> {
    if entries.is_empty() {
        return Err(JobError::refused("the replay has no segments yet"));
    }
    let (from, to) = match wanted {
        ReplaySpan::Between(from, to) => (from, to),
        ReplaySpan::Last(seconds) => {
            let Some(to) = entries.last().map(end_of) else {
                return Err(JobError::refused("the replay has no segments yet"));
            };
            (to - Duration::seconds(i64::from(seconds)), to)
        }
    };
    if to <= from {
        return Err(JobError::refused(
            "the out point must come after the in point",
        ));
    }
    // Where `from` falls; a moment before the window starts at the window.
    let mut first = entries
        .iter()
        .position(|e| end_of(e) > from)
        .ok_or_else(|| JobError::refused("the in point is after the end of the replay"))?;
    if let (ReplaySpan::Last(_), Some(newest)) = (wanted, entries.last()) {
        // The last seconds come from the newest run.
        let run_start = entries
            .iter()
            .rposition(|e| e.map_uri != newest.map_uri)
            .map_or(0, |i| i + 1);
        first = first.max(run_start);
    }
    if entries[first].program_date_time >= to {
        return Err(JobError::refused(
            "that span is no longer (or not yet) in the replay buffer",
        ));
    }
    let map = &entries[first].map_uri;
    let mut last = first;
    while last + 1 < entries.len()
        && entries[last + 1].program_date_time < to
        && &entries[last + 1].map_uri == map
    {
        last += 1;
    }
    Ok(first..last + 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(ms: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, 0, 0)
            .single()
            .expect("time")
            + Duration::milliseconds(ms)
    }

    fn entries() -> Vec<Entry> {
        (0..10)
            .map(|i| Entry {
                uri: format!("segments/r{}/seg_{i:06}.m4s", if i < 7 { 0 } else { 1 }),
                map_uri: format!("segments/r{}/init.mp4", if i < 7 { 0 } else { 1 }),
                duration: 1.0,
                program_date_time: t(i * 1000),
            })
            .collect()
    }

    #[test]
    fn cuts_outward_at_segment_boundaries() {
        let e = entries();
        assert_eq!(
            select(&e, ReplaySpan::Between(t(1500), t(3200))).ok(),
            Some(1..4)
        );
        assert_eq!(
            select(&e, ReplaySpan::Between(t(1000), t(3000))).ok(),
            Some(1..3)
        );
        assert_eq!(
            select(&e, ReplaySpan::Between(t(-5000), t(500))).ok(),
            Some(0..1),
            "before the window starts at the window"
        );
    }

    #[test]
    fn stays_within_one_run() {
        let e = entries();
        assert_eq!(
            select(&e, ReplaySpan::Between(t(5000), t(9500))).ok(),
            Some(5..7)
        );
    }

    #[test]
    fn last_seconds_end_at_the_newest_segment() {
        let e = entries();
        assert_eq!(select(&e, ReplaySpan::Last(2)).ok(), Some(8..10));
        assert_eq!(
            select(&e, ReplaySpan::Last(100)).ok(),
            Some(7..10),
            "the newest run only"
        );
    }

    #[test]
    fn spans_outside_the_buffer_are_refused() {
        let e = entries();
        assert!(select(&e, ReplaySpan::Between(t(20_000), t(25_000))).is_err());
        assert!(select(&e, ReplaySpan::Between(t(3000), t(2000))).is_err());
        assert!(select(&[], ReplaySpan::Last(5)).is_err());
    }
}
