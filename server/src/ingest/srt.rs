//! The SRT ingest (`--srt-listen`, UDP): publishers send MPEG-TS over SRT, named by the
//! stream id, and their media joins the same pipeline as RTMP's (the TS is remuxed to the
//! same FLV tags by [`rtmp_ingest::mpegts`]).
//!
//! The protocol is srt-tokio's (pure Rust, no unsafe code; it interoperates with libsrt
//! callers such as ffmpeg, OBS and GStreamer, which the tests use). Some of its handshake and
//! control paths panic on input it does not expect, which would stop its listener for
//! everyone. So no datagram reaches it unchecked: a relay owns the public socket, parses each
//! datagram with the same parser (a panic there only drops the datagram), drops the kinds
//! that would panic later, and forwards the rest over loopback, one socket per remote
//! address. Only a handshake opens such a flow; flows are bounded in number (overall and per
//! address) and close when idle.
//!
//! A publish is admitted at the handshake, before any media: the stream id must name a
//! current key (`<key>`, `live/<key>`, `publish:live/<key>` or `#!::r=live/<key>,m=publish`),
//! the group must not be live already, and when the group has a passphrase the caller must
//! encrypt with it (AES, the caller's key length). Wrong keys and wrong passphrases count
//! against the address like wrong RTMP keys.

use std::cell::Cell;
use std::collections::HashMap;
use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use app::ssr::repo::streams::KeyOwner;
use futures::StreamExt;
use rtmp_ingest::mpegts::{Demuxed, Demuxer};
use srt_protocol::options::{KeySize, Passphrase};
use srt_protocol::packet::CoreRejectReason;
use srt_protocol::packet::{ControlTypes, HandshakeVsInfo, Packet, ShakeType, SrtControlPacket};
use srt_protocol::settings::KeySettings;
use srt_tokio::access::{RejectReason, ServerRejectReason};
use srt_tokio::{ConnectionRequest, SrtListener, SrtSocket};
use tokio::net::UdpSocket;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::handler::{unsupported_reason, Forwarded, IngestHandler, MediaForwarder};

/// Remote addresses with a flow at once.
const MAX_FLOWS: usize = 1024;
/// Flows one IP address may hold.
const MAX_FLOWS_PER_IP: usize = 8;
/// A flow nothing came through for this long is closed.
const FLOW_IDLE: Duration = Duration::from_secs(20);
/// A flow that never carried media is closed sooner: handshakes alone do not hold the table.
const HANDSHAKE_IDLE: Duration = Duration::from_secs(3);
/// Handshakes being decided at once (key lookups); more are refused as overload.
const MAX_PENDING: usize = 32;
/// A publisher that sends nothing for this long is disconnected.
const MEDIA_IDLE: Duration = Duration::from_secs(10);
/// The largest datagram relayed (SRT's payload is at most 1456 bytes plus headers).
const MAX_DATAGRAM: usize = 1500;

/// The running SRT listener.
pub(crate) struct SrtIngest {
    /// Where publishers connect.
    pub addr: SocketAddr,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl SrtIngest {
    /// Serves SRT on a bound UDP socket until [`SrtIngest::stop`]; `latency` is the receive
    /// latency (the larger of it and the caller's is used).
    pub(crate) async fn serve(
        socket: UdpSocket,
        handler: Arc<IngestHandler>,
        latency: Duration,
    ) -> std::io::Result<Self> {
        let addr = socket.local_addr()?;
        let inner = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let inner_addr = inner.local_addr()?;
        let (mut listener, mut incoming) = SrtListener::builder()
            .latency(latency)
            .socket(inner)
            .bind(inner_addr)
            .await?;
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let relay = Arc::new(Relay {
            front: Arc::new(socket),
            inner: inner_addr,
            flows: Mutex::new(HashMap::new()),
        });
        tracker.spawn(relay.clone().run(stop.clone(), tracker.clone()));
        let (stop2, tracker2) = (stop.clone(), tracker.clone());
        tracker.spawn(async move {
            let pending = Arc::new(Semaphore::new(MAX_PENDING));
            loop {
                let request = tokio::select! {
                    _ = stop2.cancelled() => break,
                    r = incoming.incoming().next() => match r {
                        Some(r) => r,
                        None => {
                            tracing::error!("srt listener stopped");
                            break;
                        }
                    },
                };
                let peer = relay.peer_of(request.remote());
                let Ok(permit) = pending.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %peer, "srt publish refused: too many handshakes at once");
                    let _ = request
                        .reject(RejectReason::Server(ServerRejectReason::Overload))
                        .await;
                    continue;
                };
                let encrypts = relay.sends_keys(request.remote());
                let (handler, cut) = (handler.clone(), stop2.child_token());
                tracker2.spawn(async move {
                    let admitted = admit(request, peer, encrypts, &handler).await;
                    drop(permit);
                    if let Some((socket, owner)) = admitted {
                        publish(socket, owner, peer, &handler, cut).await;
                    }
                });
            }
            listener.close().await;
        });
        tracing::info!(srt.addr = %addr, latency_ms = latency.as_millis() as u64, "srt ingest listening");
        Ok(Self {
            addr,
            stop,
            tracker,
        })
    }

    /// Stops accepting, cuts every publisher and waits for their sessions to be told.
    pub(crate) async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("srt connections still open 5 s after stop");
        }
    }
}

/// The stream key in an SRT stream id: `<key>`, `live/<key>`, `publish:live/<key>`, or the
/// access-control form `#!::r=live/<key>,m=publish` (SRT's own convention; `m` may be left
/// out). `Err` says what is wrong.
pub(crate) fn publish_key(stream_id: &str) -> Result<&str, &'static str> {
    let resource = if let Some(pairs) = stream_id.strip_prefix("#!::") {
        let (mut resource, mut mode) = (None, None);
        for pair in pairs.split(',') {
            match pair.split_once('=') {
                Some(("r", v)) => resource = Some(v),
                Some(("m", v)) => mode = Some(v),
                _ => {}
            }
        }
        if mode.is_some_and(|m| m != "publish") {
            return Err("only publishing (m=publish) is served");
        }
        resource.ok_or("the stream id names no resource (r=live/<stream key>)")?
    } else {
        stream_id.strip_prefix("publish:").unwrap_or(stream_id)
    };
    let key = resource.strip_prefix("live/").unwrap_or(resource);
    if key.is_empty() || key.contains('/') {
        return Err("the stream id is not a stream key");
    }
    Ok(key)
}

/// Decides a handshake: the socket and the key's owner when the publish may go on.
/// `sends_keys`: the caller's handshake carried keying material (it encrypts; libsrt callers
/// may leave the key length unset, so the length alone does not tell).
async fn admit(
    request: ConnectionRequest,
    peer: SocketAddr,
    sends_keys: bool,
    handler: &IngestHandler,
) -> Option<(SrtSocket, KeyOwner)> {
    let stream_id = request
        .stream_id()
        .map(|s| s.to_string())
        .unwrap_or_default();
    let key = match publish_key(&stream_id) {
        Ok(k) => k.to_string(),
        Err(why) => {
            tracing::info!(peer = %peer, "srt publish refused: {why}");
            crate::metrics::publish_attempt("unknown_key");
            return refuse(
                request,
                RejectReason::Server(ServerRejectReason::BadRequest),
            )
            .await;
        }
    };
    let owner = match handler.check_key(&key, peer).await {
        Ok(o) => o,
        Err(r) => {
            tracing::info!(peer = %peer, "srt publish refused: {}", r.message);
            return refuse(request, RejectReason::Server(ServerRejectReason::Forbidden)).await;
        }
    };
    if handler.is_live_here(owner.group_id) {
        crate::metrics::publish_attempt("already_live");
        tracing::warn!(peer = %peer, group.id = owner.group_id, "srt publish refused: already live");
        return refuse(request, RejectReason::Server(ServerRejectReason::Conflict)).await;
    }
    // Accepting an encrypting caller without a passphrase, or with another key length than
    // it declared, would panic srt-tokio's listener: both are refused here instead.
    let encrypts = sends_keys || request.key_size() != KeySize::Unspecified;
    let keys = match (&owner.srt_passphrase, encrypts) {
        (None, false) => None,
        (Some(p), true) => match Passphrase::try_from(p.clone()) {
            Ok(passphrase) => Some(KeySettings {
                key_size: request.key_size(),
                passphrase,
            }),
            Err(_) => {
                tracing::error!(
                    group.id = owner.group_id,
                    "srt publish refused: the group's stored passphrase is not usable"
                );
                return refuse(
                    request,
                    RejectReason::Server(ServerRejectReason::InternalServerError),
                )
                .await;
            }
        },
        (Some(_), false) | (None, true) => {
            handler.wrong_secret(peer);
            crate::metrics::publish_attempt("unknown_key");
            tracing::info!(
                peer = %peer,
                group.id = owner.group_id,
                "srt publish refused: {}",
                if encrypts { "the group has no passphrase" } else { "the group's passphrase is required" }
            );
            return refuse(request, RejectReason::Core(CoreRejectReason::Unsecure)).await;
        }
    };
    let with_passphrase = keys.is_some();
    match tokio::time::timeout(Duration::from_secs(5), request.accept(keys)).await {
        Ok(Ok(socket)) => Some((socket, owner)),
        _ => {
            if with_passphrase {
                // The keying material did not unwrap: a wrong passphrase.
                handler.wrong_secret(peer);
                tracing::info!(peer = %peer, group.id = owner.group_id, "srt publish refused: wrong passphrase");
            }
            None
        }
    }
}

async fn refuse(request: ConnectionRequest, reason: RejectReason) -> Option<(SrtSocket, KeyOwner)> {
    let _ = request.reject(reason).await;
    None
}

/// Runs an accepted publish: its session starts, its TS goes to the pipeline until it ends.
async fn publish(
    mut socket: SrtSocket,
    owner: KeyOwner,
    peer: SocketAddr,
    handler: &IngestHandler,
    cut: CancellationToken,
) {
    let publisher = match handler.begin(&owner, peer, cut.clone()).await {
        Ok(p) => p,
        Err(r) => {
            tracing::info!(peer = %peer, "srt publish refused: {}", r.message);
            return;
        }
    };
    tracing::info!(peer = %peer, group.id = owner.group_id, session.id = publisher.session_id, "srt publish started");
    let mut forwarder = MediaForwarder::new(publisher);
    let mut demuxer = Demuxer::new();
    let mut out = Vec::new();
    // SRT has no "unpublish": every end the publisher causes may be a drop, so each waits
    // for the group's reconnect grace.
    let (reason, dropped) = loop {
        let next = tokio::select! {
            _ = cut.cancelled() => break ("disconnected by the server".to_string(), false),
            next = tokio::time::timeout(MEDIA_IDLE, socket.next()) => next,
        };
        match next {
            Ok(Some(Ok((_, data)))) => {
                demuxer.push(&data, &mut out);
                if let Some(reason) = deliver(&mut forwarder, &mut out) {
                    break (reason, false);
                }
            }
            Ok(_) => break ("publisher left".to_string(), true),
            Err(_) => break ("publisher went quiet".to_string(), true),
        }
    };
    demuxer.finish(&mut out);
    let _ = deliver(&mut forwarder, &mut out);
    drop(socket);
    tracing::info!(peer = %peer, group.id = owner.group_id, reason, "srt publish ended");
    handler
        .ended(forwarder.into_publisher(), &reason, dropped)
        .await;
}

/// Hands demuxed tags on; the reason to end the publish, if one came up.
fn deliver(forwarder: &mut MediaForwarder, out: &mut Vec<Demuxed>) -> Option<String> {
    for item in out.drain(..) {
        match item {
            Demuxed::Media(media) => match forwarder.forward(media) {
                Forwarded::Taken => {}
                Forwarded::Closed => return Some("disconnected by the server".into()),
                Forwarded::Unsupported(reason) => return Some(reason),
            },
            Demuxed::Unsupported(what) => {
                return Some(unsupported_reason(&format!("{what} (SRT)")));
            }
        }
    }
    None
}

/// One remote address's path to the listener.
struct Flow {
    socket: Arc<UdpSocket>,
    /// The loopback address the listener sees for it.
    inner: SocketAddr,
    seen: Mutex<Instant>,
    /// A handshake of this flow carried keying material.
    keys: std::sync::atomic::AtomicBool,
    /// Media (data packets) went through: a publish, not just a handshake.
    media: std::sync::atomic::AtomicBool,
    concluded: Conclusion,
    close: CancellationToken,
}

/// The public socket's guard: checks every datagram and relays it to the listener.
struct Relay {
    front: Arc<UdpSocket>,
    inner: SocketAddr,
    flows: Mutex<HashMap<SocketAddr, Arc<Flow>>>,
}

/// What the relay does with a datagram.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    Drop,
    Pass,
    /// A caller's first handshake: it may open a flow.
    Opens,
    /// A handshake with keying material (the caller encrypts).
    Keys,
}

impl Relay {
    async fn run(self: Arc<Self>, stop: CancellationToken, tracker: TaskTracker) {
        let mut buf = vec![0u8; MAX_DATAGRAM + 1];
        let mut sweep = tokio::time::interval(Duration::from_secs(1));
        loop {
            let (n, peer) = tokio::select! {
                _ = stop.cancelled() => break,
                _ = sweep.tick() => {
                    self.sweep();
                    continue;
                }
                r = self.front.recv_from(&mut buf) => match r {
                    Ok(r) => r,
                    Err(_) => continue,
                },
            };
            if n > MAX_DATAGRAM {
                continue;
            }
            let datagram = &buf[..n];
            let verdict = inspect(datagram);
            if verdict == Verdict::Drop {
                continue;
            }
            let flow = self
                .flows
                .lock()
                .map(|f| f.get(&peer).cloned())
                .ok()
                .flatten();
            let flow = match flow {
                Some(f) => f,
                None if verdict == Verdict::Opens => match self.open(peer, &stop, &tracker).await {
                    Some(f) => f,
                    None => continue,
                },
                None => continue,
            };
            if let Ok(mut seen) = flow.seen.lock() {
                *seen = Instant::now();
            }
            if verdict == Verdict::Keys {
                flow.keys.store(true, std::sync::atomic::Ordering::SeqCst);
            }
            // A data packet has the top bit clear.
            if verdict == Verdict::Pass && datagram[0] & 0x80 == 0 {
                flow.media.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            if let Some(answer) = flow.concluded.answer(&verdict, datagram) {
                let _ = self.front.send_to(&answer, peer).await;
                continue;
            }
            let _ = flow.socket.send(datagram).await;
        }
        if let Ok(mut flows) = self.flows.lock() {
            for (_, f) in flows.drain() {
                f.close.cancel();
            }
        }
    }

    /// A new flow for `peer`, within the bounds.
    async fn open(
        self: &Arc<Self>,
        peer: SocketAddr,
        stop: &CancellationToken,
        tracker: &TaskTracker,
    ) -> Option<Arc<Flow>> {
        {
            let flows = self.flows.lock().ok()?;
            let same_ip = flows.keys().filter(|a| a.ip() == peer.ip()).count();
            if flows.len() >= MAX_FLOWS || same_ip >= MAX_FLOWS_PER_IP {
                tracing::debug!(peer = %peer, "srt handshake dropped: too many flows");
                return None;
            }
        }
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await.ok()?;
        socket.connect(self.inner).await.ok()?;
        let flow = Arc::new(Flow {
            inner: socket.local_addr().ok()?,
            socket: Arc::new(socket),
            seen: Mutex::new(Instant::now()),
            keys: Default::default(),
            media: Default::default(),
            concluded: Conclusion::default(),
            close: stop.child_token(),
        });
        self.flows.lock().ok()?.insert(peer, flow.clone());
        let (front, back) = (self.front.clone(), flow.clone());
        tracker.spawn(async move {
            let mut buf = vec![0u8; MAX_DATAGRAM + 1];
            loop {
                let n = tokio::select! {
                    _ = back.close.cancelled() => break,
                    r = back.socket.recv(&mut buf) => match r {
                        Ok(n) => n,
                        Err(_) => continue,
                    },
                };
                back.concluded.passed_back(&buf[..n]);
                let _ = front.send_to(&buf[..n], peer).await;
            }
        });
        Some(flow)
    }

    /// Closes flows idle for [`FLOW_IDLE`] ([`HANDSHAKE_IDLE`] without media).
    fn sweep(&self) {
        let Ok(mut flows) = self.flows.lock() else {
            return;
        };
        flows.retain(|_, f| {
            let limit = if f.media.load(std::sync::atomic::Ordering::Relaxed) {
                FLOW_IDLE
            } else {
                HANDSHAKE_IDLE
            };
            let idle = f.seen.lock().map(|s| s.elapsed() > limit).unwrap_or(true);
            if idle {
                f.close.cancel();
            }
            !idle
        });
    }

    /// Whether the flow behind a loopback address sent keying material.
    fn sends_keys(&self, inner: SocketAddr) -> bool {
        self.flows.lock().is_ok_and(|f| {
            f.values()
                .any(|f| f.inner == inner && f.keys.load(std::sync::atomic::Ordering::SeqCst))
        })
    }

    /// The remote address behind a flow's loopback address.
    fn peer_of(&self, inner: SocketAddr) -> SocketAddr {
        self.flows
            .lock()
            .ok()
            .and_then(|f| f.iter().find(|(_, f)| f.inner == inner).map(|(p, _)| *p))
            .unwrap_or(SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0))
    }
}

thread_local! {
    /// Set while the relay parses a datagram: a panic there is expected and not printed.
    static QUIET: Cell<bool> = const { Cell::new(false) };
}

/// Parses a datagram as the listener would; `None` when it is not a packet or the parser
/// panicked on it.
fn parse(datagram: &[u8]) -> Option<Packet> {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(Cell::get) {
                previous(info)
            }
        }));
    });
    QUIET.with(|q| q.set(true));
    let parsed = std::panic::catch_unwind(|| Packet::parse(&mut Cursor::new(datagram), false).ok());
    QUIET.with(|q| q.set(false));
    parsed.ok().flatten()
}

/// The listener's answer to a caller's conclusion handshake, kept per flow. Should it be
/// lost, the caller sends its conclusion again (libsrt does, also once it hears keep-alives
/// of a connection it does not know is open yet); the relay answers that from here, as an
/// SRT listener does: srt-tokio's open connection drops the repeat (its socket id is not the
/// connection's), and the caller would give up after its connect timeout. At most one
/// datagram per flow.
#[derive(Debug, Default)]
struct Conclusion(Mutex<Option<Vec<u8>>>);

impl Conclusion {
    /// A datagram from the listener to the caller: kept when it answers a conclusion.
    fn passed_back(&self, datagram: &[u8]) {
        if is_conclusion(datagram) {
            if let Ok(mut kept) = self.0.lock() {
                *kept = Some(datagram.to_vec());
            }
        }
    }

    /// A datagram from the caller: what to answer it from here instead of passing it on,
    /// when it repeats a conclusion the listener answered already. An induction starts a new
    /// connection from the same address: the old answer is forgotten.
    fn answer(&self, verdict: &Verdict, datagram: &[u8]) -> Option<Vec<u8>> {
        if *verdict == Verdict::Opens {
            *self.0.lock().ok()? = None;
            return None;
        }
        if !is_conclusion(datagram) {
            return None;
        }
        self.0.lock().ok()?.clone()
    }
}

/// Whether a datagram is a conclusion handshake (a caller's request, or the listener's
/// acceptance). Only handshakes (a control packet of type 0: `0x80 0x00`) are parsed, so the
/// media and the other control packets cost a comparison.
fn is_conclusion(datagram: &[u8]) -> bool {
    if !datagram.starts_with(&[0x80, 0x00]) {
        return false;
    }
    matches!(
        parse(datagram),
        Some(Packet::Control(c)) if matches!(&c.control_type, ControlTypes::Handshake(h) if h.shake_type == ShakeType::Conclusion)
    )
}

/// Whether a datagram may reach the listener: it parses, and it is not one of the kinds
/// srt-tokio 0.4 panics on after parsing (congestion warnings, peer errors, loss reports for
/// data we never send, SRT control messages other than keying material, and handshakes whose
/// keying-material extension is not a request).
fn inspect(datagram: &[u8]) -> Verdict {
    let Some(packet) = parse(datagram) else {
        return Verdict::Drop;
    };
    let Packet::Control(control) = packet else {
        return Verdict::Pass;
    };
    match control.control_type {
        ControlTypes::Handshake(shake) => {
            let keys = match &shake.info {
                HandshakeVsInfo::V5(info) => match &info.ext_km {
                    None => false,
                    Some(SrtControlPacket::KeyRefreshRequest(_)) => true,
                    Some(_) => return Verdict::Drop,
                },
                HandshakeVsInfo::V4(_) => false,
            };
            if shake.shake_type == ShakeType::Induction {
                Verdict::Opens
            } else if keys {
                Verdict::Keys
            } else {
                Verdict::Pass
            }
        }
        ControlTypes::CongestionWarning | ControlTypes::PeerError(_) | ControlTypes::Nak(_) => {
            Verdict::Drop
        }
        ControlTypes::Srt(
            SrtControlPacket::KeyRefreshRequest(_) | SrtControlPacket::KeyRefreshResponse(_),
        ) => Verdict::Pass,
        ControlTypes::Srt(_) => Verdict::Drop,
        _ => Verdict::Pass,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_ids_name_keys() {
        for id in [
            "k3y",
            "live/k3y",
            "publish:live/k3y",
            "#!::r=live/k3y,m=publish",
            "#!::u=obs,r=k3y",
        ] {
            assert_eq!(publish_key(id), Ok("k3y"), "{id}");
        }
        for id in [
            "",
            "live/",
            "#!::r=live/k3y,m=request",
            "#!::m=publish",
            "a/b/c",
        ] {
            assert!(publish_key(id).is_err(), "{id}");
        }
    }

    /// A conclusion handshake with a configuration extension of type 6 (congestion control).
    fn handshake_with_extension_6() -> Vec<u8> {
        let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
        for word in [5u32, 4, 1234, 1500, 8192, 0xFFFF_FFFF, 77, 0] {
            p.extend_from_slice(&word.to_be_bytes());
        }
        p.extend_from_slice(&[127, 0, 0, 1]);
        p.extend_from_slice(&[0; 12]);
        p.extend_from_slice(&[0, 6, 0, 1]);
        p.extend_from_slice(b"live");
        p
    }

    #[test]
    fn a_handshake_the_parser_panics_on_is_dropped() {
        let p = handshake_with_extension_6();
        let parsed = std::panic::catch_unwind(|| Packet::parse(&mut Cursor::new(&p[..]), false));
        assert!(
            parsed.is_err(),
            "srt-protocol's parser panics on it (the relay's reason)"
        );
        assert_eq!(inspect(&p), Verdict::Drop);
        assert_eq!(parse(&p), None);
    }

    #[test]
    fn conclusion_handshakes_are_told_apart() {
        let mut shake = handshake_with_extension_6();
        shake.truncate(64);
        assert!(is_conclusion(&shake), "a conclusion (-1)");
        shake[16 + 20..16 + 24].copy_from_slice(&1u32.to_be_bytes());
        assert!(!is_conclusion(&shake), "an induction (1)");
        let keepalive = [0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7];
        assert!(!is_conclusion(&keepalive));
        assert!(!is_conclusion(&[
            0x00, 0, 0, 1, 0xC0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7
        ]));
        assert!(!is_conclusion(&[]));
    }

    #[test]
    fn a_repeated_conclusion_is_answered_from_the_kept_answer_of_its_connection_only() {
        let mut request = handshake_with_extension_6();
        request.truncate(64);
        let mut answer = request.clone();
        answer[16 + 24..16 + 28].copy_from_slice(&99u32.to_be_bytes());
        let mut induction = request.clone();
        induction[16 + 20..16 + 24].copy_from_slice(&1u32.to_be_bytes());
        let keepalive = [0x80, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7];
        let kept = Conclusion::default();
        assert_eq!(
            kept.answer(&Verdict::Pass, &request),
            None,
            "not answered yet"
        );
        kept.passed_back(&keepalive);
        kept.passed_back(&answer);
        assert_eq!(kept.answer(&Verdict::Pass, &request), Some(answer.clone()));
        assert_eq!(kept.answer(&Verdict::Keys, &request), Some(answer));
        assert_eq!(kept.answer(&Verdict::Pass, &keepalive), None);
        // A new connection from the same address: the old answer is not given to it.
        assert_eq!(kept.answer(&Verdict::Opens, &induction), None);
        assert_eq!(kept.answer(&Verdict::Pass, &request), None);
    }

    #[test]
    fn the_relay_drops_what_would_panic_the_listener() {
        assert_eq!(inspect(&[]), Verdict::Drop);
        assert_eq!(inspect(&[0xFF; 3]), Verdict::Drop);
        // A control packet (type 4, congestion warning): 16-byte header.
        let mut warning = vec![0x80, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 7];
        assert_eq!(inspect(&warning), Verdict::Drop);
        // Keep-alive (type 1) passes.
        warning[1] = 0x01;
        assert_eq!(inspect(&warning), Verdict::Pass);
        // A data packet passes.
        let data = [0x00, 0, 0, 1, 0xC0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7, 0x47];
        assert_eq!(inspect(&data), Verdict::Pass);
    }
}
