//! What a publisher sends once accepted: audio and video messages (their payloads are FLV
//! tag bodies), `onMetaData` script data, and aggregate messages holding several FLV tags.

use bytes::Bytes;

use crate::amf0;
use crate::chunk::Message;

/// The kind of an FLV tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Audio,
    Video,
    Script,
}

/// One FLV tag body with the message's timestamp (milliseconds, as the publisher sent it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    pub kind: MediaKind,
    pub timestamp: u32,
    pub payload: Bytes,
}

/// The media in one message: none, one tag, or the tags of an aggregate.
pub(crate) fn from_message(msg: &Message, out: &mut Vec<Media>) {
    match msg.type_id {
        8 => push(out, MediaKind::Audio, msg.timestamp, msg.payload.clone()),
        9 => push(out, MediaKind::Video, msg.timestamp, msg.payload.clone()),
        15 => {
            // AMF3 data message: a format byte, then AMF0 in practice.
            if msg.payload.first() == Some(&0) {
                if let Some(m) = metadata(msg.payload.slice(1..), msg.timestamp) {
                    out.push(m);
                }
            }
        }
        18 => {
            if let Some(m) = metadata(msg.payload.clone(), msg.timestamp) {
                out.push(m);
            }
        }
        22 => aggregate(&msg.payload, msg.timestamp, out),
        _ => {}
    }
}

fn push(out: &mut Vec<Media>, kind: MediaKind, timestamp: u32, payload: Bytes) {
    if !payload.is_empty() {
        out.push(Media {
            kind,
            timestamp,
            payload,
        });
    }
}

/// `onMetaData` as an FLV script tag body; `@setDataFrame` (what encoders send over RTMP) is
/// stripped. Other script data (cue points, text) is dropped.
fn metadata(payload: Bytes, timestamp: u32) -> Option<Media> {
    let (first, used) = amf0::decode_one(&payload).ok()?;
    let body = match first.as_str()? {
        "@setDataFrame" => payload.slice(used..),
        "onMetaData" => payload,
        _ => return None,
    };
    let (name, _) = amf0::decode_one(&body).ok()?;
    (name.as_str() == Some("onMetaData")).then_some(Media {
        kind: MediaKind::Script,
        timestamp,
        payload: body,
    })
}

/// Splits an aggregate message: FLV tags (11-byte header, body, 4-byte back pointer) whose
/// timestamps are rebased onto the message's.
fn aggregate(payload: &Bytes, timestamp: u32, out: &mut Vec<Media>) {
    let mut at = 0usize;
    let mut first_ts: Option<u32> = None;
    while let Some(h) = payload.get(at..at + 11) {
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let Some(end) = (at + 11).checked_add(size) else {
            return;
        };
        if end + 4 > payload.len() {
            return;
        }
        let base = *first_ts.get_or_insert(ts);
        let ts = timestamp.wrapping_add(ts.wrapping_sub(base));
        let body = payload.slice(at + 11..end);
        match h[0] & 0x1F {
            8 => push(out, MediaKind::Audio, ts, body),
            9 => push(out, MediaKind::Video, ts, body),
            18 => {
                if let Some(m) = metadata(body, ts) {
                    out.push(m);
                }
            }
            _ => {}
        }
        at = end + 4;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(type_id: u8, timestamp: u32, payload: Vec<u8>) -> Message {
        Message {
            type_id,
            stream_id: 1,
            timestamp,
            payload: Bytes::from(payload),
        }
    }

    #[test]
    fn set_data_frame_becomes_an_on_metadata_tag() {
        let mut e = amf0::Encoder::default();
        e.string("@setDataFrame")
            .string("onMetaData")
            .object(&[("width", amf0::Value::Number(1920.0))]);
        let mut out = Vec::new();
        from_message(&msg(18, 5, e.bytes), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, MediaKind::Script);
        let v = amf0::decode_all(&out[0].payload).expect("amf");
        assert_eq!(v[0].as_str(), Some("onMetaData"));
        // Other script data is dropped.
        let mut e = amf0::Encoder::default();
        e.string("onCuePoint").null();
        let mut out = Vec::new();
        from_message(&msg(18, 5, e.bytes), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn aggregates_split_into_rebased_tags_and_stop_at_a_lie() {
        let mut p = Vec::new();
        for (kind, ts, body) in [(9u8, 100u32, &b"vid"[..]), (8, 133, b"au")] {
            p.push(kind);
            p.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
            p.extend_from_slice(&ts.to_be_bytes()[1..]);
            p.push((ts >> 24) as u8);
            p.extend_from_slice(&[0, 0, 0]);
            p.extend_from_slice(body);
            p.extend_from_slice(&(11 + body.len() as u32).to_be_bytes());
        }
        // A third tag that claims more than is there.
        p.extend_from_slice(&[9, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1]);
        let mut out = Vec::new();
        from_message(&msg(22, 1000, p), &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!((out[0].kind, out[0].timestamp), (MediaKind::Video, 1000));
        assert_eq!((out[1].kind, out[1].timestamp), (MediaKind::Audio, 1033));
        assert_eq!(&out[1].payload[..], b"au");
    }
}
