//! The RTMP ingest: our own listener and protocol implementation (`rtmp-ingest`, a sans-IO
//! state machine), so every byte that arrives before a key is accepted is parsed under fixed
//! bounds. Publish URL: `rtmp://HOST/live/<stream key>`.
//!
//! - [`admission`]: who may hold a connection (pending pool per source, publisher pool).
//! - [`connection`]: one connection's I/O and deadlines.
//! - [`handler`]: key checks, session start, media hand-off to the
//!   [`crate::runner::Supervisor`].
//! - [`srt`]: the SRT ingest beside it (MPEG-TS remuxed to the same tags).

pub mod admission;
pub(crate) mod connection;
pub(crate) mod handler;
pub(crate) mod srt;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use admission::{Admission, AdmissionLimits};
use connection::Ending;
use handler::IngestHandler;

/// The running listener.
pub(crate) struct Ingest {
    /// Who holds connections, and what admission did.
    pub admission: Arc<Admission>,
    stop: CancellationToken,
    tracker: TaskTracker,
}

impl Ingest {
    /// Serves a bound listener until [`Ingest::stop`].
    pub(crate) fn serve(
        listener: TcpListener,
        handler: Arc<IngestHandler>,
        limits: AdmissionLimits,
    ) -> std::io::Result<Self> {
        let addr = listener.local_addr()?;
        let stop = CancellationToken::new();
        let tracker = TaskTracker::new();
        let admission = Admission::new(limits);
        let next_id = AtomicU64::new(1);
        let (stop2, tracker2, admission2) = (stop.clone(), tracker.clone(), admission.clone());
        tracker.spawn(async move {
            loop {
                let (socket, peer) = tokio::select! {
                    _ = stop2.cancelled() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Out of descriptors, usually: wait instead of spinning.
                            tracing::warn!(error = %e, "rtmp accept failed");
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                if handler.blocked(peer.ip()) {
                    metrics::counter!(crate::metrics::RTMP_BLOCKED).increment(1);
                    tracing::debug!(peer = %peer, "rtmp connection refused: too many wrong keys");
                    continue;
                }
                let id = next_id.fetch_add(1, Ordering::Relaxed);
                let cut = stop2.child_token();
                let ticket = match admission2.admit(id, peer.ip(), cut.clone(), Instant::now()) {
                    Ok(t) => t,
                    Err(why) => {
                        tracing::debug!(peer = %peer, ?why, "rtmp connection refused");
                        continue;
                    }
                };
                let _ = socket.set_nodelay(true);
                let handler = handler.clone();
                tracker2.spawn(async move {
                    let ending =
                        connection::serve(socket, peer, id, handler, cut, ticket).await;
                    match ending {
                        Ending::Peer | Ending::Unpublished | Ending::Refused => {
                            tracing::debug!(conn.id = id, peer = %peer, ?ending, "rtmp connection ended")
                        }
                        _ => tracing::info!(conn.id = id, peer = %peer, ?ending, "rtmp connection ended"),
                    }
                });
            }
        });
        tracing::info!(rtmp.addr = %addr, "rtmp ingest listening");
        Ok(Self {
            admission,
            stop,
            tracker,
        })
    }

    /// Stops accepting, cuts every connection and waits for them to close.
    pub async fn stop(&self) {
        self.stop.cancel();
        self.tracker.close();
        if tokio::time::timeout(Duration::from_secs(5), self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("rtmp connections still open 5 s after stop");
        }
    }
}
