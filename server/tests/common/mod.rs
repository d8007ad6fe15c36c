//! `TestApp`: the real server on free ports with a temporary data folder and a fresh
//! database (SQLite, or PostgreSQL with `LP_TEST_DATABASE=postgres`), plus HTTP clients
//! signed in as members of each role.

#![allow(dead_code)]

use app::domain::packages::Package;
use app::ssr::auth::Caller;
use app::ssr::testing;
use server::config::Config;
use server::Running;

/// A running server and its data folder.
pub struct TestApp {
    pub running: Running,
    pub base: String,
    pub dir: tempfile::TempDir,
    /// The database when it is not the folder's SQLite file (a PostgreSQL run).
    pub database_url: Option<String>,
}

impl TestApp {
    /// Starts a server on 127.0.0.1 with ephemeral ports.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// Like [`TestApp::start`], with settings changed by `change`.
    pub async fn start_with(change: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::for_tests(dir.path().to_path_buf());
        if testing::engine() == app::ssr::db::Engine::Postgres {
            config.database_url = Some(testing::database_url(dir.path()).await);
        }
        change(&mut config);
        let database_url = config.database_url.clone();
        let running = server::start(config).await.expect("server starts");
        let base = running.dashboard_url();
        Self {
            running,
            base,
            dir,
            database_url,
        }
    }

    /// An organisation with `packages` and one member per role (viewer, editor, admin, owner).
    pub async fn organisation(&self, name: &str, packages: &[Package]) -> Vec<Caller> {
        testing::organisation(&self.running.state, name, packages).await
    }

    /// A client with a cookie jar, not signed in.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client")
    }

    /// A client signed in through the login server function.
    pub async fn signed_in(&self, email: &str) -> reqwest::Client {
        let client = self.client();
        let res = client
            .post(format!("{}/api/login", self.base))
            .form(&[("email", email), ("password", "password123")])
            .send()
            .await
            .expect("login request");
        assert!(
            res.status().is_success(),
            "login as {email}: {}",
            res.status()
        );
        client
    }

    /// POSTs a form-encoded server function call.
    pub async fn call_form(
        &self,
        client: &reqwest::Client,
        name: &str,
        form: &[(&str, String)],
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/{name}", self.base))
            .form(form)
            .send()
            .await
            .expect("request")
    }

    /// POSTs a JSON server function call.
    pub async fn call_json(
        &self,
        client: &reqwest::Client,
        name: &str,
        body: serde_json::Value,
    ) -> reqwest::Response {
        client
            .post(format!("{}/api/{name}", self.base))
            .json(&body)
            .send()
            .await
            .expect("request")
    }
}

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use app::domain::settings::{ProcessConfig, ProcessInput, ProcessKind, SpanInput};
use app::domain::streams::NewStreamGroup;
use app::ssr::services::streams;

/// Settings for one stream, in [`ProcessKind::ALL`] order, from what is switched on.
pub struct Processes {
    pub thumbnail: Option<i64>,
    pub clip: Option<(i64, i64)>,
    pub recording: Option<SpanInput>,
    pub replay: Option<SpanInput>,
}

impl Processes {
    /// Nothing on.
    pub fn none() -> Self {
        Self {
            thumbnail: None,
            clip: None,
            recording: None,
            replay: None,
        }
    }

    /// Every process on, as [`TestApp::every_asset`] checks them: thumbnails every 10 s, 3 s
    /// motion clips every 10 s, a recording, a 60 s replay.
    pub fn everything() -> Self {
        Self {
            thumbnail: Some(10),
            clip: Some((10, 3)),
            recording: Some(SpanInput::Seconds(3600)),
            replay: Some(SpanInput::Seconds(60)),
        }
    }

    /// As inputs for a new group.
    pub fn inputs(&self) -> [ProcessInput; 4] {
        let off = |k| ProcessConfig::default_for(k).to_input();
        [
            self.thumbnail
                .map(|i| ProcessInput {
                    enabled: true,
                    interval: Some(i),
                    duration: None,
                })
                .unwrap_or_else(|| off(ProcessKind::Thumbnail)),
            self.clip
                .map(|(interval, d)| ProcessInput {
                    enabled: true,
                    interval: Some(interval),
                    duration: Some(SpanInput::Seconds(d)),
                })
                .unwrap_or_else(|| off(ProcessKind::MotionClip)),
            self.recording
                .map(|d| ProcessInput {
                    enabled: true,
                    interval: None,
                    duration: Some(d),
                })
                .unwrap_or_else(|| off(ProcessKind::Recording)),
            self.replay
                .map(|d| ProcessInput {
                    enabled: true,
                    interval: None,
                    duration: Some(d),
                })
                .unwrap_or_else(|| off(ProcessKind::Replay)),
        ]
    }
}

/// A group made for a pipeline test, with its key.
pub struct Group {
    pub id: i64,
    pub key: String,
    pub streams: Vec<i64>,
    pub owner: Caller,
}

impl TestApp {
    /// An organisation with every package and a group with `profiles`, each stream set up as
    /// `processes`.
    pub async fn group(&self, profiles: &[&str], processes: &Processes) -> Group {
        let callers = self.organisation("Pipeline", &Package::ALL).await;
        let owner = callers[3].clone();
        let input = NewStreamGroup {
            name: "Test stream".into(),
            profiles: profiles.iter().map(|s| s.to_string()).collect(),
            processing: vec![processes.inputs(); 1 + profiles.len()],
        };
        let state = &self.running.state;
        let id = streams::create_group(state, &owner, &input)
            .await
            .expect("group");
        let detail = streams::group_detail(state, &owner, id, None)
            .await
            .expect("detail");
        Group {
            id,
            key: detail.publish.stream_key.expect("key"),
            streams: detail.streams.iter().map(|s| s.id).collect(),
            owner,
        }
    }

    /// The publish URL for a key.
    pub fn publish_url(&self, key: &str) -> String {
        format!("{}/{key}", self.running.rtmp_url())
    }

    /// The group's sessions, newest first.
    pub async fn sessions(
        &self,
        org: i64,
        group: i64,
    ) -> Vec<app::domain::integrations::LiveSession> {
        app::ssr::repo::live_sessions::page(
            &self.running.state.db,
            org,
            Some(group),
            None,
            None,
            None,
            100,
        )
        .await
        .expect("sessions")
    }

    /// Waits until the group's session has ended and its files (and their rows) are done.
    pub async fn session_over(&self, group: i64) {
        wait_for("the session to end", Duration::from_secs(30), || async {
            matches!(
                app::ssr::repo::live_sessions::status(&self.running.state.db, group).await,
                Ok(app::domain::streams::LiveStatus::Idle)
            )
            .then_some(())
        })
        .await;
        tokio::time::timeout(Duration::from_secs(60), self.running.supervisor.wait_idle())
            .await
            .expect("the session's work finishes");
    }
}

/// H.264 as OBS's x264 at its lowest cost sends it: 1 s GOPs, no B-frames.
const X264: &[&str] = &[
    "-c:v",
    "libx264",
    "-preset",
    "ultrafast",
    "-tune",
    "zerolatency",
    "-g",
    "30",
    "-pix_fmt",
    "yuv420p",
];

/// HEVC from libx265 with its default B-frames (so frames arrive out of presentation order),
/// 1 s GOPs.
const X265: &[&str] = &[
    "-c:v",
    "libx265",
    "-preset",
    "ultrafast",
    "-x265-params",
    "log-level=error",
    "-g",
    "30",
    "-pix_fmt",
    "yuv420p",
];

impl TestApp {
    /// The files of one stream's assets of `kind` in `format`, oldest first.
    pub async fn asset_files(
        &self,
        stream: i64,
        kind: ProcessKind,
        format: &str,
    ) -> Vec<std::path::PathBuf> {
        let mut rows = app::ssr::repo::assets::list(&self.running.state.db, stream, kind, 1000)
            .await
            .expect("assets");
        rows.reverse();
        rows.into_iter()
            .filter(|r| r.asset.format == format)
            .map(|r| self.dir.path().join(&r.path))
            .collect()
    }

    /// Checks one stream's files after a publish of `seconds` at 30 fps with thumbnails every
    /// 10 s, 3 s motion clips, a recording and a replay on: thumbnails on schedule, motion
    /// clips of 3 s, a recording as long as the publish with every frame, a closed replay.
    pub async fn every_asset(&self, stream: i64, seconds: f64, who: &str) {
        let thumbs = self
            .asset_files(stream, ProcessKind::Thumbnail, "jpeg")
            .await;
        let due = (seconds / 10.0).ceil() as usize;
        assert!(
            thumbs.len() >= due.saturating_sub(1).max(1),
            "{who}: {} thumbnails",
            thumbs.len()
        );
        let clips = self
            .asset_files(stream, ProcessKind::MotionClip, "mp4")
            .await;
        assert!(!clips.is_empty(), "{who}: no motion clip");
        for c in &clips {
            let d = probe_duration(c);
            assert!((d - 3.0).abs() <= 0.5, "{who}: clip lasts {d} s");
        }
        let recordings = self
            .asset_files(stream, ProcessKind::Recording, "mp4")
            .await;
        let total: f64 = recordings.iter().map(|r| probe_duration(r)).sum();
        assert!(
            (total - seconds).abs() < 2.0,
            "{who}: recorded {total} s of {seconds}"
        );
        let frames: u64 = recordings.iter().map(|r| count_frames(r)).sum();
        assert!(
            frames as f64 >= total * 30.0 * 0.97,
            "{who}: {frames} frames in {total} s"
        );
        let replay = self.asset_files(stream, ProcessKind::Replay, "m3u8").await;
        let text = std::fs::read_to_string(&replay[0]).expect("playlist");
        assert!(text.contains("#EXT-X-ENDLIST"), "{who}: replay closed");
    }
}

/// A real ffmpeg publishing a lavfi test pattern with a tone over RTMP.
pub struct TestPublisher {
    pub child: tokio::process::Child,
}

impl TestPublisher {
    /// Publishes `seconds` of `size` (e.g. `640x360`) at 30 fps with 1 s GOPs.
    pub fn start(url: &str, seconds: u32, size: &str) -> Self {
        Self::start_as(url, seconds, size, "flv", X264)
    }

    /// The same over SRT: MPEG-TS to an `srt://` URL (libsrt in ffmpeg).
    pub fn start_srt(url: &str, seconds: u32, size: &str) -> Self {
        Self::start_as(url, seconds, size, "mpegts", X264)
    }

    /// HEVC (libx265, B-frames on, 1 s GOPs) with AAC over SRT.
    pub fn start_hevc_srt(url: &str, seconds: u32, size: &str) -> Self {
        Self::start_as(url, seconds, size, "mpegts", X265)
    }

    fn start_as(url: &str, seconds: u32, size: &str, format: &str, video: &[&str]) -> Self {
        let child = tokio::process::Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args([
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc2=size={size}:rate=30"),
            ])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", &seconds.to_string()])
            .args(video)
            .args(["-c:a", "aac", "-b:a", "64k", "-f", format, url])
            .kill_on_drop(true)
            .spawn()
            .expect("ffmpeg publisher starts");
        Self { child }
    }

    /// Waits for the publisher to end; returns whether ffmpeg succeeded.
    pub async fn finish(mut self) -> bool {
        self.child
            .wait()
            .await
            .map(|s| s.success())
            .unwrap_or(false)
    }

    /// Whether it is still publishing.
    pub fn running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// ffmpeg processes whose command line mentions `dir` (this test's data folder).
pub fn ffmpeg_pids(dir: &Path) -> Vec<i32> {
    let needle = dir.to_string_lossy().to_string();
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        if cmd.contains("ffmpeg") && cmd.contains(&needle) {
            out.push(pid);
        }
    }
    out
}

/// Those of [`ffmpeg_pids`] whose command line also mentions `arg`.
pub fn ffmpeg_pids_with(dir: &Path, arg: &str) -> Vec<i32> {
    ffmpeg_pids(dir)
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(arg))
        })
        .collect()
}

/// The source ffmpeg of a test's data folder (the one reading FLV from stdin and writing the
/// HLS segments).
pub fn source_pid(dir: &Path) -> Option<i32> {
    ffmpeg_pids_with(dir, "pipe:0").first().copied()
}

/// SIGKILLs a process.
pub fn kill9(pid: i32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
}

/// ffprobe's duration of a file, in seconds.
pub fn probe_duration(path: &Path) -> f64 {
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
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or_else(|_| {
            panic!(
                "no duration for {}: {}",
                path.display(),
                String::from_utf8_lossy(&out.stderr)
            )
        })
}

/// Every decoded frame of a file's video, counted by ffprobe (proves it plays to the end).
pub fn count_frames(path: &Path) -> u64 {
    let out = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .trim_end_matches(',')
        .parse()
        .unwrap_or(0)
}

/// Files under `dir` whose name ends with `suffix`, sorted.
pub fn files_ending(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    fn walk(d: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, suffix, out);
            } else if p.to_string_lossy().ends_with(suffix) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, suffix, &mut out);
    out.sort();
    out
}

/// The tags of a real encoder's output: `seconds` of 320x180 H.264 + AAC made by ffmpeg into
/// an FLV file, parsed (for publishers that must be quick and numerous).
pub fn sample_flv(dir: &Path, seconds: u32) -> Vec<(u8, u32, Vec<u8>)> {
    let file = dir.join(format!("sample-{seconds}.flv"));
    let ok = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-pix_fmt",
            "yuv420p",
        ])
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "flv"])
        .arg(&file)
        .status()
        .expect("ffmpeg runs")
        .success();
    assert!(ok, "sample made");
    rtmp_ingest::client::flv_tags(&std::fs::read(&file).expect("sample"))
}

/// The tags OBS 30 sends for HEVC over Enhanced RTMP (a `hvc1` SequenceStart with the
/// `HEVCDecoderConfigurationRecord`, then CodedFrames with composition offsets), made from a
/// real libx265 stream: `seconds` of 640x360 HEVC + AAC written by ffmpeg as MPEG-TS, turned
/// into tags by the SRT ingest's demuxer.
pub fn sample_hevc_tags(dir: &Path, seconds: u32) -> Vec<(u8, u32, Vec<u8>)> {
    use rtmp_ingest::mpegts::{Demuxed, Demuxer};
    let file = dir.join(format!("sample-hevc-{seconds}.ts"));
    let ok = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", &seconds.to_string()])
        .args(X265)
        .args(["-c:a", "aac", "-b:a", "64k", "-f", "mpegts"])
        .arg(&file)
        .status()
        .expect("ffmpeg runs")
        .success();
    assert!(ok, "sample made");
    let mut demuxer = Demuxer::new();
    let mut out = Vec::new();
    demuxer.push(&std::fs::read(&file).expect("sample"), &mut out);
    demuxer.finish(&mut out);
    let mut tags: Vec<(u8, u32, Vec<u8>)> = out
        .into_iter()
        .map(|d| match d {
            Demuxed::Media(m) => {
                let kind = if m.kind == rtmp_ingest::MediaKind::Audio {
                    8
                } else {
                    9
                };
                (kind, m.timestamp, m.payload.to_vec())
            }
            Demuxed::Unsupported(what) => panic!("{what}"),
        })
        .collect();
    // In decode order per kind; interleaved by time as a muxer sends them.
    tags.sort_by_key(|t| t.1);
    assert!(
        tags.first().is_some_and(|t| t.2.starts_with(b"\x90hvc1")),
        "starts with the configuration record"
    );
    tags
}

/// The tags OBS 30 sends for AV1 over Enhanced RTMP (an `av01` SequenceStart with the
/// `AV1CodecConfigurationRecord`, then CodedFrames of OBUs without temporal delimiters), made
/// from a real SVT-AV1 stream: `seconds` of 640x360 (video only) written by ffmpeg as IVF.
pub fn sample_av1_tags(dir: &Path, seconds: u32) -> Vec<(u8, u32, Vec<u8>)> {
    let file = dir.join(format!("sample-av1-{seconds}.ivf"));
    let ok = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
        .args(["-t", &seconds.to_string()])
        .args(["-c:v", "libsvtav1", "-preset", "12", "-g", "30"])
        .args(["-pix_fmt", "yuv420p", "-f", "ivf"])
        .arg(&file)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("ffmpeg runs")
        .success();
    assert!(ok, "sample made");
    let ivf = std::fs::read(&file).expect("sample");
    assert_eq!(&ivf[..4], b"DKIF");
    let le32 = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let (rate, scale) = (u64::from(le32(&ivf[16..])), u64::from(le32(&ivf[20..])));
    let mut at = usize::from(u16::from_le_bytes([ivf[6], ivf[7]]));
    let mut tags = Vec::new();
    while at + 12 <= ivf.len() {
        let size = le32(&ivf[at..]) as usize;
        let pts = u64::from_le_bytes(ivf[at + 4..at + 12].try_into().expect("8 bytes"));
        let unit = &ivf[at + 12..at + 12 + size];
        at += 12 + size;
        let ms = (pts * scale * 1000 / rate) as u32;
        // OBUs: header (type in bits 3–6, extension flag, size flag), LEB128 size.
        let (mut i, mut sequence, mut body) = (0, None, Vec::new());
        while i < unit.len() {
            let header = unit[i];
            let kind = (header >> 3) & 0x0F;
            let mut j = i + 1 + usize::from(header & 0x04 != 0);
            assert!(header & 0x02 != 0, "OBUs carry their size");
            let (mut len, mut shift) = (0usize, 0);
            loop {
                let b = unit[j];
                j += 1;
                len |= usize::from(b & 0x7F) << shift;
                shift += 7;
                if b & 0x80 == 0 {
                    break;
                }
            }
            let obu = &unit[i..j + len];
            i = j + len;
            match kind {
                2 => {}
                1 => {
                    sequence = Some(obu.to_vec());
                    body.extend_from_slice(obu);
                }
                _ => body.extend_from_slice(obu),
            }
        }
        let key = sequence.is_some();
        if let Some(seq) = sequence.filter(|_| tags.is_empty()) {
            // Marker and version, then profile and level, 4:2:0 8-bit; the sequence header
            // OBU as the configuration OBUs.
            let profile = seq[2] >> 5;
            let mut config = vec![
                0x90,
                b'a',
                b'v',
                b'0',
                b'1',
                0x81,
                profile << 5 | 8,
                0x0C,
                0,
            ];
            config.extend_from_slice(&seq);
            tags.push((9u8, ms, config));
        }
        let mut frame = vec![if key { 0x91 } else { 0xA1 }, b'a', b'v', b'0', b'1'];
        frame.extend_from_slice(&body);
        tags.push((9u8, ms, frame));
    }
    assert!(tags.len() > 2, "frames read");
    tags
}

/// Publishes `tags` over RTMP with our own client (paced by their timestamps when
/// `realtime`), then unpublishes. `Err` when the server refuses or cuts it.
pub async fn publish_flv(
    addr: std::net::SocketAddr,
    key: &str,
    tags: &[(u8, u32, Vec<u8>)],
    realtime: bool,
) -> Result<(), String> {
    use rtmp_ingest::client;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    s.write_all(&client::up_to_publish("live", key))
        .await
        .map_err(|e| e.to_string())?;
    // Wait for the answer to `publish` before sending media.
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let answer = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let n = s.read(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed before publishing".to_string());
            }
            seen.extend_from_slice(&buf[..n]);
            let has = |w: &[u8]| seen.windows(w.len()).any(|x| x == w);
            if has(b"NetStream.Publish.Start") {
                return Ok(());
            }
            if has(b"NetStream.Publish.BadName") || has(b"NetStream.Publish.Denied") {
                return Err("refused".to_string());
            }
        }
    })
    .await
    .map_err(|_| "no answer to publish".to_string())?;
    answer?;
    let started = Instant::now();
    for (kind, ts, body) in tags {
        if realtime {
            let due = started + Duration::from_millis(u64::from(*ts));
            tokio::time::sleep_until(due.into()).await;
        }
        s.write_all(&client::media_at(*kind, *ts, body))
            .await
            .map_err(|e| e.to_string())?;
    }
    s.write_all(&client::delete_stream())
        .await
        .map_err(|e| e.to_string())?;
    // Let the server read the end before the socket closes.
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read(&mut buf)).await;
    Ok(())
}

/// The server binary, started on free ports over `dir`.
pub struct ServerProcess {
    pub child: tokio::process::Child,
    /// `rtmp://127.0.0.1:PORT/live`.
    pub rtmp: String,
    /// `http://127.0.0.1:PORT`.
    pub http: String,
    /// How long it took to print its addresses (start-up and repair included).
    pub started_in: Duration,
}

/// Where a test server's log goes: nowhere, or with `LP_TEST_SERVER_LOGS=<folder>` (to debug
/// a failing test) into a file there named after the data folder.
fn server_log(dir: &Path) -> std::process::Stdio {
    let Some(folder) = std::env::var_os("LP_TEST_SERVER_LOGS") else {
        return std::process::Stdio::null();
    };
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "server".into());
    let _ = std::fs::create_dir_all(&folder);
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(Path::new(&folder).join(format!("{name}.log")))
        .map(std::process::Stdio::from)
        .unwrap_or_else(|_| std::process::Stdio::null())
}

/// Starts the real binary (`server run`) over `dir` with `extra` flags; waits until it prints
/// its addresses.
pub async fn start_server(dir: &Path) -> ServerProcess {
    start_server_with(dir, &[]).await
}

/// Like [`start_server`], with more flags.
pub async fn start_server_with(dir: &Path, extra: &[&str]) -> ServerProcess {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let started = Instant::now();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rtmp-listen",
            "127.0.0.1:0",
            "--transcode-preset",
            "ultrafast",
            "--min-free-disk-mb",
            "1",
        ])
        .args(extra)
        .arg("--data-dir")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(server_log(dir))
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (http, rtmp) = tokio::time::timeout(Duration::from_secs(30), async {
        let mut http = None;
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("Dashboard:") {
                http = Some(rest.trim().to_string());
            }
            if let Some(rest) = line.strip_prefix("RTMP:") {
                let rtmp = rest.trim().trim_end_matches("/<stream key>").to_string();
                return (http.unwrap_or_default(), rtmp);
            }
        }
        panic!("server exited before printing its RTMP URL");
    })
    .await
    .expect("server prints its addresses");
    ServerProcess {
        child,
        rtmp,
        http,
        started_in: started.elapsed(),
    }
}

impl ServerProcess {
    /// The RTMP listener's address.
    pub fn rtmp_addr(&self) -> std::net::SocketAddr {
        self.rtmp
            .trim_start_matches("rtmp://")
            .trim_end_matches("/live")
            .parse()
            .expect("rtmp address")
    }
}

/// The endpoint of the S3-compatible server the tests share (`scripts/test-s3.sh` starts it
/// once; access key and secret are both `S3RVER`, the bucket is `media`).
pub async fn s3_endpoint() -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-s3.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .output()
        .await
        .expect("scripts/test-s3.sh runs");
    assert!(
        out.status.success(),
        "the S3 test server did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// A webhook receiver on loopback that keeps every JSON body it is sent.
pub async fn webhook_receiver() -> (
    String,
    std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
) {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let g = g.clone();
        async move {
            if let Ok(v) = serde_json::from_str(&body) {
                g.lock().expect("lock").push(v);
            }
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}
