//! One RTMP connection: socket I/O around the protocol state machine, the deadlines of each
//! phase, and the hand-off to [`IngestHandler`]. Before a publish is accepted the connection
//! reads into a small buffer and the protocol holds at most its pre-publish bounds; after,
//! a larger buffer serves the media rate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rtmp_ingest::{Connection, Event, Limits, Phase, Refusal};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::admission::PendingTicket;
use super::handler::{Forwarded, IngestHandler, MediaForwarder};

/// The handshake must be complete this long after the connection opened.
pub(crate) const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);
/// `connect` must have arrived this long after the connection opened.
pub(crate) const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// The publish must be accepted this long after the connection opened.
pub(crate) const PUBLISH_DEADLINE: Duration = Duration::from_secs(10);
/// A publisher that sends nothing for this long is gone (ends a stalled publish).
pub(crate) const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Writing our (small) replies must not take longer than this.
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
/// Read buffer before and after a publish is accepted.
const SMALL_BUFFER: usize = 4 << 10;
const LARGE_BUFFER: usize = 64 << 10;

/// How a connection ended.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The peer closed the connection without unpublishing (a dropped connection, as far
    /// as we can tell: it may reconnect within the group's grace).
    Peer,
    /// The publisher said it is done (`FCUnpublish`, `deleteStream`): the session ends now.
    Unpublished,
    /// Cut by the server (shutdown, eviction, the supervisor).
    Cut,
    /// A phase's deadline passed, or the publisher went quiet.
    Deadline(&'static str),
    /// The peer broke the protocol or one of its bounds.
    Protocol(String),
    /// Refused (application, key, play).
    Refused,
    /// The publisher sent media the pipeline cannot process (the reason says what).
    Unsupported(String),
    /// The socket failed.
    Io(String),
}

/// Serves one connection to its end.
pub(crate) async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut socket: S,
    peer: SocketAddr,
    id: u64,
    handler: Arc<IngestHandler>,
    cut: CancellationToken,
    ticket: PendingTicket,
) -> Ending {
    let opened = Instant::now();
    let mut conn = Connection::new(Limits::default());
    let mut buf = vec![0u8; SMALL_BUFFER];
    let mut forwarder: Option<MediaForwarder> = None;
    let mut _slot = None;
    let ending = loop {
        let deadline = match conn.phase() {
            Phase::Handshake => Some((opened + HANDSHAKE_DEADLINE, "handshake")),
            Phase::AwaitConnect => Some((opened + CONNECT_DEADLINE, "connect")),
            Phase::Publishing => None,
            _ => Some((opened + PUBLISH_DEADLINE, "publish")),
        };
        let until = match deadline {
            Some((d, _)) => d,
            None => Instant::now() + IDLE_TIMEOUT,
        };
        let read = tokio::select! {
            _ = cut.cancelled() => break Ending::Cut,
            r = tokio::time::timeout_at(until, socket.read(&mut buf)) => r,
        };
        let n = match read {
            Err(_) => break Ending::Deadline(deadline.map_or("idle", |(_, what)| what)),
            Ok(Ok(0)) => break Ending::Peer,
            Ok(Ok(n)) => n,
            Ok(Err(e)) => break Ending::Io(e.to_string()),
        };
        let mut input = &buf[..n];
        let mut end = None;
        while !input.is_empty() || conn.awaiting_decision() {
            let used = match conn.feed(input) {
                Ok(used) => used,
                Err(e) => {
                    end = Some(Ending::Protocol(e.to_string()));
                    break;
                }
            };
            input = &input[used..];
            let mut progressed = used > 0;
            while let Some(event) = conn.next_event() {
                progressed = true;
                match event {
                    Event::Connect { app } => match IngestHandler::check_app(&app) {
                        Ok(()) => conn.accept_connect(),
                        Err(why) => conn.refuse_connect(why),
                    },
                    Event::Publish { stream_key } => {
                        let promoted = match ticket.promote() {
                            Ok(slot) => slot,
                            Err(_) => {
                                tracing::warn!(conn.id = id, peer = %peer, "publish refused: every publisher slot is taken");
                                conn.refuse_publish(Refusal::Denied, "the server is full");
                                continue;
                            }
                        };
                        match handler.authorize(&stream_key, peer, cut.clone()).await {
                            Ok(publisher) => {
                                conn.accept_publish();
                                forwarder = Some(MediaForwarder::new(publisher));
                                _slot = Some(promoted);
                            }
                            Err(refused) => conn.refuse_publish(refused.why, &refused.message),
                        }
                    }
                    Event::Media(media) => {
                        if let Some(f) = forwarder.as_mut() {
                            match f.forward(media) {
                                Forwarded::Taken => {}
                                Forwarded::Closed => {
                                    end.get_or_insert(Ending::Cut);
                                }
                                Forwarded::Unsupported(reason) => {
                                    end.get_or_insert(Ending::Unsupported(reason));
                                }
                            }
                        }
                    }
                    Event::Play => {
                        end.get_or_insert(Ending::Refused);
                    }
                    Event::Unpublished => {
                        end.get_or_insert(Ending::Unpublished);
                    }
                }
            }
            if let Err(e) = flush(&mut socket, &mut conn).await {
                end.get_or_insert(Ending::Io(e.to_string()));
            }
            if conn.phase() == Phase::Closing {
                end.get_or_insert(Ending::Refused);
            }
            if !progressed {
                end.get_or_insert(Ending::Protocol("no progress".into()));
            }
            if end.is_some() {
                break;
            }
        }
        if let Some(end) = end {
            break end;
        }
        match conn.phase() {
            Phase::Handshake => {}
            Phase::AwaitConnect | Phase::ConnectPending => ticket.progressed(1),
            _ => ticket.progressed(2),
        }
        if conn.phase() == Phase::Publishing && buf.len() < LARGE_BUFFER {
            buf.resize(LARGE_BUFFER, 0);
        }
    };
    drop(ticket);
    if let Some(f) = forwarder {
        let (reason, dropped) = match &ending {
            Ending::Cut => ("disconnected by the server".to_string(), false),
            Ending::Unsupported(why) => (why.clone(), false),
            Ending::Unpublished => ("publisher left".to_string(), false),
            Ending::Deadline(_) => ("publisher went quiet".to_string(), true),
            _ => ("publisher left".to_string(), true),
        };
        handler.ended(f.into_publisher(), &reason, dropped).await;
    }
    ending
}

async fn flush<S: AsyncWrite + Unpin>(
    socket: &mut S,
    conn: &mut Connection,
) -> std::io::Result<()> {
    let out = conn.take_output();
    if out.is_empty() {
        return Ok(());
    }
    tokio::time::timeout(WRITE_TIMEOUT, socket.write_all(&out))
        .await
        .map_err(|_| std::io::Error::from(std::io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    //! The deadlines of each phase, with paused time: exact and instant.
    use super::*;
    use crate::ingest::admission::{Admission, AdmissionLimits};
    use crate::media_store::MediaStore;
    use crate::runner::{RunnerConfig, RunnerCtx, Supervisor};
    use rtmp_ingest::client;

    async fn handler(dir: &std::path::Path) -> Arc<IngestHandler> {
        let (state, _) = app::ssr::testing::state(dir).await;
        let ctx = Arc::new(RunnerCtx::new(
            state.clone(),
            MediaStore::new(dir),
            RunnerConfig::default(),
        ));
        Arc::new(IngestHandler::new(state, Supervisor::new(ctx)))
    }

    /// Serves one in-memory connection whose client sends `bytes` and then nothing; returns
    /// how it ended and after how long (in paused time).
    async fn ended_after(bytes: Vec<u8>) -> (Ending, Duration) {
        let dir = tempfile::tempdir().expect("tmp");
        let handler = handler(dir.path()).await;
        let admission = Admission::new(AdmissionLimits::default());
        let cut = CancellationToken::new();
        let ticket = admission
            .admit(
                1,
                "127.0.0.1".parse().expect("ip"),
                cut.clone(),
                std::time::Instant::now(),
            )
            .expect("admitted");
        let (mut client, server) = tokio::io::duplex(64 << 10);
        client.write_all(&bytes).await.expect("write");
        // Paused only now: the database above opens on real time.
        tokio::time::pause();
        let started = Instant::now();
        let peer = "127.0.0.1:5000".parse().expect("addr");
        let ending = serve(server, peer, 1, handler, cut, ticket).await;
        let took = started.elapsed();
        tokio::time::resume();
        drop(client);
        (ending, took)
    }

    /// At the deadline (timers have millisecond granularity).
    fn at(t: Duration, deadline: Duration) -> bool {
        t >= deadline && t <= deadline + Duration::from_millis(5)
    }

    #[tokio::test]
    async fn each_phase_has_its_deadline() {
        let (e, t) = ended_after(Vec::new()).await;
        assert_eq!(e, Ending::Deadline("handshake"));
        assert!(at(t, HANDSHAKE_DEADLINE), "{t:?}");
        // A handshake, then silence: cut at the connect deadline.
        let (e, t) = ended_after(client::handshake()).await;
        assert_eq!(e, Ending::Deadline("connect"));
        assert!(at(t, CONNECT_DEADLINE), "{t:?}");
        // Connected, never publishing: cut at the publish deadline.
        let mut b = client::handshake();
        b.extend(client::connect("live"));
        b.extend(client::create_stream("key"));
        let (e, t) = ended_after(b).await;
        assert_eq!(e, Ending::Deadline("publish"));
        assert!(at(t, PUBLISH_DEADLINE), "{t:?}");
    }

    #[tokio::test]
    async fn garbage_and_wrong_applications_end_at_once() {
        let (e, t) = ended_after(vec![0x42; 4096]).await;
        assert!(matches!(e, Ending::Protocol(_)), "{e:?}");
        assert_eq!(t, Duration::ZERO);
        let mut b = client::handshake();
        b.extend(client::connect("other"));
        let (e, t) = ended_after(b).await;
        assert_eq!((e, t), (Ending::Refused, Duration::ZERO));
    }
}
