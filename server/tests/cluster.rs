//! Two real server processes on one real PostgreSQL, each with its own data folder, behind a
//! real nginx load balancer (RTMP over its TCP stream module, and HTTP): the second joins as
//! a new node; both register and beat; the node a publisher reaches owns the
//! stream through a lease and the other refuses a second publisher; the other node's API
//! lists what the owner made and serves it from the object store (a real S3-compatible
//! server), replay included, close to the owner's live edge; when the owner is killed with
//! SIGKILL, the publisher's reconnect through the load balancer reaches the other node, which
//! takes the same session over within seconds, one epoch on, and every segment the dead node
//! finished plays;
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

async fn node(
    dir: &std::path::Path,
    database_url: &str,
    storage: &(String, String),
    cluster: bool,
) -> ServerProcess {
    node_with(dir, database_url, storage, cluster, &[]).await
}

async fn node_with(
    dir: &std::path::Path,
    database_url: &str,
    storage: &(String, String),
    cluster: bool,
    extra: &[&str],
) -> ServerProcess {
    let (endpoint, location) = storage;
    let mut flags = vec![
        "--database-url",
        database_url,
        "--storage",
        location,
        "--s3-endpoint",
        endpoint,
        "--s3-access-key-id",
        "S3RVER",
        "--s3-secret-access-key",
        "S3RVER",
        "--lease-ttl-ms",
        LEASE_MS,
        "--checkpoint-ms",
        "1000",
        "--webhook-allow-host",
        "127.0.0.1",
        "--webhook-retry-ms",
        "300",
    ];
    if cluster {
        flags.push("--cluster");
    }
    flags.extend_from_slice(extra);
    start_server_with(dir, &flags).await
}

fn count(got: &Mutex<Vec<serde_json::Value>>, kind: &str) -> usize {
    got.lock()
        .expect("lock")
        .iter()
        .filter(|v| v["type"] == kind)
        .count()
}

/// nginx in front of the nodes: a TCP load balancer for RTMP (Debian's
/// `libnginx-mod-stream`; a connection refused by a dead node goes to the next one) and an
/// HTTP one for the dashboard.
struct Balancer {
    _child: tokio::process::Child,
    rtmp: String,
    http: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

async fn balancer(dir: &std::path::Path, nodes: &[&ServerProcess]) -> Balancer {
    let (rtmp_port, http_port) = (free_port(), free_port());
    let rtmp_servers: String = nodes
        .iter()
        .map(|n| format!("server {} max_fails=1 fail_timeout=30s; ", n.rtmp_addr()))
        .collect();
    let http_servers: String = nodes
        .iter()
        .map(|n| {
            format!(
                "server {} max_fails=1 fail_timeout=30s; ",
                n.http.trim_start_matches("http://")
            )
        })
        .collect();
    let d = dir.display();
    let conf = format!(
        "load_module /usr/lib/nginx/modules/ngx_stream_module.so;\n\
         daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\n\
         events {{ worker_connections 512; }}\n\
         stream {{ upstream rtmp {{ {rtmp_servers} }}\n\
           server {{ listen 127.0.0.1:{rtmp_port}; proxy_pass rtmp; proxy_connect_timeout 1s; }} }}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
           upstream dashboard {{ {http_servers} }}\n\
           server {{ listen 127.0.0.1:{http_port};\n\
             location / {{ proxy_pass http://dashboard; proxy_set_header Host $http_host;\n\
               proxy_set_header X-Forwarded-For $remote_addr; proxy_connect_timeout 1s; }} }} }}\n"
    );
    std::fs::write(dir.join("nginx.conf"), conf).expect("nginx.conf");
    let child = tokio::process::Command::new("nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .kill_on_drop(true)
        .spawn()
        .expect("nginx starts");
    let http = format!("http://127.0.0.1:{http_port}");
    wait_for("nginx listening", Duration::from_secs(10), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", rtmp_port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    Balancer {
        _child: child,
        rtmp: format!("rtmp://127.0.0.1:{rtmp_port}/live"),
        http,
    }
}

/// A node's id, as its `/readyz` says.
async fn node_id(http: &reqwest::Client, base: &str) -> String {
    let v: serde_json::Value = http
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json");
    assert_eq!(v["ready"], true, "{v}");
    v["node"].as_str().expect("node").to_string()
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
    let storage = (
        common::s3_endpoint().await,
        format!("s3://media/c{:016x}", rand::random::<u64>()),
    );
    let first = node(dirs.0.path(), &url, &storage, false).await;
    let second = node(dirs.1.path(), &url, &storage, true).await;
    let lb_dir = tempfile::tempdir().expect("tmp");
    let lb = balancer(lb_dir.path(), &[&first, &second]).await;

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
    let api_key = services::integrations::create_key(&state, &owner, "cluster", Role::Editor)
        .await
        .expect("api key")
        .secret;
    let (hook, got) = common::webhook_receiver().await;
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
    for n in [&first, &second] {
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

    // A publisher through the load balancer: the node it reaches ("A" from here on) owns
    // the stream; the other is "B".
    let publisher = TestPublisher::start(&format!("{}/{key}", lb.rtmp), 120, "640x360");
    let published = Instant::now();
    let (session, a_node, epoch) = wait_for("A's session", Duration::from_secs(15), || async {
        open_session(&db, group).await
    })
    .await;
    assert_eq!(epoch, 1);
    let (mut a, b, dir_a, dir_b) = if node_id(&http, &first.http).await == a_node {
        (first, second, dirs.0, dirs.1)
    } else {
        (second, first, dirs.1, dirs.0)
    };
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
    // ... and serves it from the object store: node A made it, node B has no copy.
    let id = listed[0]["id"].as_i64().expect("id");
    let row = repo::assets::get(&db, id)
        .await
        .expect("row")
        .expect("exists");
    assert!(!dir_b.path().join(&row.path).exists(), "not in B's folder");
    let from_b = http
        .get(format!("{}/api/v1/assets/{id}/file", b.http))
        .bearer_auth(&api_key)
        .send()
        .await
        .expect("file from B");
    assert_eq!(from_b.status(), 200);
    let image = from_b.bytes().await.expect("bytes");
    assert_eq!(
        image.len() as i64,
        row.asset.size_bytes,
        "B serves what A made, whole"
    );
    let magic: &[u8] = if row.asset.format == "webp" {
        b"RIFF"
    } else {
        b"\xff\xd8\xff"
    };
    assert!(image.starts_with(magic), "a whole image");
    assert!(
        !dir_a.path().join(&row.path).exists(),
        "A keeps no copy of what is in the store"
    );

    // Node B's dashboard and API show A's jobs as A runs them (A publishes them with its
    // heartbeat), and settings saved on B apply live on A (B signals A through NOTIFY).
    let stream = listed[0]["stream_id"].as_i64().expect("stream id");
    let jobs_on_b = || async {
        let v: serde_json::Value = http
            .get(format!("{}/api/v1/streams/{stream}/jobs", b.http))
            .bearer_auth(&api_key)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        Some(v)
    };
    let state_of = |jobs: &serde_json::Value, process: &str| {
        jobs.as_array()
            .and_then(|a| a.iter().find(|j| j["process"] == process))
            .map(|j| j["state"]["state"].as_str().unwrap_or("").to_string())
            .unwrap_or_default()
    };
    wait_for(
        "A's thumbnail job running, seen on B",
        Duration::from_secs(10),
        || async {
            let jobs = jobs_on_b().await?;
            (state_of(&jobs, "thumbnail") == "running").then_some(())
        },
    )
    .await;
    let saved: serde_json::Value = http
        .patch(format!(
            "{}/api/v1/streams/{stream}/processing/motion_clip",
            b.http
        ))
        .bearer_auth(&api_key)
        .json(&serde_json::json!({ "enabled": true, "interval": 10, "duration": { "seconds": 2 } }))
        .send()
        .await
        .expect("patch on B")
        .json()
        .await
        .expect("json");
    assert_eq!(saved["apply"], "applied_live", "{saved}");
    let applied = Instant::now();
    wait_for(
        "A starts motion clips, seen on B",
        Duration::from_secs(10),
        || async {
            let jobs = jobs_on_b().await?;
            matches!(
                state_of(&jobs, "motion_clip").as_str(),
                "starting" | "running"
            )
            .then_some(())
        },
    )
    .await;
    println!(
        "cluster: settings saved on B applied live on A, seen on B {:.2} s later",
        applied.elapsed().as_secs_f64()
    );

    // Rewatch through node B follows A's live edge: B serves the replay from the object
    // store, within 2 s (segments) of the playlist A writes.
    let member = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .expect("client");
    let login = member
        .post(format!("{}/api/login", b.http))
        .form(&[("email", owner.email.as_str()), ("password", "password123")])
        .send()
        .await
        .expect("login on B");
    assert!(login.status().is_success(), "{}", login.status());
    let replay = wait_for("A's replay row", Duration::from_secs(15), || async {
        let rows = repo::assets::all_paths(&db).await.ok()?;
        rows.into_iter()
            .find(|(_, p)| p.ends_with("/replay.m3u8") && p.contains(&format!("/s{session}/")))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let local = std::fs::read_to_string(dir_a.path().join(&replay.1)).expect("A's playlist");
    // s3rver (the test's S3) writes an object in place, so a read racing A's upload of the
    // playlist can see it empty (real S3 replaces objects atomically): such a read is taken
    // again, at most three times.
    let mut served = String::new();
    for _ in 0..3 {
        let answer = member
            .get(format!("{}/media/replay/{}/replay.m3u8", b.http, replay.0))
            .send()
            .await
            .expect("playlist from B");
        assert_eq!(answer.status(), 200);
        served = answer.text().await.expect("text");
        if !served.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let segments = |text: &str| {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let (on_a, on_b) = (segments(&local), segments(&served));
    assert!(!on_b.is_empty(), "{served}");
    assert!(
        on_a.len().saturating_sub(on_b.len()) <= 2,
        "B's replay is {} segments behind A's",
        on_a.len() - on_b.len()
    );
    println!(
        "cluster: replay through B {} segment(s) behind A's",
        on_a.len().saturating_sub(on_b.len())
    );

    // A clip cut on B (none of A's files are in B's folder: it fetches them from the store)
    // and shared there plays, anonymously, through A.
    let now = chrono::Utc::now();
    let clip: serde_json::Value = http
        .post(format!("{}/api/v1/clips", b.http))
        .bearer_auth(&api_key)
        .json(&serde_json::json!({
            "replay_id": replay.0,
            "title": "Cut on B",
            "from": now - chrono::Duration::seconds(6),
            "to": now - chrono::Duration::seconds(2),
            "expiry": "day",
        }))
        .send()
        .await
        .expect("clip on B")
        .json()
        .await
        .expect("json");
    let share = clip["share"]["path"]
        .as_str()
        .expect("a share link")
        .to_string();
    let viewer = reqwest::Client::new();
    let clip_playlist = viewer
        .get(format!("{}{share}/clip.m3u8", a.http))
        .send()
        .await
        .expect("clip playlist through A");
    assert_eq!(clip_playlist.status(), 200, "{clip}");
    let clip_playlist = clip_playlist.text().await.expect("text");
    let clip_segments = segments(&clip_playlist);
    assert!(clip_segments.len() >= 3, "{clip_playlist}");
    for uri in clip_segments
        .iter()
        .chain(std::iter::once(&"init.mp4".to_string()))
    {
        let got = viewer
            .get(format!("{}{share}/{uri}", a.http))
            .send()
            .await
            .expect("clip file");
        assert_eq!(got.status(), 200, "{uri}");
    }

    // Node A dies. Its publisher reconnects through node B, which takes the same session over
    // once A's lease has run out.
    a.child.start_kill().expect("kill -9");
    let killed = Instant::now();
    let a_lived = killed - published;
    a.child.wait().await.expect("A is gone");
    drop(publisher);
    // The publisher reconnects to the same address, as an encoder does.
    let mut publisher = TestPublisher::start(&format!("{}/{key}", lb.rtmp), 120, "640x360");
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
    // The dashboard's address goes on answering, from B.
    assert_eq!(node_id(&http, &lb.http).await, b_node);
    // B continues A's replay: the same asset and URL (a player keeps reloading it), with a
    // discontinuity, then B's own segments (`e2/…`, in its epoch's folder); not ended while
    // the stream is live. Every segment A had finished and announced still plays.
    let playlist_on_b = || async {
        member
            .get(format!("{}/media/replay/{}/replay.m3u8", b.http, replay.0))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()
    };
    let continued = wait_for(
        "B continues A's replay",
        Duration::from_secs(20),
        || async {
            let text = playlist_on_b().await?;
            (segments(&text)
                .iter()
                .filter(|u| u.starts_with("e2/"))
                .count()
                >= 2)
                .then_some(text)
        },
    )
    .await;
    assert!(!continued.contains("#EXT-X-ENDLIST"), "{continued}");
    let listed = segments(&continued);
    let from_a = listed.iter().filter(|u| u.starts_with("segments/")).count();
    assert!(from_a >= on_b.len(), "A's segments are kept: {continued}");
    let first_b = listed
        .iter()
        .position(|u| u.starts_with("e2/"))
        .expect("B's segments");
    assert!(
        listed[first_b..].iter().all(|u| u.starts_with("e2/")),
        "B's segments follow A's: {continued}"
    );
    let before_b = continued
        .split(listed[first_b].as_str())
        .next()
        .expect("text before B's first segment");
    let last_a = before_b
        .rfind(listed[first_b - 1].as_str())
        .expect("A's last");
    assert!(
        before_b[last_a..].contains("#EXT-X-DISCONTINUITY"),
        "a discontinuity where B's segments begin: {continued}"
    );
    let replays: Vec<String> = repo::assets::all_paths(&db)
        .await
        .expect("rows")
        .into_iter()
        .map(|(_, p)| p)
        .filter(|p| p.ends_with("/replay.m3u8") && p.contains(&format!("/s{session}")))
        .collect();
    assert_eq!(
        replays,
        vec![replay.1.clone()],
        "one replay per stream and session"
    );
    for uri in &listed {
        let got = member
            .get(format!("{}/media/replay/{}/{uri}", b.http, replay.0))
            .send()
            .await
            .expect("segment");
        assert_eq!(got.status(), 200, "{uri}");
        assert!(!got.bytes().await.expect("bytes").is_empty(), "{uri}");
    }
    println!(
        "cluster: one replay continues across the takeover: {from_a} segments of node A, {} of node B, all playing through B",
        listed.len() - from_a
    );
    // The recording A had open is finished by B from A's checkpoints in the store: it plays
    // (served by B) and lacks at most the seconds after A's last checkpoint.
    let recovered = wait_for(
        "A's recording finished by B",
        Duration::from_secs(30),
        || async {
            let rows = repo::assets::all_paths(&db).await.ok()?;
            rows.into_iter().find(|(_, p)| {
                p.contains(&format!("/s{session}/")) && p.contains("/recordings/recording-")
            })
        },
    )
    .await;
    let file = member
        .get(format!("{}/media/assets/{}.mp4", b.http, recovered.0))
        .send()
        .await
        .expect("recording from B");
    assert_eq!(file.status(), 200);
    let copy = dir_b.path().join("recovered-copy.mp4");
    std::fs::write(&copy, file.bytes().await.expect("bytes")).expect("write");
    let seconds = common::probe_duration(&copy);
    println!(
        "cluster: A's open recording finished by B from its checkpoints: {seconds:.1} s of the {:.1} s A was live",
        a_lived.as_secs_f64()
    );
    assert!(
        seconds > a_lived.as_secs_f64() - 4.0,
        "{seconds:.1} s recovered of {a_lived:?}"
    );
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
    // The continued replay is closed at the end: it plays on demand, from any node.
    wait_for("the replay closed", Duration::from_secs(15), || async {
        let text = playlist_on_b().await?;
        text.contains("#EXT-X-ENDLIST").then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count(&got, "session.started"), 1);
    assert_eq!(count(&got, "session.resumed"), 1);
    assert_eq!(count(&got, "session.ended"), 1);
    drop(b);
}

/// Two nodes (A alone, B joining with `--cluster`) on a fresh PostgreSQL database and a
/// fresh S3 prefix, with an organisation and one group (no profiles) set up as `processes`.
struct Pair {
    a: ServerProcess,
    b: ServerProcess,
    db: app::ssr::db::Db,
    state: app::ssr::AppState,
    owner: app::ssr::auth::Caller,
    group: i64,
    key: String,
    /// Last, so the folders outlive the servers.
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

async fn pair(name: &str, processes: Processes, extra: &[&str]) -> Pair {
    let dirs = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let url = testing::fresh_postgres().await;
    let storage = (
        common::s3_endpoint().await,
        format!("s3://media/c{:016x}", rand::random::<u64>()),
    );
    let a = node_with(dirs.0.path(), &url, &storage, false, extra).await;
    let b = node_with(dirs.1.path(), &url, &storage, true, extra).await;
    let db = app::ssr::db::connect(&url).await.expect("db");
    let state = testing::state_on(db.clone());
    let owner = testing::organisation(&state, name, &app::domain::packages::Package::ALL)
        .await
        .remove(3);
    let group = services::streams::create_group(
        &state,
        &owner,
        &app::domain::streams::NewStreamGroup {
            name: name.into(),
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
    Pair {
        a,
        b,
        db,
        state,
        owner,
        group,
        key,
        _dirs: dirs,
    }
}

/// A stream key rotated through one node cuts the publisher on the node that holds the
/// stream (the rotating node tells the others through NOTIFY): a leaked key stops working
/// everywhere at once, not only where the dashboard was answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_rotated_on_one_node_cuts_the_publisher_on_the_other() {
    let Pair {
        a,
        b,
        db,
        state,
        owner,
        group,
        key,
        _dirs,
    } = pair("Keys", Processes::none(), &[]).await;
    let api_key = services::integrations::create_key(&state, &owner, "keys", Role::Admin)
        .await
        .expect("api key")
        .secret;

    // The publisher is on A.
    let publisher = TestPublisher::start(&format!("{}/{key}", a.rtmp), 120, "320x180");
    wait_for("A's session", Duration::from_secs(15), || async {
        open_session(&db, group).await
    })
    .await;
    // The key is rotated through B, which holds no session of the group.
    let rotated = reqwest::Client::new()
        .post(format!("{}/api/v1/stream-groups/{group}/key", b.http))
        .bearer_auth(&api_key)
        .send()
        .await
        .expect("rotate on B");
    assert!(rotated.status().is_success(), "{}", rotated.status());
    let at = Instant::now();
    let finished = tokio::time::timeout(Duration::from_secs(10), publisher.finish())
        .await
        .expect("A cuts the publisher within 10 s");
    assert!(!finished, "the publisher was cut, not finished");
    println!(
        "cluster: key rotated on B, publisher on A cut {:.2} s later",
        at.elapsed().as_secs_f64()
    );
    wait_for("the session ends", Duration::from_secs(15), || async {
        open_session(&db, group).await.is_none().then_some(())
    })
    .await;
    drop((a, b));
}

/// A publisher whose connection drops on one node and whose encoder reconnects through the
/// other node within the reconnect grace (as a round-robin load balancer sends it) continues
/// the same session there, one epoch on: the first node finishes the dropped epoch's files,
/// marks the session waiting, and the second takes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_dropped_on_one_node_continues_its_session_through_the_other() {
    let Pair {
        a,
        b,
        db,
        owner,
        group,
        key,
        state: _,
        _dirs,
    } = pair(
        "Reconnects",
        Processes {
            recording: Some(SpanInput::Seconds(3600)),
            replay: Some(SpanInput::Seconds(600)),
            ..Processes::none()
        },
        &["--reconnect-grace-s", "20"],
    )
    .await;
    let b_node = node_id(&reqwest::Client::new(), &b.http).await;

    let mut first = TestPublisher::start(&format!("{}/{key}", a.rtmp), 120, "320x180");
    let (session, _, _) = wait_for("A's session", Duration::from_secs(15), || async {
        open_session(&db, group).await
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    // The connection drops: no unpublish.
    first.child.start_kill().expect("kill");
    let dropped = Instant::now();
    // The encoder tries again, now through B (refused while A finishes; tried again as OBS
    // does, every second).
    let mut second = TestPublisher::start(&format!("{}/{key}", b.rtmp), 8, "320x180");
    let (id, node, epoch) = loop {
        let (running, open) = tokio::time::timeout(Duration::from_secs(1), async {
            (second.running(), open_session(&db, group).await)
        })
        .await
        .expect("quick");
        match open {
            Some((id, node, epoch)) if node == b_node => break (id, node, epoch),
            _ if dropped.elapsed() > Duration::from_secs(18) => {
                panic!("B never continued the session")
            }
            _ => {}
        }
        if !running {
            second = TestPublisher::start(&format!("{}/{key}", b.rtmp), 8, "320x180");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    println!(
        "cluster: publisher dropped on A, session continued on B {:.2} s later",
        dropped.elapsed().as_secs_f64()
    );
    assert_eq!((id, node.as_str(), epoch), (session, b_node.as_str(), 2));
    assert!(second.finish().await, "B's publish ran to its end");
    wait_for("the session ends", Duration::from_secs(20), || async {
        open_session(&db, group).await.is_none().then_some(())
    })
    .await;
    let sessions = repo::live_sessions::page(
        &db,
        owner.organisation_id,
        Some(group),
        None,
        None,
        None,
        10,
    )
    .await
    .expect("sessions");
    assert_eq!(sessions.len(), 1, "one session across both nodes");
    drop((a, b));
}
