//! The RTMP chunk stream: messages are cut into chunks and interleaved by chunk stream id.
//! [`Decoder`] reassembles them from bytes as they arrive, holding only what has arrived: a
//! declared message length is checked against the limit and never used to allocate, the
//! number of chunk streams is capped, and the bytes held across unfinished messages are
//! capped. [`encode`] cuts our own (small) messages.

use bytes::Bytes;

use crate::ProtocolError;

/// A whole message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub type_id: u8,
    pub stream_id: u32,
    pub timestamp: u32,
    pub payload: Bytes,
}

/// What the decoder may hold; changed when a publisher is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Distinct chunk stream ids tracked.
    pub chunk_streams: usize,
    /// Largest message.
    pub message: usize,
    /// Bytes held across all unfinished messages.
    pub buffered: usize,
}

/// A message in progress grows from this, then doubles, never past its declared length.
const FIRST_CAPACITY: usize = 128;
/// The chunk size before the peer sets one.
pub const DEFAULT_CHUNK_SIZE: usize = 128;
/// Largest chunk size a peer may set (the spec's 31 bits would also do; nothing needs more).
pub const MAX_CHUNK_SIZE: usize = 1 << 24;

#[derive(Debug)]
struct ChunkStream {
    csid: u32,
    timestamp: u32,
    /// The last timestamp field (absolute for type 0, else a delta), reused by type 3.
    ts_field: u32,
    /// The last header carried an extended timestamp, so type 3 chunks repeat it.
    extended: bool,
    length: usize,
    type_id: u8,
    stream_id: u32,
    /// The message being received, and how much of it is here.
    partial: Option<Vec<u8>>,
}

#[derive(Debug, Clone, Copy)]
enum State {
    /// Reading a chunk header into `header`.
    Header,
    /// Reading `left` payload bytes of the current chunk of chunk stream `index`.
    Payload { index: usize, left: usize },
}

/// Reassembles messages from chunks.
#[derive(Debug)]
pub struct Decoder {
    streams: Vec<ChunkStream>,
    chunk_size: usize,
    bounds: Bounds,
    buffered: usize,
    state: State,
    header: [u8; 18],
    header_len: usize,
}

impl Decoder {
    /// A decoder with the default chunk size.
    pub fn new(bounds: Bounds) -> Self {
        Self {
            streams: Vec::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            bounds,
            buffered: 0,
            state: State::Header,
            header: [0; 18],
            header_len: 0,
        }
    }

    /// The peer's chunk size changed.
    pub fn set_chunk_size(&mut self, size: usize) -> Result<(), ProtocolError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ProtocolError::BadChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// New limits (checked from the next chunk on).
    pub fn set_bounds(&mut self, bounds: Bounds) {
        self.bounds = bounds;
    }

    /// Bytes held in unfinished messages (their capacity, which is what memory costs).
    pub fn held(&self) -> usize {
        self.streams
            .iter()
            .filter_map(|s| s.partial.as_ref().map(Vec::capacity))
            .sum()
    }

    /// Drops the unfinished message of a chunk stream (the peer's Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(s) = self.streams.iter_mut().find(|s| s.csid == csid) {
            if let Some(p) = s.partial.take() {
                self.buffered -= p.len();
            }
            if let State::Payload { index, .. } = self.state {
                if self.streams.get(index).is_some_and(|s| s.csid == csid) {
                    self.state = State::Header;
                }
            }
        }
    }

    /// Consumes bytes from `input` until one message is complete (returned) or the input is
    /// used up (`None`). Call again with the rest of the input.
    pub fn decode(&mut self, input: &mut &[u8]) -> Result<Option<Message>, ProtocolError> {
        loop {
            match self.state {
                State::Header => {
                    let Some(needed) = self.header_needed() else {
                        // Not even the first byte yet.
                        if input.is_empty() {
                            return Ok(None);
                        }
                        self.push_header_byte(input);
                        continue;
                    };
                    if self.header_len < needed {
                        if input.is_empty() {
                            return Ok(None);
                        }
                        self.push_header_byte(input);
                        continue;
                    }
                    // The full header is here (the first pass may learn the extended timestamp
                    // is needed, which makes `needed` grow by four).
                    if let Some(msg) = self.start_chunk()? {
                        return Ok(Some(msg));
                    }
                }
                State::Payload { index, left } => {
                    if input.is_empty() {
                        return Ok(None);
                    }
                    let n = left.min(input.len());
                    let (piece, rest) = input.split_at(n);
                    *input = rest;
                    if self.buffered + n > self.bounds.buffered {
                        return Err(ProtocolError::TooMuchBuffered(self.bounds.buffered));
                    }
                    let stream = &mut self.streams[index];
                    let Some(partial) = stream.partial.as_mut() else {
                        return Err(ProtocolError::Internal("payload without a message"));
                    };
                    grow(partial, stream.length, n);
                    partial.extend_from_slice(piece);
                    self.buffered += n;
                    let left = left - n;
                    if left > 0 {
                        self.state = State::Payload { index, left };
                        continue;
                    }
                    self.state = State::Header;
                    self.header_len = 0;
                    if let Some(msg) = self.finish_if_complete(index) {
                        return Ok(Some(msg));
                    }
                }
            }
        }
    }

    fn push_header_byte(&mut self, input: &mut &[u8]) {
        self.header[self.header_len] = input[0];
        self.header_len += 1;
        *input = &input[1..];
    }

    /// Header bytes needed, from what is known so far.
    fn header_needed(&self) -> Option<usize> {
        if self.header_len == 0 {
            return None;
        }
        let first = self.header[0];
        let basic = match first & 0x3F {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let fmt = first >> 6;
        let message = [11, 7, 3, 0][usize::from(fmt)];
        let base = basic + message;
        if self.header_len < base {
            return Some(base);
        }
        let extended = if fmt == 3 {
            let csid = self.csid(basic);
            self.streams
                .iter()
                .find(|s| s.csid == csid)
                .is_some_and(|s| s.extended)
        } else {
            let t = &self.header[basic..basic + 3];
            t == [0xFF, 0xFF, 0xFF]
        };
        Some(base + if extended { 4 } else { 0 })
    }

    fn csid(&self, basic: usize) -> u32 {
        let h = &self.header;
        match basic {
            2 => 64 + u32::from(h[1]),
            3 => 64 + u32::from(h[1]) + 256 * u32::from(h[2]),
            _ => u32::from(h[0] & 0x3F),
        }
    }

    /// Applies a complete chunk header; an empty message completes at once.
    fn start_chunk(&mut self) -> Result<Option<Message>, ProtocolError> {
        let h = self.header;
        let fmt = h[0] >> 6;
        let basic = match h[0] & 0x3F {
            0 => 2,
            1 => 3,
            _ => 1,
        };
        let csid = self.csid(basic);
        let m = &h[basic..];
        let be24 = |b: &[u8]| u32::from_be_bytes([0, b[0], b[1], b[2]]);
        let index = match self.streams.iter().position(|s| s.csid == csid) {
            Some(i) => i,
            None => {
                if fmt > 1 {
                    return Err(ProtocolError::NoPreviousHeader(csid));
                }
                if self.streams.len() >= self.bounds.chunk_streams {
                    return Err(ProtocolError::TooManyChunkStreams(
                        self.bounds.chunk_streams,
                    ));
                }
                self.streams.push(ChunkStream {
                    csid,
                    timestamp: 0,
                    ts_field: 0,
                    extended: false,
                    length: 0,
                    type_id: 0,
                    stream_id: 0,
                    partial: None,
                });
                self.streams.len() - 1
            }
        };
        let stream = &mut self.streams[index];
        let continuing = stream.partial.is_some();
        if continuing && fmt != 3 {
            return Err(ProtocolError::InterruptedMessage(csid));
        }
        if fmt < 3 {
            let field = be24(&m[0..3]);
            let extended = field == 0xFF_FFFF;
            let message_header = [11, 7, 3][usize::from(fmt)];
            let ts = if extended {
                let e = &m[message_header..message_header + 4];
                u32::from_be_bytes([e[0], e[1], e[2], e[3]])
            } else {
                field
            };
            stream.extended = extended;
            stream.ts_field = ts;
            if fmt == 0 {
                stream.timestamp = ts;
            } else {
                stream.timestamp = stream.timestamp.wrapping_add(ts);
            }
            if fmt <= 1 {
                stream.length = be24(&m[3..6]) as usize;
                stream.type_id = m[6];
            }
            if fmt == 0 {
                stream.stream_id = u32::from_le_bytes([m[7], m[8], m[9], m[10]]);
            }
        } else if !continuing {
            if stream.length == 0 && stream.type_id == 0 {
                return Err(ProtocolError::NoPreviousHeader(csid));
            }
            stream.timestamp = stream.timestamp.wrapping_add(stream.ts_field);
        }
        if !continuing {
            if stream.length > self.bounds.message {
                return Err(ProtocolError::MessageTooLarge {
                    declared: stream.length,
                    limit: self.bounds.message,
                });
            }
            stream.partial = Some(Vec::with_capacity(stream.length.min(FIRST_CAPACITY)));
        }
        let have = stream.partial.as_ref().map_or(0, Vec::len);
        let left = (stream.length - have).min(self.chunk_size);
        self.header_len = 0;
        if left == 0 {
            self.state = State::Header;
            return Ok(self.finish_if_complete(index));
        }
        self.state = State::Payload { index, left };
        Ok(None)
    }

    fn finish_if_complete(&mut self, index: usize) -> Option<Message> {
        let stream = &mut self.streams[index];
        let have = stream.partial.as_ref().map_or(0, Vec::len);
        if have < stream.length {
            return None;
        }
        let payload = stream.partial.take().unwrap_or_default();
        self.buffered -= payload.len();
        Some(Message {
            type_id: stream.type_id,
            stream_id: stream.stream_id,
            timestamp: stream.timestamp,
            payload: Bytes::from(payload),
        })
    }
}

/// Makes room for `n` more bytes, doubling but never past the declared `length`.
fn grow(buf: &mut Vec<u8>, length: usize, n: usize) {
    let need = buf.len() + n;
    if need <= buf.capacity() {
        return;
    }
    let target = need.max(buf.capacity() * 2).min(length).max(need);
    buf.reserve_exact(target - buf.len());
}

/// Appends `payload` as chunks (type 0, then type 3) on chunk stream `csid` (2..=63).
pub fn encode(
    out: &mut Vec<u8>,
    csid: u8,
    type_id: u8,
    stream_id: u32,
    payload: &[u8],
    chunk_size: usize,
) {
    encode_at(out, csid, type_id, stream_id, 0, payload, chunk_size);
}

/// Like [`encode`], with a timestamp (milliseconds; extended past 24 bits).
pub fn encode_at(
    out: &mut Vec<u8>,
    csid: u8,
    type_id: u8,
    stream_id: u32,
    timestamp: u32,
    payload: &[u8],
    chunk_size: usize,
) {
    let csid = csid & 0x3F;
    let extended = timestamp >= 0xFF_FFFF;
    out.push(csid);
    let field = if extended { 0xFF_FFFF } else { timestamp };
    out.extend_from_slice(&field.to_be_bytes()[1..]);
    let len = payload.len() as u32;
    out.extend_from_slice(&len.to_be_bytes()[1..]);
    out.push(type_id);
    out.extend_from_slice(&stream_id.to_le_bytes());
    if extended {
        out.extend_from_slice(&timestamp.to_be_bytes());
    }
    for (i, piece) in payload.chunks(chunk_size.max(1)).enumerate() {
        if i > 0 {
            out.push(0xC0 | csid);
            if extended {
                out.extend_from_slice(&timestamp.to_be_bytes());
            }
        }
        out.extend_from_slice(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Bounds = Bounds {
        chunk_streams: 8,
        message: 1 << 20,
        buffered: 1 << 20,
    };

    fn all(d: &mut Decoder, mut input: &[u8]) -> Result<Vec<Message>, ProtocolError> {
        let mut out = Vec::new();
        while let Some(m) = d.decode(&mut input)? {
            out.push(m);
        }
        assert!(input.is_empty());
        Ok(out)
    }

    #[test]
    fn reassembles_interleaved_chunks_byte_by_byte() {
        let mut bytes = Vec::new();
        let big: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        encode(&mut bytes, 4, 9, 1, &big, 128);
        encode(&mut bytes, 5, 8, 1, b"audio", 128);
        let mut d = Decoder::new(WIDE);
        let mut got = Vec::new();
        for b in &bytes {
            let mut one: &[u8] = std::slice::from_ref(b);
            if let Some(m) = d.decode(&mut one).expect("valid") {
                got.push(m);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(&got[0].payload[..], &big[..]);
        assert_eq!(got[0].type_id, 9);
        assert_eq!(got[0].stream_id, 1);
        assert_eq!(&got[1].payload[..], b"audio");
        assert_eq!(d.held(), 0);
    }

    #[test]
    fn timestamps_follow_deltas_and_extended_fields() {
        // Type 0 at 1000, type 2 with delta 33, then type 3 (same delta again).
        let mut b = vec![0x04, 0x00, 0x03, 0xE8, 0, 0, 1, 9, 1, 0, 0, 0, 0xAA];
        b.extend_from_slice(&[0x84, 0, 0, 33, 0xBB]);
        b.extend_from_slice(&[0xC4, 0xCC]);
        // Type 0 with an extended timestamp; its type 3 continuation repeats it.
        b.extend_from_slice(&[0x06, 0xFF, 0xFF, 0xFF, 0, 0, 130, 8, 1, 0, 0, 0]);
        b.extend_from_slice(&0x0100_0000u32.to_be_bytes());
        b.extend_from_slice(&[1; 128]);
        b.push(0xC6);
        b.extend_from_slice(&0x0100_0000u32.to_be_bytes());
        b.extend_from_slice(&[2, 2]);
        let msgs = all(&mut Decoder::new(WIDE), &b).expect("valid");
        let ts: Vec<u32> = msgs.iter().map(|m| m.timestamp).collect();
        assert_eq!(ts, vec![1000, 1033, 1066, 0x0100_0000]);
        assert_eq!(msgs[3].payload.len(), 130);
        assert_eq!(msgs[3].payload[129], 2);
    }

    #[test]
    fn extended_timestamps_round_trip() {
        let mut b = Vec::new();
        let payload = vec![7u8; 300];
        encode_at(&mut b, 6, 9, 1, 0x0123_4567, &payload, 128);
        encode_at(&mut b, 6, 9, 1, 40, b"x", 128);
        let msgs = all(&mut Decoder::new(WIDE), &b).expect("valid");
        assert_eq!(msgs[0].timestamp, 0x0123_4567);
        assert_eq!(msgs[0].payload.len(), 300);
        assert_eq!(msgs[1].timestamp, 40);
    }

    #[test]
    fn declared_lengths_are_checked_not_allocated() {
        // 16 MiB declared on a fresh chunk stream, one byte sent.
        let bounds = Bounds {
            chunk_streams: 8,
            message: 16 << 10,
            buffered: 32 << 10,
        };
        let hdr = [0x04, 0, 0, 0, 0xFF, 0xFF, 0xFF, 9, 1, 0, 0, 0, 0];
        let err = all(&mut Decoder::new(bounds), &hdr).expect_err("too large");
        assert!(matches!(err, ProtocolError::MessageTooLarge { .. }));
        // Within the limit: memory follows what arrives, not what is declared.
        let mut d = Decoder::new(bounds);
        let hdr = [0x04, 0, 0, 0, 0, 0x3F, 0xFF, 9, 1, 0, 0, 0, 7];
        assert!(all(&mut d, &hdr).expect("valid").is_empty());
        assert!(d.held() <= FIRST_CAPACITY, "held {}", d.held());
    }

    #[test]
    fn chunk_streams_and_buffered_bytes_are_capped() {
        let bounds = Bounds {
            chunk_streams: 3,
            message: 4096,
            buffered: 1000,
        };
        let mut d = Decoder::new(bounds);
        let mut b = Vec::new();
        for csid in 2..6u8 {
            b.extend_from_slice(&[csid, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 1]);
        }
        let err = all(&mut d, &b).expect_err("too many");
        assert_eq!(err, ProtocolError::TooManyChunkStreams(3));
        // Three streams each holding part of a message: the total is capped.
        let mut d = Decoder::new(bounds);
        let mut b = Vec::new();
        for csid in 2..5u8 {
            b.extend_from_slice(&[csid, 0, 0, 0, 0, 0x10, 0, 9, 1, 0, 0, 0]);
            b.extend_from_slice(&[0; 128]);
            for _ in 0..2 {
                b.push(0xC0 | csid);
                b.extend_from_slice(&[0; 128]);
            }
        }
        let err = all(&mut d, &b).expect_err("too much");
        assert_eq!(err, ProtocolError::TooMuchBuffered(1000));
    }

    #[test]
    fn three_byte_chunk_stream_ids_and_protocol_violations() {
        // csid 64 + 1 + 256 * 2 = 577 through the three-byte form.
        let b = [0x01, 1, 2, 0, 0, 0, 0, 0, 1, 20, 0, 0, 0, 0, 0x05];
        let m = all(&mut Decoder::new(WIDE), &b).expect("valid");
        assert_eq!(m[0].payload[..], [0x05]);
        // Type 3 on an unknown chunk stream.
        let err = all(&mut Decoder::new(WIDE), &[0xC7, 1]).expect_err("no header");
        assert_eq!(err, ProtocolError::NoPreviousHeader(7));
        // A new header while a message is half received.
        let mut b = vec![0x04, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0];
        b.extend_from_slice(&[0; 128]);
        b.extend_from_slice(&[0x04, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 1]);
        let err = all(&mut Decoder::new(WIDE), &b).expect_err("interrupted");
        assert_eq!(err, ProtocolError::InterruptedMessage(4));
        // Chunk sizes out of range.
        assert!(Decoder::new(WIDE).set_chunk_size(0).is_err());
        assert!(Decoder::new(WIDE)
            .set_chunk_size(MAX_CHUNK_SIZE + 1)
            .is_err());
    }

    #[test]
    fn an_aborted_message_frees_its_bytes() {
        let mut d = Decoder::new(WIDE);
        let mut b = vec![0x04, 0, 0, 0, 0, 1, 0, 9, 1, 0, 0, 0];
        b.extend_from_slice(&[0; 128]);
        assert!(all(&mut d, &b).expect("valid").is_empty());
        d.abort(4);
        assert_eq!(d.held(), 0);
        let b = [0x04, 0, 0, 0, 0, 0, 1, 9, 1, 0, 0, 0, 1];
        assert_eq!(all(&mut d, &b).expect("valid").len(), 1);
    }
}
