//! MPEG-TS (what SRT publishers send) turned into the FLV tag bodies the RTMP ingest produces,
//! so both ingests feed one pipeline: H.264 access units become AVC tags (an
//! `AVCDecoderConfigurationRecord` from the stream's SPS and PPS, then length-prefixed NAL
//! units with their composition offset), HEVC access units become Enhanced RTMP `hvc1` tags
//! (an `HEVCDecoderConfigurationRecord` from the VPS, SPS and PPS, which also stay in band),
//! AAC in ADTS becomes AAC tags (an `AudioSpecificConfig`, then raw frames).
//!
//! Like the rest of this crate it is sans-IO and bounded: at most [`MAX_PES`] bytes are held
//! per elementary stream, a partial TS packet is at most 187 bytes, only the first program
//! and one video and one audio stream are followed. Timestamps are the 33-bit 90 kHz clock
//! unwrapped and made relative to the first one seen, in milliseconds.
//!
//! A stream type the pipeline cannot take (VVC, MPEG audio, AC-3, …) is reported once as
//! [`Demuxed::Unsupported`], with a name a publisher understands.

use bytes::{BufMut, Bytes, BytesMut};

use crate::media::{Media, MediaKind};

/// A TS packet's size.
pub const PACKET: usize = 188;
/// The largest PES packet reassembled (a 1080p keyframe at a high bitrate is about 1 MB).
pub const MAX_PES: usize = 8 << 20;
/// The largest SPS or PPS kept.
const MAX_PARAMETER_SET: usize = 1024;

const H264: u8 = 0x1B;
const HEVC: u8 = 0x24;
const AAC_ADTS: u8 = 0x0F;

/// What the demuxer gives back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Demuxed {
    /// A tag for the pipeline.
    Media(Media),
    /// The publisher sends something the pipeline cannot process; the text names it.
    Unsupported(String),
}

#[derive(Debug, Default)]
struct Pes {
    /// A unit start was seen (bytes before the first one are skipped).
    started: bool,
    buf: BytesMut,
    /// The PES declared its length (0: unbounded, ends at the next unit start).
    declared: usize,
    /// Bytes were lost or the packet was too large: it is dropped when it ends.
    broken: bool,
    /// The last continuity counter seen on the stream's PID.
    counter: Option<u8>,
}

/// The demuxer of one publish.
#[derive(Debug, Default)]
pub struct Demuxer {
    partial: Vec<u8>,
    pmt_pid: Option<u16>,
    video_pid: Option<u16>,
    audio_pid: Option<u16>,
    reported: bool,
    video: Pes,
    audio: Pes,
    /// The first timestamp seen (90 kHz), and the last unwrapped one.
    origin: Option<u64>,
    last: u64,
    /// The video is HEVC (H.264 otherwise).
    hevc: bool,
    vps: Option<Bytes>,
    sps: Option<Bytes>,
    pps: Option<Bytes>,
    /// The parameter sets of the last sequence header sent.
    sent_config: Option<Vec<Bytes>>,
    /// The AudioSpecificConfig of the last audio sequence header sent.
    sent_asc: Option<[u8; 2]>,
}

impl Demuxer {
    /// A demuxer that has seen nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes bytes as they arrived (any split; SRT carries 7 TS packets a datagram) and
    /// appends what they complete to `out`.
    pub fn push(&mut self, mut data: &[u8], out: &mut Vec<Demuxed>) {
        if !self.partial.is_empty() {
            let need = PACKET - self.partial.len();
            let take = need.min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < PACKET {
                return;
            }
            let packet = std::mem::take(&mut self.partial);
            self.packet(&packet, out);
        }
        while !data.is_empty() {
            // Resynchronise on the sync byte after garbage.
            if data[0] != 0x47 {
                match data.iter().position(|&b| b == 0x47) {
                    Some(i) => data = &data[i..],
                    None => return,
                }
            }
            if data.len() < PACKET {
                self.partial.extend_from_slice(data);
                return;
            }
            self.packet(&data[..PACKET], out);
            data = &data[PACKET..];
        }
    }

    /// The end of the publish: what the last unit started is finished.
    pub fn finish(&mut self, out: &mut Vec<Demuxed>) {
        self.end_pes(true, out);
        self.end_pes(false, out);
    }

    fn packet(&mut self, p: &[u8], out: &mut Vec<Demuxed>) {
        let error = p[1] & 0x80 != 0;
        let start = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
        let control = (p[3] >> 4) & 0x3;
        let mut at = 4;
        if control & 0x2 != 0 {
            at += 1 + usize::from(p[4]);
        }
        if control & 0x1 == 0 || at >= PACKET {
            return;
        }
        let payload = &p[at..];
        if error {
            self.mark_broken(pid);
            return;
        }
        if pid == 0 {
            if start {
                self.pat(payload);
            }
        } else if Some(pid) == self.pmt_pid {
            if start {
                self.pmt(payload, out);
            }
        } else if Some(pid) == self.video_pid || Some(pid) == self.audio_pid {
            let video = Some(pid) == self.video_pid;
            let counter = p[3] & 0x0F;
            let pes = if video {
                &mut self.video
            } else {
                &mut self.audio
            };
            match pes.counter {
                // A repeated packet (allowed once by the standard): its bytes are in already.
                Some(c) if c == counter => return,
                // A gap: packets were lost (SRT drops what comes too late), and the unit they
                // belonged to is dropped rather than spliced together.
                Some(c) if (c + 1) & 0x0F != counter => pes.broken = true,
                _ => {}
            }
            pes.counter = Some(counter);
            self.pes_bytes(video, start, payload, out);
        }
    }

    fn mark_broken(&mut self, pid: u16) {
        if Some(pid) == self.video_pid {
            self.video.broken = true;
        } else if Some(pid) == self.audio_pid {
            self.audio.broken = true;
        }
    }

    /// A PSI section's body after the pointer field, bounded by its section length.
    fn section(payload: &[u8]) -> Option<&[u8]> {
        let pointer = usize::from(*payload.first()?);
        let table = payload.get(1 + pointer..)?;
        let length = usize::from(u16::from(table.get(1)? & 0x0F) << 8 | u16::from(*table.get(2)?));
        // Without the 4-byte CRC at the end.
        table.get(..(3 + length).checked_sub(4)?)
    }

    fn pat(&mut self, payload: &[u8]) {
        let Some(table) = Self::section(payload) else {
            return;
        };
        if table.first() != Some(&0x00) {
            return;
        }
        for &[p0, p1, pid0, pid1] in table.get(8..).unwrap_or(&[]).as_chunks::<4>().0 {
            if u16::from_be_bytes([p0, p1]) != 0 {
                self.pmt_pid = Some((u16::from(pid0 & 0x1F) << 8) | u16::from(pid1));
                return;
            }
        }
    }

    fn pmt(&mut self, payload: &[u8], out: &mut Vec<Demuxed>) {
        let Some(table) = Self::section(payload) else {
            return;
        };
        if table.first() != Some(&0x02) || table.len() < 12 {
            return;
        }
        let info = usize::from(u16::from(table[10] & 0x0F) << 8 | u16::from(table[11]));
        let mut rest = table.get(12 + info..).unwrap_or(&[]);
        let (mut video, mut audio, mut other) = (None, None, None);
        while rest.len() >= 5 {
            let kind = rest[0];
            let pid = (u16::from(rest[1] & 0x1F) << 8) | u16::from(rest[2]);
            let es_info = usize::from(u16::from(rest[3] & 0x0F) << 8 | u16::from(rest[4]));
            match kind {
                H264 | HEVC if video.is_none() => video = Some((pid, kind == HEVC)),
                AAC_ADTS if audio.is_none() => audio = Some(pid),
                _ => {
                    if other.is_none() {
                        other = unsupported_stream(kind);
                    }
                }
            }
            rest = rest.get(5 + es_info..).unwrap_or(&[]);
        }
        if video.is_none() {
            if !self.reported {
                self.reported = true;
                let name = other.unwrap_or_else(|| "a stream without H.264 or HEVC video".into());
                out.push(Demuxed::Unsupported(name));
            }
            return;
        }
        let (video, hevc) = video.unzip();
        let hevc = hevc.unwrap_or_default();
        if video != self.video_pid || hevc != self.hevc {
            self.video = Pes::default();
            (self.vps, self.sps, self.pps, self.sent_config) = (None, None, None, None);
        }
        self.hevc = hevc;
        if audio != self.audio_pid {
            self.audio = Pes::default();
        }
        if audio.is_none() && !self.reported {
            // Audio in a codec we cannot take is refused; no audio at all is fine.
            if let Some(name) = other.filter(|n| n.ends_with("audio")) {
                self.reported = true;
                out.push(Demuxed::Unsupported(name));
            }
        }
        self.video_pid = video;
        self.audio_pid = audio;
    }

    fn pes_bytes(&mut self, video: bool, start: bool, payload: &[u8], out: &mut Vec<Demuxed>) {
        if start {
            self.end_pes(video, out);
            let pes = if video {
                &mut self.video
            } else {
                &mut self.audio
            };
            pes.broken = false;
            pes.declared = match payload {
                [0, 0, 1, _, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
                _ => {
                    pes.broken = true;
                    0
                }
            };
            pes.started = true;
        }
        let pes = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        if !pes.started {
            // Joined mid-packet: wait for the next unit start.
            return;
        }
        if pes.buf.len() + payload.len() > MAX_PES {
            pes.broken = true;
            pes.buf.clear();
        } else if !pes.broken {
            pes.buf.extend_from_slice(payload);
        }
        if pes.declared > 0 && pes.buf.len() >= pes.declared + 6 {
            self.end_pes(video, out);
        }
    }

    fn end_pes(&mut self, video: bool, out: &mut Vec<Demuxed>) {
        let pes = if video {
            &mut self.video
        } else {
            &mut self.audio
        };
        let buf = std::mem::take(&mut pes.buf).freeze();
        let broken = std::mem::take(&mut pes.broken);
        pes.started = false;
        pes.declared = 0;
        if broken || buf.len() < 9 {
            return;
        }
        let flags = buf[7];
        let header = 9 + usize::from(buf[8]);
        let Some(pts) = (flags & 0x80 != 0)
            .then(|| buf.get(9..14).and_then(timestamp))
            .flatten()
        else {
            return;
        };
        let dts = if flags & 0x40 != 0 {
            buf.get(14..19).and_then(timestamp).unwrap_or(pts)
        } else {
            pts
        };
        let Some(data) = buf.get(header..) else {
            return;
        };
        let data = buf.slice_ref(data);
        let dts_ms = self.relative_ms(dts);
        // PTS − DTS, both 33-bit: the difference modulo 2^33, taken as signed.
        let delay = ((pts.wrapping_sub(dts)) & ((1 << 33) - 1)) as i64;
        let delay = if delay >= 1 << 32 {
            delay - (1 << 33)
        } else {
            delay
        };
        if video {
            self.video_tags(data, dts_ms, delay / 90, out);
        } else {
            self.audio_tags(&data, dts_ms, out);
        }
    }

    /// Milliseconds since the first timestamp, the 33-bit clock unwrapped.
    fn relative_ms(&mut self, ts: u64) -> u32 {
        const WRAP: u64 = 1 << 33;
        // Unwrapped timestamps start one wrap up, so a step back across a wrap right after
        // the first one stays a step back (not 26 hours on).
        let origin = *self.origin.get_or_insert(ts + WRAP);
        if self.last == 0 {
            self.last = origin;
        }
        let mut unwrapped = (self.last & !(WRAP - 1)) | ts;
        // Nearest to the last one: forward across a wrap, or a little back.
        if unwrapped + WRAP / 2 < self.last {
            unwrapped += WRAP;
        } else if unwrapped > self.last + WRAP / 2 {
            unwrapped -= WRAP;
        }
        self.last = self.last.max(unwrapped);
        (unwrapped.saturating_sub(origin) / 90).min(u64::from(u32::MAX)) as u32
    }

    fn video_tags(&mut self, data: Bytes, ts: u32, cts: i64, out: &mut Vec<Demuxed>) {
        if self.hevc {
            return self.hevc_tags(data, ts, cts, out);
        }
        let mut body = BytesMut::new();
        let mut key = false;
        for nal in annex_b(&data) {
            match nal.first().map(|b| b & 0x1F) {
                Some(7) if nal.len() <= MAX_PARAMETER_SET => self.sps = Some(data.slice_ref(nal)),
                Some(8) if nal.len() <= MAX_PARAMETER_SET => self.pps = Some(data.slice_ref(nal)),
                // Access unit delimiters and filler carry nothing for the pipeline.
                Some(9) | Some(12) | None => {}
                Some(t) => {
                    key |= t == 5;
                    body.put_u32(nal.len() as u32);
                    body.extend_from_slice(nal);
                }
            }
        }
        if let (Some(sps), Some(pps)) = (&self.sps, &self.pps) {
            let config = vec![sps.clone(), pps.clone()];
            if self.sent_config.as_ref() != Some(&config) && sps.len() >= 4 {
                out.push(video_tag(ts, avc_config(sps, pps)));
                self.sent_config = Some(config);
            }
        }
        if body.is_empty() || self.sent_config.is_none() {
            return;
        }
        let cts = cts.clamp(-(1 << 23), (1 << 23) - 1) as i32;
        let mut tag = BytesMut::with_capacity(5 + body.len());
        tag.put_u8(if key { 0x17 } else { 0x27 });
        tag.put_u8(1);
        tag.extend_from_slice(&cts.to_be_bytes()[1..]);
        tag.extend_from_slice(&body);
        out.push(video_tag(ts, tag.freeze()));
    }

    /// HEVC: parameter sets are kept (and left in band, so a change reaches the decoder),
    /// access unit delimiters and filler dropped, IRAP pictures (types 16–21) are keyframes.
    fn hevc_tags(&mut self, data: Bytes, ts: u32, cts: i64, out: &mut Vec<Demuxed>) {
        let mut body = BytesMut::new();
        let mut key = false;
        for nal in annex_b(&data) {
            let Some(kind) = nal.first().map(|b| (b >> 1) & 0x3F) else {
                continue;
            };
            let set = (nal.len() <= MAX_PARAMETER_SET).then_some(data.slice_ref(nal));
            match kind {
                32 => self.vps = set,
                33 => self.sps = set,
                34 => self.pps = set,
                35 | 38 => continue,
                16..=21 => key = true,
                _ => {}
            }
            body.put_u32(nal.len() as u32);
            body.extend_from_slice(nal);
        }
        if let (Some(vps), Some(sps), Some(pps)) = (&self.vps, &self.sps, &self.pps) {
            let config = vec![vps.clone(), sps.clone(), pps.clone()];
            if self.sent_config.as_ref() != Some(&config) {
                if let Some(record) = hevc_config(vps, sps, pps) {
                    let mut tag = BytesMut::with_capacity(5 + record.len());
                    tag.put_u8(0x90); // Enhanced, keyframe, SequenceStart
                    tag.extend_from_slice(b"hvc1");
                    tag.extend_from_slice(&record);
                    out.push(video_tag(ts, tag.freeze()));
                    self.sent_config = Some(config);
                }
            }
        }
        if body.is_empty() || self.sent_config.is_none() {
            return;
        }
        let cts = cts.clamp(-(1 << 23), (1 << 23) - 1) as i32;
        let mut tag = BytesMut::with_capacity(8 + body.len());
        // Enhanced, key or inter frame, CodedFrames (with a composition offset).
        tag.put_u8(if key { 0x91 } else { 0xA1 });
        tag.extend_from_slice(b"hvc1");
        tag.extend_from_slice(&cts.to_be_bytes()[1..]);
        tag.extend_from_slice(&body);
        out.push(video_tag(ts, tag.freeze()));
    }

    fn audio_tags(&mut self, data: &Bytes, ts: u32, out: &mut Vec<Demuxed>) {
        let mut rest = &data[..];
        let mut frame = 0u64;
        while rest.len() >= 7 && rest[0] == 0xFF && rest[1] & 0xF0 == 0xF0 {
            let protection_absent = rest[1] & 0x01 != 0;
            let profile = rest[2] >> 6;
            let rate_index = (rest[2] >> 2) & 0x0F;
            let channels = ((rest[2] & 0x01) << 2) | (rest[3] >> 6);
            let length = (usize::from(rest[3] & 0x03) << 11)
                | (usize::from(rest[4]) << 3)
                | usize::from(rest[5] >> 5);
            let header = if protection_absent { 7 } else { 9 };
            let Some(rate) = SAMPLE_RATES.get(usize::from(rate_index)).copied() else {
                return;
            };
            if length < header || length > rest.len() {
                return;
            }
            let object = profile + 1;
            let asc = [
                (object << 3) | (rate_index >> 1),
                ((rate_index & 1) << 7) | (channels << 3),
            ];
            if self.sent_asc != Some(asc) {
                out.push(audio_tag(
                    ts,
                    Bytes::copy_from_slice(&[0xAF, 0x00, asc[0], asc[1]]),
                ));
                self.sent_asc = Some(asc);
            }
            // Each ADTS frame is 1024 samples after the one before.
            let at = ts.saturating_add((frame * 1024 * 1000 / u64::from(rate)) as u32);
            let mut tag = BytesMut::with_capacity(2 + length - header);
            tag.put_u8(0xAF);
            tag.put_u8(1);
            tag.extend_from_slice(&rest[header..length]);
            out.push(audio_tag(at, tag.freeze()));
            frame += 1;
            rest = &rest[length..];
        }
    }
}

const SAMPLE_RATES: [u32; 13] = [
    96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
];

fn video_tag(timestamp: u32, payload: Bytes) -> Demuxed {
    Demuxed::Media(Media {
        kind: MediaKind::Video,
        timestamp,
        payload,
    })
}

fn audio_tag(timestamp: u32, payload: Bytes) -> Demuxed {
    Demuxed::Media(Media {
        kind: MediaKind::Audio,
        timestamp,
        payload,
    })
}

/// An AVC sequence header tag body: one SPS, one PPS, 4-byte NAL lengths.
fn avc_config(sps: &[u8], pps: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(16 + sps.len() + pps.len());
    b.extend_from_slice(&[0x17, 0, 0, 0, 0]);
    b.extend_from_slice(&[1, sps[1], sps[2], sps[3], 0xFF, 0xE1]);
    b.put_u16(sps.len() as u16);
    b.extend_from_slice(sps);
    b.put_u8(1);
    b.put_u16(pps.len() as u16);
    b.extend_from_slice(pps);
    b.freeze()
}

/// An `HEVCDecoderConfigurationRecord` with one VPS, SPS and PPS and 4-byte NAL lengths. The
/// profile, tier and level are the SPS's own; chroma format and bit depths are written as
/// 4:2:0 8-bit, which decoders take from the SPS anyway. `None` if the SPS is too short.
fn hevc_config(vps: &[u8], sps: &[u8], pps: &[u8]) -> Option<Bytes> {
    // The SPS payload after its 2-byte NAL header, without emulation prevention bytes: one
    // byte (VPS id, sub-layers, nesting), then the 12-byte general profile_tier_level.
    let mut rbsp = Vec::with_capacity(13);
    let mut zeros = 0;
    for &b in sps.get(2..)? {
        if rbsp.len() == 13 {
            break;
        }
        if zeros >= 2 && b == 3 {
            zeros = 0;
            continue;
        }
        zeros = if b == 0 { zeros + 1 } else { 0 };
        rbsp.push(b);
    }
    if rbsp.len() < 13 {
        return None;
    }
    let sub_layers = ((rbsp[0] >> 1) & 0x07) + 1;
    let nested = rbsp[0] & 1;
    let mut b = BytesMut::with_capacity(40 + vps.len() + sps.len() + pps.len());
    b.put_u8(1);
    b.extend_from_slice(&rbsp[1..13]);
    // Spatial segmentation 0, parallelism unknown, 4:2:0, 8-bit luma and chroma, frame rate
    // unknown, then the temporal layers, nesting and 4-byte lengths; three arrays.
    b.extend_from_slice(&[0xF0, 0x00, 0xFC, 0xFD, 0xF8, 0xF8, 0, 0]);
    b.put_u8((sub_layers << 3) | (nested << 2) | 3);
    b.put_u8(3);
    for (kind, nal) in [(32u8, vps), (33, sps), (34, pps)] {
        b.put_u8(0x80 | kind);
        b.put_u16(1);
        b.put_u16(nal.len() as u16);
        b.extend_from_slice(nal);
    }
    Some(b.freeze())
}

/// A PES timestamp field (5 bytes, 33 bits with marker bits).
fn timestamp(b: &[u8]) -> Option<u64> {
    let [a, b1, b2, b3, b4] = <[u8; 5]>::try_from(b).ok()?;
    Some(
        (u64::from(a >> 1) & 0x07) << 30
            | u64::from(b1) << 22
            | (u64::from(b2) >> 1) << 15
            | u64::from(b3) << 7
            | u64::from(b4) >> 1,
    )
}

/// The NAL units of an Annex B byte stream (start codes of 3 or 4 bytes).
fn annex_b(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 3 <= data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let ends: Vec<usize> = starts
        .iter()
        .skip(1)
        .map(|&s| s - 3)
        .chain(std::iter::once(data.len()))
        .collect();
    starts.into_iter().zip(ends).map(move |(s, e)| {
        let mut nal = &data[s..e.max(s)];
        // The zero byte of a 4-byte start code belongs to the next one.
        while let [rest @ .., 0] = nal {
            nal = rest;
        }
        nal
    })
}

/// The name of a stream type we cannot process, for the refusal.
fn unsupported_stream(kind: u8) -> Option<String> {
    let name = match kind {
        0x33 => "VVC (H.266) video",
        0x01 | 0x02 => "MPEG-2 video",
        0x10 => "MPEG-4 Part 2 video",
        0x03 | 0x04 => "MP3 or MP2 audio",
        0x11 => "AAC in LATM audio",
        0x81 => "AC-3 audio",
        0x87 => "E-AC-3 audio",
        0x06 => return None, // private data (subtitles, KLV, Opus…): ignored
        _ => return None,
    };
    Some(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts_packet(pid: u16, start: bool, cc: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![
            0x47,
            (pid >> 8) as u8 | if start { 0x40 } else { 0 },
            pid as u8,
        ];
        let room = PACKET - 4;
        if payload.len() >= room {
            p.push(0x10 | (cc & 0x0F));
            p.extend_from_slice(&payload[..room]);
        } else {
            // Adaptation field stuffing before a short payload.
            let stuffing = room - payload.len() - 1;
            p.push(0x30 | (cc & 0x0F));
            p.push(stuffing as u8);
            if stuffing > 0 {
                p.push(0);
                p.extend(std::iter::repeat_n(0xFF, stuffing - 1));
            }
            p.extend_from_slice(payload);
        }
        assert_eq!(p.len(), PACKET);
        p
    }

    fn psi(table: &[u8]) -> Vec<u8> {
        let mut s = vec![0u8];
        s.extend_from_slice(table);
        s.extend_from_slice(&[0, 0, 0, 0]);
        s
    }

    fn pat() -> Vec<u8> {
        psi(&[0x00, 0xB0, 13, 0, 1, 0xC1, 0, 0, 0, 1, 0xE1, 0x00])
    }

    fn pmt(streams: &[(u8, u16)]) -> Vec<u8> {
        let mut t = vec![0x02, 0xB0, 0, 0, 1, 0xC1, 0, 0, 0xE1, 0x00, 0xF0, 0];
        for (kind, pid) in streams {
            t.extend_from_slice(&[*kind, 0xE0 | (pid >> 8) as u8, *pid as u8, 0xF0, 0]);
        }
        let length = t.len() - 3 + 4;
        t[2] = length as u8;
        psi(&t)
    }

    fn pes(stream_id: u8, pts: u64, dts: Option<u64>, data: &[u8], bounded: bool) -> Vec<u8> {
        let mut p = vec![0, 0, 1, stream_id, 0, 0, 0x80];
        let ts = |prefix: u8, t: u64| {
            [
                (prefix << 4) | (((t >> 30) as u8 & 0x07) << 1) | 1,
                (t >> 22) as u8,
                (((t >> 15) as u8) << 1) | 1,
                (t >> 7) as u8,
                ((t as u8) << 1) | 1,
            ]
        };
        match dts {
            Some(d) => {
                p.extend_from_slice(&[0xC0, 10]);
                p.extend_from_slice(&ts(3, pts));
                p.extend_from_slice(&ts(1, d));
            }
            None => {
                p.extend_from_slice(&[0x80, 5]);
                p.extend_from_slice(&ts(2, pts));
            }
        }
        p.extend_from_slice(data);
        if bounded {
            let len = (p.len() - 6) as u16;
            p[4..6].copy_from_slice(&len.to_be_bytes());
        }
        p
    }

    fn packets(pid: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, chunk) in data.chunks(PACKET - 4).enumerate() {
            out.extend(ts_packet(pid, i == 0, i as u8, chunk));
        }
        out
    }

    const SPS: &[u8] = &[0x67, 0x64, 0x00, 0x28, 0xAC, 0xD9];
    const PPS: &[u8] = &[0x68, 0xEB, 0xE3, 0xCB];

    fn stream() -> Vec<u8> {
        let mut s = Vec::new();
        s.extend(ts_packet(0, true, 0, &pat()));
        s.extend(ts_packet(
            0x100,
            true,
            0,
            &pmt(&[(H264, 0x101), (AAC_ADTS, 0x102)]),
        ));
        let mut idr = vec![0, 0, 0, 1, 9, 0xF0];
        for nal in [SPS, PPS] {
            idr.extend_from_slice(&[0, 0, 0, 1]);
            idr.extend_from_slice(nal);
        }
        idr.extend_from_slice(&[0, 0, 1, 0x65]);
        idr.extend(std::iter::repeat_n(0xAB, 600));
        // 33-bit clock just before its wrap: the next frame's timestamps wrap.
        let t0 = (1u64 << 33) - 1800;
        s.extend(packets(0x101, &pes(0xE0, t0 + 3000, Some(t0), &idr, false)));
        let adts = |len: usize| {
            let total = len + 7;
            let mut f = vec![
                0xFF,
                0xF1,
                0x4C,
                0x80 | (total >> 11) as u8,
                (total >> 3) as u8,
                ((total as u8) << 5) | 0x1F,
                0xFC,
            ];
            f.extend(std::iter::repeat_n(0x21, len));
            f
        };
        let mut frames = adts(20);
        frames.extend(adts(30));
        s.extend(packets(0x102, &pes(0xC0, t0, None, &frames, true)));
        let p_frame = [0u8, 0, 1, 0x41, 0x9A, 0x55];
        s.extend(packets(
            0x101,
            &pes(0xE0, t0 + 9000, Some(t0 + 3000), &p_frame, false),
        ));
        s.extend(packets(
            0x101,
            &pes(0xE0, t0 + 12000, Some(t0 + 6000), &p_frame, false),
        ));
        renumber(&mut s);
        s
    }

    /// Continuity counters in sequence per PID, as a muxer writes them.
    fn renumber(s: &mut [u8]) {
        let mut next = std::collections::HashMap::new();
        for p in s.chunks_mut(PACKET) {
            let pid = (u16::from(p[1] & 0x1F) << 8) | u16::from(p[2]);
            let c: &mut u8 = next.entry(pid).or_default();
            p[3] = (p[3] & 0xF0) | (*c & 0x0F);
            *c = c.wrapping_add(1);
        }
    }

    fn demux_all(bytes: &[u8], split: usize) -> Vec<Demuxed> {
        let mut d = Demuxer::new();
        let mut out = Vec::new();
        for chunk in bytes.chunks(split) {
            d.push(chunk, &mut out);
        }
        d.finish(&mut out);
        out
    }

    #[test]
    fn h264_and_aac_become_flv_tags() {
        for split in [1, 7, 188, 1316, 100_000] {
            let out = demux_all(&stream(), split);
            let media: Vec<&Media> = out
                .iter()
                .map(|d| match d {
                    Demuxed::Media(m) => m,
                    other => panic!("{other:?}"),
                })
                .collect();
            // The audio PES declares its length and ends first; a video PES ends at the
            // next one's start. AAC config and two frames; sequence header, keyframe; two P
            // frames.
            let kinds: Vec<(MediaKind, u32, u8, u8)> = media
                .iter()
                .map(|m| (m.kind, m.timestamp, m.payload[0], m.payload[1]))
                .collect();
            assert_eq!(
                kinds,
                vec![
                    (MediaKind::Audio, 0, 0xAF, 0),
                    (MediaKind::Audio, 0, 0xAF, 1),
                    (MediaKind::Audio, 21, 0xAF, 1),
                    (MediaKind::Video, 0, 0x17, 0),
                    (MediaKind::Video, 0, 0x17, 1),
                    (MediaKind::Video, 33, 0x27, 1),
                    (MediaKind::Video, 66, 0x27, 1),
                ],
                "split {split}"
            );
            let config = &media[3].payload;
            assert_eq!(&config[5..9], &[1, 0x64, 0x00, 0x28]);
            assert_eq!(&config[11..13], &(SPS.len() as u16).to_be_bytes());
            // Keyframe: composition offset 33 ms, one IDR NAL (the AUD and parameter sets
            // are not in the frame), 4-byte length first.
            let key = &media[4].payload;
            assert_eq!(&key[2..5], &[0, 0, 33]);
            assert_eq!(&key[5..9], &601u32.to_be_bytes());
            assert_eq!(key[9], 0x65);
            assert_eq!(key.len(), 9 + 601);
            // AAC LC, 48 kHz (index 3), stereo.
            assert_eq!(&media[0].payload[2..], &[0x11, 0x90]);
            assert_eq!(media[1].payload.len(), 2 + 20);
            assert_eq!(media[2].payload.len(), 2 + 30);
            assert!(crate::flv::unsupported_video(key).is_none());
            assert!(crate::flv::unsupported_audio(&media[1].payload).is_none());
        }
    }

    #[test]
    fn a_step_back_across_the_wrap_right_after_the_first_timestamp_stays_small() {
        let mut d = Demuxer::new();
        assert_eq!(d.relative_ms(900), 0);
        // 1800 ticks (20 ms) earlier, across the 33-bit wrap: clamped to the start.
        assert_eq!(d.relative_ms((1 << 33) - 900), 0);
        assert_eq!(d.relative_ms(900 + 9000), 100);
        assert_eq!(d.relative_ms(900 + 90_000), 1000);
    }

    #[test]
    fn a_gap_in_the_continuity_counter_drops_the_unit_it_tore() {
        let mut s = ts_packet(0, true, 0, &pat());
        s.extend(ts_packet(0x100, true, 0, &pmt(&[(H264, 0x101)])));
        let mut idr = vec![0, 0, 0, 1];
        idr.extend_from_slice(SPS);
        idr.extend_from_slice(&[0, 0, 0, 1]);
        idr.extend_from_slice(PPS);
        idr.extend_from_slice(&[0, 0, 1, 0x65]);
        idr.extend(std::iter::repeat_n(0xAB, 600));
        let torn = packets(0x101, &pes(0xE0, 3000, Some(0), &idr, false));
        // The second of its four packets is lost.
        s.extend_from_slice(&torn[..PACKET]);
        s.extend_from_slice(&torn[2 * PACKET..]);
        let mut next = packets(0x101, &pes(0xE0, 6000, Some(3000), &idr, false));
        for (i, p) in next.chunks_mut(PACKET).enumerate() {
            p[3] = (p[3] & 0xF0) | ((4 + i as u8) & 0x0F);
        }
        s.extend(next);
        let out = demux_all(&s, 188);
        let keyframes = out
            .iter()
            .filter(|d| matches!(d, Demuxed::Media(m) if m.payload[..2] == [0x17, 1]))
            .count();
        assert_eq!(
            keyframes, 1,
            "the torn frame is dropped, the whole one kept"
        );
    }

    #[test]
    fn hevc_becomes_enhanced_rtmp_tags_with_its_configuration_record() {
        const VPS: &[u8] = &[0x40, 0x01, 0x0C, 0x01, 0xFF, 0xFF];
        // SPS: header, one sub-layer with nesting, then a profile_tier_level whose zero
        // constraint bytes carry an emulation prevention byte (00 00 03).
        const SPS: &[u8] = &[
            0x42, 0x01, 0x01, 0x01, 0x60, 0x00, 0x00, 0x00, 0x90, 0x00, 0x00, 0x03, 0x00, 0x00,
            0x00, 0x5D, 0xA0, 0x02,
        ];
        const PPS: &[u8] = &[0x44, 0x01, 0xC1, 0x72];
        let mut s = ts_packet(0, true, 0, &pat());
        s.extend(ts_packet(0x100, true, 0, &pmt(&[(HEVC, 0x101)])));
        let mut idr = Vec::new();
        for nal in [
            &[0x46, 0x01, 0x10][..],
            VPS,
            SPS,
            PPS,
            &[0x26, 0x01, 0xAF, 0x11],
        ] {
            idr.extend_from_slice(&[0, 0, 0, 1]);
            idr.extend_from_slice(nal);
        }
        s.extend(packets(0x101, &pes(0xE0, 9000, Some(6000), &idr, false)));
        let trail = [0u8, 0, 1, 0x02, 0x01, 0xD0];
        s.extend(packets(0x101, &pes(0xE0, 12000, Some(9000), &trail, false)));
        renumber(&mut s);
        let out = demux_all(&s, 1316);
        let bodies: Vec<&[u8]> = out
            .iter()
            .map(|d| match d {
                Demuxed::Media(m) => &m.payload[..],
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(bodies.len(), 3, "a sequence start and two frames");
        let config = bodies[0];
        assert_eq!(&config[..5], b"\x90hvc1");
        assert_eq!(config[5], 1, "configurationVersion");
        assert_eq!(
            &config[6..18],
            &[0x01, 0x60, 0, 0, 0, 0x90, 0, 0, 0, 0, 0, 0x5D],
            "profile, tier and level from the SPS, unescaped"
        );
        assert_eq!(config[26], (1 << 3) | (1 << 2) | 3);
        assert_eq!(config[27], 3, "VPS, SPS and PPS arrays");
        let key = bodies[1];
        assert_eq!(&key[..5], b"\x91hvc1");
        assert_eq!(&key[5..8], &[0, 0, 33], "composition offset 3000/90 ms");
        // AUD dropped; VPS, SPS, PPS kept in band before the IDR slice.
        let nal_kinds: Vec<u8> = {
            let mut at = 8;
            let mut kinds = Vec::new();
            while at + 4 < key.len() {
                let n = u32::from_be_bytes(key[at..at + 4].try_into().expect("4 bytes")) as usize;
                kinds.push((key[at + 4] >> 1) & 0x3F);
                at += 4 + n;
            }
            kinds
        };
        assert_eq!(nal_kinds, [32, 33, 34, 19]);
        assert_eq!(bodies[2][0], 0xA1, "an inter frame");
        let mkv = crate::mkv::video_packet(key).expect("enhanced");
        assert!(matches!(
            mkv,
            crate::mkv::VideoPacket::Frame {
                keyframe: true,
                cts_ms: 33,
                ..
            }
        ));
    }

    #[test]
    fn vvc_and_other_audio_are_named_once() {
        let mut s = ts_packet(0, true, 0, &pat());
        s.extend(ts_packet(
            0x100,
            true,
            0,
            &pmt(&[(0x33, 0x101), (AAC_ADTS, 0x102)]),
        ));
        s.extend(ts_packet(
            0x100,
            true,
            1,
            &pmt(&[(0x33, 0x101), (AAC_ADTS, 0x102)]),
        ));
        assert_eq!(
            demux_all(&s, 188),
            vec![Demuxed::Unsupported("VVC (H.266) video".into())]
        );
        let mut s = ts_packet(0, true, 0, &pat());
        s.extend(ts_packet(
            0x100,
            true,
            0,
            &pmt(&[(H264, 0x101), (0x03, 0x102)]),
        ));
        assert_eq!(
            demux_all(&s, 188),
            vec![Demuxed::Unsupported("MP3 or MP2 audio".into())]
        );
    }

    #[test]
    fn garbage_and_truncation_never_panic_and_stay_bounded() {
        let good = stream();
        let mut seed = 0x2545F4914F6CDD1Du64;
        for round in 0..400 {
            let mut bytes = good.clone();
            for _ in 0..(round % 40) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                let at = (seed as usize) % bytes.len();
                bytes[at] = (seed >> 32) as u8;
            }
            bytes.truncate(bytes.len() - (round % 200));
            let mut d = Demuxer::new();
            let mut out = Vec::new();
            d.push(&bytes, &mut out);
            d.finish(&mut out);
            assert!(d.partial.len() < PACKET);
        }
        // An endless unbounded PES is capped and dropped, not held.
        let mut d = Demuxer::new();
        let mut out = Vec::new();
        d.push(&ts_packet(0, true, 0, &pat()), &mut out);
        d.push(&ts_packet(0x100, true, 0, &pmt(&[(H264, 0x101)])), &mut out);
        d.push(
            &ts_packet(0x101, true, 0, &pes(0xE0, 0, None, &[0; 100], false)),
            &mut out,
        );
        for i in 0..(MAX_PES / 184 + 10) {
            d.push(&ts_packet(0x101, false, i as u8, &[0; 184]), &mut out);
        }
        assert!(d.video.buf.len() <= MAX_PES);
        d.finish(&mut out);
        assert!(out.is_empty());
    }
}
