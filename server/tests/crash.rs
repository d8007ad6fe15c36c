//! The server binary killed with SIGKILL mid-session: its ffmpeg children do not outlive it,
//! and the next start repairs what the crash left open (the recording becomes a registered,
//! playable, "repaired" file; the replay playlist is closed; the session is ended).

mod common;

use std::time::Duration;

use app::domain::assets::Integrity;
use app::domain::settings::{ProcessKind, SpanInput};
use app::ssr::{repo, services, testing};
use common::{
    count_frames, ffmpeg_pids, files_ending, probe_duration, start_server, wait_for, Processes,
    TestPublisher,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crashed_server_leaves_no_ffmpeg_and_the_next_start_repairs_the_recording() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(dir.path()).await;

    // Set up a group through the same database file.
    let db = app::ssr::db::connect(&format!(
        "sqlite://{}",
        dir.path().join("livepro.db").display()
    ))
    .await
    .expect("db");
    let state = testing::state_on(db.clone());
    let owner = testing::organisation(&state, "Crash", &app::domain::packages::Package::ALL)
        .await
        .remove(3);
    let processes = Processes {
        recording: Some(SpanInput::EntireStream),
        replay: Some(SpanInput::EntireStream),
        ..Processes::none()
    };
    let group = app::domain::streams::NewStreamGroup {
        name: "Crash".into(),
        profiles: vec![],
        processing: vec![processes.inputs()],
    };
    let group_id = services::streams::create_group(&state, &owner, &group)
        .await
        .expect("group");
    let key = services::streams::group_detail(&state, &owner, group_id, None)
        .await
        .expect("detail")
        .publish
        .stream_key
        .expect("key");

    let publisher = TestPublisher::start(&format!("{}/{key}", server.rtmp), 30, "640x360");
    let media = dir.path().join("media");
    wait_for(
        "a recording with a few seconds in it",
        Duration::from_secs(20),
        || async {
            let part = files_ending(&media, ".mp4.part");
            (part.len() == 1
                && std::fs::metadata(&part[0]).is_ok_and(|m| m.len() > 100_000)
                && probe_duration(&part[0]) > 5.0)
                .then_some(())
        },
    )
    .await;
    assert_eq!(ffmpeg_pids(dir.path()).len(), 1);
    // What the server and its ffmpeg children write is not for other local users.
    {
        use std::os::unix::fs::PermissionsExt;
        let part = files_ending(&media, ".mp4.part");
        for path in [
            dir.path().join("livepro.db"),
            media.clone(),
            part[0].clone(),
        ] {
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o007, 0, "{} is {mode:o}", path.display());
        }
    }

    // Crash.
    server.child.start_kill().expect("kill -9");
    let _ = server.child.wait().await;
    wait_for(
        "the ffmpeg children to exit with the server",
        Duration::from_secs(3),
        || async { ffmpeg_pids(dir.path()).is_empty().then_some(()) },
    )
    .await;
    let part = files_ending(&media, ".mp4.part");
    assert_eq!(part.len(), 1, "the crash left the recording open");
    let playlist = files_ending(&media, "replay.m3u8");
    assert!(!std::fs::read_to_string(&playlist[0])
        .expect("read")
        .contains("#EXT-X-ENDLIST"));
    drop(publisher);

    // Restart: reconciliation repairs and registers.
    let mut again = start_server(dir.path()).await;
    assert!(
        files_ending(&media, ".part").is_empty(),
        "nothing half-written is left"
    );
    let stream = repo::streams::ingest_of(&db, group_id)
        .await
        .expect("q")
        .expect("ingest");
    let rows = repo::assets::list(&db, stream, ProcessKind::Recording, 10)
        .await
        .expect("assets");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].asset.integrity, Some(Integrity::Repaired));
    let file = dir.path().join(&rows[0].path);
    assert!(probe_duration(&file) > 5.0, "the recording so far survives");
    assert!(count_frames(&file) >= 120, "and plays");
    assert!(
        std::fs::read_to_string(&playlist[0])
            .expect("read")
            .contains("#EXT-X-ENDLIST"),
        "the replay is closed"
    );
    let reason: Option<String> =
        sqlx::query_scalar("SELECT end_reason FROM live_sessions WHERE group_id = ?")
            .bind(group_id)
            .fetch_one(db.as_sqlite().expect("sqlite"))
            .await
            .expect("q");
    assert_eq!(reason.as_deref(), Some("server restarted"));

    // A clean stop exits successfully.
    let pid = nix::unistd::Pid::from_raw(again.child.id().expect("pid") as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(30), again.child.wait())
        .await
        .expect("stops")
        .expect("status");
    assert!(status.success(), "{status:?}");
}
