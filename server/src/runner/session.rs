//! A live session: from the first tag to the last, for one publish of a group's ingest. It
//! starts a worker per stream, the ingest's copy source, and — while any transcoding profile
//! has a process on — the group's transcoder; fans every tag out to the sources; reloads the
//! settings when the dashboard saves them (hot apply); and at the end lets everything finish
//! its files.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tracing::Instrument;

use app::domain::packages::Package;
use app::domain::streams::{preset, StreamInfo, StreamRole};
use app::ssr::repo;
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch, Notify};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::gop::{GopCache, MediaTag};
use super::rendition::Rendition;
use super::share::Board;
use super::source::{self, SegmentEvent, SourceOutput};
use super::{RunnerCtx, StreamSettings};
use crate::ffmpeg::args::Encode;
use crate::media_store::RenditionKey;

/// What a session needs to know when it starts.
#[derive(Debug, Clone)]
pub(crate) struct SessionPlan {
    pub(crate) organisation_id: i64,
    pub(crate) group_id: i64,
    pub(crate) session_id: i64,
    /// This node's lease epoch on the session (more than 1 after a takeover).
    pub(crate) epoch: i64,
    pub(crate) started_at: DateTime<Utc>,
    /// Ingest first, then the transcoding profiles.
    pub(crate) streams: Vec<StreamInfo>,
}

/// How the supervisor talks to a running session.
#[derive(Debug, Clone)]
pub(crate) struct SessionControl {
    /// Settings were saved: reload and apply them.
    pub(crate) reload: Arc<Notify>,
    /// Stop now (server shutdown); files are still finished.
    pub(crate) cancel: CancellationToken,
    /// Set when the publisher dropped and may come back: the replays are left open.
    pub(crate) keep_open: Arc<std::sync::atomic::AtomicBool>,
}

/// Tags queued per source before the source counts as behind.
const SOURCE_QUEUE: usize = 2048;

/// The sending side of a source, with resynchronisation after dropped tags.
struct SourceHandle {
    tags: mpsc::Sender<MediaTag>,
    /// Tags were dropped: skip until the next keyframe so the decoder never sees a torn GOP.
    resync: bool,
    dropped: u64,
}

impl SourceHandle {
    fn send(&mut self, tag: &MediaTag) {
        if self.resync {
            if !tag.is_keyframe() {
                return;
            }
            self.resync = false;
        }
        match self.tags.try_send(tag.clone()) {
            Ok(()) => {}
            // The source is gone (it gave up, or its task ended): its end was logged there.
            Err(mpsc::error::TrySendError::Closed(_)) => {}
            Err(mpsc::error::TrySendError::Full(_)) => self.behind(),
        }
    }

    fn behind(&mut self) {
        self.dropped += 1;
        self.resync = true;
        if self.dropped % 100 == 1 {
            tracing::warn!(
                dropped = self.dropped,
                "ffmpeg is behind; dropping until the next keyframe"
            );
        }
    }
}

fn key(plan: &SessionPlan, stream_id: i64) -> RenditionKey {
    RenditionKey {
        organisation_id: plan.organisation_id,
        group_id: plan.group_id,
        session_id: plan.session_id,
        stream_id,
        epoch: plan.epoch,
    }
}

/// What the organisation's packages let a session run: processes at all (`live_processing`),
/// and on transcoding profiles (`transcoding`). The services check them when settings are
/// saved; the session checks them again while it runs, so a package switched off stops what
/// it paid for even though the stored settings stay as they were.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entitled {
    processing: bool,
    transcoding: bool,
}

impl Entitled {
    async fn read(ctx: &RunnerCtx, plan: &SessionPlan) -> Result<Self, sqlx::Error> {
        let enabled = repo::orgs::enabled_packages(&ctx.state.db, plan.organisation_id).await?;
        Ok(Self {
            processing: enabled.contains(&Package::LiveProcessing),
            transcoding: enabled.contains(&Package::Transcoding),
        })
    }

    /// Whether `stream`'s stored settings may run.
    fn allows(self, stream: &StreamInfo) -> bool {
        self.processing && (stream.role == StreamRole::Ingest || self.transcoding)
    }
}

/// The group's settings as the packages let them run (a stream they do not cover has every
/// process off), with the packages read; or the database's error (the caller keeps what it
/// has).
async fn load_settings(
    ctx: &RunnerCtx,
    plan: &SessionPlan,
) -> Result<(HashMap<i64, StreamSettings>, Entitled), sqlx::Error> {
    let entitled = Entitled::read(ctx, plan).await?;
    let allowed: HashSet<i64> = plan
        .streams
        .iter()
        .filter(|s| entitled.allows(s))
        .map(|s| s.id)
        .collect();
    let mut out = all_off(plan);
    for p in repo::settings::for_group(&ctx.state.db, plan.group_id).await? {
        if allowed.contains(&p.stream_id) {
            out.insert(p.stream_id, StreamSettings::from_processing(&p));
        }
    }
    Ok((out, entitled))
}

/// Every stream of the session with every process off.
fn all_off(plan: &SessionPlan) -> HashMap<i64, StreamSettings> {
    plan.streams
        .iter()
        .map(|s| (s.id, StreamSettings::off()))
        .collect()
}

/// The settings a session starts with: read them, retrying a few times; a session that
/// cannot read them at all runs with every process off rather than not at all (its media
/// still reaches the replay of a later reload).
async fn initial_settings(
    ctx: &RunnerCtx,
    plan: &SessionPlan,
) -> (HashMap<i64, StreamSettings>, Option<Entitled>) {
    for attempt in 1..=5u32 {
        match load_settings(ctx, plan).await {
            Ok((s, entitled)) => return (s, Some(entitled)),
            Err(e) => {
                tracing::error!(group.id = plan.group_id, session.id = plan.session_id, attempt, error = %e, "cannot read the settings; trying again");
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
        }
    }
    (all_off(plan), None)
}

/// A child task of the session ended: a panic is logged with the session's identity.
fn log_end(plan: &SessionPlan, what: &str, done: Result<(), tokio::task::JoinError>) {
    if let Err(e) = done {
        tracing::error!(
            group.id = plan.group_id,
            session.id = plan.session_id,
            task = what,
            error = %e,
            "a session task failed"
        );
    }
}

fn profiles_needed(plan: &SessionPlan, settings: &HashMap<i64, StreamSettings>) -> bool {
    plan.streams.iter().any(|s| {
        s.role == StreamRole::Profile
            && settings.get(&s.id).is_some_and(StreamSettings::any_enabled)
    })
}

/// Runs the session until the publisher's tags end or `control.cancel` fires.
pub(crate) async fn run(
    ctx: Arc<RunnerCtx>,
    plan: SessionPlan,
    mut tags: mpsc::Receiver<MediaTag>,
    control: SessionControl,
) {
    let (mut settings, mut entitled) = initial_settings(&ctx, &plan).await;
    ctx.publish_settings(&settings);
    let mut renditions = JoinSet::new();
    let mut segment_tx: HashMap<i64, mpsc::Sender<SegmentEvent>> = HashMap::new();
    let mut settings_tx: HashMap<i64, watch::Sender<StreamSettings>> = HashMap::new();
    let board = Arc::new(Board::new(plan.streams.iter().map(|s| s.id)));
    for s in &plan.streams {
        let (tx, rx) = mpsc::channel(256);
        let (stx, srx) = watch::channel(
            settings
                .get(&s.id)
                .copied()
                .unwrap_or_else(StreamSettings::off),
        );
        let worker = Rendition::new(
            ctx.clone(),
            key(&plan, s.id),
            plan.started_at,
            srx,
            control.keep_open.clone(),
            board.clone(),
        );
        renditions.spawn(
            worker
                .run(rx)
                .instrument(tracing::info_span!("rendition", stream.id = s.id)),
        );
        segment_tx.insert(s.id, tx);
        settings_tx.insert(s.id, stx);
    }

    let mut sources = JoinSet::new();
    let start_source = |outputs: Vec<SourceOutput>, seed: &GopCache, sources: &mut JoinSet<()>| {
        let (tx, rx) = mpsc::channel(SOURCE_QUEUE);
        for t in seed.tags() {
            let _ = tx.try_send(t);
        }
        let span = tracing::info_span!("source", streams = ?outputs.iter().map(|o| o.key.stream_id).collect::<Vec<_>>());
        sources.spawn(
            source::run(ctx.clone(), outputs, rx, control.cancel.child_token()).instrument(span),
        );
        SourceHandle {
            tags: tx,
            resync: false,
            dropped: 0,
        }
    };
    let copy_outputs = |plan: &SessionPlan| -> Vec<SourceOutput> {
        plan.streams
            .iter()
            .filter(|s| s.role == StreamRole::Ingest)
            .filter_map(|s| {
                Some(SourceOutput {
                    key: key(plan, s.id),
                    encode: None,
                    segments: segment_tx.get(&s.id)?.clone(),
                })
            })
            .collect()
    };
    let transcode_outputs = |plan: &SessionPlan| -> Vec<SourceOutput> {
        plan.streams
            .iter()
            .filter(|s| s.role == StreamRole::Profile)
            .filter_map(|s| {
                let p = preset(&s.quality)?;
                Some(SourceOutput {
                    key: key(plan, s.id),
                    encode: Some(Encode {
                        height: s.height.unwrap_or(p.height),
                        video_kbps: s.video_kbps.unwrap_or(p.video_kbps),
                        preset: ctx.config.x264_preset.clone(),
                    }),
                    segments: segment_tx.get(&s.id)?.clone(),
                })
            })
            .collect()
    };

    let mut gop = GopCache::default();
    let mut ingest = start_source(copy_outputs(&plan), &gop, &mut sources);
    let mut transcoder = if profiles_needed(&plan, &settings) {
        Some(start_source(transcode_outputs(&plan), &gop, &mut sources))
    } else {
        None
    };

    // Packages are switched by the operator's CLI, another process: read them again now and
    // then, and reload when they changed.
    let mut package_check = tokio::time::interval(ctx.config.package_check);
    package_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    package_check.reset();
    let mut reload = false;
    loop {
        if std::mem::take(&mut reload) {
            // A failed read keeps the session running as it is: never "everything off".
            match load_settings(&ctx, &plan).await {
                Ok((s, e)) => {
                    settings = s;
                    entitled = Some(e);
                }
                Err(e) => {
                    tracing::error!(group.id = plan.group_id, session.id = plan.session_id, error = %e, "cannot reload the settings; keeping the previous ones");
                    continue;
                }
            };
            ctx.publish_settings(&settings);
            for (id, tx) in &settings_tx {
                if let Some(s) = settings.get(id) {
                    tx.send_replace(*s);
                }
            }
            match (profiles_needed(&plan, &settings), transcoder.is_some()) {
                (true, false) => {
                    transcoder = Some(start_source(transcode_outputs(&plan), &gop, &mut sources))
                }
                (false, true) => drop(transcoder.take()),
                _ => {}
            }
        }
        tokio::select! {
            t = tags.recv() => match t {
                Some(t) => {
                    gop.push(&t);
                    ingest.send(&t);
                    if let Some(tr) = transcoder.as_mut() {
                        tr.send(&t);
                    }
                }
                None => break,
            },
            _ = control.reload.notified() => reload = true,
            _ = package_check.tick() => match Entitled::read(&ctx, &plan).await {
                Ok(now) if Some(now) != entitled => {
                    tracing::info!(group.id = plan.group_id, session.id = plan.session_id, live_processing = now.processing, transcoding = now.transcoding, "the organisation's packages changed; applying them");
                    reload = true;
                }
                Ok(_) => {}
                // Kept as they are: the next tick asks again.
                Err(e) => tracing::warn!(group.id = plan.group_id, error = %e, "cannot read the organisation's packages"),
            },
            _ = control.cancel.cancelled() => break,
            Some(done) = sources.join_next() => log_end(&plan, "source", done),
        }
    }

    // Let the sources finish their last segments, then the renditions their files.
    drop(ingest.tags);
    drop(transcoder.take());
    while let Some(done) = sources.join_next().await {
        log_end(&plan, "source", done);
    }
    drop(segment_tx);
    drop(settings_tx);
    while let Some(done) = renditions.join_next().await {
        log_end(&plan, "rendition", done);
    }
    ctx.forget_settings(plan.streams.iter().map(|s| s.id));
    tracing::info!(
        session.id = plan.session_id,
        group.id = plan.group_id,
        "session finished"
    );
}
