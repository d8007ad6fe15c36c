//! Media tags from the ingest and the cache that lets an ffmpeg start (or restart) mid-stream:
//! the sequence headers and every tag since the latest video keyframe; and the container a
//! source's ffmpeg reads them in ([`Feed`]).

use bytes::Bytes;

use crate::media::flv::{self, TagKind};
use crate::media::mkv;

/// One FLV tag body with its timestamp, relative to the session's first tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTag {
    pub kind: TagKind,
    pub timestamp_ms: u32,
    pub body: Bytes,
}

impl MediaTag {
    /// A video keyframe (not a sequence header).
    pub fn is_keyframe(&self) -> bool {
        self.kind == TagKind::Video
            && flv::is_video_keyframe(&self.body)
            && !flv::is_video_sequence_header(&self.body)
    }

    /// The tag as FLV bytes.
    pub fn to_flv(&self) -> Bytes {
        flv::tag(self.kind, self.timestamp_ms, &self.body)
    }
}

/// Largest GOP kept (a broken encoder that never sends keyframes must not eat memory).
const MAX_GOP_BYTES: usize = 32 << 20;

/// Sequence headers and the current GOP.
#[derive(Debug, Default, Clone)]
pub struct GopCache {
    video_header: Option<MediaTag>,
    audio_header: Option<MediaTag>,
    gop: Vec<MediaTag>,
    bytes: usize,
    /// The timestamp of the first keyframe seen, and of the latest tag since.
    first_key_ms: Option<u32>,
    latest_ms: u32,
}

/// How long (media ms) a Matroska-fed stream waits after its first keyframe for the audio's
/// configuration: Matroska cannot add a track once written, and MPEG-TS muxers hold a few
/// hundred ms of audio before its first packet, so the video's keyframe arrives first.
const AUDIO_WAIT_MS: u32 = 1500;

impl GopCache {
    /// Takes in a tag.
    pub fn push(&mut self, tag: &MediaTag) {
        self.latest_ms = self.latest_ms.max(tag.timestamp_ms);
        match tag.kind {
            TagKind::Video if flv::is_video_sequence_header(&tag.body) => {
                self.video_header = Some(tag.clone())
            }
            TagKind::Audio if flv::is_audio_sequence_header(&tag.body) => {
                self.audio_header = Some(tag.clone())
            }
            TagKind::Script => {}
            _ if tag.is_keyframe() => {
                self.first_key_ms.get_or_insert(tag.timestamp_ms);
                self.gop.clear();
                self.bytes = 0;
                self.add(tag);
            }
            _ if !self.gop.is_empty() => self.add(tag),
            _ => {}
        }
    }

    fn add(&mut self, tag: &MediaTag) {
        self.bytes += tag.body.len();
        if self.bytes > MAX_GOP_BYTES {
            self.gop.clear();
            self.bytes = 0;
        } else {
            self.gop.push(tag.clone());
        }
    }

    /// Whether an ffmpeg can start: a video sequence header and a keyframe were seen (and,
    /// for a Matroska feed, the audio's configuration, or [`AUDIO_WAIT_MS`] without one: a
    /// stream without audio).
    pub fn ready(&self) -> bool {
        if self.video_header.is_none() || self.gop.is_empty() {
            return false;
        }
        if self.audio_header.is_some() || matches!(self.feed(), Feed::Flv) {
            return true;
        }
        self.first_key_ms
            .is_some_and(|first| self.latest_ms.saturating_sub(first) >= AUDIO_WAIT_MS)
    }

    /// Whether the stream has audio.
    pub fn has_audio(&self) -> bool {
        self.audio_header.is_some()
    }

    /// The container a starting ffmpeg reads this stream in: FLV for H.264 (what RTMP
    /// carries), Matroska for the Enhanced RTMP codecs ffmpeg 5.1 cannot read from FLV.
    pub fn feed(&self) -> Feed {
        let fourcc = self
            .video_header
            .as_ref()
            .filter(|h| h.body.first().is_some_and(|b| b & 0x80 != 0))
            .and_then(|h| h.body.get(1..5));
        match fourcc.and_then(mkv::video_codec_id) {
            Some(codec) => Feed::Matroska {
                codec,
                audio: self.has_audio(),
                writer: mkv::Writer::default(),
            },
            None => Feed::Flv,
        }
    }

    /// What a starting ffmpeg is fed in `feed`'s container: its header (with the sequence
    /// headers), then the current GOP.
    pub fn start_bytes(&self, feed: &mut Feed) -> Vec<Bytes> {
        match feed {
            Feed::Flv => {
                let mut out = vec![flv::header(self.has_audio(), true)];
                out.extend(
                    self.video_header
                        .iter()
                        .chain(self.audio_header.iter())
                        .map(MediaTag::to_flv),
                );
                out.extend(self.gop.iter().map(MediaTag::to_flv));
                out
            }
            Feed::Matroska { codec, .. } => {
                let codec = *codec;
                let private = match self
                    .video_header
                    .as_ref()
                    .and_then(|h| mkv::video_packet(&h.body))
                {
                    Some(mkv::VideoPacket::Config(record)) => record,
                    _ => &[],
                };
                let asc = self
                    .audio_header
                    .as_ref()
                    .and_then(|h| mkv::aac_packet(&h.body))
                    .map(|(_, asc)| asc);
                let mut out = vec![mkv::header(codec, private, asc)];
                out.extend(self.gop.iter().filter_map(|t| feed.tag(t)));
                out
            }
        }
    }

    /// The tags a newly started consumer needs before the live ones (headers, then GOP).
    pub fn tags(&self) -> Vec<MediaTag> {
        self.video_header
            .iter()
            .chain(self.audio_header.iter())
            .chain(self.gop.iter())
            .cloned()
            .collect()
    }
}

/// The container of one ffmpeg run's input, and the state its tags need.
#[derive(Debug, Clone)]
pub enum Feed {
    Flv,
    /// HEVC, AV1 or Enhanced AVC (Matroska codec id), with or without an AAC track.
    Matroska {
        codec: &'static str,
        audio: bool,
        writer: mkv::Writer,
    },
}

impl Feed {
    /// ffmpeg's name for the container (`-f`).
    pub fn format(&self) -> &'static str {
        match self {
            Feed::Flv => "flv",
            Feed::Matroska { .. } => "matroska",
        }
    }

    /// One live tag in this container (`None`: nothing to write, e.g. a sequence header
    /// after the start, or audio a Matroska stream started without).
    pub fn tag(&mut self, tag: &MediaTag) -> Option<Bytes> {
        let (audio, writer) = match self {
            Feed::Flv => return Some(tag.to_flv()),
            Feed::Matroska { audio, writer, .. } => (*audio, writer),
        };
        let ts = i64::from(tag.timestamp_ms);
        match tag.kind {
            TagKind::Video => match mkv::video_packet(&tag.body)? {
                mkv::VideoPacket::Frame {
                    keyframe,
                    cts_ms,
                    data,
                } => Some(writer.block(mkv::VIDEO_TRACK, ts + i64::from(cts_ms), keyframe, data)),
                _ => None,
            },
            TagKind::Audio if audio => match mkv::aac_packet(&tag.body)? {
                (false, frame) => Some(writer.block(mkv::AUDIO_TRACK, ts, true, frame)),
                (true, _) => None,
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(kind: TagKind, ts: u32, body: &[u8]) -> MediaTag {
        MediaTag {
            kind,
            timestamp_ms: ts,
            body: Bytes::copy_from_slice(body),
        }
    }

    #[test]
    fn keeps_headers_and_the_gop_since_the_last_keyframe() {
        let mut c = GopCache::default();
        c.push(&tag(TagKind::Video, 0, &[0x27, 1])); // inter frame before any keyframe: useless
        assert!(!c.ready());
        c.push(&tag(TagKind::Video, 0, &[0x17, 0, 0, 0, 0])); // AVC sequence header
        c.push(&tag(TagKind::Audio, 0, &[0xAF, 0, 0x12])); // AAC sequence header
        c.push(&tag(TagKind::Video, 0, &[0x17, 1])); // keyframe
        c.push(&tag(TagKind::Audio, 20, &[0xAF, 1]));
        c.push(&tag(TagKind::Video, 33, &[0x27, 1]));
        assert!(c.ready() && c.has_audio());
        assert_eq!(c.tags().len(), 5);
        c.push(&tag(TagKind::Video, 1000, &[0x17, 1])); // next keyframe starts a new GOP
        let ts: Vec<_> = c.tags().iter().map(|t| t.timestamp_ms).collect();
        assert_eq!(ts, [0, 0, 1000]);
        let mut feed = c.feed();
        assert_eq!(feed.format(), "flv");
        let bytes = c.start_bytes(&mut feed);
        assert_eq!(&bytes[0][..3], b"FLV");
        assert_eq!(bytes[0][4], 5, "audio and video flags");
    }

    #[test]
    fn a_matroska_feed_waits_for_the_audio_config_or_its_absence() {
        let mut c = GopCache::default();
        c.push(&tag(TagKind::Video, 0, b"\x90hvc1\x01")); // SequenceStart
        c.push(&tag(TagKind::Video, 0, b"\x91hvc1\0\0\0k")); // keyframe
        c.push(&tag(TagKind::Video, 33, b"\xA1hvc1\0\0\0p"));
        assert!(!c.ready(), "the audio's config may come after the keyframe");
        let mut with_audio = c.clone();
        with_audio.push(&tag(TagKind::Audio, 300, &[0xAF, 0, 0x12, 0x10]));
        assert!(with_audio.ready());
        c.push(&tag(TagKind::Video, 1466, b"\xA1hvc1\0\0\0p"));
        assert!(!c.ready());
        c.push(&tag(TagKind::Video, 1500, b"\xA1hvc1\0\0\0p"));
        assert!(c.ready(), "no audio after 1.5 s: a stream without audio");
        // FLV (H.264) starts at once, audio or not.
        let mut flv = GopCache::default();
        flv.push(&tag(TagKind::Video, 0, &[0x17, 0, 0, 0, 0]));
        flv.push(&tag(TagKind::Video, 0, &[0x17, 1]));
        assert!(flv.ready());
    }

    #[test]
    fn enhanced_hevc_is_fed_as_matroska() {
        let mut c = GopCache::default();
        c.push(&tag(TagKind::Video, 0, b"\x90hvc1\x01\x02")); // SequenceStart
        c.push(&tag(TagKind::Audio, 0, &[0xAF, 0, 0x12, 0x10]));
        c.push(&tag(TagKind::Video, 0, b"\x91hvc1\0\0\x21key")); // keyframe, cts 33
        c.push(&tag(TagKind::Audio, 20, &[0xAF, 1, 7]));
        assert!(c.ready());
        let mut feed = c.feed();
        assert_eq!(feed.format(), "matroska");
        let bytes = c.start_bytes(&mut feed);
        assert_eq!(bytes.len(), 3, "header, keyframe, audio frame");
        assert_eq!(&bytes[0][..4], &[0x1A, 0x45, 0xDF, 0xA3]);
        assert!(bytes[0].windows(16).any(|w| w == b"V_MPEGH/ISO/HEVC"));
        assert_eq!(
            &bytes[1][..4],
            &[0x1F, 0x43, 0xB6, 0x75],
            "a cluster at the keyframe"
        );
        // Sequence headers after the start write nothing; inter frames write a block.
        assert_eq!(feed.tag(&tag(TagKind::Video, 40, b"\x90hvc1\x01")), None);
        let inter = feed
            .tag(&tag(TagKind::Video, 66, b"\xA1hvc1\0\0\0p"))
            .expect("block");
        assert_eq!(inter[0], 0xA3);
    }
}
