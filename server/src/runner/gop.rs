//! Media tags from the ingest and the cache that lets an ffmpeg start (or restart) mid-stream:
//! the sequence headers and every tag since the latest video keyframe.

use bytes::Bytes;

use crate::media::flv::{self, TagKind};

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
}

impl GopCache {
    /// Takes in a tag.
    pub fn push(&mut self, tag: &MediaTag) {
        match tag.kind {
            TagKind::Video if flv::is_video_sequence_header(&tag.body) => {
                self.video_header = Some(tag.clone())
            }
            TagKind::Audio if flv::is_audio_sequence_header(&tag.body) => {
                self.audio_header = Some(tag.clone())
            }
            TagKind::Script => {}
            _ if tag.is_keyframe() => {
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

    /// Whether an ffmpeg can start: a video sequence header and a keyframe were seen.
    pub fn ready(&self) -> bool {
        self.video_header.is_some() && !self.gop.is_empty()
    }

    /// Whether the stream has audio.
    pub fn has_audio(&self) -> bool {
        self.audio_header.is_some()
    }

    /// What a starting ffmpeg is fed: FLV header, sequence headers, the current GOP.
    pub fn start_bytes(&self) -> Vec<Bytes> {
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
        let bytes = c.start_bytes();
        assert_eq!(&bytes[0][..3], b"FLV");
        assert_eq!(bytes[0][4], 5, "audio and video flags");
    }
}
