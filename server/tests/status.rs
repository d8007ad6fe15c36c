//! The server's status page for server admins, while a real stream publishes: refused to
//! everyone else, the machine's figures, the live session with its job states, a killed
//! ffmpeg among the recent restarts with its reason, retention runs; the CLI makes admins.

mod common;

use std::time::Duration;

use app::domain::jobs::JobState;
use app::domain::retention::RetainedKind;
use app::domain::settings::{ProcessKind, SpanInput};
use app::domain::AppError;
use app::ssr::repo;
use app::ssr::services::status;
use common::{kill9, source_pid, wait_for, Processes, TestApp, TestPublisher};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_admins_see_the_machine_live_sessions_failures_and_retention() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                recording: Some(SpanInput::EntireStream),
                replay: Some(SpanInput::Seconds(60)),
                ..Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    // An organisation owner is not a server admin.
    let refused = status::server_status(state, &g.owner).await;
    assert!(
        matches!(refused, Err(AppError::Forbidden(_))),
        "{refused:?}"
    );
    // The operator makes one from the command line.
    let made = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["user", "make-admin", &g.owner.email])
        .arg("--data-dir")
        .arg(app.dir.path())
        .output()
        .expect("cli");
    assert!(made.status.success(), "{made:?}");
    let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["user", "make-admin", "nobody@example.com"])
        .arg("--data-dir")
        .arg(app.dir.path())
        .output()
        .expect("cli");
    assert!(!unknown.status.success());

    let publisher = TestPublisher::start(&app.publish_url(&g.key), 40, "640x360");
    let seen = wait_for(
        "the live session with its replay running",
        Duration::from_secs(20),
        || async {
            let s = status::server_status(state, &g.owner).await.ok()?;
            s.live
                .iter()
                .any(|l| {
                    l.group_id == g.id
                        && l.streams.iter().flat_map(|st| &st.jobs).any(|j| {
                            j.process == ProcessKind::Replay && j.state == JobState::Running
                        })
                })
                .then_some(s)
        },
    )
    .await;
    let m = &seen.machine;
    assert!(
        m.cores >= 1 && (0.0..=100.0).contains(&m.cpu_percent),
        "{m:?}"
    );
    assert!(m.memory_total_bytes > 0 && m.memory_used_bytes <= m.memory_total_bytes);
    assert!(m.server_rss_bytes > 0 && m.ffmpeg_children >= 1);
    assert!(m.disk.total_bytes > 0);
    // This node is listed, alive, owning the live group; the live session names it.
    assert_eq!(seen.node_id, app.running.node_id());
    let this = seen
        .nodes
        .iter()
        .find(|n| n.id == seen.node_id)
        .expect("this node is listed");
    assert!(this.alive && this.stopped_at.is_none(), "{this:?}");
    assert_eq!(this.version, env!("CARGO_PKG_VERSION"));
    assert!(
        this.owns.iter().any(|o| o.ends_with("/ Test stream")),
        "{this:?}"
    );
    let live = seen.live.iter().find(|l| l.group_id == g.id).expect("live");
    assert_eq!(live.node.as_deref(), Some(seen.node_id.as_str()));

    // A killed ffmpeg shows among the recent restarts, with its reason.
    kill9(source_pid(app.dir.path()).expect("the source ffmpeg"));
    let failure = wait_for("the restart listed", Duration::from_secs(10), || async {
        let s = status::server_status(state, &g.owner).await.ok()?;
        s.failures
            .into_iter()
            .find(|f| f.stream_id == g.streams[0] && f.outcome == "restarting")
    })
    .await;
    assert!(!failure.reason.is_empty(), "{failure:?}");
    assert!(
        !failure
            .reason
            .contains(&app.dir.path().display().to_string()),
        "no server paths"
    );

    // Retention runs are listed with their organisation.
    let thumb = repo::assets::insert(
        &state.db,
        &repo::assets::NewAsset {
            organisation_id: g.owner.organisation_id,
            stream_id: g.streams[0],
            session_id: None,
            kind: app::domain::assets::AssetKind::Thumbnail,
            format: "jpeg",
            path: "media/gone.jpg".into(),
            size_bytes: 1234,
            duration_ms: None,
            width: None,
            height: None,
            integrity: None,
            created_at: chrono::Utc::now(),
        },
    )
    .await
    .expect("asset");
    let due = vec![repo::retention::Due {
        id: thumb,
        paths: vec![],
        size_bytes: 1234,
        reason: "count",
    }];
    repo::retention::remove_rows(
        &state.db,
        g.owner.organisation_id,
        g.id,
        RetainedKind::Thumbnail,
        &due,
        chrono::Utc::now(),
    )
    .await
    .expect("log");
    let s = status::server_status(state, &g.owner)
        .await
        .expect("status");
    assert_eq!(s.retention.len(), 1);
    assert_eq!(s.retention[0].organisation, g.owner.organisation_name);
    assert_eq!((s.retention[0].items, s.retention[0].bytes), (1, 1234));
    drop(publisher);
    app.running.stop().await.expect("stops");
}
