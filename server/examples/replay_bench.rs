//! `make bench-replay`: how fast Clip & Share is. The server (release build, in this process)
//! takes a real 1080p30 stream published over RTMP by ffmpeg; once 40 s of replay exist it
//! measures, in one run:
//! - instant clip creation (the service call the dashboard makes: playlist over existing
//!   segments, hard links, rows), median and worst of 20;
//! - the MP4 export of a 30 s clip by stream copy, against the same export by re-encoding
//!   (the obvious alternative), and their ratio;
//! - the share page and its playlist under 100 concurrent viewers on loopback.
//!
//! The last line is machine-readable.

use std::time::{Duration, Instant};

use app::domain::clips::{LinkExpiry, NewClip};
use app::domain::packages::Package;
use app::domain::settings::{ProcessInput, SpanInput};
use app::domain::streams::NewStreamGroup;
use app::ssr::{repo, services, testing};
use server::config::Config;

type Error = Box<dyn std::error::Error + Send + Sync>;

const VIEWERS: usize = 100;
const REQUESTS_EACH: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i]
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::for_tests(dir.path().to_path_buf());
    config.site_root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/site");
    let running = server::start(config).await?;
    let state = running.state.clone();
    let owner = testing::organisation(&state, "Bench", &Package::ALL)
        .await
        .remove(3);
    let off = |interval, duration| ProcessInput {
        enabled: false,
        interval,
        duration,
    };
    let processes = [
        ProcessInput {
            enabled: true,
            interval: Some(10),
            duration: None,
        },
        off(Some(30), Some(SpanInput::Seconds(3))),
        off(None, Some(SpanInput::EntireStream)),
        ProcessInput {
            enabled: true,
            interval: None,
            duration: Some(SpanInput::EntireStream),
        },
    ];
    let group = NewStreamGroup {
        name: "Bench".into(),
        profiles: vec![],
        processing: vec![processes],
    };
    let group_id = services::streams::create_group(&state, &owner, &group).await?;
    let detail = services::streams::group_detail(&state, &owner, group_id, None).await?;
    let key = detail.publish.stream_key.ok_or("no key")?;
    let stream = detail.streams[0].id;
    println!(
        "publishing 1080p30 6 Mbps H.264/AAC (1 s GOPs) over RTMP; waiting for 40 s of replay…"
    );
    let mut publisher = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=1920x1080:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-g",
            "30",
            "-b:v",
            "6M",
        ])
        .args([
            "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "128k", "-f", "flv",
        ])
        .arg(format!("{}/{key}", running.rtmp_url()))
        .kill_on_drop(true)
        .spawn()?;
    tokio::time::sleep(Duration::from_secs(44)).await;
    let replay = repo::assets::list(&state.db, stream, app::domain::assets::AssetKind::Replay, 1)
        .await?
        .pop()
        .ok_or("no replay")?;

    // Instant clips: the last 30 s (ending 2 s ago), 20 times.
    let mut create_ms = Vec::new();
    let mut clip = None;
    for i in 0..20 {
        let now = chrono::Utc::now();
        let input = NewClip {
            replay_id: replay.asset.id,
            title: format!("Bench {i}"),
            from: now - chrono::Duration::seconds(32),
            to: now - chrono::Duration::seconds(2),
            expiry: LinkExpiry::Never,
        };
        let t = Instant::now();
        let c = services::clips::create(&state, &owner, &input).await?;
        create_ms.push(t.elapsed().as_secs_f64() * 1000.0);
        clip.get_or_insert(c);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let clip = clip.ok_or("no clip")?;
    let _ = publisher.kill().await;
    let create_median = median(create_ms.clone());
    let create_max = create_ms.iter().copied().fold(0.0, f64::max);
    println!(
        "instant clip of {:.1} s: {create_median:.1} ms median, {create_max:.1} ms worst (20 runs, target <= 50 ms)",
        clip.duration_ms as f64 / 1000.0
    );

    // MP4 export: stream copy against re-encoding, same clip.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let row = repo::clips::get(&state.db, owner.organisation_id, clip.id)
        .await?
        .ok_or("clip row")?;
    let clip_dir = dir.path().join(&row.dir);
    let ffmpeg = std::path::Path::new("ffmpeg");
    let mut copy_s = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        server::clips::cut::export_mp4(ffmpeg, &clip_dir).await?;
        copy_s.push(t.elapsed().as_secs_f64());
    }
    let copy = median(copy_s);
    let t = Instant::now();
    let status = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y", "-i"])
        .arg(clip_dir.join("clip.m3u8"))
        .args([
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
            "-c:a",
            "aac",
            "-movflags",
            "+faststart",
        ])
        .arg(clip_dir.join("reencoded.mp4"))
        .status()
        .await?;
    let reencode = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err("re-encode failed".into());
    }
    println!(
        "MP4 export of that clip: stream copy {copy:.3} s (median of 5, target <= 0.2 s), re-encode {reencode:.2} s: {:.0}x faster",
        reencode / copy
    );

    // The share page and its playlist, 100 viewers at once.
    let path = clip.share.ok_or("no share link")?.path;
    let base = running.dashboard_url();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(VIEWERS)
        .build()?;
    let t = Instant::now();
    let mut tasks = Vec::new();
    for v in 0..VIEWERS {
        let (client, page, playlist) = (
            client.clone(),
            format!("{base}{path}"),
            format!("{base}{path}/clip.m3u8"),
        );
        tasks.push(tokio::spawn(async move {
            let mut times = Vec::new();
            for i in 0..REQUESTS_EACH {
                let url = if (i + v) % 2 == 0 { &page } else { &playlist };
                let t = Instant::now();
                let ok = client
                    .get(url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false);
                if ok {
                    times.push(t.elapsed().as_secs_f64() * 1000.0);
                }
            }
            times
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await?);
    }
    let wall = t.elapsed().as_secs_f64();
    let total = VIEWERS * REQUESTS_EACH;
    if all.len() != total {
        return Err(format!("{} of {total} share requests failed", total - all.len()).into());
    }
    let (p50, p95) = (percentile(all.clone(), 0.5), percentile(all.clone(), 0.95));
    println!(
        "share page + playlist, {VIEWERS} concurrent viewers x {REQUESTS_EACH} requests: p50 {p50:.1} ms, p95 {p95:.1} ms, {:.0} requests/s",
        total as f64 / wall
    );
    running.stop().await?;
    println!(
        "bench-replay: clip_create_ms={create_median:.1} mp4_copy_s={copy:.3} mp4_reencode_s={reencode:.2} copy_vs_reencode={:.0}x share_p50_ms={p50:.1} share_p95_ms={p95:.1} share_rps={:.0}",
        reencode / copy,
        total as f64 / wall
    );
    Ok(())
}
