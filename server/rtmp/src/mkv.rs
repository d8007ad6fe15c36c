//! A live Matroska writer for the video codecs the installed ffmpeg cannot read from FLV:
//! HEVC and AV1 (and AVC sent the Enhanced way) arrive as Enhanced RTMP tag bodies (from OBS over
//! RTMP, or from [`crate::mpegts`] for SRT) and leave as one Matroska stream ffmpeg reads on
//! stdin, with the same timestamps the FLV path keeps.
//!
//! Everything is written with unknown sizes (a Segment and Clusters that end where the next
//! Cluster starts), so nothing is buffered: a Cluster starts at every video keyframe (and when
//! a block's time would not fit its 16-bit offset), each frame is one SimpleBlock.
//!
//! Only what the pipeline needs is written: one video track, at most one AAC track, and
//! millisecond timestamps (the default `TimestampScale`).

use bytes::{BufMut, Bytes, BytesMut};

/// Matroska's element size for "unknown" (8-byte form, all value bits set).
const UNKNOWN_SIZE: [u8; 8] = [0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF];

const EBML: u32 = 0x1A45_DFA3;
const SEGMENT: u32 = 0x1853_8067;
const INFO: u32 = 0x1549_A966;
const TRACKS: u32 = 0x1654_AE6B;
const TRACK_ENTRY: u32 = 0xAE;
const CLUSTER: u32 = 0x1F43_B675;
const CLUSTER_TIMESTAMP: u32 = 0xE7;
const SIMPLE_BLOCK: u32 = 0xA3;

/// Video track number; audio is 2.
pub const VIDEO_TRACK: u8 = 1;
/// Audio track number.
pub const AUDIO_TRACK: u8 = 2;

/// The Matroska codec of an Enhanced RTMP video FourCC, when the pipeline takes it this way.
pub fn video_codec_id(fourcc: &[u8]) -> Option<&'static str> {
    match fourcc {
        b"hvc1" => Some("V_MPEGH/ISO/HEVC"),
        b"avc1" => Some("V_MPEG4/ISO/AVC"),
        b"av01" => Some("V_AV1"),
        _ => None,
    }
}

fn id(out: &mut BytesMut, id: u32) {
    let bytes = id.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count();
    out.extend_from_slice(&bytes[skip..]);
}

/// A size as an 8-byte EBML variable-length integer (simple and always enough here).
fn size(out: &mut BytesMut, n: usize) {
    out.put_u64(0x0100_0000_0000_0000 | n as u64);
}

fn element(out: &mut BytesMut, element: u32, body: &[u8]) {
    id(out, element);
    size(out, body.len());
    out.extend_from_slice(body);
}

fn uint(out: &mut BytesMut, element_id: u32, value: u64) {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|&&b| b == 0).count().min(7);
    element(out, element_id, &bytes[skip..]);
}

fn float(out: &mut BytesMut, element_id: u32, value: f64) {
    element(out, element_id, &value.to_be_bytes());
}

/// The AAC track's sample rate and channels from its AudioSpecificConfig (ffmpeg would
/// otherwise assume Matroska's default of 8 kHz until it decodes a frame).
fn aac_format(asc: &[u8]) -> Option<(f64, u64)> {
    const RATES: [u32; 13] = [
        96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350,
    ];
    let [a, b, ..] = *asc else { return None };
    let index = ((a & 0x07) << 1) | (b >> 7);
    let rate = RATES.get(usize::from(index))?;
    let channels = (b >> 3) & 0x0F;
    Some((f64::from(*rate), u64::from(channels.max(1))))
}

/// The stream's start: EBML header, Segment (unknown size), Info and Tracks. `video_private`
/// is the codec's configuration record (`hvcC`, `av1C`, `avcC`), `asc` the AAC
/// AudioSpecificConfig when the stream has audio.
pub fn header(codec_id: &str, video_private: &[u8], asc: Option<&[u8]>) -> Bytes {
    let mut out = BytesMut::with_capacity(256 + video_private.len());
    let mut ebml = BytesMut::new();
    uint(&mut ebml, 0x4286, 1); // EBMLVersion
    uint(&mut ebml, 0x42F7, 1); // EBMLReadVersion
    uint(&mut ebml, 0x42F2, 4); // EBMLMaxIDLength
    uint(&mut ebml, 0x42F3, 8); // EBMLMaxSizeLength
    element(&mut ebml, 0x4282, b"matroska"); // DocType
    uint(&mut ebml, 0x4287, 4); // DocTypeVersion
    uint(&mut ebml, 0x4285, 2); // DocTypeReadVersion
    element(&mut out, EBML, &ebml);

    id(&mut out, SEGMENT);
    out.extend_from_slice(&UNKNOWN_SIZE);
    let mut info = BytesMut::new();
    uint(&mut info, 0x2A_D7B1, 1_000_000); // TimestampScale: milliseconds
    element(&mut info, 0x4D80, b"livepro"); // MuxingApp
    element(&mut info, 0x5741, b"livepro"); // WritingApp
    element(&mut out, INFO, &info);

    let mut tracks = BytesMut::new();
    let mut video = BytesMut::new();
    uint(&mut video, 0xD7, u64::from(VIDEO_TRACK)); // TrackNumber
    uint(&mut video, 0x73C5, u64::from(VIDEO_TRACK)); // TrackUID
    uint(&mut video, 0x83, 1); // TrackType: video
    uint(&mut video, 0x9C, 0); // FlagLacing
    element(&mut video, 0x86, codec_id.as_bytes()); // CodecID
    if !video_private.is_empty() {
        element(&mut video, 0x63A2, video_private); // CodecPrivate
    }
    element(&mut tracks, TRACK_ENTRY, &video);
    if let Some(asc) = asc {
        let mut audio = BytesMut::new();
        uint(&mut audio, 0xD7, u64::from(AUDIO_TRACK));
        uint(&mut audio, 0x73C5, u64::from(AUDIO_TRACK));
        uint(&mut audio, 0x83, 2); // TrackType: audio
        uint(&mut audio, 0x9C, 0);
        element(&mut audio, 0x86, b"A_AAC");
        element(&mut audio, 0x63A2, asc);
        if let Some((rate, channels)) = aac_format(asc) {
            let mut format = BytesMut::new();
            float(&mut format, 0xB5, rate); // SamplingFrequency
            uint(&mut format, 0x9F, channels); // Channels
            element(&mut audio, 0xE1, &format); // Audio
        }
        element(&mut tracks, TRACK_ENTRY, &audio);
    }
    element(&mut out, TRACKS, &tracks);
    out.freeze()
}

/// The Clusters after the header: one SimpleBlock per frame.
#[derive(Debug, Default, Clone)]
pub struct Writer {
    /// The current Cluster's timestamp (ms).
    cluster: Option<i64>,
}

impl Writer {
    /// A frame of `track` presented at `pts_ms`: its block, after a new Cluster when a video
    /// keyframe starts one or the offset from the current Cluster would not fit 16 bits.
    pub fn block(&mut self, track: u8, pts_ms: i64, keyframe: bool, data: &[u8]) -> Bytes {
        let mut out = BytesMut::with_capacity(32 + data.len());
        let fits = |c: i64| (i64::from(i16::MIN)..=i64::from(i16::MAX)).contains(&(pts_ms - c));
        let start = match self.cluster {
            None => true,
            Some(c) => (keyframe && track == VIDEO_TRACK) || !fits(c),
        };
        if start {
            let at = pts_ms.max(0);
            id(&mut out, CLUSTER);
            out.extend_from_slice(&UNKNOWN_SIZE);
            uint(&mut out, CLUSTER_TIMESTAMP, at as u64);
            self.cluster = Some(at);
        }
        let cluster = self.cluster.unwrap_or_default();
        let offset = (pts_ms - cluster).clamp(i64::from(i16::MIN), i64::from(i16::MAX)) as i16;
        id(&mut out, SIMPLE_BLOCK);
        size(&mut out, 4 + data.len());
        out.put_u8(0x80 | track); // track number as a 1-byte vint
        out.put_i16(offset);
        out.put_u8(if keyframe { 0x80 } else { 0 });
        out.extend_from_slice(data);
        out.freeze()
    }
}

/// One Enhanced RTMP video tag body, read: what a [`Writer`] needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoPacket<'a> {
    /// The codec configuration record (`hvcC`, `av1C`, `vpcC`).
    Config(&'a [u8]),
    /// A frame with its composition offset (ms).
    Frame {
        keyframe: bool,
        cts_ms: i32,
        data: &'a [u8],
    },
    /// Anything else (sequence end, metadata, multitrack): nothing to write.
    Other,
}

/// Reads an Enhanced RTMP video tag body (`None` if it is not one).
pub fn video_packet(body: &[u8]) -> Option<VideoPacket<'_>> {
    let first = *body.first()?;
    if first & 0x80 == 0 {
        return None;
    }
    let fourcc = body.get(1..5)?;
    let keyframe = (first >> 4) & 0x07 == 1;
    Some(match first & 0x0F {
        0 => VideoPacket::Config(&body[5..]),
        // CodedFrames: HEVC and AVC carry a 24-bit composition offset, the others none.
        1 if fourcc == b"hvc1" || fourcc == b"avc1" => {
            let c = body.get(5..8)?;
            let cts = i32::from_be_bytes([c[0], c[1], c[2], 0]) >> 8;
            VideoPacket::Frame {
                keyframe,
                cts_ms: cts,
                data: &body[8..],
            }
        }
        // CodedFramesX (offset zero), or CodedFrames of a codec without one.
        1 | 3 => VideoPacket::Frame {
            keyframe,
            cts_ms: 0,
            data: &body[5..],
        },
        _ => VideoPacket::Other,
    })
}

/// The AAC payload of an FLV audio tag body (legacy `0xAF` or Enhanced `mp4a`): `Ok(true, ..)`
/// for the AudioSpecificConfig, `Ok(false, ..)` for a raw frame.
pub fn aac_packet(body: &[u8]) -> Option<(bool, &[u8])> {
    let first = *body.first()?;
    match first >> 4 {
        10 => Some((*body.get(1)? == 0, body.get(2..)?)),
        9 if body.get(1..5)? == b"mp4a" => match first & 0x0F {
            0 => Some((true, &body[5..])),
            1 => Some((false, &body[5..])),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads an EBML element at `at`: (id, size or None for unknown, header length).
    fn read(b: &[u8], at: usize) -> (u32, Option<u64>, usize) {
        let id_len = b[at].leading_zeros() as usize + 1;
        let mut eid = 0u32;
        for &x in &b[at..at + id_len] {
            eid = (eid << 8) | u32::from(x);
        }
        let s = at + id_len;
        let size_len = b[s].leading_zeros() as usize + 1;
        let mut v = u64::from(b[s]) & (0xFF >> size_len);
        for &x in &b[s + 1..s + size_len] {
            v = (v << 8) | u64::from(x);
        }
        let unknown = v == (1u64 << (7 * size_len)) - 1;
        (eid, (!unknown).then_some(v), id_len + size_len)
    }

    #[test]
    fn header_is_ebml_then_an_open_segment_with_tracks() {
        let h = header("V_MPEGH/ISO/HEVC", &[1, 2, 3], Some(&[0x12, 0x10]));
        let (eid, len, hl) = read(&h, 0);
        assert_eq!(eid, EBML);
        let at = hl + len.expect("sized") as usize;
        let (eid, len, hl) = read(&h, at);
        assert_eq!((eid, len), (SEGMENT, None));
        let mut at = at + hl;
        let mut seen = Vec::new();
        while at < h.len() {
            let (eid, len, hl) = read(&h, at);
            seen.push(eid);
            at += hl + len.expect("sized") as usize;
        }
        assert_eq!(seen, [INFO, TRACKS]);
        assert_eq!(at, h.len());
        let text = String::from_utf8_lossy(&h);
        assert!(text.contains("V_MPEGH/ISO/HEVC") && text.contains("A_AAC"));
        // 44.1 kHz stereo AAC-LC.
        assert_eq!(aac_format(&[0x12, 0x10]), Some((44100.0, 2)));
    }

    #[test]
    fn clusters_start_at_keyframes_and_when_offsets_would_overflow() {
        let mut w = Writer::default();
        let first = w.block(VIDEO_TRACK, 1000, true, b"key");
        assert_eq!(read(&first, 0).0, CLUSTER);
        let audio = w.block(AUDIO_TRACK, 1010, false, b"aac");
        let (eid, len, hl) = read(&audio, 0);
        assert_eq!((eid, len), (SIMPLE_BLOCK, Some(7)));
        assert_eq!(&audio[hl..hl + 4], &[0x82, 0, 10, 0]);
        // A B-frame presented before the cluster start: a negative offset.
        let b = w.block(VIDEO_TRACK, 990, false, b"b");
        let (_, _, hl) = read(&b, 0);
        assert_eq!(i16::from_be_bytes([b[hl + 1], b[hl + 2]]), -10);
        assert_eq!(read(&w.block(VIDEO_TRACK, 1033, true, b"k"), 0).0, CLUSTER);
        // 40 s of audio without a keyframe: a new cluster before the offset overflows.
        assert_eq!(
            read(&w.block(AUDIO_TRACK, 41_033, false, b"a"), 0).0,
            CLUSTER
        );
    }

    #[test]
    fn enhanced_rtmp_video_and_aac_bodies_are_read() {
        let mut seq = vec![0x90, b'h', b'v', b'c', b'1'];
        seq.extend_from_slice(&[1, 2, 3]);
        assert_eq!(video_packet(&seq), Some(VideoPacket::Config(&[1, 2, 3])));
        let frame = [0x91, b'h', b'v', b'c', b'1', 0xFF, 0xFF, 0xDE, 9, 9];
        assert_eq!(
            video_packet(&frame),
            Some(VideoPacket::Frame {
                keyframe: true,
                cts_ms: -34,
                data: &[9, 9]
            })
        );
        let x = [0xA3, b'a', b'v', b'0', b'1', 7];
        assert_eq!(
            video_packet(&x),
            Some(VideoPacket::Frame {
                keyframe: false,
                cts_ms: 0,
                data: &[7]
            })
        );
        assert_eq!(video_packet(&[0x17, 1, 0, 0, 0]), None);
        assert_eq!(video_packet(&[0x91, b'h']), None);
        assert_eq!(
            aac_packet(&[0xAF, 0, 0x12, 0x10]),
            Some((true, &[0x12, 0x10][..]))
        );
        assert_eq!(aac_packet(&[0xAF, 1, 5]), Some((false, &[5][..])));
        assert_eq!(aac_packet(&[0x2F, 1, 5]), None);
    }
}
