//! This node among the others sharing the database: it announces itself at start, beats
//! every third of a lease (renewing its sessions' leases, and its row with its live sessions
//! and load), ends the sessions of nodes that
//! died and never came back, marks its clean stop, and answers `/readyz` for load balancers.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::ssr::repo;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::PipelineEvent;
use crate::runner::Supervisor;

/// A dead node's open sessions are ended after this long without a heartbeat (when no
/// publisher reconnected to take them over).
pub(crate) const ORPHAN_AFTER: Duration = Duration::from_secs(60);

/// This node's identity and readiness.
pub(crate) struct Node {
    pub(crate) id: String,
    supervisor: Supervisor,
    lease_ttl: Duration,
    draining: AtomicBool,
    last_beat: Mutex<Instant>,
}

impl Node {
    pub(crate) fn new(id: String, supervisor: Supervisor, lease_ttl: Duration) -> Arc<Self> {
        Arc::new(Self {
            id,
            supervisor,
            lease_ttl,
            draining: AtomicBool::new(false),
            last_beat: Mutex::new(Instant::now()),
        })
    }

    /// Whether a load balancer should send new work here; why not, if not.
    pub(crate) fn ready(&self) -> Result<(), &'static str> {
        if self.draining.load(Ordering::Relaxed) {
            return Err("stopping");
        }
        let last = *self.last_beat.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() > self.lease_ttl {
            return Err("the database has not answered for a lease's time");
        }
        if self.supervisor.ctx().disk.is_low() {
            return Err("the data folder's disk is almost full");
        }
        Ok(())
    }

    /// How many streams this node holds.
    pub(crate) fn live_sessions(&self) -> usize {
        self.supervisor.live_count()
    }

    /// What the other nodes run (the groups live there, their jobs' states), for this
    /// node's dashboard. Kept as it was when the database does not answer.
    async fn read_peers(&self, ctx: &crate::runner::RunnerCtx, now: chrono::DateTime<chrono::Utc>) {
        let db = &ctx.state.db;
        if db.engine() == app::ssr::db::Engine::Sqlite {
            return; // one node: no peers
        }
        let since = now - chrono::Duration::from_std(self.lease_ttl).unwrap_or_default();
        let (Ok(live), Ok(published)) = (
            repo::live_sessions::all_live(db).await,
            repo::nodes::jobs_of_others(db, &self.id, since).await,
        ) else {
            return;
        };
        let groups = live
            .into_iter()
            .filter(|(.., node)| node.as_deref() != Some(self.id.as_str()))
            .map(|(_, group, ..)| group)
            .collect();
        let jobs = published
            .iter()
            .filter_map(|j| serde_json::from_str::<Vec<app::domain::jobs::JobStatus>>(j).ok())
            .flatten()
            .collect();
        ctx.peers.update(groups, jobs);
    }

    /// Acts on the other nodes' signals about groups that run here (settings saved, publisher
    /// to cut), until `stop`. Nothing to do on SQLite (one node).
    pub(crate) async fn listen(self: Arc<Self>, stop: CancellationToken) {
        let ctx = self.supervisor.ctx().clone();
        let channel = crate::runner::peers::GROUP_CHANNEL;
        crate::tasks::listen(&ctx.state.db, channel, &stop, |payload| {
            if let Some(signal) = crate::runner::peers::Signal::parse(&payload) {
                if self.supervisor.on_signal(signal) {
                    tracing::info!(?signal, "acted on another node's signal");
                }
            }
        })
        .await;
    }

    /// The node is stopping: `/readyz` fails from now on.
    pub(crate) fn drain(&self) {
        self.draining.store(true, Ordering::Relaxed);
    }

    /// Beats until `stop`: the node's row (live sessions, load), and every tenth beat the
    /// sessions other nodes left behind.
    pub(crate) async fn run(self: Arc<Self>, stop: CancellationToken) {
        let ctx = self.supervisor.ctx().clone();
        let db = &ctx.state.db;
        let mut tick = tokio::time::interval((self.lease_ttl / 3).max(Duration::from_millis(100)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut beats = 0u64;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            // The leases of this node's live sessions, then the node's own row.
            if let Err(e) = self.supervisor.renew_leases().await {
                tracing::warn!(error = %e, "cannot renew the leases of live sessions");
            }
            let now = ctx.state.clock.now();
            let live = i64::try_from(self.live_sessions()).unwrap_or(i64::MAX);
            let jobs =
                serde_json::to_string(&ctx.jobs.statuses(&ctx.live_streams())).unwrap_or_default();
            match repo::nodes::heartbeat(db, &self.id, live, crate::machine::load_1m(), &jobs, now)
                .await
            {
                Ok(()) => {
                    *self.last_beat.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now()
                }
                Err(e) => tracing::warn!(error = %e, "node heartbeat failed"),
            }
            self.read_peers(&ctx, now).await;
            beats += 1;
            if !beats.is_multiple_of(10) {
                continue;
            }
            if ctx.store.remote().is_some() {
                // Clips whose node died before finishing them (their claim ran out): any
                // node can fetch their files from the store and finish them.
                if let Ok(unfinished) = repo::clips::unfinished(db).await {
                    for (id, dir) in unfinished {
                        self.supervisor.resume_clip(id, dir, None);
                    }
                }
            }
            let stale = now - chrono::Duration::from_std(ORPHAN_AFTER).unwrap_or_default();
            let reason = "its node stopped answering";
            match repo::live_sessions::end_orphaned(db, &self.id, stale, reason, now).await {
                Ok(ended) => {
                    for s in ended {
                        tracing::warn!(
                            session.id = s.session_id,
                            group.id = s.group_id,
                            "ended a dead node's session"
                        );
                        ctx.emit(PipelineEvent::SessionEnded {
                            organisation_id: s.organisation_id,
                            group_id: s.group_id,
                            session_id: s.session_id,
                            reason: reason.into(),
                            at: now,
                        });
                        crate::runner::close_abandoned(
                            &ctx,
                            s.organisation_id,
                            s.session_id,
                            i64::MAX,
                            None,
                        )
                        .await;
                        let streams: Vec<i64> = repo::streams::streams_of(db, s.group_id)
                            .await
                            .map(|v| v.into_iter().map(|st| st.id).collect())
                            .unwrap_or_default();
                        crate::runner::recover_checkpointed(
                            &ctx,
                            s.organisation_id,
                            s.group_id,
                            s.session_id,
                            1..s.epoch + 1,
                            &streams,
                        )
                        .await;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "cannot end dead nodes' sessions"),
            }
        }
    }
}
