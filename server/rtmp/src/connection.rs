//! One publisher's connection as a state machine: handshake, then chunked messages, then the
//! command flow up to `publish`, then media. The caller feeds bytes, takes events and output,
//! and decides the two things that need the outside world: whether the application of
//! `connect` is served, and whether the key of `publish` is accepted.

use std::collections::VecDeque;

use crate::amf0::{self, Value};
use crate::chunk::{self, Bounds, Decoder, Message};
use crate::media::{self, Media};
use crate::ProtocolError;

/// Size of C1, S1, S2 and C2.
const HANDSHAKE_SIZE: usize = 1536;
/// The chunk size we send with.
const OUR_CHUNK_SIZE: usize = 4096;
/// The acknowledgement window we announce and the bandwidth we allow.
const WINDOW: u32 = 5_000_000;
/// `createStream` calls allowed on one connection.
const MAX_STREAMS: u32 = 4;

/// What a connection may hold and do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Until a publish is accepted.
    pub before_publish: Bounds,
    /// Once publishing.
    pub publishing: Bounds,
    /// Messages of any kind before a publish is accepted.
    pub messages_before_publish: usize,
}

impl Default for Limits {
    /// Commands are a few hundred bytes: 16 KiB each and 32 KiB in all before publishing, on
    /// at most 8 chunk streams. Afterwards a message may be 8 MiB (a keyframe of a 4K stream
    /// at 60 Mbit/s with a 1 s GOP is about 4 MiB), 16 MiB held in all, 16 chunk streams.
    fn default() -> Self {
        Self {
            before_publish: Bounds {
                chunk_streams: 8,
                message: 16 << 10,
                buffered: 32 << 10,
            },
            publishing: Bounds {
                chunk_streams: 16,
                message: 8 << 20,
                buffered: 16 << 20,
            },
            messages_before_publish: 64,
        }
    }
}

/// Where the connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Handshake,
    /// Waiting for `connect`.
    AwaitConnect,
    /// `connect` arrived; the caller must accept or refuse it.
    ConnectPending,
    Connected,
    /// `publish` arrived; the caller must accept or refuse it.
    PublishPending,
    Publishing,
    /// Refused, unpublished or asked to play: the caller closes the socket after sending
    /// the output.
    Closing,
}

/// What the caller must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `connect` to an application: call [`Connection::accept_connect`] or
    /// [`Connection::refuse_connect`].
    Connect { app: String },
    /// `publish` with a stream key: call [`Connection::accept_publish`] or
    /// [`Connection::refuse_publish`].
    Publish { stream_key: String },
    /// The peer asked to play; it has been refused and the connection is closing.
    Play,
    /// Media from the accepted publisher.
    Media(Media),
    /// The publisher said it is done (`FCUnpublish`, `deleteStream`, `closeStream`).
    Unpublished,
}

/// Why a publish is refused, as the publisher will read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Unknown or revoked key.
    BadName,
    /// Known key, but not now (already live, server full, too many attempts).
    Denied,
}

#[derive(Debug)]
enum Handshake {
    C0,
    C1(Vec<u8>),
    C2 { left: usize },
}

/// The state of one connection.
#[derive(Debug)]
pub struct Connection {
    limits: Limits,
    phase: Phase,
    handshake: Handshake,
    decoder: Decoder,
    events: VecDeque<Event>,
    output: Vec<u8>,
    messages: usize,
    streams_created: u32,
    /// The message stream of the (pending or accepted) publish.
    publish_stream: u32,
    received: u64,
    acknowledged: u64,
    peer_window: Option<u32>,
    /// The chunk size we send with (ours is announced in the reply to `connect`).
    out_chunk_size: usize,
}

impl Connection {
    /// A fresh connection, expecting the handshake.
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            phase: Phase::Handshake,
            handshake: Handshake::C0,
            decoder: Decoder::new(limits.before_publish),
            events: VecDeque::new(),
            output: Vec::new(),
            messages: 0,
            streams_created: 0,
            publish_stream: 0,
            received: 0,
            acknowledged: 0,
            peer_window: None,
            out_chunk_size: chunk::DEFAULT_CHUNK_SIZE,
        }
    }

    /// Where the connection is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Bytes held for unfinished messages and handshake (what a hostile peer can pin).
    pub fn held(&self) -> usize {
        let handshake = match &self.handshake {
            Handshake::C1(b) => b.capacity(),
            _ => 0,
        };
        handshake + self.decoder.held() + self.output.capacity()
    }

    /// The next event, if any.
    pub fn next_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Bytes to send to the peer (taken: the next call returns only newer ones).
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Whether a decision is pending (feeding stops until it is made).
    pub fn awaiting_decision(&self) -> bool {
        matches!(self.phase, Phase::ConnectPending | Phase::PublishPending)
    }

    /// Consumes bytes and returns how many were used. Stops early after an event that needs a
    /// decision ([`Event::Connect`], [`Event::Publish`]); feed the rest after deciding.
    pub fn feed(&mut self, input: &[u8]) -> Result<usize, ProtocolError> {
        if self.phase == Phase::Closing {
            return Err(ProtocolError::Closed);
        }
        let mut rest = input;
        while !rest.is_empty() && !self.awaiting_decision() && self.phase != Phase::Closing {
            if self.phase == Phase::Handshake {
                self.handshake(&mut rest)?;
                continue;
            }
            let Some(msg) = self.decoder.decode(&mut rest)? else {
                break;
            };
            self.on_message(msg)?;
        }
        let used = input.len() - rest.len();
        self.received += used as u64;
        self.acknowledge();
        Ok(used)
    }

    /// Serves the application named in `connect`.
    pub fn accept_connect(&mut self) {
        if self.phase != Phase::ConnectPending {
            return;
        }
        self.control(5, &WINDOW.to_be_bytes());
        let mut bw = WINDOW.to_be_bytes().to_vec();
        bw.push(2); // dynamic
        self.control(6, &bw);
        self.control(1, &(OUR_CHUNK_SIZE as u32).to_be_bytes());
        self.out_chunk_size = OUR_CHUNK_SIZE;
        let mut e = amf0::Encoder::default();
        e.string("_result").number(1.0).object(&[
            ("fmsVer", Value::String("FMS/3,0,1,123".into())),
            ("capabilities", Value::Number(31.0)),
        ]);
        e.object(&[
            ("level", Value::String("status".into())),
            (
                "code",
                Value::String("NetConnection.Connect.Success".into()),
            ),
            ("description", Value::String("Connection succeeded.".into())),
            ("objectEncoding", Value::Number(0.0)),
        ]);
        self.command(3, 0, &e.bytes);
        self.phase = Phase::Connected;
    }

    /// Refuses `connect` with a reason the client may show; the connection closes.
    pub fn refuse_connect(&mut self, description: &str) {
        if self.phase != Phase::ConnectPending {
            return;
        }
        let mut e = amf0::Encoder::default();
        e.string("_error").number(1.0).null().object(&[
            ("level", Value::String("error".into())),
            (
                "code",
                Value::String("NetConnection.Connect.Rejected".into()),
            ),
            ("description", Value::String(description.into())),
        ]);
        self.command(3, 0, &e.bytes);
        self.phase = Phase::Closing;
    }

    /// Accepts the pending publish: from now on media flows and the larger bounds apply.
    pub fn accept_publish(&mut self) {
        if self.phase != Phase::PublishPending {
            return;
        }
        let mut begin = vec![0, 0];
        begin.extend_from_slice(&self.publish_stream.to_be_bytes());
        self.control(4, &begin);
        self.on_status("status", "NetStream.Publish.Start", "Publishing.");
        self.decoder.set_bounds(self.limits.publishing);
        self.phase = Phase::Publishing;
    }

    /// Refuses the pending publish with a reason the publisher may show; the connection
    /// closes.
    pub fn refuse_publish(&mut self, why: Refusal, description: &str) {
        if self.phase != Phase::PublishPending {
            return;
        }
        let code = match why {
            Refusal::BadName => "NetStream.Publish.BadName",
            Refusal::Denied => "NetStream.Publish.Denied",
        };
        self.on_status("error", code, description);
        self.phase = Phase::Closing;
    }

    fn handshake(&mut self, rest: &mut &[u8]) -> Result<(), ProtocolError> {
        match &mut self.handshake {
            Handshake::C0 => {
                let version = rest[0];
                *rest = &rest[1..];
                if version != 3 {
                    return Err(ProtocolError::BadVersion(version));
                }
                self.handshake = Handshake::C1(Vec::with_capacity(HANDSHAKE_SIZE));
            }
            Handshake::C1(c1) => {
                let n = (HANDSHAKE_SIZE - c1.len()).min(rest.len());
                c1.extend_from_slice(&rest[..n]);
                *rest = &rest[n..];
                if c1.len() == HANDSHAKE_SIZE {
                    // S0, S1 (time 0, zero version: the plain handshake, no digest), S2 = C1.
                    self.output.reserve(1 + 2 * HANDSHAKE_SIZE);
                    self.output.push(3);
                    self.output.extend_from_slice(&[0; 8]);
                    let mut x: u32 = 0x9E37_79B9;
                    for _ in 8..HANDSHAKE_SIZE {
                        x ^= x << 13;
                        x ^= x >> 17;
                        x ^= x << 5;
                        self.output.push(x as u8);
                    }
                    self.output.extend_from_slice(c1);
                    self.handshake = Handshake::C2 {
                        left: HANDSHAKE_SIZE,
                    };
                }
            }
            Handshake::C2 { left } => {
                // C2 echoes our S1; its content is not checked (clients differ).
                let n = (*left).min(rest.len());
                *rest = &rest[n..];
                *left -= n;
                if *left == 0 {
                    self.handshake = Handshake::C0;
                    self.phase = Phase::AwaitConnect;
                }
            }
        }
        Ok(())
    }

    fn on_message(&mut self, msg: Message) -> Result<(), ProtocolError> {
        let publishing = self.phase == Phase::Publishing;
        if !publishing {
            self.messages += 1;
            if self.messages > self.limits.messages_before_publish {
                return Err(ProtocolError::TooManyMessages);
            }
        }
        let p = &msg.payload;
        match msg.type_id {
            1 => {
                let size = be32(p).ok_or(ProtocolError::Malformed("set chunk size"))?;
                self.decoder.set_chunk_size((size & 0x7FFF_FFFF) as usize)?;
            }
            2 => {
                let csid = be32(p).ok_or(ProtocolError::Malformed("abort"))?;
                self.decoder.abort(csid);
            }
            3 | 4 | 6 => {} // acknowledgement, user control, peer bandwidth: nothing to do
            5 => {
                let w = be32(p).ok_or(ProtocolError::Malformed("window size"))?;
                self.peer_window = (w > 0).then_some(w);
            }
            8 | 9 | 15 | 18 | 22 => {
                // Media only from the accepted publish, on its stream; before that it is
                // dropped (some encoders send metadata early).
                if publishing && msg.stream_id == self.publish_stream {
                    let mut out = Vec::new();
                    media::from_message(&msg, &mut out);
                    self.events.extend(out.into_iter().map(Event::Media));
                }
            }
            17 => {
                // AMF3 command: a format byte, then AMF0 in practice.
                let body = p.get(1..).ok_or(ProtocolError::Malformed("AMF3 command"))?;
                self.on_command(&msg, body)?;
            }
            20 => self.on_command(&msg, &msg.payload.clone())?,
            16 | 19 => {} // shared objects: not served
            t if publishing => {
                let _ = t; // unknown types from an accepted publisher are ignored
            }
            t => return Err(ProtocolError::UnexpectedMessage(t)),
        }
        Ok(())
    }

    fn on_command(&mut self, msg: &Message, body: &[u8]) -> Result<(), ProtocolError> {
        let values = amf0::decode_all(body)?;
        let name = values
            .first()
            .and_then(Value::as_str)
            .ok_or(ProtocolError::Malformed("command name"))?;
        let txn = values.get(1).and_then(Value::as_number).unwrap_or(0.0);
        match (name, self.phase) {
            ("connect", Phase::AwaitConnect) => {
                let app = values
                    .get(2)
                    .and_then(|o| o.get("app"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                self.events.push_back(Event::Connect { app });
                self.phase = Phase::ConnectPending;
            }
            ("createStream", Phase::Connected | Phase::Publishing) => {
                if self.streams_created >= MAX_STREAMS {
                    return Err(ProtocolError::UnexpectedCommand(name.into()));
                }
                self.streams_created += 1;
                let mut e = amf0::Encoder::default();
                e.string("_result")
                    .number(txn)
                    .null()
                    .number(f64::from(self.streams_created));
                self.command(3, 0, &e.bytes);
            }
            ("publish", Phase::Connected) => {
                if msg.stream_id == 0 || msg.stream_id > self.streams_created {
                    return Err(ProtocolError::Malformed(
                        "publish on a stream never created",
                    ));
                }
                let key = values
                    .get(3)
                    .and_then(Value::as_str)
                    .ok_or(ProtocolError::Malformed("publish without a name"))?
                    .to_owned();
                self.publish_stream = msg.stream_id;
                self.events.push_back(Event::Publish { stream_key: key });
                self.phase = Phase::PublishPending;
            }
            ("play" | "play2", _) => {
                self.publish_stream = msg.stream_id;
                self.on_status(
                    "error",
                    "NetStream.Play.Failed",
                    "This server takes publishers only.",
                );
                self.events.push_back(Event::Play);
                self.phase = Phase::Closing;
            }
            ("FCUnpublish" | "deleteStream" | "closeStream", Phase::Publishing) => {
                self.events.push_back(Event::Unpublished);
                self.phase = Phase::Closing;
            }
            ("connect" | "publish", _) => {
                // Twice, or out of order: a second publish on one connection would leave the
                // first session behind.
                return Err(ProtocolError::UnexpectedCommand(name.into()));
            }
            _ => {} // releaseStream, FCPublish, _checkbw, getStreamLength…: no answer needed
        }
        Ok(())
    }

    fn acknowledge(&mut self) {
        if let Some(w) = self.peer_window {
            if self.received - self.acknowledged >= u64::from(w) {
                self.acknowledged = self.received;
                self.control(3, &(self.received as u32).to_be_bytes());
            }
        }
    }

    fn control(&mut self, type_id: u8, payload: &[u8]) {
        chunk::encode(
            &mut self.output,
            2,
            type_id,
            0,
            payload,
            self.out_chunk_size,
        );
    }

    fn command(&mut self, csid: u8, stream_id: u32, payload: &[u8]) {
        chunk::encode(
            &mut self.output,
            csid,
            20,
            stream_id,
            payload,
            self.out_chunk_size,
        );
    }

    fn on_status(&mut self, level: &str, code: &str, description: &str) {
        let mut e = amf0::Encoder::default();
        e.string("onStatus").number(0.0).null().object(&[
            ("level", Value::String(level.into())),
            ("code", Value::String(code.into())),
            ("description", Value::String(description.into())),
        ]);
        self.command(5, self.publish_stream, &e.bytes);
    }
}

fn be32(p: &[u8]) -> Option<u32> {
    let b = p.get(..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;
    use crate::MediaKind;

    fn feed_all(c: &mut Connection, mut bytes: &[u8]) -> Result<Vec<Event>, ProtocolError> {
        let mut events = Vec::new();
        loop {
            let used = c.feed(bytes)?;
            bytes = &bytes[used..];
            while let Some(e) = c.next_event() {
                match &e {
                    Event::Connect { app } if app == "live" => c.accept_connect(),
                    Event::Connect { .. } => c.refuse_connect("unknown application"),
                    Event::Publish { stream_key } if stream_key == "good" => c.accept_publish(),
                    Event::Publish { .. } => c.refuse_publish(Refusal::BadName, "unknown key"),
                    _ => {}
                }
                events.push(e);
            }
            if bytes.is_empty() || c.phase() == Phase::Closing {
                return Ok(events);
            }
        }
    }

    /// The replies a client reads, as (type id, first AMF0 string or None).
    fn replies(bytes: &[u8]) -> Vec<(u8, Option<String>, Vec<Value>)> {
        let mut d = Decoder::new(Bounds {
            chunk_streams: 8,
            message: 1 << 20,
            buffered: 1 << 20,
        });
        let mut rest = &bytes[1 + 2 * HANDSHAKE_SIZE..];
        let mut out = Vec::new();
        while let Some(m) = d.decode(&mut rest).expect("our output decodes") {
            if m.type_id == 1 {
                d.set_chunk_size(be32(&m.payload).expect("size") as usize)
                    .expect("ok");
            }
            let values = if m.type_id == 20 {
                amf0::decode_all(&m.payload).expect("amf")
            } else {
                Vec::new()
            };
            let name = values.first().and_then(Value::as_str).map(str::to_owned);
            out.push((m.type_id, name, values));
        }
        out
    }

    #[test]
    fn a_publisher_is_served_up_to_media() {
        let mut c = Connection::new(Limits::default());
        let mut bytes = client::up_to_publish("live", "good");
        bytes.extend(client::media(9, &[0x17, 0, 0, 0, 0, 1, 2, 3]));
        bytes.extend(client::media(8, &[0xAF, 1, 9]));
        let events = feed_all(&mut c, &bytes).expect("valid");
        assert_eq!(c.phase(), Phase::Publishing);
        assert_eq!(events[0], Event::Connect { app: "live".into() });
        assert_eq!(
            events[1],
            Event::Publish {
                stream_key: "good".into()
            }
        );
        let media: Vec<MediaKind> = events
            .iter()
            .filter_map(|e| match e {
                Event::Media(m) => Some(m.kind),
                _ => None,
            })
            .collect();
        assert_eq!(media, vec![MediaKind::Video, MediaKind::Audio]);
        let out = c.take_output();
        assert_eq!(out[0], 3, "S0");
        assert_eq!(
            &out[1 + HANDSHAKE_SIZE..1 + 2 * HANDSHAKE_SIZE],
            &[0u8; 1536][..],
            "S2 = C1"
        );
        let r = replies(&out);
        let names: Vec<Option<&str>> = r.iter().map(|(_, n, _)| n.as_deref()).collect();
        assert_eq!(
            names,
            vec![
                None,
                None,
                None,
                Some("_result"),
                Some("_result"),
                None,
                Some("onStatus")
            ]
        );
        assert_eq!(
            r[3].2[3].get("code"),
            Some(&Value::String("NetConnection.Connect.Success".into()))
        );
        assert_eq!(r[4].2[3], Value::Number(1.0), "stream id from createStream");
        assert_eq!(
            r[6].2[3].get("code"),
            Some(&Value::String("NetStream.Publish.Start".into()))
        );
        // Unpublishing ends it.
        let bye = client::command(
            1,
            &[
                Value::String("deleteStream".into()),
                Value::Number(6.0),
                Value::Null,
                Value::Number(1.0),
            ],
        );
        assert_eq!(
            feed_all(&mut c, &bye).expect("valid"),
            vec![Event::Unpublished]
        );
        assert_eq!(c.feed(&[0]), Err(ProtocolError::Closed));
    }

    #[test]
    fn refusals_are_sent_and_close() {
        let mut c = Connection::new(Limits::default());
        let events = feed_all(&mut c, &client::up_to_publish("live", "bad")).expect("valid");
        assert_eq!(events.len(), 2);
        assert_eq!(c.phase(), Phase::Closing);
        let r = replies(&c.take_output());
        let last = &r.last().expect("status").2;
        assert_eq!(
            last[3].get("code"),
            Some(&Value::String("NetStream.Publish.BadName".into()))
        );

        let mut c = Connection::new(Limits::default());
        let events = feed_all(&mut c, &client::up_to_publish("other", "good")).expect("valid");
        assert_eq!(
            events,
            vec![Event::Connect {
                app: "other".into()
            }]
        );
        assert_eq!(c.phase(), Phase::Closing);
    }

    #[test]
    fn feeding_stops_at_a_pending_decision() {
        let mut c = Connection::new(Limits::default());
        let bytes = client::up_to_publish("live", "k");
        let used = c.feed(&bytes).expect("valid");
        assert!(used < bytes.len());
        assert_eq!(c.phase(), Phase::ConnectPending);
        assert_eq!(
            c.feed(&bytes[used..]).expect("valid"),
            0,
            "nothing until decided"
        );
        c.accept_connect();
        let used2 = c.feed(&bytes[used..]).expect("valid");
        assert_eq!(used + used2, bytes.len());
        assert_eq!(c.phase(), Phase::PublishPending);
    }

    #[test]
    fn hostile_input_before_publish_is_cut_with_little_held() {
        // Garbage instead of a handshake.
        let mut c = Connection::new(Limits::default());
        assert_eq!(c.feed(&[0x42; 10]), Err(ProtocolError::BadVersion(0x42)));
        // Many chunk streams, each declaring 16 MiB.
        let mut c = Connection::new(Limits::default());
        let mut b = client::handshake();
        for csid in 64..200 {
            b.extend(client::bare_header(csid, 0xFF_FFFF, 9));
        }
        let err = feed_all(&mut c, &b).expect_err("cut");
        assert!(
            matches!(err, ProtocolError::MessageTooLarge { .. }),
            "{err}"
        );
        // Many chunk streams declaring what a command may be, each with a byte of payload.
        let mut c = Connection::new(Limits::default());
        let mut b = client::handshake();
        for csid in 64..200 {
            b.extend(client::bare_header(csid, 16 << 10, 20));
            b.extend_from_slice(&[0; 128]);
        }
        let err = feed_all(&mut c, &b).expect_err("cut");
        assert_eq!(err, ProtocolError::TooManyChunkStreams(8));
        assert!(c.held() <= 64 << 10, "held {}", c.held());
        // Media and commands before publishing are bounded in number.
        let mut c = Connection::new(Limits::default());
        let mut b = client::handshake();
        for _ in 0..100 {
            b.extend(client::media(9, &[0x17, 1]));
        }
        assert_eq!(
            feed_all(&mut c, &b).expect_err("cut"),
            ProtocolError::TooManyMessages
        );
        // A second publish on one connection.
        let mut c = Connection::new(Limits::default());
        let mut b = client::up_to_publish("live", "good");
        b.extend(client::publish("good"));
        assert!(matches!(
            feed_all(&mut c, &b),
            Err(ProtocolError::UnexpectedCommand(_))
        ));
        // Play is refused.
        let mut c = Connection::new(Limits::default());
        let mut b = client::handshake();
        b.extend(client::connect("live"));
        b.extend(client::create_stream("k"));
        b.extend(client::command(
            1,
            &[
                Value::String("play".into()),
                Value::Number(5.0),
                Value::Null,
                Value::String("k".into()),
            ],
        ));
        let events = feed_all(&mut c, &b).expect("valid");
        assert_eq!(events.last(), Some(&Event::Play));
    }

    #[test]
    fn after_publish_larger_media_pass_and_acks_are_sent() {
        let mut c = Connection::new(Limits::default());
        let mut b = client::up_to_publish("live", "good");
        b.extend(chunked_window(1000));
        let big = vec![0x27u8; 200_000];
        b.extend(client::media(9, &big));
        let events = feed_all(&mut c, &b).expect("valid");
        let Some(Event::Media(m)) = events.last() else {
            panic!("media expected");
        };
        assert_eq!(m.payload.len(), big.len());
        let acks = replies(&c.take_output())
            .iter()
            .filter(|(t, _, _)| *t == 3)
            .count();
        assert!(acks >= 1, "acknowledgements after the peer's window");
    }

    fn chunked_window(w: u32) -> Vec<u8> {
        let mut out = Vec::new();
        chunk::encode(
            &mut out,
            2,
            5,
            0,
            &w.to_be_bytes(),
            chunk::DEFAULT_CHUNK_SIZE,
        );
        out
    }
}
