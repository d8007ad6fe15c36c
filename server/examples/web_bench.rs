//! `make bench-web`: the dashboard and the media server, on the release build.
//!
//! - **The Live Processing tab** on a group of 4 streams (ingest + 3 profiles) with 10,000
//!   assets, signed in by cookie: the server-side render of the page (`GET
//!   /streams/<id>/processing`, the whole HTML), and the tab's data the page then fetches
//!   (`POST /api/get_processing_overview`, the server function behind every refresh); 20
//!   warm-up requests, then 300 timed one after another; p50/p99 of each and of both.
//! - **The hydrate wasm** the browser downloads (`target/site/pkg/` of
//!   `cargo leptos build --release --split`): the main module every page loads, raw and
//!   gzip -9, and each lazy route's chunks on top of it (the share page's, the largest).
//! - **Media and HLS serving** under load, with wrk (64 connections, 10 s each) on loopback:
//!   a replay segment and the replay playlist of a real published stream, by their public
//!   delivery URLs (no cookie), and the stream's public latest thumbnail. The group stays
//!   live meanwhile (its profiles transcoded, every process on), as a real server would be.
//!   Measured twice in the same run: with public lookups kept for a second (the default),
//!   then on the same folder restarted with `--public-lookup-ttl-ms 0` (the database asked
//!   on every request, as before lookups were kept).
//!
//! The server runs as a child process on a fresh data folder; the last line is
//! machine-readable.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use app::domain::assets::AssetKind;
use app::domain::packages::Package;
use app::domain::settings::{ProcessConfig, ProcessKind};
use app::domain::streams::NewStreamGroup;
use app::ssr::repo::assets::NewAsset;
use app::ssr::{db, repo, services, testing, tokens};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ASSETS: usize = 10_000;
const CALLS: usize = 300;
const WRK_SECONDS: u32 = 10;
const WRK_CONNECTIONS: u32 = 64;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

struct Server {
    child: Child,
    http: String,
    rtmp: String,
}

/// Starts the release server on `dir` (with `extra` arguments); returns its HTTP and RTMP
/// addresses.
async fn start(dir: &Path, extra: &[&str]) -> Result<Server, Error> {
    let mut child = Command::new(root().join("target/release/server"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rtmp-listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(dir)
        .args(extra)
        .env("RUST_LOG", "warn")
        .env("LP_SITE_ROOT", root().join("target/site"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let (mut http, mut rtmp) = (None, None);
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if let Some(rest) = line.strip_prefix("RTMP:") {
                rtmp = Some(rest.trim().trim_end_matches("/<stream key>").to_string());
            } else if let Some(i) = line.find("http://127.0.0.1:") {
                http.get_or_insert_with(|| {
                    line[i..]
                        .split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .trim_end_matches('/')
                        .to_string()
                });
            }
            if http.is_some() && rtmp.is_some() {
                break;
            }
        }
    })
    .await?;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Server {
        child,
        http: http.ok_or("no HTTP address printed")?,
        rtmp: rtmp.ok_or("no RTMP address printed")?,
    })
}

/// The group, a signed-in owner's cookie, and 10,000 assets.
async fn seed(dir: &Path) -> Result<(i64, i64, String, String), Error> {
    let pool = db::connect(&format!("sqlite://{}", dir.join("livepro.db").display())).await?;
    let state = testing::state_on(pool.clone());
    let owner = testing::organisation(&state, "Bench", &Package::ALL)
        .await
        .remove(3);
    let group = services::streams::create_group(
        &state,
        &owner,
        &NewStreamGroup {
            name: "Bench".into(),
            profiles: vec!["720p".into(), "480p".into(), "360p".into()],
            processing: vec![
                ProcessKind::ALL.map(|k| {
                    let mut c = ProcessConfig::default_for(k).to_input();
                    c.enabled = true;
                    c
                });
                4
            ],
        },
    )
    .await?;
    let streams = repo::streams::streams_of(&pool, group).await?;
    let kinds = [
        (AssetKind::Thumbnail, "jpeg"),
        (AssetKind::Thumbnail, "webp"),
        (AssetKind::MotionClip, "mp4"),
        (AssetKind::MotionClip, "webp"),
        (AssetKind::Recording, "mp4"),
    ];
    let now = chrono::Utc::now();
    let mut tx = db::begin_write(&pool).await?;
    for i in 0..ASSETS {
        let stream = &streams[i % streams.len()];
        let (kind, format) = kinds[(i / streams.len()) % kinds.len()];
        repo::assets::insert(
            &mut tx,
            &NewAsset {
                organisation_id: owner.organisation_id,
                stream_id: stream.id,
                session_id: None,
                kind,
                format,
                path: format!("media/bench/{i}.{format}"),
                size_bytes: 50_000,
                duration_ms: None,
                width: Some(1280),
                height: Some(720),
                integrity: None,
                created_at: now - chrono::Duration::seconds((ASSETS - i) as i64),
            },
        )
        .await?;
    }
    tx.commit().await?;
    let token = tokens::new_share_token();
    repo::sessions::create(
        &pool,
        &tokens::hash_token(&token),
        owner.user_id,
        owner.organisation_id,
        now,
        now + chrono::Duration::days(1),
    )
    .await?;
    let ingest = streams.first().ok_or("no stream")?.id;
    let public = services::delivery::set_public(&state, &owner, ingest, true).await?;
    let detail = services::streams::group_detail(&state, &owner, group, None).await?;
    pool.close().await;
    let key = detail.publish.stream_key.ok_or("no key")?;
    let urls = public.urls().ok_or("not public")?;
    Ok((group, ingest, format!("lp_session={token}"), {
        // The stream key, then the public replay URL, separated by a space.
        format!("{key} {}", urls.replay_url)
    }))
}

/// p50 and p99 (ms).
fn percentiles(mut times: Vec<f64>) -> (f64, f64) {
    times.sort_by(f64::total_cmp);
    (times[times.len() / 2], times[times.len() * 99 / 100])
}

/// The tab's page and its data, timed: p50/p99 in ms of the page, the data and both, and the
/// sizes of the page and of the data.
#[allow(clippy::type_complexity)]
async fn tab(
    http: &str,
    group: i64,
    cookie: &str,
) -> Result<([(f64, f64); 3], usize, usize), Error> {
    let client = reqwest::Client::new();
    let page_url = format!("{http}/streams/{group}/processing");
    let data_url = format!("{http}/api/get_processing_overview");
    let page = || async {
        let r = client
            .get(&page_url)
            .header("cookie", cookie)
            .send()
            .await?;
        if !r.status().is_success() {
            return Err::<String, Error>(format!("{page_url}: {}", r.status()).into());
        }
        Ok(r.text().await?)
    };
    let data = || async {
        let r = client
            .post(&data_url)
            .header("cookie", cookie)
            .form(&[("group_id", group.to_string())])
            .send()
            .await?;
        if !r.status().is_success() {
            return Err::<String, Error>(format!("{data_url}: {}", r.status()).into());
        }
        Ok(r.text().await?)
    };
    let first_page = page().await?;
    if !first_page.contains("Live Processing") {
        return Err("the page is not the Live Processing tab".into());
    }
    let first_data = data().await?;
    if !first_data.contains("\"thumbnails\"") {
        return Err(format!("the tab's data has no thumbnails: {first_data:.300}").into());
    }
    for _ in 0..20 {
        page().await?;
        data().await?;
    }
    let (mut p, mut d, mut b) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..CALLS {
        let t = Instant::now();
        std::hint::black_box(page().await?);
        let between = Instant::now();
        std::hint::black_box(data().await?);
        p.push((between - t).as_secs_f64() * 1000.0);
        d.push(between.elapsed().as_secs_f64() * 1000.0);
        b.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok((
        [percentiles(p), percentiles(d), percentiles(b)],
        first_page.len(),
        first_data.len(),
    ))
}

/// Requests per second wrk reaches on `url` (every answer must be a 2xx).
async fn wrk(url: &str) -> Result<f64, Error> {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{WRK_CONNECTIONS}"),
            &format!("-d{WRK_SECONDS}s"),
            "--latency",
            url,
        ])
        .stdin(Stdio::null())
        .output()
        .await?;
    let text = String::from_utf8_lossy(&out.stdout);
    if text.contains("Non-2xx") {
        return Err(format!("wrk saw errors on {url}:\n{text}").into());
    }
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("no wrk figure for {url}:\n{text}"))?;
    let p99 = text
        .lines()
        .find(|l| l.trim_start().starts_with("99%"))
        .map(|l| l.trim().to_string())
        .unwrap_or_default();
    println!("  {url}: {rps:.0} requests/s (latency {p99})");
    Ok(rps)
}

fn gzip_size(path: &Path) -> Result<(u64, u64), Error> {
    let raw = std::fs::metadata(path)?.len();
    let out = std::process::Command::new("gzip")
        .args(["-9", "-c"])
        .arg(path)
        .output()?;
    Ok((raw, out.stdout.len() as u64))
}

/// Each lazy route's own download (its split module and the chunks the split manifest names
/// for it), gzip -9, largest first: `("share", bytes)`.
fn page_chunks(pkg: &Path) -> Result<Vec<(String, u64)>, Error> {
    let manifest: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_slice(&std::fs::read(pkg.join("__wasm_split_manifest.json"))?)?;
    let mut pages = Vec::new();
    for (split, chunks) in &manifest {
        let mut bytes = gzip_size(&pkg.join(format!("split_{split}.wasm")))?.1;
        for chunk in chunks {
            bytes += gzip_size(&pkg.join(format!("{chunk}.wasm")))?.1;
        }
        // `__share_route_view_<hash>` → `share`.
        let route = split
            .trim_start_matches('_')
            .split("_route_view")
            .next()
            .unwrap_or(split)
            .to_string();
        pages.push((route, bytes));
    }
    pages.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
    Ok(pages)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let work = root().join("bench-out/web");
    let _ = tokio::fs::remove_dir_all(&work).await;
    tokio::fs::create_dir_all(&work).await?;
    let server = start(&work, &[]).await?;
    let (group, _ingest, cookie, key_and_replay) = seed(&work).await?;
    let (key, replay) = key_and_replay.split_once(' ').ok_or("seed")?;

    let ([(p50, p99), (d50, d99), (b50, b99)], page_bytes, data_bytes) =
        tab(&server.http, group, &cookie).await?;
    println!("the Live Processing tab (4 streams, {ASSETS} assets), {CALLS} times:");
    println!(
        "  server-side render of the page ({} KB of HTML): p50 {p50:.2} ms, p99 {p99:.2} ms",
        page_bytes / 1024
    );
    println!(
        "  its data, fetched by the page ({} KB of JSON): p50 {d50:.2} ms, p99 {d99:.2} ms",
        data_bytes / 1024
    );
    println!("  both, one after the other: p50 {b50:.2} ms, p99 {b99:.2} ms");

    let pkg = root().join("target/site/pkg");
    let (raw, gz) = gzip_size(&pkg.join("livepro.wasm"))?;
    println!(
        "hydrate wasm ({}): main module {} KB, {} KB gzip -9 (every page loads it)",
        pkg.display(),
        raw / 1024,
        gz / 1024
    );
    let pages = page_chunks(&pkg)?;
    for (route, page_gz) in &pages {
        println!(
            "  {route}: its chunks {} KB gzip, {} KB with the main module",
            page_gz / 1024,
            (gz + page_gz) / 1024
        );
    }
    let share_gz = pages
        .iter()
        .find(|(r, _)| r.starts_with("share"))
        .map(|(_, g)| gz + g)
        .ok_or("no share page chunk: built without --split?")?;
    let largest_gz = gz + pages.iter().map(|(_, g)| *g).max().unwrap_or(0);

    println!(
        "media under load: wrk, {WRK_CONNECTIONS} connections, {WRK_SECONDS} s each, on loopback"
    );
    println!("  public lookups kept for a second (the default):");
    let [segment, playlist, thumbnail] = media_round(&server, key, replay).await?;
    stop(server).await;
    // The same on a server that asks the database on every request, as before the lookups
    // were kept (a fresh session on the same folder and token).
    let server = start(&work, &["--public-lookup-ttl-ms", "0"]).await?;
    println!("  every lookup asked of the database (--public-lookup-ttl-ms 0):");
    let [segment0, playlist0, thumbnail0] = media_round(&server, key, replay).await?;
    stop(server).await;
    println!(
        "  kept lookups serve {:.2}x (segment), {:.2}x (playlist), {:.2}x (thumbnail) the requests",
        segment / segment0,
        playlist / playlist0,
        thumbnail / thumbnail0
    );
    println!(
        "bench-web: ssr_p50_ms={p50:.2} ssr_p99_ms={p99:.2} tab_data_p50_ms={d50:.2} tab_page_and_data_p50_ms={b50:.2} wasm_gzip_kb={} wasm_kb={} share_page_wasm_gzip_kb={} largest_page_wasm_gzip_kb={} segment_rps={segment:.0} playlist_rps={playlist:.0} thumbnail_rps={thumbnail:.0} uncached_segment_rps={segment0:.0} uncached_playlist_rps={playlist0:.0} uncached_thumbnail_rps={thumbnail0:.0}",
        gz / 1024,
        raw / 1024,
        share_gz / 1024,
        largest_gz / 1024
    );
    Ok(())
}

/// Publishes 40 s of 640x360 test picture to `server` with `key`, waits for the public replay to have
/// segments, then measures a segment, the playlist and the latest thumbnail with wrk.
async fn media_round(server: &Server, key: &str, replay: &str) -> Result<[f64; 3], Error> {
    let mut publisher = Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "testsrc2=size=640x360:rate=30",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440",
            "-t",
            "40",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
            "-c:a",
            "aac",
            "-f",
            "flv",
        ])
        .arg(format!("{}/{key}", server.rtmp))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let client = reqwest::Client::new();
    // The seed's URL names the server it was made on: keep its path only.
    let path = &replay[replay.find("/p/").ok_or("no /p/ in the replay URL")?..];
    let replay_url = format!("{}{path}", server.http);
    let t0 = Instant::now();
    let (playlist_url, segment_url) = loop {
        if t0.elapsed() > Duration::from_secs(40) {
            return Err("no public replay with segments after 40 s".into());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let Ok(r) = client.get(&replay_url).send().await else {
            continue;
        };
        let at = r.url().to_string();
        let text = r.text().await.unwrap_or_default();
        let segments: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .collect();
        if segments.len() >= 3 {
            let base = &at[..at.rfind('/').ok_or("url")? + 1];
            break (at.clone(), format!("{base}{}", segments[1]));
        }
    };
    let thumb_url = replay_url.replace("replay.m3u8", "thumbnail.jpg");
    let segment = wrk(&segment_url).await?;
    let playlist = wrk(&playlist_url).await?;
    let thumbnail = wrk(&thumb_url).await?;
    let _ = publisher.kill().await;
    Ok([segment, playlist, thumbnail])
}

/// Stops the server as an operator would (SIGTERM), waiting up to 30 s.
async fn stop(server: Server) {
    let mut child = server.child;
    if let Some(pid) = child.id() {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
    }
    let _ = tokio::time::timeout(Duration::from_secs(30), child.wait()).await;
}
