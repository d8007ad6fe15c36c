//! The SRT ingest for real: ffmpeg (libsrt) and GStreamer (`srtsink`, libsrt too) publish
//! MPEG-TS to the server's SRT port and every process makes its files; wrong keys, wrong
//! passphrases, second publishers and hostile datagrams are refused; a path that loses 1 %
//! of its datagrams still gives a continuous recording.

mod common;

use std::time::{Duration, Instant};

use app::domain::settings::{ProcessKind, SpanInput};
use app::domain::streams::LiveStatus;
use app::ssr::repo;
use app::ssr::services::streams;
use common::{count_frames, probe_duration, wait_for, Processes, TestApp, TestPublisher};
use tokio::net::UdpSocket;

async fn start() -> TestApp {
    TestApp::start_with(|c| c.srt_listen = Some(([127, 0, 0, 1], 0).into())).await
}

fn srt_addr(app: &TestApp) -> String {
    app.running
        .srt_url()
        .expect("srt is on")
        .trim_start_matches("srt://")
        .to_string()
}

async fn live(app: &TestApp, group: i64) -> bool {
    matches!(
        repo::live_sessions::status(&app.running.state.db, group).await,
        Ok(LiveStatus::Live { .. })
    )
}

/// GStreamer publishing `seconds` of a test pattern and tone: H.264 + AAC in MPEG-TS, sent
/// by `srtsink` with the given stream id (and passphrase).
fn gstreamer(
    addr: &str,
    stream_id: &str,
    passphrase: Option<&str>,
    seconds: u32,
) -> tokio::process::Child {
    let mut sink = vec![
        "srtsink".to_string(),
        format!("uri=srt://{addr}"),
        format!("streamid={stream_id}"),
        "latency=200".into(),
    ];
    if let Some(p) = passphrase {
        sink.push(format!("passphrase={p}"));
        sink.push("pbkeylen=32".into());
    }
    let video = format!(
        "videotestsrc is-live=true num-buffers={} pattern=ball ! video/x-raw,width=640,height=360,framerate=30/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=30 ! h264parse ! queue ! mux.",
        seconds * 30
    );
    let audio = format!(
        "audiotestsrc is-live=true num-buffers={} ! audio/x-raw,rate=48000 ! audioconvert ! avenc_aac ! aacparse ! queue ! mux.",
        seconds * 48000 / 1024
    );
    let pipeline = format!(
        "mpegtsmux name=mux alignment=7 ! {} {video} {audio}",
        sink.join(" ")
    );
    tokio::process::Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .kill_on_drop(true)
        .spawn()
        .expect("gst-launch-1.0 runs (make setup-test installs GStreamer)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ffmpeg_and_gstreamer_publish_over_srt_and_every_process_runs() {
    let app = start().await;
    let addr = srt_addr(&app);
    let a = app.group(&[], &Processes::everything()).await;
    let b = app.group(&[], &Processes::everything()).await;
    // Group B encrypts: AES-256 with its passphrase.
    let passphrase = "correct-horse-battery";
    streams::set_srt_passphrase(&app.running.state, &b.owner, b.id, Some(passphrase.into()))
        .await
        .expect("passphrase set");

    // ffmpeg with the plain key as stream id; GStreamer with SRT's access-control form.
    let ffmpeg = TestPublisher::start_srt(
        &format!("srt://{addr}?streamid={}&latency=200000", a.key),
        16,
        "640x360",
    );
    let mut gst = gstreamer(
        &addr,
        &format!("#!::r=live/{},m=publish", b.key),
        Some(passphrase),
        16,
    );
    wait_for("both sessions live", Duration::from_secs(15), || async {
        (live(&app, a.id).await && live(&app, b.id).await).then_some(())
    })
    .await;
    assert!(ffmpeg.finish().await, "ffmpeg published to the end");
    assert!(
        gst.wait().await.expect("gst").success(),
        "GStreamer published to the end"
    );
    app.session_over(a.id).await;
    app.session_over(b.id).await;
    app.every_asset(a.streams[0], 16.0, "ffmpeg").await;
    app.every_asset(b.streams[0], 16.0, "GStreamer").await;
    assert_eq!(
        (
            app.sessions(a.owner.organisation_id, a.id).await.len(),
            app.sessions(b.owner.organisation_id, b.id).await.len()
        ),
        (1, 1)
    );

    // The API shows the SRT URL to those who may see the key, with the passphrase.
    let detail = streams::group_detail(
        &app.running.state,
        &b.owner,
        b.id,
        Some("live.example.com:8080"),
    )
    .await
    .expect("detail");
    let port = addr.rsplit(':').next().expect("port");
    assert_eq!(
        detail.publish.srt_url.as_deref(),
        Some(
            format!(
                "srt://live.example.com:{port}?streamid={}&passphrase={passphrase}",
                b.key
            )
            .as_str()
        )
    );
    app.running.stop().await.expect("stops");
}

/// A conclusion handshake whose configuration extension (type 6, congestion control) makes
/// srt-protocol 0.4's parser panic: before the relay, one such datagram stopped the listener.
fn panicking_handshake() -> Vec<u8> {
    let mut p = vec![0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0];
    p.extend_from_slice(&5u32.to_be_bytes()); // version 5
    p.extend_from_slice(&[0, 0, 0, 4]); // no encryption; extension flags: CONFIG
    p.extend_from_slice(&1234u32.to_be_bytes()); // initial sequence number
    p.extend_from_slice(&1500u32.to_be_bytes()); // MTU
    p.extend_from_slice(&8192u32.to_be_bytes()); // flow window
    p.extend_from_slice(&0xFFFF_FFFFu32.to_be_bytes()); // conclusion
    p.extend_from_slice(&77u32.to_be_bytes()); // socket id
    p.extend_from_slice(&0u32.to_be_bytes()); // cookie
    p.extend_from_slice(&[127, 0, 0, 1]);
    p.extend_from_slice(&[0; 12]);
    p.extend_from_slice(&[0, 6, 0, 1]); // extension 6, one word
    p.extend_from_slice(b"live");
    p
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_keys_passphrases_second_publishers_and_hostile_datagrams_are_refused() {
    let app = start().await;
    let addr = srt_addr(&app);
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                ..Processes::none()
            },
        )
        .await;
    let url = |stream_id: &str, extra: &str| format!("srt://{addr}?streamid={stream_id}{extra}");

    // Hostile datagrams first: garbage, and the handshake that used to stop the listener.
    let attacker = UdpSocket::bind("127.0.0.1:0").await.expect("udp");
    for datagram in [
        vec![0u8; 3],
        vec![0xFF; 1400],
        panicking_handshake(),
        vec![0x80; 64],
    ] {
        for _ in 0..20 {
            attacker.send_to(&datagram, &addr).await.expect("sent");
        }
    }

    // An unknown key and a playback request are refused at the handshake, fast.
    for (stream_id, what) in [
        ("sk_not-a-key", "unknown key"),
        (&*format!("#!::r=live/{},m=request", g.key), "playback"),
    ] {
        let began = Instant::now();
        let ok = TestPublisher::start_srt(&url(stream_id, ""), 5, "320x180")
            .finish()
            .await;
        assert!(!ok, "{what}: refused");
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{what}: refused in {:?}",
            began.elapsed()
        );
    }
    assert_eq!(
        app.sessions(g.owner.organisation_id, g.id).await.len(),
        0,
        "a refusal starts no session"
    );

    // A caller that encrypts while the group has no passphrase is refused (accepting it
    // would stop srt-tokio's listener).
    let ok = TestPublisher::start_srt(&url(&g.key, "&passphrase=unexpected-secret"), 5, "320x180")
        .finish()
        .await;
    assert!(!ok, "unexpected passphrase refused");
    // With a passphrase on the group: none, or a wrong one, is refused; the right one works.
    let passphrase = "s3cret-passphrase";
    streams::set_srt_passphrase(&app.running.state, &g.owner, g.id, Some(passphrase.into()))
        .await
        .expect("passphrase set");
    for (extra, what) in [
        ("", "no passphrase"),
        ("&passphrase=wrong-passphrase", "wrong passphrase"),
    ] {
        let ok = TestPublisher::start_srt(&url(&g.key, extra), 5, "320x180")
            .finish()
            .await;
        assert!(!ok, "{what}: refused");
    }
    assert_eq!(app.sessions(g.owner.organisation_id, g.id).await.len(), 0);
    let first = TestPublisher::start_srt(
        &url(&g.key, &format!("&passphrase={passphrase}")),
        12,
        "320x180",
    );
    wait_for("the session", Duration::from_secs(10), || async {
        live(&app, g.id).await.then_some(())
    })
    .await;

    // A second publisher with the right key and passphrase is refused; the first goes on.
    let ok = TestPublisher::start_srt(
        &url(&g.key, &format!("&passphrase={passphrase}")),
        5,
        "320x180",
    )
    .finish()
    .await;
    assert!(!ok, "second publisher refused");
    let thumbs = wait_for("a thumbnail", Duration::from_secs(15), || async {
        let t = app
            .asset_files(g.streams[0], ProcessKind::Thumbnail, "jpeg")
            .await;
        (!t.is_empty()).then_some(t)
    })
    .await;
    assert!(thumbs[0].exists());
    assert!(first.finish().await, "the first publisher ran to the end");
    app.session_over(g.id).await;
    assert_eq!(app.sessions(g.owner.organisation_id, g.id).await.len(), 1);

    // Bad passphrases are refused in the API, without echoing them.
    let err = streams::set_srt_passphrase(&app.running.state, &g.owner, g.id, Some("short".into()))
        .await
        .expect_err("too short");
    assert!(!format!("{err:?}").contains("short\""), "{err:?}");
    // A viewer sees no SRT URL (it holds the key) and no passphrase.
    let viewer = app::ssr::auth::Caller {
        role: app::domain::roles::Role::Viewer,
        ..g.owner.clone()
    };
    let shown = streams::group_detail(&app.running.state, &viewer, g.id, None)
        .await
        .expect("detail");
    assert_eq!(
        (shown.publish.srt_url, shown.publish.srt_passphrase),
        (None, None)
    );
    app.running.stop().await.expect("stops");
}

/// Set in the child test that runs inside the loss test's network namespace.
const IN_NAMESPACE: &str = "LP_TEST_IN_NETNS";
const INNER_TEST: &str = "one_percent_loss_inside_a_network_namespace";

/// Runs `program` with `args`, failing the test with its error output.
fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// 1 % loss on the path, as the issue asks of netem: this kernel has no `sch_netem`, so the
/// kernel's packet filter drops the datagrams instead. The test runs itself again in a
/// network namespace of its own (`unshare --net`), where nftables drops 1 % of the UDP
/// datagrams to and from the server's SRT port, in both directions, at random: the network
/// between publisher and server (the relay's hop to the SRT listener inside the server is
/// left whole, as loopback is). Handshakes are lost too, and the listener's first answer to
/// the publisher's conclusion always is: the publisher asks again, and must be answered (the
/// relay does, from the answer it passed on).
/// Nothing outside the namespace is touched.
#[tokio::test]
async fn one_percent_packet_loss_still_gives_a_continuous_recording() {
    let exe = std::env::current_exe().expect("test binary");
    let status = tokio::process::Command::new("unshare")
        .arg("--net")
        .arg("--")
        .arg(exe)
        .args(["--exact", INNER_TEST, "--ignored", "--nocapture"])
        .env(IN_NAMESPACE, "1")
        .status()
        .await
        .expect("unshare runs (root, util-linux)");
    assert!(status.success(), "the test in the namespace failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run inside its own network namespace by one_percent_packet_loss_still_gives_a_continuous_recording"]
async fn one_percent_loss_inside_a_network_namespace() {
    assert!(
        std::env::var_os(IN_NAMESPACE).is_some(),
        "runs only in the namespace its outer test makes"
    );
    run("ip", &["link", "set", "lo", "up"]);
    let app = start().await;
    let g = app
        .group(
            &[],
            &Processes {
                recording: Some(SpanInput::Seconds(3600)),
                ..Processes::none()
            },
        )
        .await;
    let addr = srt_addr(&app);
    let port = addr.rsplit(':').next().expect("a port").to_string();
    run("nft", &["add", "table", "inet", "loss"]);
    run(
        "nft",
        &[
            "add",
            "chain",
            "inet",
            "loss",
            "out",
            "{ type filter hook output priority 0; }",
        ],
    );
    // The listener's first answer to the publisher's conclusion handshake (an SRT control
    // packet, 0x8000, of handshake type -1) is lost for certain: the publisher asks again.
    run(
        "nft",
        &[
            "add",
            "rule",
            "inet",
            "loss",
            "out",
            "udp",
            "sport",
            &port,
            "@th,64,16",
            "0x8000",
            "@th,352,32",
            "0xffffffff",
            "numgen",
            "inc",
            "mod",
            "1000000",
            "0",
            "counter",
            "drop",
        ],
    );
    // Counts every datagram to and from the SRT port, then drops one in a hundred of them
    // (all four counted).
    for way in ["dport", "sport"] {
        run(
            "nft",
            &[
                "add", "rule", "inet", "loss", "out", "udp", way, &port, "counter",
            ],
        );
    }
    for way in ["dport", "sport"] {
        run(
            "nft",
            &[
                "add", "rule", "inet", "loss", "out", "udp", way, &port, "numgen", "random", "mod",
                "100", "<", "1", "counter", "drop",
            ],
        );
    }

    let publisher = TestPublisher::start_srt(
        &format!("srt://{}?streamid={}&latency=300000", srt_addr(&app), g.key),
        20,
        "640x360",
    );
    assert!(publisher.finish().await, "published to the end");
    app.session_over(g.id).await;
    let counters: Vec<u64> = run("nft", &["list", "table", "inet", "loss"])
        .split("packets ")
        .skip(1)
        .filter_map(|s| s.split_whitespace().next()?.parse().ok())
        .collect();
    let [answer_lost, to, from, dropped_to, dropped_from] = counters[..] else {
        panic!("counters: {counters:?}")
    };
    assert_eq!(answer_lost, 1, "the conclusion's answer was lost once");
    let (all, dropped) = (to + from, dropped_to + dropped_from);
    assert!(
        dropped_to > 0 && dropped_from > 0,
        "lost both ways: {counters:?}"
    );
    let loss = dropped as f64 / all as f64;
    assert!(
        (0.005..0.02).contains(&loss),
        "lost {dropped} of {all} datagrams"
    );
    let recordings = app
        .asset_files(g.streams[0], ProcessKind::Recording, "mp4")
        .await;
    assert_eq!(recordings.len(), 1);
    let seconds = probe_duration(&recordings[0]);
    let frames = count_frames(&recordings[0]);
    eprintln!(
        "srt under loss: {dropped} of {all} datagrams lost ({:.2} %), recorded {seconds:.2} s, {frames} frames",
        loss * 100.0
    );
    assert!((seconds - 20.0).abs() < 1.5, "recorded {seconds} s of 20");
    assert!(frames >= 20 * 30 * 97 / 100, "{frames} frames of 600");
    assert_eq!(
        app.sessions(g.owner.organisation_id, g.id).await.len(),
        1,
        "one session: the loss never broke it"
    );
    app.running.stop().await.expect("stops");
}

/// A real ffmpeg publishing over SRT with the given codecs (MPEG-TS); its exit status.
async fn publish_codecs(url: &str, video: &[&str], audio: &[&str]) -> bool {
    let mut child = tokio::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=30"])
        .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
        .args(["-t", "10", "-g", "30"])
        .args(video)
        .args(audio)
        .args(["-f", "mpegts", url])
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg");
    tokio::time::timeout(Duration::from_secs(12), child.wait())
        .await
        .expect("ffmpeg ends")
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Audio the pipeline cannot take ends the publish at the first program table, with a reason
/// the dashboard and the API show. (HEVC is processed: `tests/codecs.rs`.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mp3_over_srt_is_refused_with_a_reason() {
    let app = start().await;
    let addr = srt_addr(&app);
    let state = &app.running.state;
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                ..Processes::none()
            },
        )
        .await;
    let org = g.owner.organisation_id;
    let url = format!("srt://{addr}?streamid={}", g.key);

    // Real H.264 with MP3 audio in MPEG-TS.
    let began = Instant::now();
    publish_codecs(
        &url,
        &["-c:v", "libx264", "-preset", "ultrafast"],
        &["-c:a", "libmp3lame"],
    )
    .await;
    let reason = wait_for("the refused session", Duration::from_secs(10), || {
        let db = state.db.clone();
        async move {
            let all = repo::live_sessions::page(&db, org, Some(g.id), None, None, None, 10)
                .await
                .ok()?;
            (!all.is_empty() && all.iter().all(|s| s.ended_at.is_some()))
                .then(|| all[0].end_reason.clone().unwrap_or_default())
        }
    })
    .await;
    assert!(
        began.elapsed() < Duration::from_secs(9),
        "cut early, not at the end of the media"
    );
    assert!(
        reason.starts_with(app::domain::jobs::UNSUPPORTED_MEDIA)
            && reason.contains("MP3 or MP2 audio (SRT)")
            && reason.contains("AAC"),
        "{reason}"
    );
    // The enabled process reads as failed with that reason, in the dashboard and the API.
    let jobs = app::ssr::services::processing::jobs(state, &g.owner, g.streams[0])
        .await
        .expect("jobs");
    for j in &jobs {
        let failed =
            matches!(&j.state, app::domain::jobs::JobState::Failed { reason: r } if *r == reason);
        assert_eq!(
            failed,
            j.process == ProcessKind::Thumbnail,
            "{:?}: {:?}",
            j.process,
            j.state
        );
    }
    app.running.stop().await.expect("stops");
}
