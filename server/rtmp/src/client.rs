//! The bytes a publisher sends, for tests, fuzzing seeds and the hostile-client tests: a
//! handshake, commands and media on fixed chunk streams with the default chunk size.

use crate::amf0::{Encoder, Value};
use crate::chunk;

/// C0, C1 and C2 at once (the server does not check C2's content).
pub fn handshake() -> Vec<u8> {
    let mut b = vec![3];
    b.extend(std::iter::repeat_n(0u8, 1536 * 2));
    b
}

/// An AMF0 command on chunk stream 3.
pub fn command(stream_id: u32, values: &[Value]) -> Vec<u8> {
    let mut e = Encoder::default();
    for v in values {
        e.value(v);
    }
    let mut out = Vec::new();
    chunk::encode(
        &mut out,
        3,
        20,
        stream_id,
        &e.bytes,
        chunk::DEFAULT_CHUNK_SIZE,
    );
    out
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

/// `connect` to `app`.
pub fn connect(app: &str) -> Vec<u8> {
    command(
        0,
        &[
            s("connect"),
            Value::Number(1.0),
            Value::Object(vec![
                ("app".into(), s(app)),
                ("type".into(), s("nonprivate")),
                ("tcUrl".into(), s(&format!("rtmp://127.0.0.1/{app}"))),
            ]),
        ],
    )
}

/// `releaseStream`, `FCPublish`, `createStream` (stream 1 follows).
pub fn create_stream(key: &str) -> Vec<u8> {
    let mut b = command(
        0,
        &[s("releaseStream"), Value::Number(2.0), Value::Null, s(key)],
    );
    b.extend(command(
        0,
        &[s("FCPublish"), Value::Number(3.0), Value::Null, s(key)],
    ));
    b.extend(command(
        0,
        &[s("createStream"), Value::Number(4.0), Value::Null],
    ));
    b
}

/// `publish` of `key` on stream 1.
pub fn publish(key: &str) -> Vec<u8> {
    command(
        1,
        &[
            s("publish"),
            Value::Number(5.0),
            Value::Null,
            s(key),
            s("live"),
        ],
    )
}

/// Everything up to and including `publish`.
pub fn up_to_publish(app: &str, key: &str) -> Vec<u8> {
    let mut b = handshake();
    b.extend(connect(app));
    b.extend(create_stream(key));
    b.extend(publish(key));
    b
}

/// An audio (8) or video (9) message on stream 1.
pub fn media(type_id: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let csid = if type_id == 8 { 4 } else { 6 };
    chunk::encode(
        &mut out,
        csid,
        type_id,
        1,
        payload,
        chunk::DEFAULT_CHUNK_SIZE,
    );
    out
}

/// An audio (8), video (9) or data (18) message on stream 1 at `timestamp` ms.
pub fn media_at(type_id: u8, timestamp: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let csid = match type_id {
        8 => 4,
        9 => 6,
        _ => 5,
    };
    chunk::encode_at(
        &mut out,
        csid,
        type_id,
        1,
        timestamp,
        payload,
        chunk::DEFAULT_CHUNK_SIZE,
    );
    out
}

/// `deleteStream` of stream 1 (the publisher is done).
pub fn delete_stream() -> Vec<u8> {
    command(
        0,
        &[
            s("deleteStream"),
            Value::Number(6.0),
            Value::Null,
            Value::Number(1.0),
        ],
    )
}

/// The tags of an FLV file (type, timestamp, body); stops at the first malformed one.
pub fn flv_tags(file: &[u8]) -> Vec<(u8, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut at = 13;
    while let Some(h) = file.get(at..at + 11) {
        let size = u32::from_be_bytes([0, h[1], h[2], h[3]]) as usize;
        let ts = u32::from_be_bytes([h[7], h[4], h[5], h[6]]);
        let Some(body) = file.get(at + 11..at + 11 + size) else {
            break;
        };
        out.push((h[0] & 0x1F, ts, body.to_vec()));
        at += 11 + size + 4;
    }
    out
}

/// A type 0 chunk header on chunk stream `csid` (64 and above use the 3-byte form)
/// declaring a message of `length` bytes, with no payload: the shape of a memory attack.
pub fn bare_header(csid: u32, length: u32, type_id: u8) -> Vec<u8> {
    let mut out = if csid < 64 {
        vec![csid as u8]
    } else {
        let c = csid - 64;
        vec![1, (c & 0xFF) as u8, (c >> 8) as u8]
    };
    out.extend_from_slice(&[0, 0, 0]);
    out.extend_from_slice(&length.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&1u32.to_le_bytes());
    out
}
