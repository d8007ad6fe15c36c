//! The media pipeline for real: the server on free ports, ffmpeg publishing lavfi test
//! sources over RTMP, ffprobe on what comes out. Sessions of different tests run in parallel.

mod common;

use std::time::{Duration, Instant};

use app::domain::assets::Integrity;
use app::domain::jobs::{ApplyMode, JobState};
use app::domain::settings::{ProcessChange, ProcessInput, ProcessKind, SpanInput};
use app::domain::streams::LiveStatus;
use app::ssr::repo;
use app::ssr::services::processing;
use common::{
    count_frames, ffmpeg_pids, ffmpeg_pids_with, files_ending, probe_duration, wait_for, Processes,
    TestApp, TestPublisher,
};

async fn assets(app: &TestApp, stream: i64, kind: ProcessKind) -> Vec<repo::assets::AssetRow> {
    let mut v = repo::assets::list(&app.running.state.db, stream, kind, 1000)
        .await
        .expect("assets");
    v.reverse();
    v
}

fn file(app: &TestApp, row: &repo::assets::AssetRow) -> std::path::PathBuf {
    app.dir.path().join(&row.path)
}

async fn session_over(app: &TestApp, group: i64) {
    app.session_over(group).await;
    assert!(
        files_ending(app.dir.path(), ".part").is_empty(),
        "nothing half-written"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_makes_its_assets_on_schedule() {
    let app = TestApp::start().await;
    let processes = Processes {
        thumbnail: Some(10),
        clip: Some((10, 3)),
        recording: Some(SpanInput::Seconds(4)),
        replay: Some(SpanInput::Seconds(5)),
    };
    let g = app.group(&[], &processes).await;
    let stream = g.streams[0];
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 24, "640x360");

    // The first segment and the first thumbnail come within seconds of publishing (how many
    // is measured by make bench, not asserted here).
    let first_thumb = wait_for("the first thumbnail", Duration::from_secs(15), || async {
        assets(&app, stream, ProcessKind::Thumbnail)
            .await
            .first()
            .cloned()
    })
    .await;
    assert!(matches!(
        app.running
            .supervisor
            .ctx()
            .jobs
            .get(stream, ProcessKind::Replay),
        JobState::Running
    ));
    let live_file = file(&app, &first_thumb);
    assert!(live_file.exists());

    assert!(publisher.finish().await, "the publisher ran to the end");
    session_over(&app, g.id).await;

    // Thumbnails: one at the start, then every 10 s of media, as JPEG and WebP.
    let thumbs = assets(&app, stream, ProcessKind::Thumbnail).await;
    let jpegs: Vec<_> = thumbs.iter().filter(|a| a.asset.format == "jpeg").collect();
    let webps = thumbs.iter().filter(|a| a.asset.format == "webp").count();
    assert_eq!(jpegs.len(), 3, "thumbnails at 0, 10 and 20 s");
    assert_eq!(webps, 3);
    let times: Vec<u64> = jpegs
        .iter()
        .filter_map(|a| {
            a.path
                .rsplit('/')
                .next()?
                .trim_start_matches('t')
                .trim_end_matches(".jpg")
                .parse()
                .ok()
        })
        .collect();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!((9_000..=11_000).contains(&gap), "thumbnail gap {gap} ms");
    }
    assert_eq!(
        (jpegs[0].asset.width, jpegs[0].asset.height),
        (Some(640), Some(360))
    );

    // Motion clips: 3 s within ±0.5 s, small, muted, as MP4 and WebP.
    let clips = assets(&app, stream, ProcessKind::MotionClip).await;
    let mp4s: Vec<_> = clips.iter().filter(|a| a.asset.format == "mp4").collect();
    assert!((2..=3).contains(&mp4s.len()), "{} clips", mp4s.len());
    for clip in &mp4s {
        let d = probe_duration(&file(&app, clip));
        assert!((d - 3.0).abs() <= 0.5, "clip lasts {d} s");
        assert!(clip.asset.width.is_some_and(|w| w <= 480));
    }
    assert_eq!(
        clips.iter().filter(|a| a.asset.format == "webp").count(),
        mp4s.len()
    );

    // Recording: split at 4 s, every piece probes and plays, together the whole session.
    let recordings = assets(&app, stream, ProcessKind::Recording).await;
    assert!(
        (5..=7).contains(&recordings.len()),
        "{} recording files",
        recordings.len()
    );
    let mut total = 0.0;
    for (i, r) in recordings.iter().enumerate() {
        let d = probe_duration(&file(&app, r));
        assert!(d <= 4.35, "piece {i} lasts {d} s");
        if i + 1 < recordings.len() {
            assert!(d >= 3.5, "piece {i} lasts {d} s");
        }
        assert!(count_frames(&file(&app, r)) > 0);
        assert_eq!(r.asset.integrity, Some(Integrity::Ok));
        total += d;
    }
    assert!((total - 24.0).abs() < 2.0, "recorded {total} s of 24");

    // Replay: the window is trimmed to 5 s and the playlist is closed.
    let replay = assets(&app, stream, ProcessKind::Replay).await;
    assert_eq!(replay.len(), 1);
    let text = std::fs::read_to_string(file(&app, &replay[0])).expect("playlist");
    assert!(text.contains("#EXT-X-ENDLIST"));
    let listed: f64 = text
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').parse::<f64>().ok())
        .sum();
    assert!((4.0..=5.3).contains(&listed), "replay lists {listed} s");
    assert!(
        text.contains("#EXT-X-MEDIA-SEQUENCE:1"),
        "older segments rolled out:\n{text}"
    );

    // The Live Processing tab's overview shows these very assets, with their session.
    let o = processing::overview(&app.running.state, &g.owner, g.id)
        .await
        .expect("overview");
    let shown = o.assets_of(stream);
    assert_eq!(shown.thumbnails.len(), 3);
    assert_eq!(
        shown.thumbnails[0].asset.id,
        jpegs.last().expect("a thumbnail").asset.id,
        "newest first"
    );
    assert!(shown.thumbnails.iter().all(|t| t.webp_url.is_some()));
    assert_eq!(shown.motion_clips.len(), mp4s.len());
    assert!(shown.motion_clips.iter().all(|c| c.webp_url.is_some()));
    assert_eq!(shown.replays.len(), 1);
    assert!(!shown.replays[0].is_live(), "the session has ended");
    assert_eq!(shown.recordings.len(), recordings.len());
    assert!(o.config(stream, ProcessKind::Thumbnail).enabled());

    // The session is over and the jobs are idle again.
    assert!(app
        .running
        .supervisor
        .ctx()
        .jobs
        .statuses(&[stream])
        .iter()
        .all(|s| s.state == JobState::Idle));
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_changed_while_live_apply_without_a_reconnect() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                replay: Some(SpanInput::Seconds(20)),
                ..Processes::none()
            },
        )
        .await;
    let stream = g.streams[0];
    let mut publisher = TestPublisher::start(&app.publish_url(&g.key), 22, "640x360");
    let state = &app.running.state;
    wait_for("the replay to start", Duration::from_secs(15), || async {
        assets(&app, stream, ProcessKind::Replay)
            .await
            .first()
            .cloned()
    })
    .await;
    // A few segments go by with thumbnails off: none is made.
    let replay_file = file(&app, &assets(&app, stream, ProcessKind::Replay).await[0]);
    wait_for(
        "4 segments in the replay",
        Duration::from_secs(15),
        || async {
            std::fs::read_to_string(&replay_file)
                .ok()
                .filter(|t| t.matches(".m4s").count() >= 4)
        },
    )
    .await;
    assert!(assets(&app, stream, ProcessKind::Thumbnail)
        .await
        .is_empty());

    // Turn thumbnails and recording on, shrink the replay window: all while live.
    let current = processing::get(state, &g.owner, g.id)
        .await
        .expect("settings");
    let version = |k| current[0].get(k).expect("process").version;
    let change = |kind, input| ProcessChange {
        stream_id: stream,
        kind,
        version: version(kind),
        input,
    };
    let changes = [
        change(
            ProcessKind::Thumbnail,
            ProcessInput {
                enabled: true,
                interval: Some(10),
                duration: None,
            },
        ),
        change(
            ProcessKind::Recording,
            ProcessInput {
                enabled: true,
                interval: None,
                duration: Some(SpanInput::EntireStream),
            },
        ),
        change(
            ProcessKind::Replay,
            ProcessInput {
                enabled: true,
                interval: None,
                duration: Some(SpanInput::Seconds(3)),
            },
        ),
    ];
    let saved = processing::update(state, &g.owner, g.id, &changes)
        .await
        .expect("saves");
    assert_eq!(saved.apply, ApplyMode::AppliedLive);
    wait_for(
        "a thumbnail after enabling",
        Duration::from_secs(10),
        || async {
            assets(&app, stream, ProcessKind::Thumbnail)
                .await
                .first()
                .cloned()
        },
    )
    .await;
    let replay = assets(&app, stream, ProcessKind::Replay).await;
    let playlist = file(&app, &replay[0]);
    wait_for(
        "the replay window to shrink",
        Duration::from_secs(5),
        || async {
            let text = std::fs::read_to_string(&playlist).ok()?;
            let listed: f64 = text
                .lines()
                .filter_map(|l| l.strip_prefix("#EXTINF:"))
                .filter_map(|l| l.trim_end_matches(',').parse::<f64>().ok())
                .sum();
            (listed <= 3.3).then_some(())
        },
    )
    .await;
    assert!(publisher.running(), "the publisher never had to reconnect");
    assert!(publisher.finish().await);
    session_over(&app, g.id).await;
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM live_sessions WHERE group_id = ?")
        .bind(g.id)
        .fetch_one(state.db.as_sqlite().expect("sqlite"))
        .await
        .expect("count");
    assert_eq!(sessions, 1, "one session throughout");
    let recordings = assets(&app, stream, ProcessKind::Recording).await;
    assert_eq!(
        recordings.len(),
        1,
        "recording started live, one file for the entire stream"
    );
    let d = probe_duration(&file(&app, &recordings[0]));
    assert!(
        d > 8.0 && d < 18.5,
        "recorded from the change to the end: {d} s"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn packages_switched_off_while_live_stop_what_they_pay_for() {
    use app::domain::packages::Package;
    let app = TestApp::start_with(|c| c.package_check_ms = 200).await;
    let processes = Processes {
        thumbnail: Some(10),
        recording: Some(SpanInput::EntireStream),
        ..Processes::none()
    };
    let g = app.group(&["360p"], &processes).await;
    let (ingest, profile) = (g.streams[0], g.streams[1]);
    let mut publisher = TestPublisher::start(&app.publish_url(&g.key), 26, "640x360");
    let state = &app.running.state;
    let jobs = &app.running.supervisor.ctx().jobs;
    let recording = |stream| jobs.get(stream, ProcessKind::Recording);
    let transcoders = || ffmpeg_pids_with(app.dir.path(), "libx264").len();
    // The operator's CLI writes the packages from another process: the session finds out by
    // itself (no reload signal here).
    let org = g.owner.organisation_id;
    let set = |package, enabled| async move {
        repo::orgs::set_package(&state.db, org, package, enabled, chrono::Utc::now())
            .await
            .expect("package set");
    };
    wait_for(
        "both recordings to run",
        Duration::from_secs(15),
        || async {
            (recording(ingest) == JobState::Running && recording(profile) == JobState::Running)
                .then_some(())
        },
    )
    .await;
    assert_eq!(transcoders(), 1);

    set(Package::Transcoding, false).await;
    wait_for(
        "the profile to stop, transcoder and all",
        Duration::from_secs(10),
        || async { (recording(profile) == JobState::Idle && transcoders() == 0).then_some(()) },
    )
    .await;
    assert_eq!(recording(ingest), JobState::Running, "the ingest goes on");

    set(Package::LiveProcessing, false).await;
    wait_for(
        "the ingest's processes to stop",
        Duration::from_secs(10),
        || async { (recording(ingest) == JobState::Idle).then_some(()) },
    )
    .await;
    let thumbs = assets(&app, ingest, ProcessKind::Thumbnail).await.len();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        assets(&app, ingest, ProcessKind::Thumbnail).await.len(),
        thumbs,
        "no thumbnail without the package"
    );

    set(Package::LiveProcessing, true).await;
    set(Package::Transcoding, true).await;
    wait_for(
        "everything to run again",
        Duration::from_secs(15),
        || async {
            let thumbs_now = assets(&app, ingest, ProcessKind::Thumbnail).await.len();
            (recording(ingest) == JobState::Running
                && recording(profile) == JobState::Running
                && thumbs_now > thumbs)
                .then_some(())
        },
    )
    .await;
    assert!(publisher.running(), "the publisher never had to reconnect");
    assert!(publisher.finish().await);
    session_over(&app, g.id).await;
    // Each stream's recording: one piece before the packages went, one after they came back.
    for stream in [ingest, profile] {
        let pieces = assets(&app, stream, ProcessKind::Recording).await;
        assert_eq!(pieces.len(), 2, "stream {stream}: {pieces:?}");
        for piece in &pieces {
            assert!(probe_duration(&file(&app, piece)) > 0.5);
        }
    }
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_ffmpeg_restarts_and_the_recording_survives() {
    let app = TestApp::start().await;
    let processes = Processes {
        recording: Some(SpanInput::EntireStream),
        replay: Some(SpanInput::EntireStream),
        ..Processes::none()
    };
    let g = app.group(&[], &processes).await;
    let stream = g.streams[0];
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 20, "640x360");
    let jobs = &app.running.supervisor.ctx().jobs;
    wait_for("the recording to run", Duration::from_secs(15), || async {
        matches!(jobs.get(stream, ProcessKind::Recording), JobState::Running).then_some(())
    })
    .await;
    // The file being written plays already (the server could die now).
    let part = wait_for(
        "4 s in the open recording",
        Duration::from_secs(15),
        || async {
            let part = files_ending(app.dir.path(), ".mp4.part");
            (part.len() == 1 && probe_duration(&part[0]) > 3.6).then_some(part)
        },
    )
    .await;
    assert!(probe_duration(&part[0]) > 3.0);
    assert!(count_frames(&part[0]) > 90);

    let pids = ffmpeg_pids(app.dir.path());
    assert_eq!(pids.len(), 1, "one copy ffmpeg for the ingest: {pids:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill -9");
    // The restart is read from the board's history: the Restarting state itself may last
    // less than one poll on a busy machine.
    let error = wait_for(
        "the restart to be recorded",
        Duration::from_secs(10),
        || async {
            jobs.recent_failures()
                .into_iter()
                .find(|f| {
                    f.stream_id == stream
                        && f.process == ProcessKind::Recording
                        && f.outcome == "restarting"
                })
                .map(|f| f.reason)
        },
    )
    .await;
    assert!(error.contains("signal 9"), "{error}");
    // Back quickly (the fault suite's R1 measures how quickly).
    wait_for("the job to run again", Duration::from_secs(10), || async {
        matches!(jobs.get(stream, ProcessKind::Recording), JobState::Running).then_some(())
    })
    .await;
    let new_pids = ffmpeg_pids(app.dir.path());
    assert_eq!(new_pids.len(), 1);
    assert_ne!(new_pids, pids);

    assert!(publisher.finish().await);
    session_over(&app, g.id).await;
    let recordings = assets(&app, stream, ProcessKind::Recording).await;
    let total: f64 = recordings
        .iter()
        .map(|r| probe_duration(&file(&app, r)))
        .sum();
    assert!(
        total > 16.0,
        "the recording kept everything but the crash: {total} s of 20"
    );
    for r in &recordings {
        assert!(count_frames(&file(&app, r)) > 0);
    }
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_keys_and_second_publishers_are_refused() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                replay: Some(SpanInput::Seconds(10)),
                ..Processes::none()
            },
        )
        .await;

    // An unknown key: refused, nothing created.
    let started = Instant::now();
    let wrong = TestPublisher::start(&app.publish_url("sk_not_a_real_key"), 5, "320x180");
    assert!(!wrong.finish().await, "ffmpeg must fail to publish");
    assert!(
        started.elapsed() >= Duration::from_millis(700),
        "wrong keys are slowed down"
    );
    let sessions: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM live_sessions")
        .fetch_one(app.running.state.db.as_sqlite().expect("sqlite"))
        .await
        .expect("count");
    assert_eq!(sessions, 0);

    // The real key works; a second publisher on it is refused while the first is live.
    let mut first = TestPublisher::start(&app.publish_url(&g.key), 12, "320x180");
    wait_for("the session", Duration::from_secs(10), || async {
        matches!(
            repo::live_sessions::status(&app.running.state.db, g.id).await,
            Ok(LiveStatus::Live { .. })
        )
        .then_some(())
    })
    .await;
    let second = TestPublisher::start(&app.publish_url(&g.key), 5, "320x180");
    assert!(!second.finish().await, "the second publisher is refused");
    assert!(first.running(), "the first publisher is unaffected");
    assert!(first.finish().await);
    session_over(&app, g.id).await;

    // A regenerated key makes the old one useless.
    let new_key = app::ssr::services::streams::regenerate_key(&app.running.state, &g.owner, g.id)
        .await
        .expect("regenerates");
    let old = TestPublisher::start(&app.publish_url(&g.key), 3, "320x180");
    assert!(!old.finish().await, "the revoked key is refused");
    assert_ne!(new_key, g.key);
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_stalled_handshakes_do_not_hold_the_server() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = TestApp::start().await;
    let addr = app.running.rtmp_addr;
    // Garbage instead of a handshake, and a client that says nothing: both are closed (the
    // exact deadlines are unit-tested with paused time in ingest::connection).
    let mut garbage = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    garbage.write_all(&[0x42; 4096]).await.expect("writes");
    let mut silent = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    for (what, s) in [("garbage", &mut garbage), ("silence", &mut silent)] {
        let mut buf = [0u8; 8192];
        let closed = tokio::time::timeout(Duration::from_secs(15), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a connection sending {what} is dropped");
    }
    // Meanwhile real publishing still works.
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                ..Processes::none()
            },
        )
        .await;
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 4, "320x180");
    assert!(publisher.finish().await);
    wait_for("a thumbnail", Duration::from_secs(10), || async {
        assets(&app, g.streams[0], ProcessKind::Thumbnail)
            .await
            .first()
            .cloned()
    })
    .await;
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transcoding_profiles_get_their_own_renditions_and_assets() {
    use std::os::unix::fs::MetadataExt;
    // This test's process counts what the group shared (each test runs in its own process).
    let metrics = server::metrics::install().expect("the first recorder");
    let app = TestApp::start().await;
    let processes = Processes {
        thumbnail: Some(10),
        clip: Some((10, 3)),
        recording: Some(SpanInput::EntireStream),
        ..Processes::none()
    };
    let g = app.group(&["720p", "360p"], &processes).await;
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 14, "1280x720");
    assert!(publisher.finish().await);
    session_over(&app, g.id).await;
    let mut sizes = Vec::new();
    let mut clips = Vec::new();
    let mut all_thumbs = Vec::new();
    for stream in &g.streams {
        let thumbs = assets(&app, *stream, ProcessKind::Thumbnail).await;
        assert!(!thumbs.is_empty(), "stream {stream} has thumbnails");
        all_thumbs.push(thumbs);
        let rec = assets(&app, *stream, ProcessKind::Recording).await;
        assert_eq!(rec.len(), 1);
        assert!(probe_duration(&file(&app, &rec[0])) > 11.0);
        sizes.push((rec[0].asset.width, rec[0].asset.height));
        let made = assets(&app, *stream, ProcessKind::MotionClip).await;
        assert!(
            made.len() >= 2,
            "stream {stream} has motion clips: {made:?}"
        );
        clips.push(made);
    }
    assert_eq!(
        sizes,
        vec![
            (Some(1280), Some(720)),
            (Some(1280), Some(720)),
            (Some(640), Some(360))
        ]
    );
    // Every clip is 480 px wide, whichever rendition it belongs to. The 360p rendition (the
    // narrowest at least a clip wide) cut them; the other streams' clips of the same windows
    // (the ingest's end 3 ms apart from the transcoder's) are the very same files, hard
    // links, not cut again. Likewise the 720p profile's thumbnails are the ingest's (both
    // 1280x720; the lower id leads), and the 360p's its own.
    for made in &clips {
        for c in made {
            assert_eq!((c.asset.width, c.asset.height), (Some(480), Some(270)));
        }
    }
    let inode =
        |row: &repo::assets::AssetRow| std::fs::metadata(file(&app, row)).expect("clip").ino();
    let leader: std::collections::HashSet<u64> = clips[2].iter().map(inode).collect();
    assert_eq!(leader.len(), clips[2].len());
    for c in clips[0].iter().chain(&clips[1]) {
        assert!(leader.contains(&inode(c)), "{} is the leader's", c.path);
    }
    let ingest: std::collections::HashSet<u64> = all_thumbs[0].iter().map(inode).collect();
    // The first may come before the ingest's first segment said its size (under load): it is
    // then made on its own, as it should be.
    for t in all_thumbs[1]
        .iter()
        .filter(|t| !t.path.contains("/t0000000000."))
    {
        assert!(ingest.contains(&inode(t)), "{} is the ingest's", t.path);
    }
    for t in &all_thumbs[1] {
        assert_eq!((t.asset.width, t.asset.height), (Some(1280), Some(720)));
    }
    for t in &all_thumbs[2] {
        assert!(!ingest.contains(&inode(t)));
        assert_eq!((t.asset.width, t.asset.height), (Some(640), Some(360)));
    }
    // The 360p's thumbnails (files of its own) were rendered in the 720p ingest's runs, from
    // its decode of the same keyframe: the first may come before the sizes are known.
    let text = metrics.render();
    let count = |source: &str| -> usize {
        let series = format!("livepro_thumbnails_total{{source=\"{source}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(series.as_str()))
            .map_or(0, |n| n.trim().parse().expect("a count"))
    };
    let total: usize = all_thumbs.iter().map(Vec::len).sum::<usize>() / 2;
    assert_eq!(
        count("own") + count("linked") + count("leader"),
        total,
        "{text}"
    );
    assert!(
        count("leader") + 1 >= all_thumbs[2].len() / 2,
        "the 360p's thumbnails came from the leader's runs: {text}"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_finishes_files_and_leaves_no_ffmpeg() {
    let app = TestApp::start().await;
    let processes = Processes {
        recording: Some(SpanInput::EntireStream),
        replay: Some(SpanInput::Seconds(30)),
        ..Processes::none()
    };
    let g = app.group(&["360p"], &processes).await;
    let mut publisher = TestPublisher::start(&app.publish_url(&g.key), 30, "640x360");
    wait_for("both sources to run", Duration::from_secs(15), || async {
        (ffmpeg_pids(app.dir.path()).len() == 2
            && assets(&app, g.streams[1], ProcessKind::Replay).await.len() == 1)
            .then_some(())
    })
    .await;
    // Stop with a recording well under way on both renditions.
    wait_for("3 s recorded on both", Duration::from_secs(15), || async {
        let parts = files_ending(app.dir.path(), ".mp4.part");
        (parts.len() == 2 && parts.iter().all(|p| probe_duration(p) > 2.5)).then_some(())
    })
    .await;
    let dir = app.dir.path().to_path_buf();
    let db = app.running.state.db.clone();
    app.running.stop().await.expect("stops");
    assert!(
        ffmpeg_pids(&dir).is_empty(),
        "no ffmpeg outlives the server"
    );
    assert!(
        files_ending(&dir, ".part").is_empty(),
        "every file was finished"
    );
    for playlist in files_ending(&dir, "replay.m3u8") {
        assert!(std::fs::read_to_string(&playlist)
            .expect("read")
            .contains("#EXT-X-ENDLIST"));
    }
    let recordings = files_ending(&dir, ".mp4")
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("/recordings/"))
        .collect::<Vec<_>>();
    assert_eq!(recordings.len(), 2);
    for r in &recordings {
        assert!(probe_duration(r) > 2.0);
    }
    let open: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM live_sessions WHERE ended_at IS NULL")
        .fetch_one(db.as_sqlite().expect("sqlite"))
        .await
        .expect("count");
    assert_eq!(open, 0);
    let _ = publisher.child.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_is_served_to_members_only_with_types_ranges_and_caching() {
    let app = TestApp::start().await;
    let processes = Processes {
        thumbnail: Some(10),
        recording: Some(SpanInput::EntireStream),
        replay: Some(SpanInput::EntireStream),
        ..Processes::none()
    };
    let g = app.group(&[], &processes).await;
    let stream = g.streams[0];
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 5, "320x180");
    assert!(publisher.finish().await);
    session_over(&app, g.id).await;
    let thumb = assets(&app, stream, ProcessKind::Thumbnail)
        .await
        .into_iter()
        .find(|a| a.asset.format == "jpeg")
        .expect("thumbnail");
    let rec = assets(&app, stream, ProcessKind::Recording).await.remove(0);
    let replay = assets(&app, stream, ProcessKind::Replay).await.remove(0);

    let member = app.signed_in(&g.owner.email).await;
    let get =
        |client: &reqwest::Client, path: &str| client.get(format!("{}{path}", app.base)).send();

    let res = get(&member, &thumb.asset.url).await.expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "image/jpeg");
    assert!(res.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("immutable"));
    let res = get(&member, &format!("/media/streams/{stream}/latest.jpg"))
        .await
        .expect("get");
    assert_eq!(res.status(), 200);
    assert!(res.headers()["cache-control"]
        .to_str()
        .expect("ascii")
        .contains("no-cache"));
    let res = member
        .get(format!("{}{}", app.base, rec.asset.url))
        .header("range", "bytes=0-99")
        .send()
        .await
        .expect("get");
    assert_eq!(res.status(), 206, "range requests for MP4");
    assert_eq!(res.headers()["content-type"], "video/mp4");
    assert_eq!(res.bytes().await.expect("body").len(), 100);

    let res = get(&member, &replay.asset.url).await.expect("get");
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    let playlist = res.text().await.expect("text");
    let segment = playlist
        .lines()
        .find(|l| l.ends_with(".m4s"))
        .expect("a segment");
    let base = replay.asset.url.trim_end_matches("replay.m3u8");
    assert_eq!(
        get(&member, &format!("{base}{segment}"))
            .await
            .expect("get")
            .status(),
        200
    );

    // Not signed in: 401. Another organisation: not found. Escapes: not found.
    assert_eq!(
        get(&app.client(), &thumb.asset.url)
            .await
            .expect("get")
            .status(),
        401
    );
    let others = app.organisation("Others", &[]).await;
    let outsider = app.signed_in(&others[3].email).await;
    assert_eq!(
        get(&outsider, &thumb.asset.url)
            .await
            .expect("get")
            .status(),
        404
    );
    assert_eq!(
        get(&outsider, &format!("/media/streams/{stream}/latest.jpg"))
            .await
            .expect("get")
            .status(),
        404
    );
    for bad in [
        format!("{base}../../../../../livepro.db"),
        format!("{base}segments/r0/..%2F..%2F..%2Flivepro.db"),
        format!("{base}recordings/recording-0001.mp4"),
        "/media/assets/..%2F..%2Flivepro.db".to_string(),
    ] {
        let status = get(&member, &bad).await.expect("get").status();
        assert!(status == 404 || status == 400, "{bad}: {status}");
    }
    app.running.stop().await.expect("stops");
}
