//! `make bench`: what live processing costs and how many 1080p30 streams two cores hold.
//!
//! Our server (release build) runs as a child process; N real publishers push the same
//! 1080p30 H.264/AAC file over RTMP on loopback with `-re -c copy` (their own CPU is tiny and
//! not counted). CPU is read from /proc for the server and every process under it. A trial
//! holds real time when every stream's replay segments and thumbnails arrive within 2 s of
//! when they could at the earliest. In the same run the naive design (one full-decode ffmpeg
//! per process, recording re-encoded) and the classic nginx-rtmp recipe (record + hls + exec
//! ffmpeg for thumbnails) process the same input, and the ratios are printed. The last line
//! is machine-readable.

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

    /// Makes `n` stream groups with all four processes on; returns their keys.
    async fn groups(&self, n: usize) -> Result<Vec<String>, Error> {
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
                enabled: true,
                interval: Some(10),
                duration: None,
            },
            ProcessInput {
                enabled: true,
                interval: Some(10),
                duration: Some(SpanInput::Seconds(3)),
            },
            ProcessInput {
                enabled: true,
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
            let group = NewStreamGroup {
                name: format!("Bench {i}"),
                profiles: vec![],
                processing: vec![processes],
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
    segment_late_s: f64,
    thumb_late_s: f64,
    clips: usize,
    held: bool,
}

async fn trial(input: &Path, work: &Path, n: usize, ticks: f64) -> Result<Trial, Error> {
    trial_with(input, work, n, ticks, None).await
}

/// One trial; with `scrape`, metrics are on and scraped at that period for the whole trial.
async fn trial_with(
    input: &Path,
    work: &Path,
    n: usize,
    ticks: f64,
    scrape: Option<Duration>,
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
    let keys = server.groups(n).await?;
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
        if seen < n {
            segment_late = segment_late.max(99.0);
        }
    }
    let cpu1 = tree_cpu(server.pid(), ticks);
    let own1 = own_cpu(server.pid(), ticks);
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
    let mut clips = Vec::new();
    find_files(&media, ".mp4", &mut clips);
    let clips = clips
        .iter()
        .filter(|p| p.to_string_lossy().contains("/motion/"))
        .count();
    for mut p in publishers {
        let _ = p.kill().await;
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
    let held = seen == n && segment_late <= LATE_LIMIT_S && thumb_late <= LATE_LIMIT_S;
    Ok(Trial {
        streams: n,
        cpu_s_per_stream_min,
        server_s_per_stream_min: server_share,
        segment_late_s: segment_late,
        thumb_late_s: thumb_late,
        clips,
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
    let keys = server.groups(1).await?;
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
        "{:>6} {:>16} {:>12} {:>6}  held",
        "metrics", "cpu s/stream-min", "of it server", "clips"
    );
    let (mut off, mut on) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        for metrics in [false, true] {
            let t = trial_with(input, work, n, ticks, metrics.then_some(scrape)).await?;
            println!(
                "{:>7} {:>16.2} {:>12.3} {:>6}  {}",
                if metrics { "on" } else { "off" },
                t.cpu_s_per_stream_min,
                t.server_s_per_stream_min,
                t.clips,
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

    if std::env::var("BENCH_MODE").as_deref() == Ok("metrics") {
        return metrics_cost(&input, &work, ticks).await;
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
        "{:>8} {:>16} {:>12} {:>14} {:>14} {:>6}  held",
        "streams", "cpu s/stream-min", "of it server", "segment late s", "thumb late s", "clips"
    );
    for n in steps {
        let t = trial(&input, &work, n, ticks).await?;
        println!(
            "{:>8} {:>16.2} {:>12.2} {:>14.2} {:>14.2} {:>6}  {}",
            t.streams,
            t.cpu_s_per_stream_min,
            t.server_s_per_stream_min,
            t.segment_late_s,
            t.thumb_late_s,
            t.clips,
            if t.held { "yes" } else { "NO" }
        );
        if !t.held {
            break;
        }
        best = Some(t);
    }
    let best = best.ok_or("not even the first trial held real time")?;

    let naive = naive(&input, &work).await?;
    println!("naive (4 full-decode ffmpegs with default settings, recording re-encoded, replay copied): {naive:.1} CPU-s per stream-minute");
    let nginx_n = 4;
    let nginx = nginx(&input, &work, nginx_n, ticks).await?;
    println!("nginx-rtmp (record + hls + exec ffmpeg thumbnails; no motion clips), {nginx_n} streams: {nginx:.2} CPU-s per stream-minute");
    let ours = best.cpu_s_per_stream_min;
    println!(
        "ours at {} streams: {ours:.2} CPU-s per stream-minute = {:.0}% of one core per stream; {:.1}x less than naive, {:.1}x less than nginx-rtmp",
        best.streams,
        ours / 60.0 * 100.0,
        naive / ours,
        nginx / ours
    );
    println!(
        "bench: streams_realtime={} cpu_s_per_stream_min={ours:.2} vs_naive={:.1}x vs_nginx_rtmp={:.1}x first_thumb_s={first_thumb:.2} first_segment_s={first_segment:.2}",
        best.streams,
        naive / ours,
        nginx / ours
    );
    Ok(())
}
