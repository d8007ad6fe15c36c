//! What this node knows of the other nodes' live work, refreshed by its heartbeat from what
//! they publish with theirs: which stream groups are live elsewhere and what their jobs are
//! doing, so this node's dashboard shows them as the owner does. And the signals nodes send
//! each other about a group (PostgreSQL `NOTIFY` on [`GROUP_CHANNEL`]): settings saved on one
//! node reload the session on the node that runs it; a revoked key or a deleted group cuts
//! the publisher wherever it is.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use app::domain::jobs::JobStatus;

/// The channel of group signals.
pub const GROUP_CHANNEL: &str = "livepro_groups";

/// A signal about a stream group, for the node that runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Its settings were saved: reload them.
    Reload(i64),
    /// Cut its publisher (key revoked, group deleted).
    Disconnect(i64),
}

impl Signal {
    /// As sent.
    pub fn payload(self) -> String {
        match self {
            Signal::Reload(g) => format!("reload:{g}"),
            Signal::Disconnect(g) => format!("disconnect:{g}"),
        }
    }

    /// As received; `None` for anything else.
    pub fn parse(payload: &str) -> Option<Self> {
        let (what, group) = payload.split_once(':')?;
        let group = group.parse().ok()?;
        match what {
            "reload" => Some(Signal::Reload(group)),
            "disconnect" => Some(Signal::Disconnect(group)),
            _ => None,
        }
    }
}

/// The other nodes' live work as last read.
#[derive(Debug, Default)]
pub struct Peers {
    live_groups: Mutex<HashSet<i64>>,
    jobs: Mutex<HashMap<i64, Vec<JobStatus>>>,
}

impl Peers {
    /// Replaces what is known: the groups live on other nodes, and their streams' job states.
    pub fn update(&self, live_groups: HashSet<i64>, jobs: Vec<JobStatus>) {
        let mut by_stream: HashMap<i64, Vec<JobStatus>> = HashMap::new();
        for j in jobs {
            by_stream.entry(j.stream_id).or_default().push(j);
        }
        *self.live_groups.lock().unwrap_or_else(|p| p.into_inner()) = live_groups;
        *self.jobs.lock().unwrap_or_else(|p| p.into_inner()) = by_stream;
    }

    /// Whether a group is live on another node.
    pub fn is_live_elsewhere(&self, group_id: i64) -> bool {
        self.live_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&group_id)
    }

    /// A stream's job states on the node that runs it, if another node does.
    pub fn jobs_of(&self, stream_id: i64) -> Option<Vec<JobStatus>> {
        self.jobs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&stream_id)
            .cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_read_back_and_nothing_else_reads() {
        for s in [Signal::Reload(7), Signal::Disconnect(12)] {
            assert_eq!(Signal::parse(&s.payload()), Some(s));
        }
        for bad in ["", "reload", "reload:", "reload:x", "stop:3", ":3"] {
            assert_eq!(Signal::parse(bad), None, "{bad}");
        }
    }
}
