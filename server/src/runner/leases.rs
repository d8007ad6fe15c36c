//! What this node knows of its leases between heartbeats, for writes that another node may
//! make too once it takes a session over (the replay playlist both epochs write). A lease
//! counts as held until one lease time after the start of the last renewal that saw it, less
//! a margin for the write in flight: the other node can take it only after a full lease time
//! without renewal, so a write allowed here never lands after the takeover's first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use app::ssr::repo::live_sessions::Lease;
use tokio::time::Instant;

/// Until when each lease of this node is surely held.
#[derive(Debug, Default)]
pub struct LeaseBook {
    held: Mutex<HashMap<Lease, Hold>>,
}

#[derive(Debug, Clone, Copy)]
enum Hold {
    /// Open, renewed: held until then.
    Until(Instant),
    /// This node ended the session: nobody can take it over any more.
    Ended,
}

impl LeaseBook {
    /// A lease was taken, or seen renewed by a heartbeat that started at `at`.
    pub fn renewed(&self, lease: Lease, at: Instant, ttl: Duration) {
        let mut book = self.book();
        if !matches!(book.get(&lease), Some(Hold::Ended)) {
            book.insert(lease, Hold::Until(at + ttl));
        }
    }

    /// This node ended the session in the database: its last files may still be written.
    pub fn ended(&self, lease: Lease) {
        self.book().insert(lease, Hold::Ended);
    }

    /// A lease was lost (nothing shared is written for it any more), or its session is over
    /// on this node.
    pub fn forget(&self, lease: Lease) {
        self.book().remove(&lease);
    }

    /// Whether a shared file of the session may be written now: the lease is held for at
    /// least `margin` more, or this node ended the session.
    pub fn may_write(&self, lease: Lease, margin: Duration) -> bool {
        match self.book().get(&lease) {
            Some(Hold::Until(until)) => Instant::now() + margin < *until,
            Some(Hold::Ended) => true,
            None => false,
        }
    }

    fn book(&self) -> std::sync::MutexGuard<'_, HashMap<Lease, Hold>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lease_allows_writes_until_a_margin_before_it_runs_out() {
        let book = LeaseBook::default();
        let lease = Lease {
            session_id: 1,
            epoch: 1,
        };
        let ttl = Duration::from_secs(6);
        let margin = Duration::from_secs(2);
        assert!(!book.may_write(lease, margin), "never taken");
        book.renewed(lease, Instant::now(), ttl);
        assert!(book.may_write(lease, margin));
        tokio::time::advance(Duration::from_secs(3)).await;
        assert!(book.may_write(lease, margin), "3 s of 6");
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert!(
            !book.may_write(lease, margin),
            "within the margin of the end"
        );
        book.renewed(lease, Instant::now(), ttl);
        assert!(book.may_write(lease, margin), "renewed");
        book.ended(lease);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(
            book.may_write(lease, margin),
            "ended here: no other node can take it"
        );
        book.renewed(lease, Instant::now(), ttl);
        tokio::time::advance(Duration::from_secs(60)).await;
        assert!(
            book.may_write(lease, margin),
            "a late heartbeat does not undo the end"
        );
        book.forget(lease);
        assert!(!book.may_write(lease, margin), "lost");
    }
}
