//! Who may hold an RTMP connection. Connections that have not published yet ("pending") come
//! from a small pool with a cap per source address; accepted publishers hold a permit from a
//! separate pool, so half-open connections can never take a publisher's place. When the
//! pending pool is full, a newcomer evicts a pending connection: the one that got least far
//! (no handshake before handshake, before `connect`), then from the source holding the most,
//! then the oldest. A real publisher gets through its handshake and `connect` in a few round
//! trips, so floods of half-open or slow connections, from one host or many, evict each
//! other rather than it.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

/// Limits of the two pools.
#[derive(Debug, Clone, Copy)]
pub struct AdmissionLimits {
    /// Connections not yet publishing, in all.
    pub pending: usize,
    /// Connections not yet publishing, per source (an IPv4 address or an IPv6 /64).
    pub pending_per_source: usize,
    /// Accepted publishers.
    pub publishers: usize,
}

impl Default for AdmissionLimits {
    fn default() -> Self {
        // A pending connection holds at most ~45 KiB (its read buffer and the protocol's
        // pre-publish bounds): 512 of them are ~23 MiB. The pool is large so that a real
        // publisher's handshake (a few round trips) finishes before a flood from many
        // sources turns the pool over.
        Self {
            pending: 512,
            pending_per_source: 4,
            publishers: 256,
        }
    }
}

/// Counters of what admission did, for logs and tests.
#[derive(Debug, Default)]
pub struct AdmissionStats {
    pub admitted: AtomicU64,
    pub refused_per_source: AtomicU64,
    pub evicted: AtomicU64,
    pub refused_full: AtomicU64,
}

/// A source: an IPv4 address, or the /64 of an IPv6 address (one host usually has a /64).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Source(IpAddr);

impl Source {
    /// The source of a peer address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Source(IpAddr::V4(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Source(IpAddr::V4(v4)),
                None => {
                    let s = v6.segments();
                    Source(IpAddr::V6(Ipv6Addr::new(
                        s[0], s[1], s[2], s[3], 0, 0, 0, 0,
                    )))
                }
            },
        }
    }
}

struct Pending {
    source: Source,
    since: Instant,
    /// How far the connection got: 0 nothing, 1 handshake done, 2 `connect` accepted.
    progress: u8,
    cut: CancellationToken,
}

#[derive(Default)]
struct Table {
    pending: HashMap<u64, Pending>,
    per_source: HashMap<Source, usize>,
}

impl Table {
    fn remove(&mut self, id: u64) -> Option<Pending> {
        let p = self.pending.remove(&id)?;
        if let Some(n) = self.per_source.get_mut(&p.source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&p.source);
            }
        }
        Some(p)
    }
}

/// Both pools.
pub struct Admission {
    limits: AdmissionLimits,
    table: Mutex<Table>,
    publishers: Arc<Semaphore>,
    pub stats: AdmissionStats,
}

/// Why a connection was not let in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Its source already holds its share of pending connections.
    PerSource,
    /// Every publisher slot is taken.
    Full,
}

impl Admission {
    /// Empty pools.
    pub fn new(limits: AdmissionLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            table: Mutex::default(),
            publishers: Arc::new(Semaphore::new(limits.publishers)),
            stats: AdmissionStats::default(),
        })
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets connection `id` in as pending, evicting another if the pool is full. `cut` closes
    /// it if it is evicted later.
    pub fn admit(
        self: &Arc<Self>,
        id: u64,
        ip: IpAddr,
        cut: CancellationToken,
        now: Instant,
    ) -> Result<PendingTicket, Refused> {
        let source = Source::of(ip);
        let mut t = self.table();
        if t.per_source.get(&source).copied().unwrap_or(0) >= self.limits.pending_per_source {
            self.stats
                .refused_per_source
                .fetch_add(1, Ordering::Relaxed);
            return Err(Refused::PerSource);
        }
        if t.pending.len() >= self.limits.pending {
            let victim = t
                .pending
                .iter()
                .min_by_key(|(_, p)| {
                    let held = t.per_source.get(&p.source).copied().unwrap_or(0);
                    (p.progress, std::cmp::Reverse(held), p.since)
                })
                .map(|(id, _)| *id);
            if let Some(victim) = victim.and_then(|v| t.remove(v)) {
                victim.cut.cancel();
                self.stats.evicted.fetch_add(1, Ordering::Relaxed);
            }
        }
        t.pending.insert(
            id,
            Pending {
                source,
                since: now,
                progress: 0,
                cut,
            },
        );
        *t.per_source.entry(source).or_insert(0) += 1;
        self.stats.admitted.fetch_add(1, Ordering::Relaxed);
        Ok(PendingTicket {
            admission: self.clone(),
            id,
        })
    }

    /// Pending connections now.
    pub fn pending(&self) -> usize {
        self.table().pending.len()
    }

    /// Accepted publishers now.
    pub fn publishing(&self) -> usize {
        self.limits
            .publishers
            .saturating_sub(self.publishers.available_permits())
    }
}

/// A pending connection's place; freed when dropped or promoted.
pub struct PendingTicket {
    admission: Arc<Admission>,
    id: u64,
}

impl PendingTicket {
    /// The connection got further (1: handshake done, 2: `connect` accepted): it is evicted
    /// after those that did not.
    pub fn progressed(&self, progress: u8) {
        if let Some(p) = self.admission.table().pending.get_mut(&self.id) {
            p.progress = p.progress.max(progress);
        }
    }

    /// The connection's publish was accepted: it leaves the pending pool for a publisher
    /// slot, if one is free.
    pub fn promote(&self) -> Result<OwnedSemaphorePermit, Refused> {
        let permit = self
            .admission
            .publishers
            .clone()
            .try_acquire_owned()
            .map_err(|_| {
                self.admission
                    .stats
                    .refused_full
                    .fetch_add(1, Ordering::Relaxed);
                Refused::Full
            })?;
        self.admission.table().remove(self.id);
        Ok(permit)
    }
}

impl Drop for PendingTicket {
    fn drop(&mut self) {
        self.admission.table().remove(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn a_source_holds_its_share_and_the_busiest_is_evicted_first() {
        let a = Admission::new(AdmissionLimits {
            pending: 4,
            pending_per_source: 3,
            publishers: 1,
        });
        let t0 = Instant::now();
        let mut cuts = Vec::new();
        let mut tickets = Vec::new();
        for id in 0..3 {
            let cut = CancellationToken::new();
            let at = t0 + std::time::Duration::from_millis(id);
            tickets.push(
                a.admit(id, ip("10.0.0.1"), cut.clone(), at)
                    .expect("admitted"),
            );
            cuts.push(cut);
        }
        assert_eq!(
            a.admit(9, ip("10.0.0.1"), CancellationToken::new(), t0)
                .err(),
            Some(Refused::PerSource)
        );
        let other = a
            .admit(3, ip("10.0.0.2"), CancellationToken::new(), t0)
            .expect("in");
        // Full: a newcomer evicts the oldest of the busiest source, not the other host.
        let newcomer = a
            .admit(4, ip("10.0.0.3"), CancellationToken::new(), t0)
            .expect("in");
        assert!(cuts[0].is_cancelled());
        assert!(!cuts[1].is_cancelled());
        assert_eq!(a.pending(), 4);
        // A connection that got further is evicted last, whatever its source holds.
        tickets[1].progressed(2);
        let next = a
            .admit(5, ip("10.0.0.4"), CancellationToken::new(), t0)
            .expect("in");
        assert!(!cuts[1].is_cancelled(), "it had sent connect");
        assert!(cuts[2].is_cancelled(), "the busiest source's idle one went");
        // Promotion moves a connection to the publisher pool, which has its own limit.
        assert_eq!(a.pending(), 4);
        let permit = newcomer.promote().expect("slot");
        assert_eq!(a.pending(), 3);
        assert_eq!(other.promote().err(), Some(Refused::Full));
        drop(permit);
        assert!(other.promote().is_ok());
        drop((tickets, next));
        assert_eq!(a.pending(), 0);
    }

    #[test]
    fn ipv6_sources_are_their_64_and_mapped_ipv4_is_ipv4() {
        assert_eq!(
            Source::of(ip("2001:db8:1:2:aaaa::1")),
            Source::of(ip("2001:db8:1:2:bbbb::2"))
        );
        assert_ne!(
            Source::of(ip("2001:db8:1:2::1")),
            Source::of(ip("2001:db8:1:3::1"))
        );
        assert_eq!(
            Source::of(ip("::ffff:10.1.2.3")),
            Source::of(ip("10.1.2.3"))
        );
    }
}
