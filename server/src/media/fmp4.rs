//! Fragmented MP4, just enough to append HLS fMP4 segments into one playable file: read the
//! tracks' timescales from the init segment, rebase each fragment's decode time (`tfdt`) so a
//! file starts at zero, neutralise per-segment `styp`/`sidx` boxes (renamed to `free`), and
//! find the complete prefix of a file a crash left half-written.

use std::collections::HashMap;

/// Something in the bytes is not the box structure we expect.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("malformed MP4: {0}")]
pub struct Malformed(pub &'static str);

/// A box: where it starts, its size, its type and its header length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BoxRef {
    start: usize,
    size: usize,
    kind: [u8; 4],
    header: usize,
}

impl BoxRef {
    fn body(&self) -> std::ops::Range<usize> {
        self.start + self.header..self.start + self.size
    }
}

/// The complete boxes in `data[range]`, stopping at the first one that runs past the end (or
/// declares a size that does not fit: sizes come from files and are never trusted).
fn boxes(data: &[u8], range: std::ops::Range<usize>) -> Vec<BoxRef> {
    let end = range.end.min(data.len());
    let mut out = Vec::new();
    let mut at = range.start;
    while let Some(head) = data.get(at..at + 8).filter(|_| at + 8 <= end) {
        let size32 = u32::from_be_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let kind = [head[4], head[5], head[6], head[7]];
        let (size, header) = match size32 {
            1 => match read_u64(data, at + 8).filter(|_| at + 16 <= end) {
                Some(large) => (usize::try_from(large).unwrap_or(usize::MAX), 16),
                None => break,
            },
            0 => (end - at, 8),
            n => (n, 8),
        };
        let Some(next) = at.checked_add(size).filter(|&n| size >= header && n <= end) else {
            break;
        };
        out.push(BoxRef {
            start: at,
            size,
            kind,
            header,
        });
        at = next;
    }
    out
}

fn child(data: &[u8], parent: &BoxRef, kind: &[u8; 4]) -> Option<BoxRef> {
    boxes(data, parent.body())
        .into_iter()
        .find(|b| &b.kind == kind)
}

fn read_u32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn read_u64(data: &[u8], at: usize) -> Option<u64> {
    data.get(at..at + 8).map(|b| {
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        u64::from_be_bytes(a)
    })
}

/// Track id → timescale, from an init segment's `moov`.
pub fn timescales(init: &[u8]) -> Result<HashMap<u32, u32>, Malformed> {
    let moov = boxes(init, 0..init.len())
        .into_iter()
        .find(|b| &b.kind == b"moov")
        .ok_or(Malformed("no moov in init segment"))?;
    let mut out = HashMap::new();
    for trak in boxes(init, moov.body())
        .into_iter()
        .filter(|b| &b.kind == b"trak")
    {
        let tkhd = child(init, &trak, b"tkhd").ok_or(Malformed("trak without tkhd"))?;
        let v = *init.get(tkhd.body().start).ok_or(Malformed("short tkhd"))?;
        let id = read_u32(init, tkhd.body().start + if v == 1 { 20 } else { 12 })
            .ok_or(Malformed("short tkhd"))?;
        let mdia = child(init, &trak, b"mdia").ok_or(Malformed("trak without mdia"))?;
        let mdhd = child(init, &mdia, b"mdhd").ok_or(Malformed("mdia without mdhd"))?;
        let v = *init.get(mdhd.body().start).ok_or(Malformed("short mdhd"))?;
        let scale = read_u32(init, mdhd.body().start + if v == 1 { 20 } else { 12 })
            .ok_or(Malformed("short mdhd"))?;
        if scale == 0 {
            return Err(Malformed("zero timescale"));
        }
        out.insert(id, scale);
    }
    if out.is_empty() {
        return Err(Malformed("no tracks"));
    }
    Ok(out)
}

/// The width and height of the first video track of an init segment (its `tkhd`'s display
/// size, rounded to whole pixels), or `None` when it has none.
pub fn video_size(init: &[u8]) -> Option<(u32, u32)> {
    let moov = boxes(init, 0..init.len())
        .into_iter()
        .find(|b| &b.kind == b"moov")?;
    boxes(init, moov.body())
        .into_iter()
        .filter(|b| &b.kind == b"trak")
        .find_map(|trak| {
            let mdia = child(init, &trak, b"mdia")?;
            let hdlr = child(init, &mdia, b"hdlr")?;
            if init.get(hdlr.body().start + 8..hdlr.body().start + 12)? != b"vide" {
                return None;
            }
            // Width and height end the box, each 16.16 fixed point.
            let tkhd = child(init, &trak, b"tkhd")?;
            let body = tkhd.body();
            if body.len() < 84 {
                return None;
            }
            let fixed = |at: usize| read_u32(init, at).map(|v| v.saturating_add(0x8000) >> 16);
            let (w, h) = (fixed(body.end - 8)?, fixed(body.end - 4)?);
            (w > 0 && h > 0).then_some((w, h))
        })
}

/// Every (track id, tfdt box) in a media segment.
fn fragments(segment: &[u8]) -> Vec<(u32, BoxRef)> {
    let mut out = Vec::new();
    for moof in boxes(segment, 0..segment.len())
        .into_iter()
        .filter(|b| &b.kind == b"moof")
    {
        for traf in boxes(segment, moof.body())
            .into_iter()
            .filter(|b| &b.kind == b"traf")
        {
            let id =
                child(segment, &traf, b"tfhd").and_then(|h| read_u32(segment, h.body().start + 4));
            if let (Some(id), Some(tfdt)) = (id, child(segment, &traf, b"tfdt")) {
                out.push((id, tfdt));
            }
        }
    }
    out
}

fn tfdt_value(segment: &[u8], tfdt: &BoxRef) -> Option<u64> {
    let at = tfdt.body().start;
    match segment.get(at)? {
        1 => read_u64(segment, at + 4),
        _ => read_u32(segment, at + 4).map(u64::from),
    }
}

/// The earliest decode time of a media segment, in seconds, across its tracks.
pub fn earliest_time(segment: &[u8], scales: &HashMap<u32, u32>) -> Option<f64> {
    fragments(segment)
        .into_iter()
        .filter_map(|(id, tfdt)| {
            Some(tfdt_value(segment, &tfdt)? as f64 / f64::from(*scales.get(&id)?))
        })
        .reduce(f64::min)
}

/// Prepares a media segment for appending to a file whose time zero is `base_s` seconds of
/// the stream: every `tfdt` is moved back by `base_s` (per track timescale, never below 0), and
/// the segment-level `styp`/`sidx` boxes become `free` so players ignore them.
pub fn rebase(
    segment: &mut [u8],
    scales: &HashMap<u32, u32>,
    base_s: f64,
) -> Result<(), Malformed> {
    for top in boxes(segment, 0..segment.len()) {
        if &top.kind == b"styp" || &top.kind == b"sidx" {
            segment[top.start + 4..top.start + 8].copy_from_slice(b"free");
        }
    }
    for (id, tfdt) in fragments(segment) {
        let scale = f64::from(
            *scales
                .get(&id)
                .ok_or(Malformed("fragment of an unknown track"))?,
        );
        let value = tfdt_value(segment, &tfdt).ok_or(Malformed("short tfdt"))?;
        let shift = (base_s * scale).round() as u64;
        let new = value.saturating_sub(shift);
        let at = tfdt.body().start;
        if segment[at] == 1 {
            segment[at + 4..at + 12].copy_from_slice(&new.to_be_bytes());
        } else {
            let new32 = u32::try_from(new).map_err(|_| Malformed("tfdt overflow"))?;
            segment[at + 4..at + 8].copy_from_slice(&new32.to_be_bytes());
        }
    }
    Ok(())
}

/// The length of the longest prefix of `file` that is whole: complete top-level boxes, and
/// no trailing `moof` without its `mdat`. A file cut by a crash is repaired by truncating it
/// to this length.
pub fn complete_prefix(file: &[u8]) -> usize {
    let all = boxes(file, 0..file.len());
    let mut end = all.last().map(|b| b.start + b.size).unwrap_or(0);
    if let Some(last) = all.last() {
        if &last.kind == b"moof" {
            end = last.start;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full_box(kind: &[u8; 4], version: u8, body: &[u8]) -> Vec<u8> {
        let mut b = vec![version, 0, 0, 0];
        b.extend_from_slice(body);
        mp4_box(kind, &b)
    }

    fn trak(id: u32, scale: u32) -> Vec<u8> {
        let mut tkhd = vec![0u8; 8]; // creation + modification (v0)
        tkhd.extend_from_slice(&id.to_be_bytes());
        tkhd.extend_from_slice(&[0u8; 68]);
        let mut mdhd = vec![0u8; 8];
        mdhd.extend_from_slice(&scale.to_be_bytes());
        mdhd.extend_from_slice(&[0u8; 8]);
        let mdia = mp4_box(b"mdia", &full_box(b"mdhd", 0, &mdhd));
        mp4_box(b"trak", &[full_box(b"tkhd", 0, &tkhd), mdia].concat())
    }

    fn init() -> Vec<u8> {
        [
            mp4_box(b"ftyp", b"iso6"),
            mp4_box(b"moov", &[trak(1, 90_000), trak(2, 48_000)].concat()),
        ]
        .concat()
    }

    fn traf(id: u32, version: u8, tfdt: u64) -> Vec<u8> {
        let tfhd = full_box(b"tfhd", 0, &id.to_be_bytes());
        let tfdt = if version == 1 {
            full_box(b"tfdt", 1, &tfdt.to_be_bytes())
        } else {
            full_box(b"tfdt", 0, &(tfdt as u32).to_be_bytes())
        };
        mp4_box(b"traf", &[tfhd, tfdt].concat())
    }

    fn segment(video_tfdt: u64, audio_tfdt: u64) -> Vec<u8> {
        [
            mp4_box(b"styp", b"msdh"),
            mp4_box(b"sidx", &[0u8; 20]),
            mp4_box(
                b"moof",
                &[traf(1, 1, video_tfdt), traf(2, 0, audio_tfdt)].concat(),
            ),
            mp4_box(b"mdat", &[1, 2, 3, 4]),
        ]
        .concat()
    }

    fn video_trak(width: u32, height: u32) -> Vec<u8> {
        let mut tkhd = vec![0u8; 72];
        tkhd.extend_from_slice(&(width << 16).to_be_bytes());
        tkhd.extend_from_slice(&(height << 16).to_be_bytes());
        let mut hdlr = vec![0u8; 4];
        hdlr.extend_from_slice(b"vide");
        hdlr.extend_from_slice(&[0u8; 13]);
        let mdia = mp4_box(b"mdia", &full_box(b"hdlr", 0, &hdlr));
        mp4_box(b"trak", &[full_box(b"tkhd", 0, &tkhd), mdia].concat())
    }

    #[test]
    fn reads_the_video_tracks_size_and_nothing_from_junk() {
        let with_video = [
            mp4_box(b"ftyp", b"iso6"),
            mp4_box(b"moov", &[trak(2, 48_000), video_trak(640, 360)].concat()),
        ]
        .concat();
        assert_eq!(video_size(&with_video), Some((640, 360)));
        assert_eq!(video_size(&init()), None, "no video handler");
        assert_eq!(video_size(b"junk"), None);
        for cut in 0..with_video.len() {
            let _ = video_size(&with_video[..cut]);
        }
    }

    #[test]
    fn reads_timescales_per_track() {
        let s = timescales(&init()).expect("parses");
        assert_eq!(s.get(&1), Some(&90_000));
        assert_eq!(s.get(&2), Some(&48_000));
        assert!(timescales(b"junk").is_err());
    }

    #[test]
    fn rebases_every_track_by_the_same_time_and_hides_styp_and_sidx() {
        let scales = timescales(&init()).expect("parses");
        // Video at 10.0 s, audio at 9.99 s: the file's zero is the earlier of the two.
        let mut seg = segment(900_000, 479_520);
        let base = earliest_time(&seg, &scales).expect("has fragments");
        assert!((base - 9.99).abs() < 1e-9);
        rebase(&mut seg, &scales, base).expect("rebases");
        let times: Vec<_> = fragments(&seg)
            .iter()
            .map(|(id, b)| (*id, tfdt_value(&seg, b).expect("tfdt")))
            .collect();
        assert_eq!(
            times,
            vec![(1, 900), (2, 0)],
            "0.01 s of video offset kept, audio at zero"
        );
        let kinds: Vec<_> = boxes(&seg, 0..seg.len()).iter().map(|b| b.kind).collect();
        assert_eq!(kinds, vec![*b"free", *b"free", *b"moof", *b"mdat"]);
    }

    #[test]
    fn complete_prefix_drops_torn_boxes_and_a_lonely_moof() {
        let file = [init(), segment(0, 0), segment(90_000, 48_000)].concat();
        assert_eq!(complete_prefix(&file), file.len());
        let seg_len = segment(0, 0).len();
        let cut = file.len() - 2; // torn mdat of the last segment
        let styp_and_sidx = 12 + 28;
        assert_eq!(
            complete_prefix(&file[..cut]),
            init().len() + seg_len + styp_and_sidx,
            "the moof without its mdat is dropped too"
        );
        assert_eq!(
            complete_prefix(&file[..init().len() + seg_len]),
            init().len() + seg_len
        );
        assert_eq!(complete_prefix(&[0u8; 3]), 0);
    }

    #[test]
    fn malformed_boxes_are_refused_without_panicking() {
        // A 64-bit size near the end of the address space, a 32-bit size past the data, and a
        // tkhd with no body: each is refused, none overflows or indexes out of range.
        let mut huge = 1u32.to_be_bytes().to_vec();
        huge.extend_from_slice(b"moov");
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(timescales(&huge).is_err());
        assert_eq!(complete_prefix(&huge), 0);
        let mut past = u32::MAX.to_be_bytes().to_vec();
        past.extend_from_slice(b"moof");
        assert_eq!(complete_prefix(&past), 0);
        let bare = mp4_box(b"moov", &mp4_box(b"trak", &mp4_box(b"tkhd", &[])));
        assert_eq!(timescales(&bare), Err(Malformed("short tkhd")));
        // Every truncation and every single-byte corruption of real boxes parses to something
        // or to an error.
        let (init, seg) = (init(), segment(90_000, 48_000));
        let scales = timescales(&init).expect("parses");
        for cut in 0..init.len() {
            let _ = timescales(&init[..cut]);
        }
        for cut in 0..seg.len() {
            let _ = earliest_time(&seg[..cut], &scales);
            let _ = complete_prefix(&seg[..cut]);
            let _ = rebase(&mut seg[..cut].to_vec(), &scales, 0.5);
        }
        for at in 0..seg.len() {
            let mut bad = seg.clone();
            bad[at] = 0xff;
            let _ = earliest_time(&bad, &scales);
            let _ = rebase(&mut bad, &scales, 0.5);
        }
        for at in 0..init.len() {
            for byte in [0u8, 1, 0x7f, 0xff] {
                let mut bad = init.clone();
                bad[at] = byte;
                let _ = timescales(&bad);
            }
        }
    }
}
