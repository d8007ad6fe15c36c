//! FLV muxing: RTMP delivers FLV tag bodies (see [`crate::media`]); ffmpeg reads an FLV
//! byte stream on stdin. A stream is the 9-byte header, then each tag (11-byte header, body,
//! 4-byte size of the previous tag).

use bytes::{BufMut, Bytes, BytesMut};

/// FLV tag types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagKind {
    Audio = 8,
    Video = 9,
    Script = 18,
}

/// The file header (with audio and video flags) followed by PreviousTagSize0.
pub fn header(has_audio: bool, has_video: bool) -> Bytes {
    let flags = (u8::from(has_audio) << 2) | u8::from(has_video);
    Bytes::from(vec![b'F', b'L', b'V', 1, flags, 0, 0, 0, 9, 0, 0, 0, 0])
}

/// One tag: header, body, and the trailing previous-tag-size.
pub fn tag(kind: TagKind, timestamp_ms: u32, body: &[u8]) -> Bytes {
    let len = body.len() as u32;
    let mut out = BytesMut::with_capacity(11 + body.len() + 4);
    out.put_u8(kind as u8);
    out.put_uint(u64::from(len & 0x00FF_FFFF), 3);
    out.put_uint(u64::from(timestamp_ms & 0x00FF_FFFF), 3);
    out.put_u8((timestamp_ms >> 24) as u8);
    out.put_uint(0, 3); // stream id
    out.put_slice(body);
    out.put_u32(11 + len);
    out.freeze()
}

/// Whether a video tag body is an H.264/AVC (or enhanced) keyframe.
pub fn is_video_keyframe(body: &[u8]) -> bool {
    body.first().is_some_and(|b| (b >> 4) & 0x07 == 1)
}

/// Whether a video tag body is a sequence header (AVC decoder configuration).
pub fn is_video_sequence_header(body: &[u8]) -> bool {
    match body.first() {
        // Enhanced RTMP: IsExHeader bit set, packet type 0 = SequenceStart.
        Some(b) if b & 0x80 != 0 => b & 0x0F == 0,
        // Legacy AVC: codec id 7 and AVCPacketType 0.
        Some(b) => b & 0x0F == 7 && body.get(1) == Some(&0),
        None => false,
    }
}

/// Whether an audio tag body is a sequence header (AAC AudioSpecificConfig).
pub fn is_audio_sequence_header(body: &[u8]) -> bool {
    match body.first() {
        Some(b) if b >> 4 == 9 => b & 0x0F == 0,
        Some(b) => b >> 4 == 10 && body.get(1) == Some(&0),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_and_tag_layout() {
        assert_eq!(
            &header(true, true)[..],
            &[b'F', b'L', b'V', 1, 5, 0, 0, 0, 9, 0, 0, 0, 0]
        );
        assert_eq!(header(false, true)[4], 1);
        let t = tag(TagKind::Video, 0x0102_0304, &[0x17, 0, 1, 2]);
        assert_eq!(t.len(), 11 + 4 + 4);
        assert_eq!(t[0], 9);
        assert_eq!(&t[1..4], &[0, 0, 4], "data size");
        assert_eq!(
            &t[4..8],
            &[0x02, 0x03, 0x04, 0x01],
            "timestamp low 24 bits then extension"
        );
        assert_eq!(
            &t[t.len() - 4..],
            &[0, 0, 0, 15],
            "previous tag size = 11 + body"
        );
    }

    #[test]
    fn recognises_keyframes_and_sequence_headers() {
        assert!(is_video_keyframe(&[0x17, 1]));
        assert!(!is_video_keyframe(&[0x27, 1]));
        assert!(is_video_sequence_header(&[0x17, 0, 0, 0, 0]));
        assert!(!is_video_sequence_header(&[0x17, 1]));
        assert!(is_audio_sequence_header(&[0xAF, 0]));
        assert!(!is_audio_sequence_header(&[0xAF, 1]));
    }
}
