//! The HTTP accept loop, in our hands rather than `axum::serve`'s so it can be bounded:
//! HTTP/1.1 only (reverse proxies speak it upstream; no h2c surface), a header-read timeout
//! that also ends idle keep-alive connections, a cap on open connections in all and per
//! client address (trusted proxies exempt: many clients share them), and graceful shutdown
//! that lets requests in flight finish. Request bodies have their own idle timeout (in the
//! router); responses (media downloads) may take as long as they need.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use app::ssr::net::IpNet;

/// What the listener allows.
#[derive(Debug, Clone)]
pub(crate) struct HttpLimits {
    /// Connections open at once, in all.
    pub(crate) connections: usize,
    /// Connections open at once from one client address.
    pub(crate) per_address: usize,
    /// A request's headers (and the next request on an idle connection) must arrive within
    /// this.
    pub(crate) header_timeout: Duration,
    /// Peers exempt from the per-address cap.
    pub(crate) trusted_proxies: Vec<IpNet>,
}

impl HttpLimits {
    /// The defaults with `connections` in all.
    pub(crate) fn new(connections: usize, trusted_proxies: Vec<IpNet>) -> Self {
        Self {
            connections: connections.max(1),
            per_address: 256,
            header_timeout: Duration::from_secs(10),
            trusted_proxies,
        }
    }
}

/// Counts connections per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

impl PerAddress {
    fn enter(&self, ip: IpAddr, max: usize) -> bool {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, ip: IpAddr) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                m.remove(&ip);
            }
        }
    }
}

/// Serves `router` until `shutdown`, then waits for open requests to finish.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let per_address = Arc::new(PerAddress::default());
    let tracker = TaskTracker::new();
    let mut refused: u64 = 0;
    loop {
        let (socket, peer) = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Usually out of file descriptors: wait rather than spin.
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            refused += 1;
            if refused % 1000 == 1 {
                tracing::warn!(
                    refused,
                    "http connection refused: too many open connections"
                );
            }
            continue;
        };
        let ip = peer.ip();
        let counted = !limits.trusted_proxies.iter().any(|n| n.contains(ip));
        if counted && !per_address.enter(ip, limits.per_address) {
            refused += 1;
            if refused % 1000 == 1 {
                tracing::warn!(peer = %ip, refused, "http connection refused: too many from one address");
            }
            continue;
        }
        let _ = socket.set_nodelay(true);
        let service = router.clone().map_request(
            move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        );
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_timeout)
            .serve_connection(TokioIo::new(socket), TowerToHyperService::new(service));
        let (shutdown, per_address) = (shutdown.clone(), per_address.clone());
        tracker.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                r = connection.as_mut() => {
                    if let Err(e) = r {
                        tracing::debug!(peer = %peer, error = %e, "http connection ended");
                    }
                }
                _ = shutdown.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            if counted {
                per_address.leave(ip);
            }
            drop(slot);
        });
    }
    tracker.close();
    tracker.wait().await;
    Ok(())
}

/// Raises this process's open-file limit to what the system allows (up to 65 536): every
/// connection, ffmpeg pipe and media file needs a descriptor, and the usual soft limit of
/// 1024 is far below what the caps above allow.
pub(crate) fn raise_fd_limit() {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    if let Ok((soft, hard)) = getrlimit(Resource::RLIMIT_NOFILE) {
        let want = hard.min(65_536);
        if want > soft {
            if let Err(e) = setrlimit(Resource::RLIMIT_NOFILE, want, hard) {
                tracing::warn!(error = %e, "cannot raise the open-file limit");
            }
        }
    }
}
