//! The RTMP ingest: a listener inside the server process, built on rtmp-rs behind our own
//! accept loop (so it binds port 0 in tests, caps connections, and can cut any connection).
//! Publish URL: `rtmp://HOST/live/<stream key>`. What happens to a publish is decided in
//! [`handler`]; the media goes to the [`crate::runner::Supervisor`].

pub mod handler;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rtmp_rs::registry::StreamRegistry;
use rtmp_rs::server::connection::Connection;
use rtmp_rs::ServerConfig;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use handler::IngestHandler;

/// Connections served at once.
pub const MAX_CONNECTIONS: usize = 512;
/// A handshake must complete within this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection that sends nothing for this long is closed (ends a stalled publish).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// A connection must send `connect` within this (garbage that passes as a handshake).
pub const CONNECT_DEADLINE: Duration = Duration::from_secs(5);
/// A connection must be publishing within this (we serve publishers only).
pub const PUBLISH_DEADLINE: Duration = Duration::from_secs(15);

/// The running listener.
pub struct Ingest {
    pub addr: SocketAddr,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Ingest {
    /// Serves a bound listener until [`Ingest::stop`].
    pub fn serve(listener: TcpListener, handler: Arc<IngestHandler>) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let config = ServerConfig::with_addr(addr)
            .connection_timeout(HANDSHAKE_TIMEOUT)
            .idle_timeout(IDLE_TIMEOUT)
            .disable_gop_buffer();
        let registry = Arc::new(StreamRegistry::new());
        let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
        let next_id = Arc::new(AtomicU64::new(1));
        let (stop2, tracker2) = (stop.clone(), tracker.clone());
        tracker.spawn(async move {
            loop {
                let (socket, peer) = tokio::select! {
                    _ = stop2.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            tracing::warn!("rtmp accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(peer = %peer, "rtmp connection refused: too many connections");
                    continue;
                };
                let _ = socket.set_nodelay(true);
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let cut = stop2.child_token();
                handler.connection_opened(id, cut.clone());
                let (handler, registry, config) = (handler.clone(), registry.clone(), config.clone());
                tracker2.spawn(async move {
                    let watchdog = tokio::spawn(watch(handler.clone(), id, cut.clone()));
                    let mut conn = Connection::new(id, socket, peer, config, handler.clone(), registry);
                    tokio::select! {
                        r = conn.run() => if let Err(e) = r { tracing::debug!(conn.id = id, "rtmp connection ended: {e}") },
                        _ = cut.cancelled() => tracing::info!(conn.id = id, peer = %peer, "rtmp connection cut"),
                    }
                    watchdog.abort();
                    drop(conn);
                    handler.connection_closed(id).await;
                    drop(permit);
                });
            }
        });
        tracing::info!(rtmp.addr = %addr, "rtmp ingest listening");
        Ok(Self {
            addr,
            stop,
            tracker,
        })
    }

    /// Stops accepting, cuts every connection and waits for them to close.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        let _ = tokio::time::timeout(Duration::from_secs(5), self.tracker.wait()).await;
    }
}

/// Cuts a connection that does not get to `connect` and then to publishing in time.
async fn watch(handler: Arc<IngestHandler>, id: u64, cut: CancellationToken) {
    tokio::time::sleep(CONNECT_DEADLINE).await;
    if !handler.has_connected(id) {
        tracing::warn!(
            conn.id = id,
            "rtmp connection cut: no connect within {CONNECT_DEADLINE:?}"
        );
        cut.cancel();
        return;
    }
    tokio::time::sleep(PUBLISH_DEADLINE - CONNECT_DEADLINE).await;
    if !handler.is_publishing(id) {
        tracing::warn!(
            conn.id = id,
            "rtmp connection cut: not publishing within {PUBLISH_DEADLINE:?}"
        );
        cut.cancel();
    }
}
