//! A rendition's worker: hears of every completed segment of one stream in one session and
//! does, per the stream's current settings, what each process asks: append it to the
//! recording, list it in the replay, and start thumbnail and motion clip jobs when they are
//! due. Settings are read at every segment, so changes apply live; segments no process needs
//! any more are deleted.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use app::domain::jobs::JobState;
use app::domain::settings::{ProcessConfig, ProcessKind, Span};
use chrono::{DateTime, Utc};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use super::error::JobError;
use super::motion_clips::{self, ClipWork};
use super::recording::Recorder;
use super::replay::Replay;
use super::schedule::Schedule;
use super::segment::{InitInfo, Segment};
use super::share::Board;
use super::source::SegmentEvent;
use super::{thumbnails, RunnerCtx, StreamSettings};
use crate::media::fmp4;
use crate::media_store::RenditionKey;

/// Seconds of recent segments always kept for motion clips (the longest clip is 60 s).
const CLIP_HORIZON_S: f64 = 65.0;
/// Failures in a row before a thumbnail or clip job is marked failed.
const JOB_FAILURES: u32 = 3;

/// The worker of one stream in one session.
pub(crate) struct Rendition {
    ctx: Arc<RunnerCtx>,
    key: RenditionKey,
    started_at: DateTime<Utc>,
    settings: watch::Receiver<StreamSettings>,
    applied: StreamSettings,
    segments: VecDeque<Segment>,
    inits: HashMap<u32, Arc<InitInfo>>,
    recorder: Recorder,
    replay: Replay,
    thumbs: Schedule,
    /// Storyboard tiles while thumbnails are off.
    tiles: Schedule,
    clips: Schedule,
    jobs: JoinSet<(ProcessKind, Result<(), JobError>)>,
    /// Thumbnail or clip jobs not finished yet: a due job is skipped while the previous one
    /// of its kind still runs, so an overloaded machine sheds work instead of queueing it.
    in_flight: HashSet<ProcessKind>,
    /// Motion clips: the start (media seconds) of the one running, and the one due while it
    /// ran. One clip waits (a busy moment delays it instead of losing it); a newer due clip
    /// replaces a waiting one, so a machine overloaded for long still sheds work.
    clip_running_from: Option<f64>,
    clip_waiting: Option<ClipWork>,
    failures: HashMap<ProcessKind, u32>,
    /// When the last few segments arrived and where they ended in media time (the encoder's
    /// speed, for the metrics).
    arrivals: VecDeque<(std::time::Instant, f64)>,
    /// The publisher dropped and may reconnect: at the end, the replay stays open.
    keep_open: Arc<std::sync::atomic::AtomicBool>,
    /// What this session's streams share (sizes, recent segments, clips due).
    board: Arc<Board>,
}

/// Segments over which the encoder's speed is measured.
const SPEED_WINDOW: usize = 6;

impl Rendition {
    /// A worker for `key`, started at `started_at` (wall clock of media time zero).
    pub(crate) fn new(
        ctx: Arc<RunnerCtx>,
        key: RenditionKey,
        started_at: DateTime<Utc>,
        settings: watch::Receiver<StreamSettings>,
        keep_open: Arc<std::sync::atomic::AtomicBool>,
        board: Arc<Board>,
    ) -> Self {
        let applied = *settings.borrow();
        let replay = Replay::new(&ctx.store, key);
        Self {
            ctx,
            key,
            started_at,
            settings,
            applied,
            segments: VecDeque::new(),
            inits: HashMap::new(),
            recorder: Recorder::new(key),
            replay,
            thumbs: Schedule::default(),
            tiles: Schedule::default(),
            clips: Schedule::default(),
            jobs: JoinSet::new(),
            in_flight: HashSet::new(),
            clip_running_from: None,
            clip_waiting: None,
            failures: HashMap::new(),
            arrivals: VecDeque::with_capacity(SPEED_WINDOW),
            keep_open,
            board,
        }
    }

    fn config(&self, kind: ProcessKind) -> ProcessConfig {
        self.applied.get(kind)
    }

    fn set(&self, kind: ProcessKind, state: JobState) {
        self.ctx.jobs.set(self.key.stream_id, kind, state);
    }

    /// Runs until every source has finished with this rendition.
    pub(crate) async fn run(mut self, mut events: mpsc::Receiver<SegmentEvent>) {
        for kind in ProcessKind::ALL {
            if self.config(kind).enabled() {
                self.set(kind, JobState::Starting);
            }
        }
        if self.key.epoch > 1 {
            // Taken over: the recordings the dead node left open are finished from their
            // checkpoints, beside the live work.
            let (ctx, k) = (self.ctx.clone(), self.key);
            tokio::spawn(async move {
                super::recording::recover_checkpointed(
                    &ctx,
                    k.organisation_id,
                    k.group_id,
                    k.session_id,
                    1..k.epoch,
                    &[k.stream_id],
                )
                .await
            });
            if !self.config(ProcessKind::Replay).enabled() {
                // Nothing continues the earlier epoch's replay: it ends there.
                self.close_abandoned_replay().await;
            }
        }
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => self.on_segment(ev).await,
                    None => break,
                },
                Ok(()) = self.settings.changed() => {
                    let next = *self.settings.borrow_and_update();
                    self.on_settings(next).await;
                }
                Some(done) = self.jobs.join_next() => self.on_job_done(done),
            }
        }
        self.finish().await;
    }

    async fn on_settings(&mut self, next: StreamSettings) {
        let before = self.applied;
        self.applied = next;
        for kind in ProcessKind::ALL {
            let (was, is) = (before.get(kind).enabled(), next.get(kind).enabled());
            if was == is {
                continue;
            }
            if is {
                self.failures.remove(&kind);
                self.set(kind, JobState::Starting);
                match kind {
                    ProcessKind::Thumbnail => self.thumbs.reset(),
                    ProcessKind::MotionClip => self.clips.reset(),
                    _ => {}
                }
            } else {
                match kind {
                    ProcessKind::Recording => {
                        self.recorder.close(&self.ctx).await;
                    }
                    ProcessKind::Replay => self.replay.close(&self.ctx, false).await,
                    _ => {}
                }
                self.set(kind, JobState::Idle);
            }
        }
    }

    async fn on_segment(&mut self, ev: SegmentEvent) {
        let init = match self.inits.get(&ev.run) {
            Some(i) => i.clone(),
            None => match InitInfo::read(&ev.init).await {
                Ok(i) => {
                    if let Some(size) = fmp4::video_size(&i.bytes) {
                        self.board.set_size(self.key.stream_id, size);
                    }
                    self.inits.insert(ev.run, i.clone());
                    i
                }
                Err(e) => {
                    tracing::warn!(stream.id = self.key.stream_id, "unusable init segment: {e}");
                    return;
                }
            },
        };
        let bytes = match tokio::fs::read(&ev.path).await {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(path = %ev.path.display(), "segment vanished: {e}");
                return;
            }
        };
        let previous_end = self.segments.back().map(Segment::end).unwrap_or(0.0);
        let start = fmp4::earliest_time(&bytes, &init.timescales).unwrap_or(previous_end);
        let wall = self.started_at + chrono::Duration::milliseconds((start * 1000.0) as i64);
        let seg = Segment {
            run: ev.run,
            path: ev.path,
            init: ev.init,
            start,
            duration: ev.duration,
            wall,
        };
        self.segments.push_back(seg.clone());
        self.measure(&seg);
        let size = bytes.len() as u64;
        // How long after its last frame was due (by the session's wall clock) the segment
        // was ready.
        let lag = (Utc::now() - seg.wall).num_milliseconds() as f64 / 1000.0 - seg.duration;

        let recording = self.config(ProcessKind::Recording);
        let over_quota = self.ctx.config.quota_stops_recordings
            && self.ctx.usage.is_full(self.key.organisation_id);
        if recording.enabled() && over_quota {
            self.set(
                ProcessKind::Recording,
                JobState::Paused {
                    reason: super::usage::PAUSED.into(),
                },
            );
        } else if recording.enabled() {
            let limit = recording.duration().unwrap_or(Span::EntireStream);
            match self
                .recorder
                .append(&self.ctx, &seg, &bytes, &init, limit)
                .await
            {
                Ok(_) => {
                    self.ok(ProcessKind::Recording);
                    let id = self.key.stream_id;
                    crate::metrics::produced(&self.ctx, id, ProcessKind::Recording, size, None);
                }
                Err(e) => self.fail(ProcessKind::Recording, e),
            }
        }
        let replay = self.config(ProcessKind::Replay);
        if replay.enabled() {
            match self
                .replay
                .push(
                    &self.ctx,
                    &seg,
                    replay.duration().unwrap_or(Span::EntireStream),
                )
                .await
            {
                Ok(()) => {
                    self.ok(ProcessKind::Replay);
                    let id = self.key.stream_id;
                    crate::metrics::produced(&self.ctx, id, ProcessKind::Replay, size, Some(lag));
                }
                Err(e) => self.fail(ProcessKind::Replay, e),
            }
        }
        let thumb = self.config(ProcessKind::Thumbnail);
        if thumb.enabled()
            && self
                .thumbs
                .thumbnail_due(seg.start, thumb.interval().unwrap_or(10))
            && self.start_job(ProcessKind::Thumbnail)
        {
            let (ctx, key, s) = (self.ctx.clone(), self.key, seg.clone());
            let (board, announce) = (
                self.board.clone(),
                self.board.thumbnail_due(self.key.stream_id, seg.start),
            );
            self.jobs.spawn(async move {
                let made = thumbnails::make(ctx, key, s, board, announce).await;
                (ProcessKind::Thumbnail, made)
            });
        } else if !thumb.enabled() && self.wants_tiles(&seg) {
            // Thumbnails off: storyboard tiles for the replay, the recording and clips. Their
            // outcome is not a job state (the process is off), and they wait for room like
            // any optional work.
            self.in_flight.insert(ProcessKind::Thumbnail);
            let (ctx, key, s) = (self.ctx.clone(), self.key, seg.clone());
            self.jobs.spawn(async move {
                let made = thumbnails::make_tile(ctx, key, s).await;
                if let Err(e) = &made {
                    tracing::warn!(stream.id = key.stream_id, error = %e, "cannot make a storyboard tile");
                }
                (ProcessKind::Thumbnail, made)
            });
        }
        let clip = self.config(ProcessKind::MotionClip);
        if clip.enabled() {
            let duration = clip.duration().and_then(Span::seconds).unwrap_or(3);
            // A clip never spans two ffmpeg runs (they have different init segments).
            let origin = self
                .segments
                .iter()
                .rev()
                .take_while(|s| s.run == seg.run)
                .last()
                .map(|s| s.start)
                .unwrap_or(seg.start);
            if let Some((from, to)) =
                self.clips
                    .clip_due(origin, seg.end(), duration, clip.interval().unwrap_or(30))
            {
                let parts: Vec<Segment> = self
                    .segments
                    .iter()
                    .filter(|s| s.run == seg.run && s.end() > from + 0.01 && s.start < to - 0.01)
                    .cloned()
                    .collect();
                let work = ClipWork {
                    parts,
                    from,
                    to,
                    announce: self.board.clip_due(self.key.stream_id, from, to),
                };
                if self.in_flight.contains(&ProcessKind::MotionClip) {
                    if let Some(shed) = self.clip_waiting.replace(work) {
                        tracing::warn!(
                            stream.id = self.key.stream_id,
                            clip.end = shed.to,
                            "motion clips are behind; a waiting clip is skipped for a newer one"
                        );
                    }
                } else if self.start_job(ProcessKind::MotionClip) {
                    self.spawn_clip(work);
                }
            }
        }
        self.prune(false).await;
        // Last: a follower that sees this segment here also sees the clip it made due.
        self.board.set_segments(self.key.stream_id, &self.segments);
    }

    /// Whether a storyboard tile is due at `seg` (thumbnails off): something plays this
    /// stream back, there is room for optional work, the previous tile is done and
    /// [`thumbnails::TILE_INTERVAL_S`] passed.
    fn wants_tiles(&mut self, seg: &Segment) -> bool {
        let plays_back = [ProcessKind::Replay, ProcessKind::Recording]
            .into_iter()
            .any(|k| self.config(k).enabled());
        plays_back
            && !self.ctx.disk.is_low()
            && !self.ctx.usage.is_full(self.key.organisation_id)
            && !self.in_flight.contains(&ProcessKind::Thumbnail)
            && self
                .tiles
                .thumbnail_due(seg.start, thumbnails::TILE_INTERVAL_S)
    }

    /// Media seconds per wall-clock second over the last few segments of this run.
    fn measure(&mut self, seg: &Segment) {
        let now = std::time::Instant::now();
        if self
            .segments
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|s| s.run != seg.run)
        {
            self.arrivals.clear();
        }
        if self.arrivals.len() == SPEED_WINDOW {
            self.arrivals.pop_front();
        }
        self.arrivals.push_back((now, seg.end()));
        if let (Some(&(t0, m0)), Some(&(t1, m1))) = (self.arrivals.front(), self.arrivals.back()) {
            let wall = t1.saturating_duration_since(t0).as_secs_f64();
            if wall > 0.5 {
                self.ctx
                    .jobs
                    .set_speed(self.key.stream_id, (m1 - m0) / wall);
            }
        }
    }

    fn ok(&mut self, kind: ProcessKind) {
        if self.failures.remove(&kind).is_some()
            || !matches!(
                self.ctx.jobs.get(self.key.stream_id, kind),
                JobState::Running
            )
        {
            self.ctx
                .jobs
                .set_unless_failed(self.key.stream_id, kind, JobState::Running);
        }
    }

    /// A job failed: the log gets the details, the job state what a member may read.
    fn fail(&mut self, kind: ProcessKind, error: JobError) {
        tracing::warn!(
            stream.id = self.key.stream_id,
            job.kind = kind.key(),
            error = %error,
            "job failed"
        );
        let error = error.public();
        let n = self.failures.entry(kind).or_insert(0);
        *n += 1;
        let state = if *n >= JOB_FAILURES {
            self.ctx.emit(super::PipelineEvent::JobFailed {
                organisation_id: self.key.organisation_id,
                stream_id: self.key.stream_id,
                process: kind,
                reason: error.clone(),
            });
            JobState::Failed { reason: error }
        } else {
            JobState::Restarting {
                attempt: *n,
                last_error: error,
            }
        };
        self.set(kind, state);
    }

    /// Marks a job of `kind` as started, unless one is still running (then it is skipped) or
    /// the disk is almost full (then it is paused, and says so).
    fn spawn_clip(&mut self, work: ClipWork) {
        let (ctx, key, board) = (self.ctx.clone(), self.key, self.board.clone());
        self.clip_running_from = Some(work.from);
        self.jobs.spawn(async move {
            let made = motion_clips::make(ctx, key, work, board).await;
            (ProcessKind::MotionClip, made)
        });
    }

    fn start_job(&mut self, kind: ProcessKind) -> bool {
        let why = if self.ctx.disk.is_low() {
            Some(super::disk::PAUSED)
        } else if self.ctx.usage.is_full(self.key.organisation_id) {
            Some(super::usage::PAUSED)
        } else {
            None
        };
        if let Some(reason) = why {
            self.set(
                kind,
                JobState::Paused {
                    reason: reason.into(),
                },
            );
            return false;
        }
        if self.in_flight.insert(kind) {
            return true;
        }
        tracing::warn!(
            stream.id = self.key.stream_id,
            job.kind = kind.key(),
            "previous job still running; skipping this one"
        );
        false
    }

    fn on_job_done(
        &mut self,
        done: Result<(ProcessKind, Result<(), JobError>), tokio::task::JoinError>,
    ) {
        match &done {
            Ok((kind, _)) => {
                self.in_flight.remove(kind);
            }
            Err(_) => self.in_flight.clear(),
        }
        let clip_done = matches!(&done, Ok((ProcessKind::MotionClip, _)) | Err(_));
        match done {
            Ok((kind, Ok(()))) if self.config(kind).enabled() => self.ok(kind),
            Ok((kind, Err(e))) if self.config(kind).enabled() => self.fail(kind, e),
            Ok(_) => {}
            Err(e) => tracing::error!("job panicked: {e}"),
        }
        if clip_done {
            self.clip_running_from = None;
            if let Some(work) = self.clip_waiting.take() {
                if self.config(ProcessKind::MotionClip).enabled()
                    && self.start_job(ProcessKind::MotionClip)
                {
                    self.spawn_clip(work);
                }
            }
        }
    }

    /// Deletes segments nothing needs: outside the replay window and older than the clip
    /// horizon (or all of them, at the end, when no replay lists them).
    async fn prune(&mut self, ending: bool) {
        let Some(live_end) = self.segments.back().map(Segment::end) else {
            return;
        };
        let keep_from = if ending {
            f64::INFINITY
        } else {
            // The running and the waiting clip keep their segments, however far back.
            [
                self.clip_running_from,
                self.clip_waiting.as_ref().map(|w| w.from),
            ]
            .into_iter()
            .flatten()
            .fold(live_end - CLIP_HORIZON_S, f64::min)
        };
        let listed: std::collections::HashSet<_> =
            self.replay.segments().map(|s| s.path.clone()).collect();
        while let Some(front) = self.segments.front() {
            if front.end() > keep_from {
                break;
            }
            let Some(old) = self.segments.pop_front() else {
                break;
            };
            if !listed.contains(&old.path) {
                let _ = tokio::fs::remove_file(&old.path).await;
            }
        }
    }

    async fn finish(&mut self) {
        self.recorder.close(&self.ctx).await;
        let keep_open = self.keep_open.load(std::sync::atomic::Ordering::SeqCst);
        self.replay.close(&self.ctx, keep_open).await;
        let wait = async {
            while let Some(done) = self.jobs.join_next().await {
                self.on_job_done(done)
            }
        };
        if tokio::time::timeout(Duration::from_secs(60), wait)
            .await
            .is_err()
        {
            self.jobs.abort_all();
        }
        self.prune(true).await;
        if self.key.epoch > 1 && !self.replay.is_started() {
            self.close_abandoned_replay().await;
        }
        if !self.replay.is_started() {
            let _ = tokio::fs::remove_dir_all(self.ctx.store.segments_root(self.key)).await;
        } else if self.replay.is_stored() {
            // With object storage, the closed replay and everything it lists are in the
            // store: the data folder's copies go (shared clips hold their own links).
            let _ = tokio::fs::remove_dir_all(self.ctx.store.segments_root(self.key)).await;
            let _ = tokio::fs::remove_file(self.replay.playlist()).await;
        } else {
            self.remove_unlisted_files().await;
        }
        self.ctx.jobs.clear_stream(self.key.stream_id);
    }

    async fn close_abandoned_replay(&self) {
        let k = self.key;
        super::replay::close_abandoned(
            &self.ctx,
            k.organisation_id,
            k.session_id,
            k.epoch,
            Some(k.stream_id),
        )
        .await;
    }

    /// Leaves only what the closed replay lists (and its init segments) in `segments/`.
    async fn remove_unlisted_files(&self) {
        let keep: std::collections::HashSet<_> = self
            .replay
            .segments()
            .flat_map(|s| [s.path.clone(), s.init.clone()])
            .collect();
        let root = self.ctx.store.segments_root(self.key);
        let Ok(mut runs) = tokio::fs::read_dir(&root).await else {
            return;
        };
        while let Ok(Some(run)) = runs.next_entry().await {
            let Ok(mut files) = tokio::fs::read_dir(run.path()).await else {
                continue;
            };
            let mut any = false;
            while let Ok(Some(f)) = files.next_entry().await {
                if keep.contains(&f.path()) {
                    any = true;
                } else {
                    let _ = tokio::fs::remove_file(f.path()).await;
                }
            }
            if !any {
                let _ = tokio::fs::remove_dir(run.path()).await;
            }
        }
    }
}
