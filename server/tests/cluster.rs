//! Two real server processes on one real PostgreSQL, each with its own data folder: the
//! second joins as a new node; both register and beat; the node a publisher reaches owns the
//! stream through a lease and the other refuses a second publisher; the other node's API
//! lists what the owner made; when the owner is killed with SIGKILL, the publisher's
//! reconnect to the other node takes the same session over within seconds, one epoch on;
//! webhooks announce the start, the takeover and the end once each.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use app::domain::integrations::{EventKind, NewWebhook};
use app::domain::roles::Role;
use app::domain::settings::SpanInput;
use app::ssr::{repo, services, testing};
use common::{start_server_with, wait_for, Processes, ServerProcess, TestPublisher};

/// A short lease, so that the test is quick: heartbeats every 500 ms.
const LEASE_MS: &str = "1500";

async fn node(dir: &std::path::Path, database_url: &str, cluster: bool) -> ServerProcess {
    let mut flags = vec![
        "--database-url",
        database_url,
        "--lease-ttl-ms",
        LEASE_MS,
        "--webhook-allow-host",
        "127.0.0.1",
        "--webhook-retry-ms",
        "300",
    ];
    if cluster {
        flags.push("--cluster");
    }
    start_server_with(dir, &flags).await
}

/// A webhook receiver on loopback collecting every event it is sent.
async fn receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    let got = Arc::new(Mutex::new(Vec::new()));
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

fn count(got: &Mutex<Vec<serde_json::Value>>, kind: &str) -> usize {
    got.lock()
        .expect("lock")
        .iter()
        .filter(|v| v["type"] == kind)
        .count()
}

/// The open session of a group: (id, node, epoch).
async fn open_session(db: &app::ssr::db::Db, group: i64) -> Option<(i64, String, i64)> {
    let app::ssr::db::Db::Postgres(pool) = db else {
        panic!("the cluster runs on PostgreSQL");
    };
    sqlx::query_as(
        "SELECT id, node_id, epoch FROM live_sessions WHERE group_id = $1 AND ended_at IS NULL",
    )
    .bind(group)
    .fetch_optional(pool)
    .await
    .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_share_the_database_and_a_dead_nodes_stream_is_taken_over() {
    let dirs = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let url = testing::fresh_postgres().await;
    let mut a = node(dirs.0.path(), &url, false).await;
    let b = node(dirs.1.path(), &url, true).await;

    let db = app::ssr::db::connect(&url).await.expect("db");
    // The test's receiver is on loopback, as the nodes are told to allow.
    let mut state = testing::state_on(db.clone());
    state.config = Arc::new(app::ssr::state::AppConfig {
        outbound: app::ssr::outbound::OutboundPolicy {
            allowed_hosts: vec!["127.0.0.1".into()],
        },
        ..(*state.config).clone()
    });
    let owner = testing::organisation(&state, "Cluster", &app::domain::packages::Package::ALL)
        .await
        .remove(3);
    let processes = Processes {
        thumbnail: Some(10),
        recording: Some(SpanInput::EntireStream),
        replay: Some(SpanInput::EntireStream),
        ..Processes::none()
    };
    let group = services::streams::create_group(
        &state,
        &owner,
        &app::domain::streams::NewStreamGroup {
            name: "Cluster".into(),
            profiles: vec![],
            processing: vec![processes.inputs()],
        },
    )
    .await
    .expect("group");
    let key = services::streams::group_detail(&state, &owner, group, None)
        .await
        .expect("detail")
        .publish
        .stream_key
        .expect("key");
    let api_key = services::integrations::create_key(&state, &owner, "cluster", Role::Viewer)
        .await
        .expect("api key")
        .secret;
    let (hook, got) = receiver().await;
    services::integrations::create_webhook(
        &state,
        &owner,
        &NewWebhook {
            url: hook,
            events: vec![
                EventKind::SessionStarted,
                EventKind::SessionResumed,
                EventKind::SessionEnded,
            ],
        },
    )
    .await
    .expect("webhook");

    // Both nodes are registered, alive, and ready.
    let nodes = wait_for("two nodes beating", Duration::from_secs(10), || async {
        let nodes = repo::nodes::all(&db, chrono::Utc::now() - chrono::Duration::seconds(5))
            .await
            .expect("nodes");
        (nodes.len() == 2 && nodes.iter().all(|n| n.alive && n.http_url.is_some())).then_some(nodes)
    })
    .await;
    let http = reqwest::Client::new();
    for n in [&a, &b] {
        let ready: serde_json::Value = http
            .get(format!("{}/readyz", n.http))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        assert_eq!(ready["ready"], true, "{ready}");
        assert!(nodes.iter().any(|n| n.id == ready["node"]), "{ready}");
    }

    // A publisher on node A: A owns the stream.
    let publisher = TestPublisher::start(&format!("{}/{key}", a.rtmp), 120, "640x360");
    let (session, a_node, epoch) = wait_for("A's session", Duration::from_secs(15), || async {
        open_session(&db, group).await
    })
    .await;
    assert_eq!(epoch, 1);
    // A second publisher through node B is refused while A's lease is fresh.
    let refused_at = Instant::now();
    let second = TestPublisher::start(&format!("{}/{key}", b.rtmp), 30, "320x180");
    let ok = tokio::time::timeout(Duration::from_secs(15), second.finish())
        .await
        .expect("the second publisher is cut");
    assert!(!ok, "node B refuses a second publisher");
    assert!(
        refused_at.elapsed() < Duration::from_secs(5),
        "refused at once: {:?}",
        refused_at.elapsed()
    );
    assert_eq!(
        open_session(&db, group).await,
        Some((session, a_node.clone(), 1)),
        "A still owns the session"
    );

    // Node B's API lists what node A made (the database is shared).
    let listed = wait_for("B lists A's thumbnail", Duration::from_secs(20), || async {
        let v: serde_json::Value = http
            .get(format!("{}/api/v1/assets?kind=thumbnail", b.http))
            .bearer_auth(&api_key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let items = v["items"].as_array()?.clone();
        (!items.is_empty()).then_some(items)
    })
    .await;
    assert_eq!(listed[0]["session_id"], session, "{listed:?}");

    // Node A dies. Its publisher reconnects through node B, which takes the same session over
    // once A's lease has run out.
    a.child.start_kill().expect("kill -9");
    let killed = Instant::now();
    a.child.wait().await.expect("A is gone");
    drop(publisher);
    let mut publisher = TestPublisher::start(&format!("{}/{key}", b.rtmp), 120, "640x360");
    let (resumed, b_node, epoch) = wait_for("B's takeover", Duration::from_secs(15), || async {
        open_session(&db, group)
            .await
            .filter(|(_, node, _)| *node != a_node)
    })
    .await;
    let takeover = killed.elapsed();
    assert_eq!(resumed, session, "the same session continues");
    assert_eq!(epoch, 2, "one epoch on");
    assert!(
        takeover < Duration::from_secs(10),
        "taken over in {takeover:?}"
    );
    // B writes for the session: a thumbnail of the same session from B's epoch.
    wait_for("a thumbnail made by B", Duration::from_secs(20), || async {
        let rows = repo::assets::all_paths(&db).await.ok()?;
        rows.iter()
            .any(|(_, p)| p.contains(&format!("/s{session}e2/")) && p.contains("thumbnails"))
            .then_some(())
    })
    .await;
    assert!(publisher.running(), "B keeps the publisher");
    println!(
        "cluster: takeover {:.2} s after SIGKILL (lease {LEASE_MS} ms), node {b_node}",
        takeover.as_secs_f64()
    );

    // The publisher stops: B ends the session. Each event was announced once.
    drop(publisher);
    wait_for("the session ends", Duration::from_secs(15), || async {
        open_session(&db, group).await.is_none().then_some(())
    })
    .await;
    wait_for("the end is announced", Duration::from_secs(15), || async {
        (count(&got, "session.ended") >= 1).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&got, "session.started"), 1);
    assert_eq!(count(&got, "session.resumed"), 1);
    assert_eq!(count(&got, "session.ended"), 1);
    drop(b);
}
