//! The supervisor: starts a session when a publisher's key is accepted, ends it when the
//! publisher leaves, applies settings to live sessions, and stops them all at shutdown; and
//! the [`Pipeline`] port the dashboard and the API use (job states, clips, saved spans,
//! storage).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::jobs::{ApplyMode, JobStatus};
use app::ssr::limiter::JobSlot;
use app::ssr::pipeline::{ClipFiles, MediaFuture, Pipeline, ReplaySpan};
use app::ssr::repo;
use app::ssr::repo::live_sessions::{Begun, Lease};
use chrono::{DateTime, Utc};
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{mpsc, watch, Notify};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::gop::MediaTag;
use super::peers::Signal;
use super::session::{self, SessionControl, SessionPlan};
use super::{disk, error, RunnerCtx};
use crate::events::PipelineEvent;

/// A session as the supervisor tracks it.
struct Live {
    organisation_id: i64,
    group_id: i64,
    lease: Lease,
    started_at: DateTime<Utc>,
    reload: Arc<Notify>,
    cancel: CancellationToken,
    /// Cuts the publisher's RTMP connection.
    disconnect: CancellationToken,
    /// Set when the publisher dropped: the session's replays stay open for its return.
    keep_open: Arc<AtomicBool>,
    /// True once the session's media has finished (files written, playlists left).
    finished: watch::Receiver<bool>,
}

/// A session whose publisher dropped, waiting (the group's reconnect grace) for the same key
/// to publish again. The database row stays open and this node's heartbeat keeps its lease.
struct Waiting {
    organisation_id: i64,
    lease: Lease,
    started_at: DateTime<Utc>,
    /// How the connection ended: the session's end reason if nobody comes back.
    reason: String,
    finished: watch::Receiver<bool>,
}

/// How a session's lease was had.
enum Start {
    New,
    /// From a node whose lease ran out (its id, when known); `true` when that node's
    /// publisher had dropped and reconnected here instead.
    TookOver(Option<String>, bool),
    /// The publisher came back within the reconnect grace.
    Reconnected,
}

/// How long a publish reaching a node while another node holds the group's session keeps
/// asking, in case that node's publisher just dropped and it is finishing the epoch (a
/// second publisher of a live group is refused after this).
const DROP_SETTLE: Duration = Duration::from_secs(4);

/// How long a dropped epoch may take to finish its files before the next one starts anyway
/// (a rendition waits up to 60 s for its jobs, then writes its last files).
const FINISH_WAIT: Duration = Duration::from_secs(90);

/// Ends a clip's finishing on this node when dropped.
struct FinishingGuard(Arc<RunnerCtx>, i64);

impl Drop for FinishingGuard {
    fn drop(&mut self) {
        self.0.end_finishing(self.1);
    }
}

/// Why a publish was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BeginError {
    #[error("the stream is already live")]
    AlreadyLive,
    #[error("the stream group no longer exists")]
    Gone,
    #[error("internal error: {0}")]
    Internal(String),
}

/// The publisher's side of a session: where its tags go.
#[derive(Debug)]
pub struct Publisher {
    pub group_id: i64,
    pub session_id: i64,
    pub tags: mpsc::Sender<MediaTag>,
}

/// Tags queued from the RTMP connection to the session.
const INTAKE_QUEUE: usize = 4096;

/// Owns every live session.
#[derive(Clone)]
pub struct Supervisor {
    ctx: Arc<RunnerCtx>,
    live: Arc<Mutex<HashMap<i64, Live>>>,
    waiting: Arc<Mutex<HashMap<i64, Waiting>>>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

impl Supervisor {
    /// A supervisor with nothing running.
    pub fn new(ctx: Arc<RunnerCtx>) -> Self {
        Self {
            ctx,
            live: Arc::default(),
            waiting: Arc::default(),
            tracker: TaskTracker::new(),
            shutdown: CancellationToken::new(),
        }
    }

    /// The shared context.
    pub fn ctx(&self) -> &Arc<RunnerCtx> {
        &self.ctx
    }

    /// Starts a session for a group whose key was just accepted. `disconnect` cuts the
    /// publisher's connection when the supervisor must end the session from its side.
    pub async fn begin(
        &self,
        group_id: i64,
        remote: &str,
        disconnect: CancellationToken,
    ) -> Result<Publisher, BeginError> {
        if self.shutdown.is_cancelled() {
            return Err(BeginError::Internal("server is stopping".into()));
        }
        if self.is_live(group_id) {
            return Err(BeginError::AlreadyLive);
        }
        let db = &self.ctx.state.db;
        let group = repo::streams::get_group_any(db, group_id)
            .await
            .map_err(|e| BeginError::Internal(e.to_string()))?
            .ok_or(BeginError::Gone)?;
        let streams = repo::streams::streams_of(db, group_id)
            .await
            .map_err(|e| BeginError::Internal(e.to_string()))?;
        let taken_at = tokio::time::Instant::now();
        let (lease, started_at, start) = match self.resume_waiting(group_id, remote).await {
            Some((lease, started_at)) => (lease, started_at, Start::Reconnected),
            None => {
                let (lease, started_at, took_over) = self.lease(group_id, remote).await?;
                let start = match took_over {
                    None => Start::New,
                    Some((from, reconnected)) => Start::TookOver(from, reconnected),
                };
                (lease, started_at, start)
            }
        };
        self.ctx
            .leases
            .renewed(lease, taken_at, self.ctx.config.lease_ttl);
        let session_id = lease.session_id;
        let (tx, rx) = mpsc::channel(INTAKE_QUEUE);
        let control = SessionControl {
            reload: Arc::new(Notify::new()),
            cancel: self.shutdown.child_token(),
            keep_open: Arc::new(AtomicBool::new(false)),
        };
        let (finished_tx, finished) = watch::channel(false);
        let raced = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            let raced = live.contains_key(&group_id);
            if !raced {
                live.insert(
                    group_id,
                    Live {
                        organisation_id: group.organisation_id,
                        group_id,
                        lease,
                        started_at,
                        reload: control.reload.clone(),
                        cancel: control.cancel.clone(),
                        disconnect,
                        keep_open: control.keep_open.clone(),
                        finished,
                    },
                );
            }
            raced
        };
        if raced {
            self.ctx.leases.forget(lease);
            let node = &self.ctx.config.node_id;
            let now = self.ctx.state.clock.now();
            let _ = repo::live_sessions::end(db, lease, node, "refused: already live", now).await;
            return Err(BeginError::AlreadyLive);
        }
        let plan = SessionPlan {
            organisation_id: group.organisation_id,
            group_id,
            session_id,
            epoch: lease.epoch,
            started_at,
            streams,
        };
        match &start {
            Start::Reconnected => {
                tracing::info!(
                    group.id = group_id,
                    session.id = session_id,
                    epoch = lease.epoch,
                    remote,
                    "publisher reconnected within the grace: the live session continues"
                );
                self.ctx.emit(PipelineEvent::SessionTakenOver {
                    organisation_id: group.organisation_id,
                    group_id,
                    session_id,
                    epoch: lease.epoch,
                    reconnect: true,
                    at: self.ctx.state.clock.now(),
                });
            }
            Start::New => {
                tracing::info!(
                    group.id = group_id,
                    session.id = session_id,
                    remote,
                    "live session started"
                );
                self.ctx.emit(PipelineEvent::SessionStarted {
                    organisation_id: group.organisation_id,
                    group_id,
                    session_id,
                    at: started_at,
                });
            }
            Start::TookOver(from, reconnected) => {
                if *reconnected {
                    tracing::info!(
                        group.id = group_id,
                        session.id = session_id,
                        epoch = lease.epoch,
                        from.node = from.as_deref().unwrap_or("?"),
                        remote,
                        "publisher reconnected to this node within the grace: the live session continues here"
                    );
                } else {
                    tracing::warn!(
                        group.id = group_id,
                        session.id = session_id,
                        epoch = lease.epoch,
                        from.node = from.as_deref().unwrap_or("?"),
                        remote,
                        "live session taken over from a node whose lease expired"
                    );
                }
                self.ctx.emit(PipelineEvent::SessionTakenOver {
                    organisation_id: group.organisation_id,
                    group_id,
                    session_id,
                    epoch: lease.epoch,
                    reconnect: *reconnected,
                    at: self.ctx.state.clock.now(),
                });
            }
        }
        let span = tracing::info_span!("session", group.id = group_id, session.id = session_id);
        let ctx = self.ctx.clone();
        self.tracker.spawn(tracing::Instrument::instrument(
            async move {
                session::run(ctx.clone(), plan, rx, control).await;
                ctx.leases.forget(lease);
                let _ = finished_tx.send(true);
            },
            span,
        ));
        Ok(Publisher {
            group_id,
            session_id,
            tags: tx,
        })
    }

    /// Takes the group's lease: a new session, the open session of a node whose lease ran
    /// out, or one that waits for its dropped publisher. When another node holds it, this
    /// waits (up to one lease) to see whether the holder renews it: silence means it died,
    /// and the publisher reconnecting here takes the session over at once instead of being
    /// refused until the lease expires. A renewal means it is alive: the publisher is refused,
    /// unless the holder's publisher dropped moments ago and that node is still finishing the
    /// dropped epoch's files (it then marks the session waiting, and this takes it). Answers
    /// the lease, when the session started, and the node taken over from (and whether its
    /// publisher had dropped), if any.
    async fn lease(
        &self,
        group_id: i64,
        remote: &str,
    ) -> Result<(Lease, DateTime<Utc>, Option<(Option<String>, bool)>), BeginError> {
        let ttl = self.ctx.config.lease_ttl;
        let ttl_chrono = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::seconds(6));
        let give_up = tokio::time::Instant::now() + ttl + Duration::from_secs(1);
        let node = &self.ctx.config.node_id;
        let mut first_seen: Option<Option<DateTime<Utc>>> = None;
        let asked = tokio::time::Instant::now();
        loop {
            let now = self.ctx.state.clock.now();
            let begun = repo::live_sessions::begin(
                &self.ctx.state.db,
                group_id,
                node,
                remote,
                now,
                now - ttl_chrono,
            )
            .await
            .map_err(|e| match e {
                // Another node's insert won the race (unique index on open sessions).
                sqlx::Error::Database(d) if d.is_unique_violation() => BeginError::AlreadyLive,
                e => BeginError::Internal(e.to_string()),
            })?;
            match begun {
                Begun::Started(lease) => return Ok((lease, now, None)),
                Begun::TookOver {
                    lease,
                    from_node,
                    started_at,
                    reconnected,
                } => return Ok((lease, started_at, Some((from_node, reconnected)))),
                Begun::Held {
                    node_id,
                    heartbeat_at,
                } => {
                    // Held by a live node: refused, but not before the holder had the time
                    // to finish a dropped epoch and mark the session waiting (a publisher's
                    // reconnect may come back here first).
                    let elsewhere = node_id.as_deref() != Some(node.as_str());
                    let seen = *first_seen.get_or_insert(heartbeat_at);
                    let renewed = seen != heartbeat_at;
                    let limit = if renewed {
                        give_up.min(asked + DROP_SETTLE)
                    } else {
                        give_up
                    };
                    if elsewhere
                        && tokio::time::Instant::now() < limit
                        && !self.shutdown.is_cancelled()
                    {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        continue;
                    }
                    return Err(BeginError::AlreadyLive);
                }
            }
        }
    }

    /// Renews this node's leases (once; the node's heartbeat calls it every third of a lease)
    /// and stops at once the sessions whose lease passed to another node (this node then
    /// writes nothing more for them). `Err` when the database did not answer.
    pub async fn renew_leases(&self) -> Result<(), sqlx::Error> {
        // Only sessions live before the renewal can be judged by it.
        let before: Vec<Lease> = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .map(|l| l.lease)
            .collect();
        let now = self.ctx.state.clock.now();
        let asked_at = tokio::time::Instant::now();
        let held =
            repo::live_sessions::heartbeat(&self.ctx.state.db, &self.ctx.config.node_id, now)
                .await?;
        for lease in &held {
            self.ctx
                .leases
                .renewed(*lease, asked_at, self.ctx.config.lease_ttl);
        }
        let lost: Vec<Live> = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            let gone: Vec<i64> = live
                .iter()
                .filter(|(_, l)| before.contains(&l.lease) && !held.contains(&l.lease))
                .map(|(g, _)| *g)
                .collect();
            gone.into_iter().filter_map(|g| live.remove(&g)).collect()
        };
        for l in lost {
            self.ctx.leases.forget(l.lease);
            tracing::warn!(
                group.id = l.group_id,
                session.id = l.lease.session_id,
                epoch = l.lease.epoch,
                "lease lost to another node: stopping this node's side of the session"
            );
            l.disconnect.cancel();
            l.cancel.cancel();
        }
        Ok(())
    }

    /// A session waiting for its publisher, when the same group publishes again: the epoch
    /// that dropped finishes first, then the session goes on one epoch later. `None` when
    /// nothing waits (or the session ended or moved meanwhile): a session is then begun as
    /// usual.
    async fn resume_waiting(&self, group_id: i64, remote: &str) -> Option<(Lease, DateTime<Utc>)> {
        let waiting = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&group_id)?;
        let mut finished = waiting.finished.clone();
        if tokio::time::timeout(FINISH_WAIT, finished.wait_for(|f| *f))
            .await
            .is_err()
        {
            tracing::warn!(
                group.id = group_id,
                "the dropped epoch is still finishing; going on"
            );
        }
        self.ctx.leases.forget(waiting.lease);
        let node = &self.ctx.config.node_id;
        let now = self.ctx.state.clock.now();
        match repo::live_sessions::resume(&self.ctx.state.db, waiting.lease, node, remote, now)
            .await
        {
            Ok(Some(lease)) => Some((lease, waiting.started_at)),
            Ok(None) => None,
            Err(e) => {
                tracing::error!(group.id = group_id, error = %e, "cannot continue the session; it ends");
                self.close_waiting(group_id, waiting).await;
                None
            }
        }
    }

    /// The publisher's connection dropped (it did not unpublish; the server did not cut it):
    /// the session waits for the same key to publish again within the group's reconnect
    /// grace. Its media ends now (recording pieces close; replays stay open so players keep
    /// polling), and a reconnect continues the session one epoch later. With no grace, or
    /// while stopping, it ends at once as [`Supervisor::end`].
    pub async fn dropped(&self, group_id: i64, session_id: i64, reason: &str) {
        let grace = match repo::streams::reconnect_grace(&self.ctx.state.db, group_id).await {
            Ok(Some(s)) => Duration::from_secs(u64::try_from(s).unwrap_or(0)),
            Ok(None) => self.ctx.config.reconnect_grace,
            Err(e) => {
                tracing::warn!(group.id = group_id, error = %e, "cannot read the reconnect grace; using the default");
                self.ctx.config.reconnect_grace
            }
        };
        if grace.is_zero() || self.shutdown.is_cancelled() {
            return self.end(group_id, session_id, reason).await;
        }
        let live = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            if live
                .get(&group_id)
                .is_some_and(|l| l.lease.session_id == session_id)
            {
                live.remove(&group_id)
            } else {
                None
            }
        };
        let Some(l) = live else {
            return;
        };
        l.keep_open.store(true, Ordering::SeqCst);
        tracing::info!(
            group.id = group_id,
            session.id = session_id,
            grace_s = grace.as_secs(),
            reason,
            "publisher dropped: the live session waits for it to reconnect"
        );
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                group_id,
                Waiting {
                    organisation_id: l.organisation_id,
                    lease: l.lease,
                    started_at: l.started_at,
                    reason: reason.to_string(),
                    finished: l.finished.clone(),
                },
            );
        let me = self.clone();
        // This wait's own lease: after a reconnect and another drop the same session waits
        // again one epoch on, and this timer must not end that wait.
        let lease = l.lease;
        let mut finished = l.finished.clone();
        let deadline = tokio::time::Instant::now() + grace;
        tokio::spawn(async move {
            // Once the dropped epoch has written its last file, the session is marked waiting
            // so that a reconnect reaching another node may continue it there.
            let marked = async {
                if finished.wait_for(|f| *f).await.is_ok() && me.is_waiting(group_id, lease) {
                    let node = &me.ctx.config.node_id;
                    let now = me.ctx.state.clock.now();
                    if let Err(e) =
                        repo::live_sessions::mark_waiting(&me.ctx.state.db, lease, node, now).await
                    {
                        tracing::warn!(session.id = lease.session_id, error = %e, "cannot mark the session waiting; only this node can continue it");
                    }
                }
                std::future::pending::<()>().await
            };
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {}
                _ = marked => {}
                // The stop ends waiting sessions itself.
                _ = me.shutdown.cancelled() => return,
            }
            let waiting = {
                let mut waiting = me.waiting.lock().unwrap_or_else(|p| p.into_inner());
                if waiting.get(&group_id).is_some_and(|w| w.lease == lease) {
                    waiting.remove(&group_id)
                } else {
                    None
                }
            };
            if let Some(w) = waiting {
                me.close_waiting(group_id, w).await;
            }
        });
    }

    /// Whether the group's session still waits here with `lease`.
    fn is_waiting(&self, group_id: i64, lease: Lease) -> bool {
        self.waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&group_id)
            .is_some_and(|w| w.lease == lease)
    }

    /// Ends a session whose publisher did not come back: once its media has finished, the
    /// row closes with the drop's reason, its replays get their ENDLIST, `session.ended` goes.
    async fn close_waiting(&self, group_id: i64, w: Waiting) {
        let mut finished = w.finished.clone();
        let _ = tokio::time::timeout(FINISH_WAIT, finished.wait_for(|f| *f)).await;
        self.ctx.leases.forget(w.lease);
        let session_id = w.lease.session_id;
        let now = self.ctx.state.clock.now();
        let node = &self.ctx.config.node_id;
        // The row must close, or this node's heartbeat would keep it open and the group
        // refused: tried again for about two minutes while the database is away.
        let mut attempt = 0u32;
        loop {
            match repo::live_sessions::end(&self.ctx.state.db, w.lease, node, &w.reason, now).await
            {
                Ok(true) => break,
                Ok(false) => {
                    tracing::warn!(
                        session.id = session_id,
                        "the waiting session had moved on; not ended here"
                    );
                    return;
                }
                Err(e) if attempt < 12 => {
                    attempt += 1;
                    tracing::warn!(session.id = session_id, error = %e, attempt, "cannot end the session yet; trying again");
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                Err(e) => {
                    tracing::error!(session.id = session_id, error = %e, "cannot end the session (the next start ends it)");
                    return;
                }
            }
        }
        super::replay::close_left_open(&self.ctx, w.organisation_id, session_id).await;
        tracing::info!(
            group.id = group_id,
            session.id = session_id,
            reason = w.reason,
            "the publisher did not come back: live session ended"
        );
        self.ctx.emit(PipelineEvent::SessionEnded {
            organisation_id: w.organisation_id,
            group_id,
            session_id,
            reason: w.reason,
            at: now,
        });
    }

    /// The publisher left (or was cut): the session ends now; its files finish in the
    /// background.
    pub async fn end(&self, group_id: i64, session_id: i64, reason: &str) {
        let ours = {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            if live
                .get(&group_id)
                .is_some_and(|l| l.lease.session_id == session_id)
            {
                live.remove(&group_id).map(|l| (l.organisation_id, l.lease))
            } else {
                None
            }
        };
        // Not ours any more: the lease was lost (another node continues the session) or the
        // server is stopping (which ends it).
        let Some((organisation_id, lease)) = ours else {
            return;
        };
        match repo::live_sessions::end(
            &self.ctx.state.db,
            lease,
            &self.ctx.config.node_id,
            reason,
            self.ctx.state.clock.now(),
        )
        .await
        {
            Ok(true) => self.ctx.leases.ended(lease),
            Ok(false) => {
                self.ctx.leases.forget(lease);
                tracing::warn!(
                    session.id = session_id,
                    "the session's lease had passed to another node; not ended here"
                );
                return;
            }
            Err(e) => tracing::error!(session.id = session_id, "cannot end session: {e}"),
        }
        tracing::info!(
            group.id = group_id,
            session.id = session_id,
            reason,
            "live session ended"
        );
        self.ctx.emit(PipelineEvent::SessionEnded {
            organisation_id,
            group_id,
            session_id,
            reason: reason.to_string(),
            at: self.ctx.state.clock.now(),
        });
    }

    /// Makes a clip's poster and MP4 in the background, without announcing the clip (a
    /// clip left unfinished by a stop was announced when it was made). `slot`, the
    /// organisation's job slot, is held until it is done.
    pub fn resume_clip(&self, clip_id: i64, dir: String, slot: Option<JobSlot>) {
        let ctx = self.ctx.clone();
        self.tracker.spawn(async move {
            // One node finishes a clip: the one that claims it (another node takes it over
            // only once the claim has run out: its node died before finishing).
            // Not twice at once on this node (the claim is this node's already then).
            if !ctx.begin_finishing(clip_id) {
                return;
            }
            let _done = FinishingGuard(ctx.clone(), clip_id);
            let claim = format!("clip:{clip_id}");
            let node = ctx.config.node_id.clone();
            let now = ctx.state.clock.now();
            let until = now + chrono::Duration::minutes(30);
            match repo::claims::claim(&ctx.state.db, &claim, &node, now, until).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    tracing::warn!(clip.id = clip_id, error = %e, "cannot claim a clip to finish (tried again later)");
                    return;
                }
            }
            {
                // A few at once for the whole server: each runs two ffmpegs.
                let _permit = ctx.finish_permits.acquire().await;
                // The poster and MP4 wait for disk space (the clip itself plays meanwhile).
                while ctx.disk.is_low() {
                    tokio::time::sleep(disk::INTERVAL).await;
                }
                crate::clips::cut::finish(ctx.clone(), clip_id, dir).await;
            }
            let _ = repo::claims::release(&ctx.state.db, &claim, &node).await;
            drop(slot);
        });
    }

    /// Waits until no session is live and every session's work (its files, their rows, clip
    /// exports) is finished: the event tests wait on instead of sleeping.
    pub async fn wait_idle(&self) {
        loop {
            self.tracker.close();
            self.tracker.wait().await;
            if !self.shutdown.is_cancelled() {
                self.tracker.reopen();
            }
            let live = !self
                .live
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_empty();
            if !live && self.tracker.is_empty() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// How many groups are live.
    pub fn live_count(&self) -> usize {
        self.live.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether a group has a live session.
    pub fn is_live(&self, group_id: i64) -> bool {
        self.live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(&group_id)
    }

    /// Stops every session, lets their ffmpegs finish their files (up to `grace`), and waits.
    pub async fn shutdown(&self, grace: Duration) {
        self.shutdown.cancel();
        let sessions: Vec<Live> = self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .map(|(_, l)| l)
            .collect();
        for l in &sessions {
            l.disconnect.cancel();
            l.cancel.cancel();
        }
        self.tracker.close();
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("sessions did not finish within {grace:?}");
        }
        let now = self.ctx.state.clock.now();
        let node = &self.ctx.config.node_id;
        for l in sessions {
            let session_id = l.lease.session_id;
            match repo::live_sessions::end(&self.ctx.state.db, l.lease, node, "server stopped", now)
                .await
            {
                Ok(true) => self.ctx.emit(PipelineEvent::SessionEnded {
                    organisation_id: l.organisation_id,
                    group_id: l.group_id,
                    session_id,
                    reason: "server stopped".into(),
                    at: now,
                }),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(session.id = session_id, error = %e, "cannot end session (the next start ends it)")
                }
            }
        }
        // Sessions waiting for a publisher end as well, with the reason they were waiting.
        let waiting: Vec<(i64, Waiting)> = self
            .waiting
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for (group_id, w) in waiting {
            self.close_waiting(group_id, w).await;
        }
    }
}

impl Supervisor {
    /// Acts on a group signal for this node: reloads or cuts the group's session if it runs
    /// here (nothing otherwise). Answers whether it does.
    pub fn on_signal(&self, signal: Signal) -> bool {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let (group_id, reload) = match signal {
            Signal::Reload(g) => (g, true),
            Signal::Disconnect(g) => (g, false),
        };
        let Some(l) = live.get(&group_id) else {
            return false;
        };
        if reload {
            l.reload.notify_one();
        } else {
            l.disconnect.cancel();
        }
        true
    }

    /// Acts on a group signal here, and tells the other nodes (the group may run on one).
    fn signal(&self, signal: Signal) -> bool {
        let here = self.on_signal(signal);
        if !here {
            let ctx = self.ctx.clone();
            self.tracker.spawn(async move {
                let sent = app::ssr::db::notify(
                    &ctx.state.db,
                    super::peers::GROUP_CHANNEL,
                    &signal.payload(),
                )
                .await;
                if let Err(e) = sent {
                    tracing::warn!(?signal, error = %e, "cannot tell the other nodes");
                }
            });
        }
        here
    }
}

impl Pipeline for Supervisor {
    fn job_states(&self, stream_ids: &[i64]) -> Vec<JobStatus> {
        // A stream live on another node: the states its node published with its heartbeat.
        let here = self.ctx.live_streams();
        stream_ids
            .iter()
            .flat_map(|&id| {
                let elsewhere = (here.binary_search(&id).is_err())
                    .then(|| self.ctx.peers.jobs_of(id))
                    .flatten();
                elsewhere.unwrap_or_else(|| self.ctx.jobs.statuses(&[id]))
            })
            .collect()
    }

    fn settings_changed(&self, group_id: i64) -> ApplyMode {
        if self.signal(Signal::Reload(group_id)) || self.ctx.peers.is_live_elsewhere(group_id) {
            ApplyMode::AppliedLive
        } else {
            ApplyMode::NextIngest
        }
    }

    fn cut_clip(
        &self,
        organisation_id: i64,
        replay: String,
        span: ReplaySpan,
    ) -> MediaFuture<ClipFiles> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            crate::clips::cut::cut(&ctx.store, organisation_id, &replay, span)
                .await
                .map_err(error::JobError::into_media)
        })
    }

    fn finish_clip(&self, clip_id: i64, dir: String, slot: JobSlot) {
        self.ctx.emit(PipelineEvent::ClipCreated { clip_id });
        self.resume_clip(clip_id, dir, Some(slot));
    }

    fn remove_clip(&self, dir: String) {
        let ctx = self.ctx.clone();
        self.tracker
            .spawn(async move { crate::clips::cut::remove(&ctx.store, &dir).await });
    }

    fn save_span(&self, replay: String, span: ReplaySpan) -> MediaFuture<i64> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            if ctx.disk.is_low() {
                return Err(app::ssr::pipeline::MediaError::DiskFull);
            }
            crate::clips::saved::save(&ctx, &replay, span)
                .await
                .map_err(error::JobError::into_media)
        })
    }

    fn machine(
        &self,
    ) -> MediaFuture<(
        app::domain::status::MachineStatus,
        Vec<app::domain::status::JobFailure>,
    )> {
        let ctx = self.ctx.clone();
        Box::pin(async move {
            let (cpu_percent, cores) = crate::machine::cpu(Duration::from_millis(250)).await;
            let (memory_used_bytes, memory_total_bytes) = crate::machine::memory();
            let machine = app::domain::status::MachineStatus {
                cpu_percent,
                cores,
                memory_used_bytes,
                memory_total_bytes,
                server_rss_bytes: crate::machine::server_rss(),
                ffmpeg_children: crate::metrics::ffmpeg_children(),
                disk: ctx.disk.status(),
            };
            Ok((machine, ctx.jobs.recent_failures()))
        })
    }

    fn storage(&self, organisation_id: i64) -> app::domain::jobs::StorageStatus {
        app::domain::jobs::StorageStatus {
            quota: self.ctx.usage.get(organisation_id),
            ..self.ctx.disk.status()
        }
    }

    fn disconnect_group(&self, group_id: i64) {
        self.signal(Signal::Disconnect(group_id));
    }
}
