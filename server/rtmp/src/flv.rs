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

/// The video codec of a tag body, when the pipeline cannot take it (it takes H.264, and HEVC
/// and AV1 from Enhanced RTMP, which reach ffmpeg in Matroska): its name, for a refusal a publisher
/// can act on. Enhanced RTMP (OBS 30+ for HEVC and AV1) names the codec by FourCC after the
/// header byte; legacy FLV by the low nibble.
pub fn unsupported_video(body: &[u8]) -> Option<String> {
    let b = *body.first()?;
    if b & 0x80 != 0 {
        let fourcc = body.get(1..5)?;
        return match fourcc {
            b"avc1" | b"hvc1" | b"av01" => None,
            b"vp09" => Some("VP9 (Enhanced RTMP)".into()),
            other => Some(format!("an Enhanced RTMP codec '{}'", fourcc_text(other))),
        };
    }
    match b & 0x0F {
        7 => None,
        2 => Some("Sorenson H.263".into()),
        3 => Some("Screen Video".into()),
        4 | 5 => Some("On2 VP6".into()),
        6 => Some("Screen Video 2".into()),
        12 => Some("HEVC (H.265)".into()),
        id => Some(format!("FLV video codec {id}")),
    }
}

/// A FourCC as text a log or a page can show (anything but letters, digits, '-' and '.' as '?').
fn fourcc_text(fourcc: &[u8]) -> String {
    fourcc
        .iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' {
                c as char
            } else {
                '?'
            }
        })
        .collect()
}

/// The audio codec of a tag body, when it is not AAC: its name.
pub fn unsupported_audio(body: &[u8]) -> Option<String> {
    let b = *body.first()?;
    match b >> 4 {
        10 => None,
        9 => {
            // Enhanced RTMP audio: the FourCC follows.
            let fourcc = body.get(1..5)?;
            match fourcc {
                b"mp4a" => None,
                b"Opus" => Some("Opus (Enhanced RTMP)".into()),
                b"ac-3" => Some("AC-3 (Enhanced RTMP)".into()),
                b"ec-3" => Some("E-AC-3 (Enhanced RTMP)".into()),
                b"fLaC" => Some("FLAC (Enhanced RTMP)".into()),
                b".mp3" => Some("MP3 (Enhanced RTMP)".into()),
                other => Some(format!(
                    "an Enhanced RTMP audio codec '{}'",
                    fourcc_text(other)
                )),
            }
        }
        0 | 3 => Some("PCM".into()),
        1 => Some("ADPCM".into()),
        2 | 14 => Some("MP3".into()),
        4..=6 => Some("Nellymoser".into()),
        7 | 8 => Some("G.711".into()),
        11 => Some("Speex".into()),
        id => Some(format!("FLV audio codec {id}")),
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

    #[test]
    fn names_the_codecs_the_pipeline_cannot_take() {
        assert_eq!(unsupported_video(&[0x17, 0]), None, "H.264");
        assert_eq!(unsupported_video(&[0x90, b'a', b'v', b'c', b'1']), None);
        assert_eq!(unsupported_video(&[0x90, b'h', b'v', b'c', b'1', 0]), None);
        assert_eq!(unsupported_video(&[0x90, b'a', b'v', b'0', b'1']), None);
        assert_eq!(
            unsupported_video(&[0x90, b'v', b'p', b'0', b'9']).as_deref(),
            Some("VP9 (Enhanced RTMP)")
        );
        assert_eq!(
            unsupported_video(&[0x1C, 0]).as_deref(),
            Some("HEVC (H.265)")
        );
        assert_eq!(unsupported_video(&[0x90, b'x']), None, "too short to say");
        assert!(unsupported_video(&[0x90, 0xFF, b'"', 0, 1]).is_some_and(|n| n.ends_with("'????'")));
        assert_eq!(unsupported_audio(&[0xAF, 0]), None, "AAC");
        assert_eq!(unsupported_audio(&[0x2F]).as_deref(), Some("MP3"));
        assert_eq!(
            unsupported_audio(&[0x90, b'O', b'p', b'u', b's']).as_deref(),
            Some("Opus (Enhanced RTMP)")
        );
    }
}
