//! A source: one supervised ffmpeg that reads the session's FLV on stdin and writes HLS fMP4
//! segments for one or more renditions (the ingest by stream copy, or every transcoding
//! profile from one decode). It starts at the first keyframe, tells each rendition about
//! every completed segment, and restarts after a crash with backoff, resuming at the latest
//! keyframe so the timeline continues; a source that keeps failing is marked failed.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::jobs::JobState;
use app::domain::settings::ProcessKind;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::backoff::{Decision, RestartPolicy};
use super::gop::{GopCache, MediaTag};
use super::RunnerCtx;
use crate::ffmpeg::args::{self, Encode, HlsOutput, INIT_SEGMENT, LIVE_PLAYLIST};
use crate::ffmpeg::process::{describe, Child};
use crate::media::m3u8;
use crate::media_store::RenditionKey;

/// A completed segment, as a rendition hears of it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SegmentEvent {
    /// The ffmpeg run that wrote it (segments of one run share an init segment).
    pub(crate) run: u32,
    pub(crate) path: PathBuf,
    pub(crate) init: PathBuf,
    pub(crate) duration: f64,
}

/// One rendition a source writes.
#[derive(Debug, Clone)]
pub(crate) struct SourceOutput {
    pub(crate) key: RenditionKey,
    pub(crate) encode: Option<Encode>,
    pub(crate) segments: mpsc::Sender<SegmentEvent>,
}

/// How long a write to ffmpeg's stdin may block before the child counts as stuck.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Media keeps arriving but no segment came out for this long (segments are 1 s): the child
/// is hung (stopped, deadlocked) and is replaced.
const STALL: Duration = Duration::from_secs(6);
/// The same before the first segment of a run (ffmpeg starts and probes first).
const FIRST_SEGMENT_STALL: Duration = Duration::from_secs(10);
/// How often the live playlists are read.
const POLL: Duration = Duration::from_millis(150);
/// Jobs that stop when this source is down.
const SOURCE_JOBS: [ProcessKind; 2] = [ProcessKind::Recording, ProcessKind::Replay];

/// Reads ffmpeg's live playlist for one output and reports segments not seen yet.
struct Watcher {
    dir: PathBuf,
    run: u32,
    last_seq: Option<u64>,
    output: SourceOutput,
}

impl Watcher {
    async fn poll(&mut self) -> usize {
        let Ok(text) = tokio::fs::read_to_string(self.dir.join(LIVE_PLAYLIST)).await else {
            return 0;
        };
        let playlist = m3u8::parse(&text);
        let mut sent = 0;
        for (seq, duration, uri) in playlist.segments {
            if self.last_seq.is_some_and(|l| seq <= l) || uri.contains('/') {
                continue;
            }
            self.last_seq = Some(seq);
            let event = SegmentEvent {
                run: self.run,
                path: self.dir.join(&uri),
                init: self.dir.join(INIT_SEGMENT),
                duration,
            };
            if self.output.segments.send(event).await.is_ok() {
                sent += 1;
            }
        }
        sent
    }
}

/// Runs a source until its tag channel closes (the publisher left) or `cancel` fires, then
/// lets ffmpeg finish its last segment.
pub(crate) async fn run(
    ctx: Arc<RunnerCtx>,
    outputs: Vec<SourceOutput>,
    mut tags: mpsc::Receiver<MediaTag>,
    cancel: CancellationToken,
) {
    let mut gop = GopCache::default();
    let mut policy = RestartPolicy::new();
    let label = if outputs.iter().any(|o| o.encode.is_some()) {
        "transcoder"
    } else {
        "ingest copy"
    };
    loop {
        // Wait for a keyframe (and the sequence headers) before starting ffmpeg.
        while !gop.ready() {
            tokio::select! {
                t = tags.recv() => match t {
                    Some(t) => gop.push(&t),
                    None => return,
                },
                _ = cancel.cancelled() => return,
            }
        }
        let run = ctx.next_run();
        match run_once(
            &ctx,
            &outputs,
            run,
            &mut gop,
            &mut tags,
            &cancel,
            &mut policy,
        )
        .await
        {
            RunEnd::Finished => return,
            RunEnd::Crashed(error) if ctx.disk.is_low() => {
                // Not ffmpeg's fault: wait for space (keeping the cache current) and start
                // again, without counting it against the restart budget.
                tracing::warn!(
                    source = label,
                    run,
                    "ffmpeg stopped while the disk is full: {error}"
                );
                set_jobs(
                    &ctx,
                    &outputs,
                    JobState::Paused {
                        reason: super::disk::PAUSED.into(),
                    },
                );
                while ctx.disk.is_low() {
                    let wake = tokio::time::sleep(super::disk::INTERVAL);
                    tokio::pin!(wake);
                    loop {
                        tokio::select! {
                            _ = &mut wake => break,
                            t = tags.recv() => match t {
                                Some(t) => gop.push(&t),
                                None => return,
                            },
                            _ = cancel.cancelled() => return,
                        }
                    }
                }
            }
            RunEnd::Crashed(error) => {
                tracing::warn!(source = label, run, "ffmpeg stopped unexpectedly: {error}");
                match policy.failed(Instant::now()) {
                    Decision::RestartAfter(delay) => {
                        for o in &outputs {
                            for kind in SOURCE_JOBS {
                                if ctx.is_enabled(o.key.stream_id, kind) {
                                    crate::metrics::restarted(o.key.stream_id, kind);
                                }
                            }
                        }
                        set_jobs(
                            &ctx,
                            &outputs,
                            JobState::Restarting {
                                attempt: policy.failures(),
                                last_error: super::error::redact_paths(&error),
                            },
                        );
                        // Keep the cache current while waiting, so the restart resumes at the latest keyframe.
                        let wake = tokio::time::sleep(delay);
                        tokio::pin!(wake);
                        loop {
                            tokio::select! {
                                _ = &mut wake => break,
                                t = tags.recv() => match t {
                                    Some(t) => gop.push(&t),
                                    None => return,
                                },
                                _ = cancel.cancelled() => return,
                            }
                        }
                    }
                    Decision::GiveUp => {
                        tracing::error!(source = label, "ffmpeg keeps failing; giving up: {error}");
                        set_jobs(
                            &ctx,
                            &outputs,
                            JobState::Failed {
                                reason: super::error::redact_paths(&error),
                            },
                        );
                        // Swallow the rest of the stream so the session is not held up.
                        while tags.recv().await.is_some() {}
                        return;
                    }
                }
            }
        }
    }
}

enum RunEnd {
    Finished,
    Crashed(String),
}

/// Sets the state of the recording and replay jobs this source feeds; a failure is also
/// announced (`job.failed`).
fn set_jobs(ctx: &RunnerCtx, outputs: &[SourceOutput], state: JobState) {
    for o in outputs {
        for kind in SOURCE_JOBS {
            if ctx.is_enabled(o.key.stream_id, kind) {
                if let JobState::Failed { reason } = &state {
                    ctx.emit(super::PipelineEvent::JobFailed {
                        organisation_id: o.key.organisation_id,
                        stream_id: o.key.stream_id,
                        process: kind,
                        reason: reason.clone(),
                    });
                }
                ctx.jobs.set(o.key.stream_id, kind, state.clone());
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_once(
    ctx: &Arc<RunnerCtx>,
    outputs: &[SourceOutput],
    run: u32,
    gop: &mut GopCache,
    tags: &mut mpsc::Receiver<MediaTag>,
    cancel: &CancellationToken,
    policy: &mut RestartPolicy,
) -> RunEnd {
    let mut hls = Vec::with_capacity(outputs.len());
    let mut watchers = Vec::with_capacity(outputs.len());
    for o in outputs {
        let dir = ctx.store.segments(o.key, run);
        if let Err(e) = tokio::fs::create_dir_all(&dir).await {
            return RunEnd::Crashed(format!("cannot create {}: {e}", dir.display()));
        }
        hls.push(HlsOutput {
            dir: dir.clone(),
            encode: o.encode.clone(),
        });
        watchers.push(Watcher {
            dir,
            run,
            last_seq: None,
            output: o.clone(),
        });
    }
    // The container is chosen per run, from the sequence header it starts with.
    let mut feed = gop.feed();
    let argv = args::source(feed.format(), &hls);
    let mut child = match Child::spawn("ffmpeg", &ctx.config.ffmpeg, &argv, true, 0) {
        Ok(c) => c,
        Err(e) => return RunEnd::Crashed(e.to_string()),
    };
    policy.started(Instant::now());
    let Some(mut stdin) = child.take_stdin() else {
        return RunEnd::Crashed("no stdin".into());
    };
    for chunk in gop.start_bytes(&mut feed) {
        if write(&mut stdin, &chunk).await.is_err() {
            return crashed(&mut child).await;
        }
    }
    let mut tick = tokio::time::interval(POLL);
    let mut running = false;
    let started = Instant::now();
    let mut last_segment: Option<Instant> = None;
    let mut last_tag = Instant::now();
    loop {
        tokio::select! {
            t = tags.recv() => match t {
                Some(t) => {
                    last_tag = Instant::now();
                    gop.push(&t);
                    let Some(bytes) = feed.tag(&t) else { continue };
                    let written = write_watching(&mut stdin, &bytes, &mut watchers, &mut last_segment, started).await;
                    if last_segment.is_some() {
                        policy.progressed();
                    }
                    match written {
                        Ok(()) => {}
                        Err(WriteEnd::Broken) => return crashed(&mut child).await,
                        Err(WriteEnd::Stalled) => return stalled(&mut child, last_segment).await,
                    }
                }
                None => break,
            },
            _ = tick.tick() => {
                let mut sent = 0;
                for w in &mut watchers {
                    sent += w.poll().await;
                }
                let now = Instant::now();
                if sent > 0 {
                    last_segment = Some(now);
                    policy.progressed();
                    if !running {
                        running = true;
                        set_jobs(ctx, outputs, JobState::Running);
                    }
                }
                let quiet = match last_segment {
                    Some(t) => now.duration_since(t) > STALL,
                    None => now.duration_since(started) > FIRST_SEGMENT_STALL,
                };
                // Only a stall while media flows: a publisher that pauses is not a hung child.
                if quiet && now.duration_since(last_tag) < Duration::from_secs(1) {
                    return stalled(&mut child, last_segment).await;
                }
            }
            status = child.wait() => {
                for w in &mut watchers {
                    w.poll().await;
                }
                let error = match status {
                    Ok(s) => format!("{} ({})", describe(s), last_line(&child.stderr_tail())),
                    Err(e) => e.to_string(),
                };
                return RunEnd::Crashed(error);
            }
            _ = cancel.cancelled() => break,
        }
    }
    // The publisher left (or the server stops): EOF lets ffmpeg close its last segment.
    drop(stdin);
    let _ = child.stop(Duration::from_secs(10)).await;
    for w in &mut watchers {
        w.poll().await;
    }
    RunEnd::Finished
}

/// Why a write to ffmpeg did not complete.
enum WriteEnd {
    /// The pipe broke, or nothing moved for [`WRITE_TIMEOUT`].
    Broken,
    /// ffmpeg takes no input and makes no segments: hung.
    Stalled,
}

/// Writes to ffmpeg's stdin; while the write waits (the pipe is full) the segments are
/// watched, so a child that is slow but alive is waited for and one that makes nothing for
/// [`STALL`] is found hung at once, not after a long write timeout.
async fn write_watching(
    stdin: &mut tokio::process::ChildStdin,
    bytes: &[u8],
    watchers: &mut [Watcher],
    last_segment: &mut Option<Instant>,
    started: Instant,
) -> Result<(), WriteEnd> {
    let waiting_since = Instant::now();
    let write = stdin.write_all(bytes);
    tokio::pin!(write);
    loop {
        match tokio::time::timeout(Duration::from_secs(1), &mut write).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(_)) => return Err(WriteEnd::Broken),
            Err(_) => {
                let mut sent = 0;
                for w in watchers.iter_mut() {
                    sent += w.poll().await;
                }
                let now = Instant::now();
                if sent > 0 {
                    *last_segment = Some(now);
                }
                let quiet = match *last_segment {
                    Some(t) => now.duration_since(t) > STALL,
                    None => now.duration_since(started) > FIRST_SEGMENT_STALL,
                };
                if quiet {
                    return Err(WriteEnd::Stalled);
                }
                if now.duration_since(waiting_since) > WRITE_TIMEOUT * 3 {
                    return Err(WriteEnd::Broken);
                }
            }
        }
    }
}

/// A hung child: killed at once (it may be stopped, so it would never exit by itself).
async fn stalled(child: &mut Child, last_segment: Option<Instant>) -> RunEnd {
    child.signal(nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait().await;
    RunEnd::Crashed(format!(
        "ffmpeg stopped making segments while media arrived ({} s); replaced",
        last_segment
            .map_or(FIRST_SEGMENT_STALL, |_| STALL)
            .as_secs()
    ))
}

async fn crashed(child: &mut Child) -> RunEnd {
    let status = tokio::time::timeout(Duration::from_secs(2), child.wait()).await;
    let tail = child.stderr_tail();
    let error = match status {
        Ok(Ok(s)) => format!("{} ({})", describe(s), last_line(&tail)),
        _ => {
            child.signal(nix::sys::signal::Signal::SIGKILL);
            let _ = child.wait().await;
            format!("stopped reading its input ({})", last_line(&tail))
        }
    };
    RunEnd::Crashed(error)
}

fn last_line(tail: &str) -> String {
    let line = tail
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("no output");
    line.chars().take(300).collect()
}

async fn write(stdin: &mut tokio::process::ChildStdin, bytes: &[u8]) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, stdin.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}
