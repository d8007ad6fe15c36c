//! HLS media playlists: reading the short live playlist ffmpeg writes (to learn which
//! segments are complete) and writing the replay playlist we serve (our own window, with an
//! `EXT-X-MAP` per ffmpeg run and a discontinuity where a restarted run begins).

use chrono::{DateTime, SecondsFormat, Utc};
use std::fmt::Write;

/// What ffmpeg's playlist says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LivePlaylist {
    /// Sequence number of the first listed segment.
    pub media_sequence: u64,
    /// Discontinuities before the first listed segment.
    pub discontinuity_sequence: u64,
    /// `(sequence, duration in seconds, uri)` of every listed segment.
    pub segments: Vec<(u64, f64, String)>,
    /// `EXT-X-ENDLIST` seen: ffmpeg finished.
    pub ended: bool,
}

/// Parses a media playlist; unknown tags are ignored.
pub fn parse(text: &str) -> LivePlaylist {
    let mut p = LivePlaylist::default();
    let mut next_duration = None;
    let mut seq = 0;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            p.media_sequence = v.trim().parse().unwrap_or(0);
            seq = p.media_sequence;
        } else if let Some(v) = line.strip_prefix("#EXT-X-DISCONTINUITY-SEQUENCE:") {
            p.discontinuity_sequence = v.trim().parse().unwrap_or(0);
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            next_duration = v
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok());
        } else if line == "#EXT-X-ENDLIST" {
            p.ended = true;
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(d) = next_duration.take() {
                p.segments.push((seq, d, line.to_string()));
                seq += 1;
            }
        }
    }
    p
}

/// One segment in the replay playlist.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Path relative to the playlist.
    pub uri: String,
    /// Init segment of the run this segment belongs to, relative to the playlist.
    pub map_uri: String,
    pub duration: f64,
    /// Wall-clock time of the segment's first frame.
    pub program_date_time: DateTime<Utc>,
}

/// Reads back a replay playlist this server wrote: every segment with its init segment,
/// duration and wall-clock time. Segments without a time are skipped (never written so).
pub fn parse_replay(text: &str) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut map = None::<String>;
    let mut pdt = None;
    let mut duration = None;
    for line in text.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            map = v
                .split(',')
                .find_map(|kv| kv.trim().strip_prefix("URI="))
                .map(|u| u.trim_matches('"').to_string());
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = DateTime::parse_from_rfc3339(v.trim())
                .ok()
                .map(|d| d.with_timezone(&Utc));
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            duration = v
                .split(',')
                .next()
                .and_then(|d| d.trim().parse::<f64>().ok());
        } else if !line.is_empty() && !line.starts_with('#') {
            if let (Some(map_uri), Some(program_date_time), Some(duration)) =
                (map.clone(), pdt.take(), duration.take())
            {
                out.push(Entry {
                    uri: line.to_string(),
                    map_uri,
                    duration,
                    program_date_time,
                });
            }
        }
    }
    out
}

/// Writes a playlist of `entries`, the first of which has sequence number `media_sequence`.
/// `discontinuities_before` counts the discontinuities that rolled out of the window. With
/// `ended`, the playlist is closed (plays as on-demand).
pub fn write(
    entries: &[Entry],
    media_sequence: u64,
    discontinuities_before: u64,
    ended: bool,
) -> String {
    let target = entries
        .iter()
        .map(|e| e.duration.ceil() as u64)
        .max()
        .unwrap_or(1)
        .max(1);
    let mut out = String::new();
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:7");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{media_sequence}");
    let _ = writeln!(
        out,
        "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuities_before}"
    );
    if ended {
        let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
    }
    let _ = writeln!(out, "#EXT-X-INDEPENDENT-SEGMENTS");
    let mut map: Option<&str> = None;
    for e in entries {
        if map != Some(e.map_uri.as_str()) {
            if map.is_some() {
                let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
            }
            let _ = writeln!(out, "#EXT-X-MAP:URI=\"{}\"", e.map_uri);
            map = Some(&e.map_uri);
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            e.program_date_time
                .to_rfc3339_opts(SecondsFormat::Millis, true)
        );
        let _ = writeln!(out, "#EXTINF:{:.3},", e.duration);
        let _ = writeln!(out, "{}", e.uri);
    }
    if ended {
        let _ = writeln!(out, "#EXT-X-ENDLIST");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn parses_ffmpeg_live_playlists() {
        let text = "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:1.000000,\n#EXT-X-PROGRAM-DATE-TIME:2026-11-25T11:03:04.428+0000\nseg_000007.m4s\n#EXTINF:0.990234,\nseg_000008.m4s\n#EXT-X-ENDLIST\n";
        let p = parse(text);
        assert_eq!(p.media_sequence, 7);
        assert_eq!(
            p.segments,
            vec![
                (7, 1.0, "seg_000007.m4s".into()),
                (8, 0.990234, "seg_000008.m4s".into())
            ]
        );
        assert!(p.ended);
        assert_eq!(
            parse("#EXTM3U\n#EXTINF:1.0,\n"),
            LivePlaylist::default(),
            "a segment line not yet written"
        );
    }

    #[test]
    fn writes_maps_discontinuities_and_endlist() {
        let t = Utc
            .with_ymd_and_hms(2026, 11, 25, 10, 0, 0)
            .single()
            .expect("time");
        let e = |uri: &str, map: &str, s: i64| Entry {
            uri: uri.into(),
            map_uri: map.into(),
            duration: 1.0,
            program_date_time: t + chrono::Duration::seconds(s),
        };
        let entries = [
            e("r0/s1.m4s", "r0/init.mp4", 0),
            e("r0/s2.m4s", "r0/init.mp4", 1),
            e("r1/s1.m4s", "r1/init.mp4", 3),
        ];
        let text = write(&entries, 5, 2, true);
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:5\n"));
        assert_eq!(parse(&text).media_sequence, 5);
        assert_eq!(parse(&text).discontinuity_sequence, 2);
        assert_eq!(text.matches("#EXT-X-MAP").count(), 2);
        assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1);
        assert!(text.contains("#EXT-X-PROGRAM-DATE-TIME:2026-11-25T10:00:03.000Z"));
        assert!(text.ends_with("#EXT-X-ENDLIST\n"));
        assert_eq!(parse_replay(&text), entries, "what we write reads back");
        let live = write(&entries[..1], 0, 0, false);
        assert!(!live.contains("ENDLIST"));
        assert_eq!(parse(&live).segments.len(), 1);
    }
}
