//! The publisher side of RTMP, written to be exposed to the internet: a sans-IO state
//! machine ([`Connection`]) that takes bytes and gives back events and bytes to send, with
//! fixed memory bounds before a publisher is accepted and larger (still fixed) ones after.
//!
//! Nothing here trusts a declared length for allocation: chunk headers are checked against
//! the current [`chunk::Bounds`], unfinished messages grow only with the bytes that arrived,
//! AMF0 counts are checked against the bytes present. The caller owns the socket, the
//! deadlines, the stream key check and what happens to the media.
//!
//! Supported: the plain handshake (what ffmpeg, OBS and GStreamer use to publish), chunk
//! sizes up to 16 MiB, the publishing command flow (`connect`, `releaseStream`, `FCPublish`,
//! `createStream`, `publish`, `FCUnpublish`, `deleteStream`), audio, video, `onMetaData`
//! (with or without `@setDataFrame`), aggregate messages, acknowledgements. Playing is
//! refused; AMF3 commands are accepted only in their AMF0-compatible form.

pub mod amf0;
pub mod chunk;
pub mod client;
mod connection;
pub mod flv;
pub mod media;
pub mod mkv;
pub mod mpegts;

pub use connection::{Connection, Event, Limits, Phase, Refusal};
pub use media::{Media, MediaKind};

/// Why a connection cannot go on. Every variant is the peer's fault or a bound it hit.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("not an RTMP handshake (version byte {0:#04x})")]
    BadVersion(u8),
    #[error("chunk size {0} out of range")]
    BadChunkSize(usize),
    #[error("chunk stream {0} continues a header it never sent")]
    NoPreviousHeader(u32),
    #[error("chunk stream {0} started a new message before finishing the last")]
    InterruptedMessage(u32),
    #[error("more than {0} chunk streams")]
    TooManyChunkStreams(usize),
    #[error("message of {declared} bytes declared; the limit is {limit}")]
    MessageTooLarge { declared: usize, limit: usize },
    #[error("more than {0} bytes held in unfinished messages")]
    TooMuchBuffered(usize),
    #[error("{0}")]
    Amf(amf0::DecodeError),
    #[error("malformed {0}")]
    Malformed(&'static str),
    #[error("message type {0} is not allowed here")]
    UnexpectedMessage(u8),
    #[error("command {0:?} is not allowed now")]
    UnexpectedCommand(String),
    #[error("too many messages before publishing")]
    TooManyMessages,
    #[error("the connection is closed")]
    Closed,
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl From<amf0::DecodeError> for ProtocolError {
    fn from(e: amf0::DecodeError) -> Self {
        ProtocolError::Amf(e)
    }
}
