//! The whole ingest path from raw bytes: handshake, chunking, AMF0 commands, media messages,
//! aggregates and metadata, FLV muxing and the keyframe checks the pipeline makes. The first
//! byte of the input decides how it is cut into reads, whether keys are accepted, and
//! whether a valid handshake-to-publish prefix comes first (so the fuzzer reaches the media
//! paths too). Invariants: no panic, and before a publish is accepted the connection holds
//! no more than its bounds allow.

#![no_main]

use libfuzzer_sys::fuzz_target;
use rtmp_ingest::{client, flv, Connection, Event, Limits, MediaKind, Phase, Refusal};

fuzz_target!(|data: &[u8]| {
    let Some((&control, body)) = data.split_first() else {
        return;
    };
    let step = 1 + usize::from(control & 0x1F) * 97;
    let accept_keys = control & 0x40 != 0;
    let mut input = if control & 0x80 != 0 {
        client::up_to_publish("live", "key")
    } else {
        Vec::new()
    };
    input.extend_from_slice(body);

    let limits = Limits::default();
    let pre_publish_bound = 2 * limits.before_publish.buffered + 2 * 1536 + 64 * 1024;
    let mut conn = Connection::new(limits);
    let mut rest = &input[..];
    'reads: while !rest.is_empty() {
        let mut read = &rest[..step.min(rest.len())];
        rest = &rest[read.len()..];
        loop {
            let used = match conn.feed(read) {
                Ok(used) => used,
                Err(_) => break 'reads,
            };
            read = &read[used..];
            let mut progressed = used > 0;
            while let Some(event) = conn.next_event() {
                progressed = true;
                match event {
                    Event::Connect { app } => {
                        if app == "live" {
                            conn.accept_connect()
                        } else {
                            conn.refuse_connect("no")
                        }
                    }
                    Event::Publish { .. } => {
                        if accept_keys {
                            conn.accept_publish()
                        } else {
                            conn.refuse_publish(Refusal::BadName, "no")
                        }
                    }
                    Event::Media(m) => {
                        let kind = match m.kind {
                            MediaKind::Audio => flv::TagKind::Audio,
                            MediaKind::Video => flv::TagKind::Video,
                            MediaKind::Script => flv::TagKind::Script,
                        };
                        let tag = flv::tag(kind, m.timestamp, &m.payload);
                        assert_eq!(tag.len(), 15 + m.payload.len());
                        let _ = flv::is_video_keyframe(&m.payload);
                        let _ = flv::is_video_sequence_header(&m.payload);
                        let _ = flv::is_audio_sequence_header(&m.payload);
                    }
                    Event::Play | Event::Unpublished => {}
                }
            }
            let _ = conn.take_output();
            if conn.phase() != Phase::Publishing {
                assert!(conn.held() <= pre_publish_bound, "held {}", conn.held());
            }
            if conn.phase() == Phase::Closing || read.is_empty() || !progressed {
                break;
            }
        }
        if conn.phase() == Phase::Closing {
            break;
        }
    }
});
