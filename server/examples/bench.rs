//! `make bench`: what live processing costs and how many 1080p30 streams two cores hold.
//!
//! Our server (release build) runs as a child process; N real publishers push the same
//! 1080p30 H.264/AAC file over RTMP on loopback with `-re -c copy` (their own CPU is tiny and
//! not counted). CPU is read from /proc for the server and every process under it.
//!
//! A step holds only if all the promised work was done: every stream's replay segments and
//! thumbnails arrived within 2 s of when they could at the earliest, every thumbnail and
//! every motion clip that was due exists (counted per stream and slot: a thumbnail is due 3 s
//! after its moment, a clip 10 s after its end), and every recording is continuous (its
//! ffprobe duration matches the session's media time within 2 s). Made/due per kind is printed
//! per step; the CPU figure of a step that did not hold is never used.
//!
//! In the same run: the naive design (one full-decode ffmpeg per process, recording
//! re-encoded), nginx-rtmp (record + hls + exec ffmpeg for thumbnails) against our server
//! doing the same work (no motion clips) at the same stream count, and a 3-profile group
//! (1080p ingest + 720p + 360p) with every process on every profile against the same group
//! with the transcode alone. The last line is machine-readable.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::packages::Package;
use app::domain::settings::{ProcessInput, SpanInput};
use app::domain::streams::NewStreamGroup;
use app::ssr::{services, testing};
use chrono::{DateTime, Utc};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type Error = Box<dyn std::error::Error + Send + Sync>;

const INPUT_SECONDS: u32 = 60;
const WARMUP: Duration = Duration::from_secs(12);
const WINDOW: Duration = Duration::from_secs(40);
/// Publishers start spread over this (one thumbnail interval).
const STAGGER: Duration = Duration::from_secs(10);
/// The family every scrape must contain (written bytes per stream and process).
const BYTES_WRITTEN: &str = "livepro_bytes_written_total";
/// Lateness allowed for segments and thumbnails.
const LATE_LIMIT_S: f64 = 2.0;
/// Length of a segment (the input has 1 s GOPs).
const SEGMENT_S: f64 = 1.0;
/// Thumbnail and motion clip interval, and clip length, of every bench stream.
const INTERVAL_S: f64 = 10.0;
const CLIP_S: f64 = 3.0;
/// A motion clip is due this long after its last frame went out live (it is cut, encoded
/// twice and registered in that time).
const CLIP_GRACE_S: f64 = 10.0;
/// A recording is continuous when its duration is the session's media time within this.
const RECORDING_SLACK_S: f64 = 2.0;
/// Streams at which ours and nginx-rtmp are compared doing the same work.
const COMPARE_STREAMS: usize = 8;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

// ---------------------------------------------------------------- CPU from /proc

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// (pid, ppid, utime+stime+cutime+cstime ticks) of every process.
fn all_processes() -> Vec<(i32, i32, u64)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let Some(close) = stat.rfind(')') else {
            continue;
        };
        let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
        if f.len() < 15 {
            continue;
        }
        let n = |i: usize| f[i].parse::<u64>().unwrap_or(0);
        out.push((
            pid,
            f[1].parse().unwrap_or(0),
            n(11) + n(12) + n(13) + n(14),
        ));
    }
    out
}

/// CPU seconds used so far by one process itself (not its children).
fn own_cpu(pid: i32, ticks: f64) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some(close) = stat.rfind(')') else {
        return 0.0;
    };
    let f: Vec<&str> = stat[close + 2..].split_whitespace().collect();
    let n = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (n(11) + n(12)) as f64 / ticks
}

/// CPU seconds used so far by the transcoders under `root` (long-lived ffmpeg children
/// encoding with x264 and nothing else: a motion clip also writes WebP). Their work is the
/// same in every trial of a group, so their CPU measures the machine's speed at the time.
fn transcoder_cpu(root: i32, ticks: f64) -> f64 {
    all_processes()
        .into_iter()
        .filter(|&(_, ppid, _)| ppid == root)
        .filter(|&(pid, _, _)| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|c| {
                let c = String::from_utf8_lossy(&c);
                c.contains("libx264") && !c.contains("libwebp")
            })
        })
        .map(|(pid, _, _)| own_cpu(pid, ticks))
        .sum()
}

/// CPU seconds used so far by `root` and everything under it.
fn tree_cpu(root: i32, ticks: f64) -> f64 {
    let procs = all_processes();
    let mut children: HashMap<i32, Vec<i32>> = HashMap::new();
    let mut cpu: HashMap<i32, u64> = HashMap::new();
    for (pid, ppid, t) in &procs {
        children.entry(*ppid).or_default().push(*pid);
        cpu.insert(*pid, *t);
    }
    let mut total = 0;
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        total += cpu.get(&p).copied().unwrap_or(0);
        stack.extend(children.get(&p).into_iter().flatten());
    }
    total as f64 / ticks
}

// ---------------------------------------------------------------- input and publishers

async fn run(cmd: &mut Command) -> Result<(), Error> {
    let status = cmd.stdin(Stdio::null()).status().await?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {status}").into())
    }
}

/// The 1080p30 6 Mbps H.264 / 128 kbps AAC test file, 1 s GOPs, encoded once.
async fn input(out: &Path) -> Result<PathBuf, Error> {
    let path = out.join("input-1080p30.flv");
    if !path.exists() {
        println!("encoding the {INPUT_SECONDS} s 1080p30 test input once…");
        run(Command::new("ffmpeg")
            .args([
                "-hide_banner",
                "-loglevel",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=1920x1080:rate=30",
                "-f",
                "lavfi",
                "-i",
                "sine=frequency=440:sample_rate=48000",
            ])
            .args([
                "-t",
                &INPUT_SECONDS.to_string(),
                "-c:v",
                "libx264",
                "-preset",
                "veryfast",
                "-b:v",
                "6M",
                "-maxrate",
                "6M",
                "-bufsize",
                "12M",
                "-g",
                "30",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "128k", "-f", "flv"])
            .arg(&path))
        .await?;
    }
    Ok(path)
}

fn publish(input: &Path, url: &str) -> Result<Child, Error> {
    Ok(Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-stream_loop",
            "-1",
            "-i",
        ])
        .arg(input)
        .args(["-c", "copy", "-f", "flv", url])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()?)
}

// ---------------------------------------------------------------- our server

struct Server {
    child: Child,
    rtmp: String,
    dir: PathBuf,
}

/// Starts our server; with `metrics`, `/metrics` is served on the returned address.
async fn start_server(dir: &Path, metrics: Option<SocketAddr>) -> Result<Server, Error> {
    let _ = tokio::fs::remove_dir_all(dir).await;
    tokio::fs::create_dir_all(dir).await?;
    let mut command = Command::new(root().join("target/release/server"));
    command
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rtmp-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir);
    if let Some(addr) = metrics {
        command.arg("--metrics-listen").arg(addr.to_string());
    }
    let mut child = command
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let rtmp = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("RTMP:") {
                return Some(rest.trim().trim_end_matches("/<stream key>").to_string());
            }
        }
        None
    })
    .await?
    .ok_or("server did not start")?;
    Ok(Server {
        child,
        rtmp,
        dir: dir.to_path_buf(),
    })
}

impl Server {
    fn pid(&self) -> i32 {
        self.child.id().map(|p| p as i32).unwrap_or(0)
    }

    /// Makes `n` stream groups running `load`; returns their keys.
    async fn groups(&self, n: usize, load: Load) -> Result<Vec<String>, Error> {
        let db = app::ssr::db::connect(&format!(
            "sqlite://{}",
            self.dir.join("livepro.db").display()
        ))
        .await?;
        let state = testing::state_on(db);
        let owner = testing::organisation(&state, "Bench", &Package::ALL)
            .await
            .remove(3);
        let processes = [
            ProcessInput {
                enabled: load.thumbnails(),
                interval: Some(10),
                duration: None,
            },
            ProcessInput {
                enabled: load.clips(),
                interval: Some(10),
                duration: Some(SpanInput::Seconds(3)),
            },
            ProcessInput {
                enabled: load != Load::Group3TranscodeOnly,
                interval: None,
                duration: Some(SpanInput::EntireStream),
            },
            ProcessInput {
                enabled: true,
                interval: None,
                duration: Some(SpanInput::Seconds(300)),
            },
        ];
        let mut keys = Vec::with_capacity(n);
        for i in 0..n {
            let profiles: Vec<String> = if load.renditions() == 3 {
                vec!["720p".into(), "360p".into()]
            } else {
                vec![]
            };
            let group = NewStreamGroup {
                name: format!("Bench {i}"),
                processing: vec![processes; 1 + profiles.len()],
                profiles,
            };
            let id = services::streams::create_group(&state, &owner, &group).await?;
            let detail = services::streams::group_detail(&state, &owner, id, None).await?;
            keys.push(detail.publish.stream_key.ok_or("no key")?);
        }
        state.db.close().await;
        Ok(keys)
    }

    async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid as i32),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let _ = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await;
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }
}

fn find_files(dir: &Path, name_end: &str, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            find_files(&p, name_end, out);
        } else if p.to_string_lossy().ends_with(name_end) {
            out.push(p);
        }
    }
}

/// Newest segment end (wall clock) and first segment start of a replay playlist.
fn playlist_times(path: &Path) -> Option<(DateTime<Utc>, DateTime<Utc>, usize)> {
    let text = std::fs::read_to_string(path).ok()?;
    let mut first = None;
    let mut last = None;
    let mut pdt = None;
    let mut count = 0;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            pdt = DateTime::parse_from_rfc3339(v)
                .ok()
                .map(|d| d.with_timezone(&Utc));
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let d: f64 = v.trim_end_matches(',').parse().ok()?;
            let start = pdt?;
            first.get_or_insert(start);
            last = Some(start + chrono::Duration::milliseconds((d * 1000.0) as i64));
            count += 1;
        }
    }
    Some((first?, last?, count))
}

/// Media time (s) a thumbnail shows, from its name `t0000010000.jpg`.
fn thumb_media_s(path: &Path) -> Option<f64> {
    let name = path.file_name()?.to_str()?;
    Some(
        name.strip_prefix('t')?
            .strip_suffix(".jpg")?
            .parse::<f64>()
            .ok()?
            / 1000.0,
    )
}

#[derive(Debug, Clone)]
struct Trial {
    streams: usize,
    cpu_s_per_stream_min: f64,
    /// Of which the server process itself (RTMP, files, database), not ffmpeg.
    server_s_per_stream_min: f64,
    /// Of which the transcoders (the same work in every trial of a group).
    transcoder_s_per_stream_min: f64,
    segment_late_s: f64,
    thumb_late_s: f64,
    work: Work,
    held: bool,
}

/// What was due and what was made, over every stream of a trial.
#[derive(Debug, Clone, Copy, Default)]
struct Work {
    thumbs_made: usize,
    thumbs_due: usize,
    clips_made: usize,
    clips_due: usize,
    /// Clips that are another stream's files (a group shares them; hard links).
    clips_linked: usize,
    /// Recordings whose duration matches the session's media time.
    recordings_ok: usize,
    recordings: usize,
    /// The largest gap between a recording's duration and its session's media time.
    recording_gap_s: f64,
}

impl Work {
    fn done(&self) -> bool {
        self.thumbs_made >= self.thumbs_due
            && self.clips_made >= self.clips_due
            && self.recordings_ok == self.recordings
    }

    fn add(&mut self, o: Work) {
        self.thumbs_made += o.thumbs_made;
        self.thumbs_due += o.thumbs_due;
        self.clips_made += o.clips_made;
        self.clips_due += o.clips_due;
        self.clips_linked += o.clips_linked;
        self.recordings_ok += o.recordings_ok;
        self.recordings += o.recordings;
        self.recording_gap_s = self.recording_gap_s.max(o.recording_gap_s);
    }
}

/// Which processes a trial's streams run.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Load {
    /// All four on one 1080p stream per group.
    All,
    /// Thumbnails, recording and replay (what nginx-rtmp can do too).
    NoClips,
    /// One group of 1080p ingest + 720p + 360p with the replay alone on every stream (the
    /// transcode and little else).
    Group3TranscodeOnly,
    /// The same group with every process on every stream.
    Group3All,
}

impl Load {
    fn clips(self) -> bool {
        matches!(self, Load::All | Load::Group3All)
    }

    fn thumbnails(self) -> bool {
        self != Load::Group3TranscodeOnly
    }

    /// Streams (renditions) per group.
    fn renditions(self) -> usize {
        match self {
            Load::All | Load::NoClips => 1,
            Load::Group3TranscodeOnly | Load::Group3All => 3,
        }
    }
}

/// Slots that files named `<prefix><media ms>.<ext>` in `dir` stand for (the file of slot k is
/// at `offset_s + k × interval`); a slot counts only if its `.webp` sibling exists too.
fn slots(dir: &Path, prefix: char, ext: &str, offset_s: f64) -> std::collections::HashSet<i64> {
    let mut out = std::collections::HashSet::new();
    let suffix = format!(".{ext}");
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(ms) = name
            .strip_prefix(prefix)
            .and_then(|r| r.strip_suffix(suffix.as_str()))
            .and_then(|r| r.parse::<f64>().ok())
        else {
            continue;
        };
        if !dir.join(name.replace(suffix.as_str(), ".webp")).exists() {
            continue;
        }
        out.insert(((ms / 1000.0 - offset_s) / INTERVAL_S).round() as i64);
    }
    out
}

/// Due and made thumbnails and clips of one rendition whose session has `media_s` seconds.
fn due_and_made(rendition: &Path, media_s: f64, load: Load) -> Work {
    // Thumbnail k shows media time k × 10 s: due once its segment ended, plus the lateness
    // allowed.
    let thumbs_due = if load.thumbnails() && media_s >= SEGMENT_S + LATE_LIMIT_S {
        ((media_s - SEGMENT_S - LATE_LIMIT_S) / INTERVAL_S).floor() as usize + 1
    } else {
        0
    };
    let made = slots(&rendition.join("thumbnails"), 't', "jpg", 0.0);
    let thumbs_made = (0..thumbs_due as i64).filter(|k| made.contains(k)).count();
    // Clip k ends at 3 s + k × 10 s.
    let (clips_due, clips_made) = if load.clips() && media_s >= CLIP_S + CLIP_GRACE_S {
        let due = ((media_s - CLIP_S - CLIP_GRACE_S) / INTERVAL_S).floor() as usize + 1;
        let made = slots(&rendition.join("motion"), 'c', "mp4", CLIP_S);
        (due, (0..due as i64).filter(|k| made.contains(k)).count())
    } else {
        (0, 0)
    };
    let mut mp4s = Vec::new();
    find_files(&rendition.join("motion"), ".mp4", &mut mp4s);
    let clips_linked = mp4s
        .iter()
        .filter(|p| {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata(p).is_ok_and(|m| m.nlink() > 1)
        })
        .count();
    Work {
        thumbs_made,
        thumbs_due,
        clips_made,
        clips_due,
        clips_linked,
        ..Work::default()
    }
}

/// Seconds of media in a file, by ffprobe.
fn probe_s(path: &Path) -> Option<f64> {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .ok()?;
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

/// Whether each rendition's recording is continuous: once the publishers stopped, waits for
/// the files to be finished, then compares their total duration with the session's media
/// time (from its replay playlist).
async fn recordings(playlists: &[PathBuf]) -> Work {
    let parts = || {
        let mut v = Vec::new();
        for p in playlists {
            find_files(&p.with_file_name("recordings"), ".part", &mut v);
        }
        v
    };
    let t0 = Instant::now();
    while !parts().is_empty() && t0.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let mut w = Work::default();
    for p in playlists {
        let Some((first, last, _)) = playlist_times(p) else {
            continue;
        };
        let media_s = (last - first).num_milliseconds() as f64 / 1000.0;
        let mut files = Vec::new();
        find_files(&p.with_file_name("recordings"), ".mp4", &mut files);
        let recorded: f64 = files.iter().filter_map(|f| probe_s(f)).sum();
        let gap = (recorded - media_s).abs();
        w.recordings += 1;
        if gap <= RECORDING_SLACK_S {
            w.recordings_ok += 1;
        }
        w.recording_gap_s = w.recording_gap_s.max(gap);
    }
    w
}

async fn trial(
    input: &Path,
    work: &Path,
    n: usize,
    ticks: f64,
    load: Load,
) -> Result<Trial, Error> {
    trial_with(input, work, n, ticks, None, load).await
}

/// One trial; with `scrape`, metrics are on and scraped at that period for the whole trial.
async fn trial_with(
    input: &Path,
    work: &Path,
    n: usize,
    ticks: f64,
    scrape: Option<Duration>,
    load: Load,
) -> Result<Trial, Error> {
    let metrics = match scrape {
        Some(_) => Some(free_port()?),
        None => None,
    };
    let server = start_server(&work.join(format!("ours-{n}")), metrics).await?;
    let scrapes = Arc::new(AtomicUsize::new(0));
    let scraper = match (metrics, scrape) {
        (Some(addr), Some(period)) => {
            Some(tokio::spawn(scrape_forever(addr, period, scrapes.clone())))
        }
        _ => None,
    };
    let keys = server.groups(n, load).await?;
    let renditions = n * load.renditions();
    // Streams start at independent moments in real life: spread the publishers over one
    // thumbnail interval so their schedules are not all aligned to the same second.
    let mut publishers = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        publishers.push(publish(input, &format!("{}/{k}", server.rtmp))?);
        if i + 1 < keys.len() {
            tokio::time::sleep(STAGGER / keys.len() as u32).await;
        }
    }
    tokio::time::sleep(WARMUP).await;
    let media = server.dir.join("media");
    let cpu0 = tree_cpu(server.pid(), ticks);
    let own0 = own_cpu(server.pid(), ticks);
    let transcoders0 = transcoder_cpu(server.pid(), ticks);
    let window_start = Utc::now();
    let t0 = Instant::now();
    let mut segment_late: f64 = 0.0;
    let mut seen = 0;
    while t0.elapsed() < WINDOW {
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let mut playlists = Vec::new();
        find_files(&media, "replay.m3u8", &mut playlists);
        seen = playlists.len();
        let now = Utc::now();
        for p in &playlists {
            if let Some((_, end, _)) = playlist_times(p) {
                let late = (now - end).num_milliseconds() as f64 / 1000.0 - SEGMENT_S;
                segment_late = segment_late.max(late);
            }
        }
        if seen < renditions {
            segment_late = segment_late.max(99.0);
        }
    }
    let cpu1 = tree_cpu(server.pid(), ticks);
    let own1 = own_cpu(server.pid(), ticks);
    let transcoders1 = transcoder_cpu(server.pid(), ticks);
    let elapsed = t0.elapsed().as_secs_f64();
    // Thumbnails made in the window: how long after their segment could first be used.
    let mut thumb_late: f64 = 0.0;
    let mut playlists = Vec::new();
    find_files(&media, "replay.m3u8", &mut playlists);
    for p in &playlists {
        let Some((session_start, _, _)) = playlist_times(p) else {
            continue;
        };
        let mut thumbs = Vec::new();
        find_files(&p.with_file_name("thumbnails"), ".jpg", &mut thumbs);
        for t in thumbs {
            let (Some(media_s), Ok(meta)) = (thumb_media_s(&t), std::fs::metadata(&t)) else {
                continue;
            };
            let Ok(modified) = meta.modified() else {
                continue;
            };
            let made: DateTime<Utc> = modified.into();
            if made < window_start {
                continue;
            }
            let earliest = session_start
                + chrono::Duration::milliseconds(((media_s + SEGMENT_S) * 1000.0) as i64);
            thumb_late = thumb_late.max((made - earliest).num_milliseconds() as f64 / 1000.0);
        }
    }
    // What was due by now, and made: counted while the publishers still publish.
    let mut work = Work::default();
    for p in &playlists {
        if let Some((first, last, _)) = playlist_times(p) {
            let media_s = (last - first).num_milliseconds() as f64 / 1000.0;
            work.add(due_and_made(p.parent().unwrap_or(&media), media_s, load));
        }
    }
    for mut p in publishers {
        let _ = p.kill().await;
    }
    if load != Load::Group3TranscodeOnly {
        work.add(recordings(&playlists).await);
    }
    if let Some(task) = scraper {
        task.abort();
    }
    if scrape.is_some() && scrapes.load(Ordering::Relaxed) == 0 {
        return Err("metrics were on but no scrape succeeded".into());
    }
    server.stop().await;
    let cpu_s_per_stream_min = (cpu1 - cpu0) / (n as f64 * elapsed / 60.0);
    let server_share = (own1 - own0) / (n as f64 * elapsed / 60.0);
    let transcoder_share = (transcoders1 - transcoders0) / (n as f64 * elapsed / 60.0);
    let held = seen == renditions
        && segment_late <= LATE_LIMIT_S
        && thumb_late <= LATE_LIMIT_S
        && work.done();
    Ok(Trial {
        streams: n,
        cpu_s_per_stream_min,
        server_s_per_stream_min: server_share,
        transcoder_s_per_stream_min: transcoder_share,
        segment_late_s: segment_late,
        thumb_late_s: thumb_late,
        work,
        held,
    })
}

fn free_port() -> Result<SocketAddr, Error> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?)
}

/// Scrapes `/metrics` every `period` as Prometheus would; counts the full answers. Runs until
/// aborted; the count is read back through a shared counter.
async fn scrape_forever(addr: SocketAddr, period: Duration, ok: Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        let Ok(mut conn) = tokio::net::TcpStream::connect(addr).await else {
            continue;
        };
        let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        if conn.write_all(request.as_bytes()).await.is_err() {
            continue;
        }
        let mut body = Vec::new();
        if conn.read_to_end(&mut body).await.is_ok()
            && body.starts_with(b"HTTP/1.1 200")
            && body
                .windows(BYTES_WRITTEN.len())
                .any(|w| w == BYTES_WRITTEN.as_bytes())
        {
            ok.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Seconds from starting a publisher to the first replay segment and the first thumbnail.
async fn latency(input: &Path, work: &Path) -> Result<(f64, f64), Error> {
    let server = start_server(&work.join("latency"), None).await?;
    let keys = server.groups(1, Load::All).await?;
    let started = Instant::now();
    let mut publisher = publish(input, &format!("{}/{}", server.rtmp, keys[0]))?;
    let media = server.dir.join("media");
    let (mut first_segment, mut first_thumb) = (None, None);
    while started.elapsed() < Duration::from_secs(30)
        && (first_segment.is_none() || first_thumb.is_none())
    {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if first_segment.is_none() {
            let mut p = Vec::new();
            find_files(&media, "replay.m3u8", &mut p);
            if p.first()
                .and_then(|p| playlist_times(p))
                .is_some_and(|(_, _, n)| n > 0)
            {
                first_segment = Some(started.elapsed().as_secs_f64());
            }
        }
        if first_thumb.is_none() {
            let mut t = Vec::new();
            find_files(&media, ".jpg", &mut t);
            if !t.is_empty() {
                first_thumb = Some(started.elapsed().as_secs_f64());
            }
        }
    }
    let _ = publisher.kill().await;
    server.stop().await;
    Ok((
        first_segment.unwrap_or(f64::NAN),
        first_thumb.unwrap_or(f64::NAN),
    ))
}

// ---------------------------------------------------------------- the naive design

fn children_cpu() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_CHILDREN)
        .map(|u| {
            let (a, b) = (u.user_time(), u.system_time());
            a.tv_sec() as f64
                + a.tv_usec() as f64 / 1e6
                + b.tv_sec() as f64
                + b.tv_usec() as f64 / 1e6
        })
        .unwrap_or(0.0)
}

/// One full-decode ffmpeg per process, recording re-encoded, on the same input (as fast as
/// it goes); CPU seconds per minute of stream.
async fn naive(input: &Path, work: &Path) -> Result<f64, Error> {
    let dir = work.join("naive");
    let _ = tokio::fs::remove_dir_all(&dir).await;
    tokio::fs::create_dir_all(&dir).await?;
    let d = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let common = ["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"];
    let jobs: Vec<Vec<String>> = vec![
        // Thumbnails: decode everything, keep one frame every 10 s, JPEG and WebP.
        vec![
            "-filter_complex".into(),
            "[0:v]fps=1/10,split=2[a][b]".into(),
            "-map".into(),
            "[a]".into(),
            d("t%03d.jpg"),
            "-map".into(),
            "[b]".into(),
            "-c:v".into(),
            "libwebp".into(),
            d("t%03d.webp"),
        ],
        // Motion clips: decode everything, keep 3 s of every 10, scale, encode.
        vec![
            "-an".into(),
            "-vf".into(),
            "select='lt(mod(t\\,10)\\,3)',setpts=N/FRAME_RATE/TB,scale=480:-2,fps=15".into(),
            "-c:v".into(),
            "libx264".into(),
            "-f".into(),
            "segment".into(),
            "-segment_time".into(),
            "3".into(),
            "-reset_timestamps".into(),
            "1".into(),
            d("c%03d.mp4"),
        ],
        // Recording: decode and re-encode with x264's defaults.
        vec![
            "-c:v".into(),
            "libx264".into(),
            "-b:v".into(),
            "6M".into(),
            "-c:a".into(),
            "aac".into(),
            d("rec.mp4"),
        ],
        // Replay: HLS by stream copy.
        vec![
            "-c".into(),
            "copy".into(),
            "-f".into(),
            "hls".into(),
            "-hls_time".into(),
            "1".into(),
            "-hls_list_size".into(),
            "0".into(),
            d("replay.m3u8"),
        ],
    ];
    let before = children_cpu();
    let mut children = Vec::new();
    for job in &jobs {
        children.push(
            Command::new("ffmpeg")
                .args(common)
                .arg(input)
                .args(job)
                .stdin(Stdio::null())
                .spawn()?,
        );
    }
    for mut c in children {
        c.wait().await?;
    }
    let cpu = children_cpu() - before;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok(cpu / (f64::from(INPUT_SECONDS) / 60.0))
}

// ---------------------------------------------------------------- nginx-rtmp

/// nginx with Debian's RTMP module: record + hls + exec ffmpeg for thumbnails, `n` streams;
/// CPU seconds per stream-minute.
async fn nginx(input: &Path, work: &Path, n: usize, ticks: f64) -> Result<f64, Error> {
    let dir = work.join("nginx");
    let _ = tokio::fs::remove_dir_all(&dir).await;
    for sub in ["rec", "hls", "thumbs", "logs"] {
        tokio::fs::create_dir_all(dir.join(sub)).await?;
    }
    // Workers run as nobody.
    let _ = Command::new("chmod")
        .args(["-R", "0777"])
        .arg(&dir)
        .status()
        .await;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let d = dir.display();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;\ndaemon off;\nmaster_process on;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/logs/error.log warn;\nevents {{ worker_connections 1024; }}\n\
         rtmp {{\n  server {{\n    listen 127.0.0.1:{port};\n    application live {{\n      live on;\n      record all;\n      record_path {d}/rec;\n      record_unique on;\n\
         hls on;\n      hls_path {d}/hls;\n      hls_fragment 1s;\n      hls_playlist_length 300s;\n\
         exec ffmpeg -nostdin -loglevel error -i rtmp://127.0.0.1:{port}/live/$name -an -vf fps=1/10 -update 1 -y {d}/thumbs/$name.jpg;\n    }}\n  }}\n}}\n"
    );
    tokio::fs::write(dir.join("nginx.conf"), conf).await?;
    let mut master = Command::new("nginx")
        .arg("-p")
        .arg(&dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut publishers = Vec::new();
    for i in 0..n {
        publishers.push(publish(
            input,
            &format!("rtmp://127.0.0.1:{port}/live/bench{i}"),
        )?);
    }
    tokio::time::sleep(WARMUP).await;
    let pid = master.id().map(|p| p as i32).unwrap_or(0);
    let cpu0 = tree_cpu(pid, ticks);
    let t0 = Instant::now();
    tokio::time::sleep(WINDOW).await;
    let cpu1 = tree_cpu(pid, ticks);
    let elapsed = t0.elapsed().as_secs_f64();
    for mut p in publishers {
        let _ = p.kill().await;
    }
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGQUIT,
    );
    let _ = tokio::time::timeout(Duration::from_secs(10), master.wait()).await;
    let _ = master.kill().await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    Ok((cpu1 - cpu0) / (n as f64 * elapsed / 60.0))
}

// ---------------------------------------------------------------- metrics on the hot path

/// `make bench-metrics`: the same trial with metrics off, and on with `/metrics` scraped every
/// second (15x Prometheus' default rate), alternated three times each so drift in the
/// machine's speed falls on both; medians compared.
async fn metrics_cost(input: &Path, work: &Path, ticks: f64) -> Result<(), Error> {
    let n: usize = std::env::var("BENCH_STREAMS")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(8);
    let scrape = Duration::from_secs(1);
    println!(
        "metrics cost at {n} streams, /metrics scraped every {} s when on; 3 rounds of off/on",
        scrape.as_secs()
    );
    println!(
        "{:>6} {:>16} {:>12} {:>10}  held",
        "metrics", "cpu s/stream-min", "of it server", "clips m/d"
    );
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for metrics in [false, true] {
            let t = trial_with(input, work, n, ticks, metrics.then_some(scrape), Load::All).await?;
            println!(
                "{:>7} {:>16.2} {:>12.3} {:>10}  {}",
                if metrics { "on" } else { "off" },
                t.cpu_s_per_stream_min,
                t.server_s_per_stream_min,
                format!("{}/{}", t.work.clips_made, t.work.clips_due),
                if t.held { "yes" } else { "NO" }
            );
            if !t.held {
                return Err("a trial did not hold real time: lower BENCH_STREAMS".into());
            }
            if metrics { &mut on } else { &mut off }.push(t);
        }
    }
    let median = |v: &[Trial], f: fn(&Trial) -> f64| {
        let mut xs: Vec<f64> = v.iter().map(f).collect();
        xs.sort_by(f64::total_cmp);
        xs[xs.len() / 2]
    };
    let (server_off, server_on) = (
        median(&off, |t| t.server_s_per_stream_min),
        median(&on, |t| t.server_s_per_stream_min),
    );
    let (total_off, total_on) = (
        median(&off, |t| t.cpu_s_per_stream_min),
        median(&on, |t| t.cpu_s_per_stream_min),
    );
    println!(
        "bench-metrics: streams={n} server_cpu_s_per_stream_min_off={server_off:.3} on={server_on:.3} delta={:.3} total_off={total_off:.2} total_on={total_on:.2} total_delta_pct={:.1}",
        server_on - server_off,
        (total_on - total_off) / total_off * 100.0
    );
    Ok(())
}

// ---------------------------------------------------------------- a 3-profile group

/// One line of the trials' table.
fn row(label: String, t: &Trial) {
    println!(
        "{label:>8} {:>16.2} {:>12.2} {:>9.2} {:>9.2} {:>11} {:>11} {:>10}  {}",
        t.cpu_s_per_stream_min,
        t.server_s_per_stream_min,
        t.segment_late_s,
        t.thumb_late_s,
        format!("{}/{}", t.work.thumbs_made, t.work.thumbs_due),
        format!("{}/{}", t.work.clips_made, t.work.clips_due),
        format!("{}/{}", t.work.recordings_ok, t.work.recordings),
        if t.held { "yes" } else { "NO" }
    );
}

/// A 3-profile group (1080p ingest + 720p + 360p), one trial with the transcode and the
/// replay alone and one with every process on every profile, alternated `rounds` times.
/// Returns the overhead of the processes in percent of the transcode, the mean over the
/// rounds of each round's overhead measured against its own transcoder: the transcoders do
/// the same work in both trials, so a trial's CPU divided by its transcoders' is free of the
/// machine's drift in speed between the trials (on this VM it moves ±20 % from minute to
/// minute, more than the effect measured). The plain difference of the two trials' CPU is
/// printed beside it. `make bench-group` runs it alone.
async fn group3(input: &Path, work: &Path, ticks: f64, rounds: usize) -> Result<f64, Error> {
    let (mut alone, mut all) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        let t = trial(input, work, 1, ticks, Load::Group3TranscodeOnly).await?;
        row("g3 tr.".into(), &t);
        alone.push(t);
        let t = trial(input, work, 1, ticks, Load::Group3All).await?;
        row("g3 all".into(), &t);
        println!(
            "         clips shared by the group (hard links to the leader's): {}/{}",
            t.work.clips_linked, t.work.clips_made
        );
        all.push(t);
    }
    let per_transcode = |t: &Trial| t.cpu_s_per_stream_min / t.transcoder_s_per_stream_min;
    let mut rounds_pct = Vec::new();
    for (a, b) in alone.iter().zip(&all) {
        let pct = (per_transcode(b) / per_transcode(a) - 1.0) * 100.0;
        println!(
            "         round: transcoders {:.2} and {:.2} CPU-s per group-minute; all CPU per transcoder CPU {:.3} alone, {:.3} with every process: +{pct:.1}%",
            a.transcoder_s_per_stream_min,
            b.transcoder_s_per_stream_min,
            per_transcode(a),
            per_transcode(b)
        );
        rounds_pct.push(pct);
    }
    let mean = |v: &[Trial]| v.iter().map(|t| t.cpu_s_per_stream_min).sum::<f64>() / v.len() as f64;
    let (alone_cpu, all_cpu) = (mean(&alone), mean(&all));
    let held = alone.iter().chain(&all).all(|t| t.held);
    let plain = (all_cpu - alone_cpu) / alone_cpu * 100.0;
    let pct = rounds_pct.iter().sum::<f64>() / rounds_pct.len() as f64;
    println!(
        "3-profile group (1080p + 720p + 360p), {rounds} rounds: every process on every profile costs +{pct:.1}% of the transcode (each round against its own transcoder, mean); plain difference of the means: transcode with the replay alone {alone_cpu:.2}, every process {all_cpu:.2} CPU-s per group-minute, +{plain:.1}%{}",
        if held { "" } else { " — a trial did NOT hold" }
    );
    Ok(pct)
}

// ---------------------------------------------------------------- main

#[tokio::main]
async fn main() -> Result<(), Error> {
    let work = root().join("bench-out");
    tokio::fs::create_dir_all(&work).await?;
    let ticks = clock_ticks();
    let input = input(&work).await?;
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    println!("machine: {cores} cores; input: 1080p30 6 Mbps H.264 + AAC, 1 s GOPs, published with -re -c copy, publishers starting over {} s", STAGGER.as_secs());
    println!("processes per stream: thumbnail every 10 s (JPEG+WebP), 3 s motion clip every 10 s (MP4+WebP), recording, replay");

    match std::env::var("BENCH_MODE").as_deref() {
        Ok("metrics") => return metrics_cost(&input, &work, ticks).await,
        Ok("group") => {
            let pct = group3(&input, &work, ticks, 3).await?;
            println!("bench-group: group3_overhead_pct={pct:.1}");
            return Ok(());
        }
        _ => {}
    }

    let mut latencies = Vec::new();
    for _ in 0..3 {
        latencies.push(latency(&input, &work).await?);
    }
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let first_segment = median(latencies.iter().map(|l| l.0).collect());
    let first_thumb = median(latencies.iter().map(|l| l.1).collect());
    println!("latency: first replay segment {first_segment:.2} s, first thumbnail {first_thumb:.2} s after the publisher starts (median of 3)");

    let steps: Vec<usize> = std::env::var("BENCH_STREAMS")
        .ok()
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![8, 16, 24, 28, 32, 36, 40]);
    let mut best: Option<Trial> = None;
    println!(
        "{:>8} {:>16} {:>12} {:>9} {:>9} {:>11} {:>11} {:>10}  held",
        "streams",
        "cpu s/stream-min",
        "of it server",
        "seg late",
        "thumb late",
        "thumbs m/d",
        "clips m/d",
        "rec ok"
    );
    for n in steps {
        let t = trial(&input, &work, n, ticks, Load::All).await?;
        row(n.to_string(), &t);
        if !t.held {
            break;
        }
        best = Some(t);
    }
    let best = best.ok_or("not even the first trial held real time with every clip made")?;

    let naive = naive(&input, &work).await?;
    println!("naive (4 full-decode ffmpegs with default settings, recording re-encoded, replay copied): {naive:.1} CPU-s per stream-minute");

    // Like for like with nginx-rtmp: the same stream count, the work both can do.
    let same = trial(&input, &work, COMPARE_STREAMS, ticks, Load::NoClips).await?;
    row(format!("{COMPARE_STREAMS} noclip"), &same);
    let nginx = nginx(&input, &work, COMPARE_STREAMS, ticks).await?;
    println!("at {COMPARE_STREAMS} streams doing thumbnails every 10 s, a recording and HLS: ours {:.2}, nginx-rtmp {nginx:.2} CPU-s per stream-minute ({:.1}x){}", same.cpu_s_per_stream_min, nginx / same.cpu_s_per_stream_min, if same.held { "" } else { " — ours did NOT hold" });
    println!("  nginx-rtmp cannot: motion clips (no per-interval cut and encode), WebP thumbnails (its exec ffmpeg writes one JPEG and decodes every frame), a replay with program date-times, clip & share, keyframe-only decoding");

    // A 3-profile group: processing on top of the transcode.
    let group3_overhead_pct = group3(&input, &work, ticks, 2).await?;

    let ours = best.cpu_s_per_stream_min;
    println!(
        "ours at {} streams (all four processes, every clip made): {ours:.2} CPU-s per stream-minute = {:.0}% of one core per stream; {:.1}x less than naive",
        best.streams,
        ours / 60.0 * 100.0,
        naive / ours,
    );
    println!(
        "bench: streams_realtime={} cpu_s_per_stream_min={ours:.2} clips_made={}/{} vs_naive={:.1}x vs_nginx_rtmp={:.1}x group3_overhead_pct={group3_overhead_pct:.1} first_thumb_s={first_thumb:.2} first_segment_s={first_segment:.2}",
        best.streams,
        best.work.clips_made,
        best.work.clips_due,
        naive / ours,
        nginx / same.cpu_s_per_stream_min,
    );
    Ok(())
}
