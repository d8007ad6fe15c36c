//! The RTMP port under attack while a real publisher streams: floods of chunk streams with
//! huge declared lengths, huge single messages, connections that hold as much as the
//! pre-publish bounds allow, half-open connections and slow handshakes, from 100 source
//! addresses on 127/8. The server stays up, its memory stays bounded, the live recording is
//! not interrupted, a new publisher gets in, and no stream key reaches the log.

mod common;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::settings::{ProcessKind, SpanInput};
use app::domain::streams::LiveStatus;
use app::ssr::repo;
use common::{files_ending, probe_duration, wait_for, Processes, TestApp, TestPublisher};
use rtmp_ingest::client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Every log line of this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

async fn connect_from(source: u8, addr: SocketAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket
        .bind(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(127, 0, 0, source)),
            0,
        ))
        .ok()?;
    tokio::time::timeout(Duration::from_secs(2), socket.connect(addr))
        .await
        .ok()?
        .ok()
}

/// Writes, then holds the connection open until the server closes it (or `until`).
async fn send_and_hold(mut s: TcpStream, bytes: &[u8], until: Instant) {
    let _ = tokio::time::timeout_at(until.into(), async {
        if s.write_all(bytes).await.is_err() {
            return;
        }
        let mut buf = [0u8; 4096];
        while matches!(s.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

#[derive(Clone, Copy, Debug)]
enum Attack {
    /// The published crash: fmt-0 headers on fresh chunk stream ids declaring 16 MiB.
    HugeDeclared,
    /// As much as the pre-publish bounds allow: 7 chunk streams, 4 KiB each, then idle.
    HoldMax,
    /// A single 16 MiB message after `connect`.
    HugeMessage,
    /// TCP only.
    HalfOpen,
    /// One handshake byte every 300 ms.
    SlowHandshake,
}

/// The bytes each attack sends, built once (so the attackers' own memory does not count).
struct Payloads {
    huge_declared: Vec<u8>,
    hold_max: Vec<u8>,
    huge_message: Vec<u8>,
}

impl Payloads {
    fn new() -> Self {
        let mut huge_declared = client::handshake();
        for csid in 64..4160u32 {
            huge_declared.extend(client::bare_header(csid, 0xFF_FFFF, 9));
            huge_declared.extend_from_slice(&[0u8; 128]);
        }
        let mut hold_max = client::handshake();
        for csid in 3..10u32 {
            hold_max.extend(client::bare_header(csid, 16 << 10, 20));
            hold_max.extend_from_slice(&[0u8; 128]);
            for _ in 0..31 {
                hold_max.push(0xC0 | csid as u8);
                hold_max.extend_from_slice(&[0u8; 128]);
            }
        }
        let mut huge_message = client::handshake();
        huge_message.extend(client::connect("live"));
        huge_message.extend(client::bare_header(6, 0xFF_FFFF, 9));
        huge_message.extend(vec![0u8; 1 << 20]);
        Self {
            huge_declared,
            hold_max,
            huge_message,
        }
    }
}

async fn attack(
    kind: Attack,
    source: u8,
    addr: SocketAddr,
    until: Instant,
    opened: Arc<AtomicU64>,
    payloads: Arc<Payloads>,
) {
    while Instant::now() < until {
        let Some(mut s) = connect_from(source, addr).await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        match kind {
            Attack::HugeDeclared => send_and_hold(s, &payloads.huge_declared, until).await,
            Attack::HoldMax => send_and_hold(s, &payloads.hold_max, until).await,
            Attack::HugeMessage => send_and_hold(s, &payloads.huge_message, until).await,
            Attack::HalfOpen => send_and_hold(s, &[], until).await,
            Attack::SlowHandshake => {
                let _ = tokio::time::timeout_at(until.into(), async {
                    loop {
                        if s.write_all(&[3]).await.is_err() {
                            return;
                        }
                        tokio::time::sleep(Duration::from_millis(300)).await;
                    }
                })
                .await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ingest_survives_floods_while_a_publisher_streams() {
    let logs = Captured::default();
    let writer = logs.clone();
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .init();

    let app = TestApp::start().await;
    let live = app
        .group(
            &[],
            &Processes {
                recording: Some(SpanInput::EntireStream),
                ..Processes::none()
            },
        )
        .await;
    let late = app
        .group(
            &[],
            &Processes {
                recording: Some(SpanInput::EntireStream),
                ..Processes::none()
            },
        )
        .await;
    let addr = app.running.rtmp_addr;
    let db = app.running.state.db.clone();

    const PUBLISH_SECONDS: u32 = 24;
    let publisher = TestPublisher::start(&app.publish_url(&live.key), PUBLISH_SECONDS, "320x180");
    wait_for("the session", Duration::from_secs(15), || async {
        matches!(
            repo::live_sessions::status(&db, live.id).await,
            Ok(LiveStatus::Live { .. })
        )
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let payloads = Arc::new(Payloads::new());

    // Memory per hostile connection: 200 connections, each holding as much as the
    // pre-publish bounds allow, from 50 sources.
    let quiet = rss_kib();
    let mut held = Vec::new();
    for i in 0..200u16 {
        let source = 150 + (i % 50) as u8;
        let mut s = connect_from(source, addr).await.expect("connects");
        s.write_all(&payloads.hold_max).await.expect("writes");
        held.push(s);
    }
    wait_for(
        "200 pending connections",
        Duration::from_secs(10),
        || async { (app.running.ingest_admission().pending() >= 200).then_some(()) },
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let per_connection_kib = rss_kib().saturating_sub(quiet) / 200;
    drop(held);
    println!("hostile ingest: {per_connection_kib} KiB of resident memory per connection at the pre-publish bounds");
    assert!(
        per_connection_kib <= 256,
        "a hostile connection holds {per_connection_kib} KiB"
    );

    let before = rss_kib();

    // 100 sources, each running one kind of attack in a loop for 12 s.
    let until = Instant::now() + Duration::from_secs(12);
    let opened = Arc::new(AtomicU64::new(0));
    let kinds = [
        Attack::HugeDeclared,
        Attack::HoldMax,
        Attack::HugeMessage,
        Attack::HalfOpen,
        Attack::SlowHandshake,
    ];
    let mut attackers = Vec::new();
    for source in 2..102u8 {
        // One source tries far more than its share of pending connections.
        let lanes = if source == 2 { 12 } else { 3 };
        for lane in 0..lanes {
            let kind = kinds[(usize::from(source) + lane) % kinds.len()];
            attackers.push(tokio::spawn(attack(
                kind,
                source,
                addr,
                until,
                opened.clone(),
                payloads.clone(),
            )));
        }
    }
    // Memory while the attack is on, sampled; a new publisher joins in the middle of it.
    let sampler = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < until {
            peak = peak.max(rss_kib());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        peak
    });
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pending_mid_attack = app.running.ingest_admission().pending();
    let newcomer = TestPublisher::start(&app.publish_url(&late.key), 5, "320x180");
    let newcomer_ok = newcomer.finish().await;
    if !newcomer_ok {
        let _ = std::fs::write(
            "/tmp/hostile.log",
            &*logs.0.lock().unwrap_or_else(|p| p.into_inner()),
        );
    }
    assert!(newcomer_ok, "a new publisher gets in during the attack");
    for a in attackers {
        a.await.expect("attacker");
    }
    let peak = sampler.await.expect("sampler");
    let stats = &app.running.ingest_admission().stats;

    assert!(
        publisher.finish().await,
        "the publisher streamed to its end"
    );
    for g in [live.id, late.id] {
        wait_for("the sessions to end", Duration::from_secs(30), || async {
            matches!(
                repo::live_sessions::status(&db, g).await,
                Ok(LiveStatus::Idle)
            )
            .then_some(())
        })
        .await;
    }
    wait_for("recordings to close", Duration::from_secs(30), || async {
        files_ending(app.dir.path(), ".part")
            .is_empty()
            .then_some(())
    })
    .await;

    // One uninterrupted session and recording for the publisher that streamed throughout.
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM live_sessions WHERE group_id = ?")
        .bind(live.id)
        .fetch_one(db.as_sqlite().expect("sqlite"))
        .await
        .expect("count");
    assert_eq!(sessions, 1, "the publisher was never cut");
    // A recording is registered after its file is renamed into place.
    let recordings = wait_for("the recording's row", Duration::from_secs(10), || async {
        let rows = repo::assets::list(&db, live.streams[0], ProcessKind::Recording, 100)
            .await
            .expect("assets");
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    let recorded: f64 = recordings
        .iter()
        .map(|r| probe_duration(&app.dir.path().join(&r.path)))
        .sum();
    assert!(
        recorded >= f64::from(PUBLISH_SECONDS) - 2.0,
        "recorded {recorded:.1} s of {PUBLISH_SECONDS} s"
    );
    wait_for(
        "the newcomer's recording",
        Duration::from_secs(10),
        || async {
            let rows = repo::assets::list(&db, late.streams[0], ProcessKind::Recording, 100)
                .await
                .expect("assets");
            (!rows.is_empty()).then_some(())
        },
    )
    .await;

    let grown_kib = peak.saturating_sub(before);
    let connections = opened.load(Ordering::Relaxed);
    println!(
        "hostile ingest: {connections} hostile connections in 12 s from 100 sources; \
         pending mid-attack {pending_mid_attack}; admitted {} refused-per-source {} evicted {}; \
         RSS {before} KiB before, peak {peak} KiB (+{grown_kib} KiB); recorded {recorded:.1} s of {PUBLISH_SECONDS} s",
        stats.admitted.load(Ordering::Relaxed),
        stats.refused_per_source.load(Ordering::Relaxed),
        stats.evicted.load(Ordering::Relaxed),
    );
    assert!(
        connections >= 1000,
        "the attack really ran ({connections} connections)"
    );
    assert!(
        stats.refused_per_source.load(Ordering::Relaxed) > 0,
        "the greedy source was held to its share"
    );
    assert!(
        pending_mid_attack <= 400,
        "pending connections are capped at 4 per source ({pending_mid_attack})"
    );
    // 400 pending connections at their bounds are ~18 MiB; the rest is the newcomer's session.
    assert!(
        grown_kib < 64 << 10,
        "resident memory grew by {grown_kib} KiB"
    );

    let text =
        String::from_utf8_lossy(&logs.0.lock().unwrap_or_else(|p| p.into_inner())).into_owned();
    assert!(text.contains("live session started"), "logs were captured");
    for key in [&live.key, &late.key] {
        assert!(!text.contains(key.as_str()), "a stream key reached the log");
    }
    app.running.stop().await.expect("stops");
}

/// A publisher whose codecs the pipeline cannot process is told at once, not left to fail
/// silently: VP9 over Enhanced RTMP (from a raw client) and MP3 audio
/// (from a real ffmpeg) each end the publish at their first tag; the session records why;
/// every process enabled on the group reads as failed with that reason (the dashboard's and
/// the API's job states) until a publisher sends H.264 and AAC, which is processed as usual.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsupported_codecs_end_the_publish_with_a_reason() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                recording: Some(SpanInput::EntireStream),
                ..Processes::none()
            },
        )
        .await;
    let state = app.running.state.clone();
    let stream = g.streams[0];
    let org = g.owner.organisation_id;
    let ended_because = |n: usize| {
        let db = state.db.clone();
        async move {
            let all = repo::live_sessions::page(&db, org, Some(g.id), None, None, None, 10)
                .await
                .ok()?;
            (all.len() >= n && all.iter().all(|s| s.ended_at.is_some()))
                .then(|| all[0].end_reason.clone().unwrap_or_default())
        }
    };

    // Enhanced RTMP: IsExHeader | keyframe, SequenceStart, FourCC 'vp09', then the config.
    let vp9 = vec![
        (9u8, 0u32, vec![0x90, b'v', b'p', b'0', b'9', 1, 0, 0, 0]),
        (9u8, 33u32, vec![0x91, b'v', b'p', b'0', b'9', 0x82, 0x49]),
    ];
    let _ = common::publish_flv(app.running.rtmp_addr, &g.key, &vp9, false).await;
    let reason = wait_for("the refused session", Duration::from_secs(10), || {
        ended_because(1)
    })
    .await;
    assert!(
        reason.starts_with(app::domain::jobs::UNSUPPORTED_MEDIA)
            && reason.contains("VP9 (Enhanced RTMP) video")
            && reason.contains("H.264"),
        "{reason}"
    );
    let jobs = app::ssr::services::processing::jobs(&state, &g.owner, stream)
        .await
        .expect("jobs");
    for j in &jobs {
        let failed =
            matches!(&j.state, app::domain::jobs::JobState::Failed { reason: r } if *r == reason);
        let enabled = matches!(j.process, ProcessKind::Thumbnail | ProcessKind::Recording);
        assert_eq!(failed, enabled, "{:?}: {:?}", j.process, j.state);
    }

    // A real ffmpeg sending H.264 with MP3 audio.
    let mut mp3 = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"])
        .args([
            "-t",
            "10",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-g",
            "30",
        ])
        .args(["-c:a", "libmp3lame", "-f", "flv"])
        .arg(app.publish_url(&g.key))
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    let status = tokio::time::timeout(Duration::from_secs(10), mp3.wait())
        .await
        .expect("the server ends the publish well before the 10 s of media")
        .expect("exit");
    assert!(!status.success(), "ffmpeg saw its publish end");
    let reason = wait_for(
        "the second refused session",
        Duration::from_secs(10),
        || ended_because(2),
    )
    .await;
    assert!(reason.contains("MP3 audio"), "{reason}");

    // H.264 with AAC: processed, and the jobs no longer read as failed. The refused MP3
    // publish may already have left a thumbnail of its first keyframe (its video was H.264):
    // wait for one more than there were.
    let thumbnails = || async {
        repo::assets::list(&state.db, stream, ProcessKind::Thumbnail, 10)
            .await
            .map(|r| r.len())
            .ok()
    };
    let before = thumbnails().await.expect("thumbnails");
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 15, "320x180");
    wait_for("thumbnails again", Duration::from_secs(20), || async {
        thumbnails().await.filter(|&n| n > before)
    })
    .await;
    let jobs = app::ssr::services::processing::jobs(&state, &g.owner, stream)
        .await
        .expect("jobs");
    assert!(
        jobs.iter()
            .all(|j| !matches!(j.state, app::domain::jobs::JobState::Failed { .. })),
        "{jobs:?}"
    );
    drop(publisher);
}
