//! The HTTP side under attack, over real sockets: webhooks that try to reach inside (at
//! creation and at delivery, by name, literal address, redirect) and receivers that try to
//! make the server read or wait; one tenant's black hole not starving another; login and
//! sign-up bursts against the bounded password hashing; 2 000 idle connections; the
//! security headers; client addresses behind a trusted proxy; organisation limits.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use app::domain::integrations::{DeliveryStatus, EventKind, NewWebhook};
use app::domain::packages::Package;
use app::domain::AppError;
use app::ssr::services::integrations;
use app::ssr::{passwords, repo};
use common::{wait_for, TestApp};
use server::runner::PipelineEvent;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket};

/// A receiver on loopback that counts requests and answers with `answer`.
async fn receiver(
    answer: impl Fn() -> axum::response::Response + Clone + Send + Sync + 'static,
) -> (String, Arc<AtomicU64>) {
    let hits = Arc::new(AtomicU64::new(0));
    let h = hits.clone();
    let app = axum::Router::new().fallback(move || {
        let (h, answer) = (h.clone(), answer.clone());
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            answer()
        }
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, hits)
}

fn ok() -> axum::response::Response {
    axum::response::IntoResponse::into_response("ok")
}

fn session_started(org: i64) -> PipelineEvent {
    PipelineEvent::SessionStarted {
        organisation_id: org,
        group_id: 1,
        session_id: 1,
        at: chrono::Utc::now(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_cannot_reach_inside_nor_read_back() {
    // No internal host allowed: the server as shipped.
    let app = TestApp::start_with(|c| c.webhook_allow_hosts.clear()).await;
    let callers = app.organisation("Acme", &Package::ALL).await;
    let admin = &callers[2];
    let state = &app.running.state;
    let (inside, inside_hits) = receiver(ok).await;
    let port = inside.rsplit(':').next().expect("port").to_string();

    // Refused at creation, with the reason, by literal address and by name.
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        "http://10.1.2.3/hook".to_string(),
        "http://169.254.169.254/latest/meta-data/".to_string(),
        format!("http://[::1]:{port}/"),
        format!("http://[::ffff:127.0.0.1]:{port}/"),
        format!("http://localhost:{port}/"),
        "http://0.0.0.0/".to_string(),
    ] {
        let refused = integrations::create_webhook(
            state,
            admin,
            &NewWebhook {
                url: url.clone(),
                events: vec![EventKind::SessionStarted],
            },
        )
        .await
        .expect_err(&url);
        let field = &refused.field_errors()[0];
        assert_eq!(field.field, "url", "{url}");
        assert!(
            field.allowed.contains("public host"),
            "{url}: {}",
            field.allowed
        );
    }

    // Refused at every attempt too: an endpoint stored before (or a name that changed its
    // answer) gets no request, and the log says why.
    let hook = repo::integrations::insert_webhook(
        &state.db,
        admin.organisation_id,
        &format!("http://127.0.0.1:{port}/hook"),
        &[EventKind::SessionStarted],
        "whsec_test",
        admin.user_id,
        chrono::Utc::now(),
    )
    .await
    .expect("row");
    let by_name = repo::integrations::insert_webhook(
        &state.db,
        admin.organisation_id,
        &format!("http://localhost:{port}/hook"),
        &[EventKind::SessionStarted],
        "whsec_test",
        admin.user_id,
        chrono::Utc::now(),
    )
    .await
    .expect("row");
    app.running
        .supervisor
        .ctx()
        .emit(session_started(admin.organisation_id));
    for id in [hook, by_name] {
        let d = wait_for("the refused attempt", Duration::from_secs(10), || async {
            repo::integrations::recent_deliveries(&state.db, id, 1)
                .await
                .expect("log")
                .into_iter()
                .find(|d| d.attempts > 0)
        })
        .await;
        assert_eq!(
            d.status,
            DeliveryStatus::Pending,
            "retried later, like any failure"
        );
        assert_eq!(
            d.last_error.as_deref(),
            Some("refused: the host resolves to an internal address")
        );
        assert_eq!(d.last_status, None);
    }
    assert_eq!(
        inside_hits.load(Ordering::SeqCst),
        0,
        "nothing reached inside"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receivers_get_no_redirects_no_body_read_back_and_cannot_starve_others() {
    // The operator allows loopback (where the test's receivers run).
    let app = TestApp::start().await;
    let state = &app.running.state;
    let a = app.organisation("Slow tenant", &Package::ALL).await;
    let b = app.organisation("Other tenant", &Package::ALL).await;

    // A redirect to an inside service is not followed; a body is never kept.
    let (inside, inside_hits) = receiver(ok).await;
    let target = format!("{inside}/admin/reset?all=1");
    let (redirecting, _) = receiver(move || {
        axum::response::Response::builder()
            .status(302)
            .header("location", target.clone())
            .body(axum::body::Body::from("secret token=s3cr3t"))
            .expect("response")
    })
    .await;
    let (failing, _) = receiver(|| {
        axum::response::Response::builder()
            .status(500)
            .body(axum::body::Body::from(
                "INTERNAL token=s3cr3t ".repeat(1000),
            ))
            .expect("response")
    })
    .await;
    let mut hooks = Vec::new();
    for url in [format!("{redirecting}/h"), format!("{failing}/h")] {
        hooks.push(
            integrations::create_webhook(
                state,
                &a[3],
                &NewWebhook {
                    url,
                    events: vec![EventKind::SessionStarted],
                },
            )
            .await
            .expect("allowed host")
            .webhook
            .id,
        );
    }
    // Black holes: they accept and never answer. Each holds a slot until the timeout.
    let hole = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let hole_url = format!("http://{}/h", hole.local_addr().expect("addr"));
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = hole.accept().await {
            held.push(s);
        }
    });
    for _ in 0..10 {
        integrations::create_webhook(
            state,
            &a[3],
            &NewWebhook {
                url: hole_url.clone(),
                events: vec![EventKind::SessionStarted],
            },
        )
        .await
        .expect("hole");
    }
    let (fast, fast_hits) = receiver(ok).await;
    integrations::create_webhook(
        state,
        &b[3],
        &NewWebhook {
            url: format!("{fast}/h"),
            events: vec![EventKind::SessionStarted],
        },
    )
    .await
    .expect("fast");

    let ctx = app.running.supervisor.ctx();
    for _ in 0..3 {
        ctx.emit(session_started(a[3].organisation_id));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    ctx.emit(session_started(b[3].organisation_id));
    wait_for(
        "the other tenant's delivery",
        Duration::from_secs(5),
        || async { (fast_hits.load(Ordering::SeqCst) >= 1).then_some(()) },
    )
    .await;
    println!(
        "hostile http: another tenant delivered in {:?} while 30 deliveries sat on black holes",
        started.elapsed()
    );
    for id in &hooks {
        let d = wait_for("an attempt", Duration::from_secs(10), || async {
            repo::integrations::recent_deliveries(&state.db, *id, 10)
                .await
                .expect("log")
                .into_iter()
                .find(|d| d.attempts > 0)
        })
        .await;
        let error = d.last_error.unwrap_or_default();
        assert!(
            error.starts_with("HTTP 302") || error.starts_with("HTTP 500"),
            "{error}"
        );
        assert!(!error.contains("s3cr3t"), "no body in the log: {error}");
    }
    assert_eq!(
        inside_hits.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_and_sign_up_bursts_stay_within_the_hashing_bound() {
    let app = TestApp::start().await;
    let callers = app.organisation("Acme", &[]).await;
    let target = callers[3].email.clone();
    let client = app.client();
    let url = format!("{}/api/login", app.base);
    let started = Instant::now();
    let tasks: Vec<_> = (0..200)
        .map(|i| {
            let (client, url, target) = (client.clone(), url.clone(), target.clone());
            tokio::spawn(async move {
                client
                    .post(&url)
                    .form(&[
                        ("email", target.as_str()),
                        ("password", &format!("guess {i}")),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.expect("task")).or_insert(0) += 1;
    }
    println!(
        "hostile http: 200 concurrent logins in {:?}: {statuses:?}; argon2 peak {} of {} permits",
        started.elapsed(),
        passwords::peak_concurrency(),
        passwords::permits()
    );
    assert!(passwords::peak_concurrency() <= passwords::permits());
    let evaluated = statuses.get(&400).copied().unwrap_or(0);
    assert!(
        evaluated <= 5,
        "at most 5 guesses per account and address: {statuses:?}"
    );
    assert_eq!(statuses.get(&0), None, "every request was answered");
    // The real user, from another address, is not locked out.
    let res = reqwest::Client::builder()
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 9)))
        .cookie_store(true)
        .build()
        .expect("client")
        .post(format!("{}/api/login", app.base))
        .form(&[("email", target.as_str()), ("password", "password123")])
        .send()
        .await
        .expect("login");
    assert!(res.status().is_success(), "{}", res.status());

    // Sign-ups: counted per address before anything is hashed.
    let tasks: Vec<_> = (0..40)
        .map(|i| {
            let (client, base) = (client.clone(), app.base.clone());
            tokio::spawn(async move {
                client
                    .post(format!("{base}/api/sign_up"))
                    .form(&[
                        ("organisation_name", format!("Org {i}")),
                        ("display_name", "X".to_string()),
                        ("email", format!("burst{i}@example.com")),
                        ("password", "long enough password".to_string()),
                    ])
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let mut statuses = std::collections::BTreeMap::new();
    for t in tasks {
        *statuses.entry(t.await.expect("task")).or_insert(0) += 1;
    }
    let orgs = repo::orgs::list(&app.running.state.db).await.expect("orgs");
    println!(
        "hostile http: 40 sign-ups from one address: {statuses:?}; organisations now {}",
        orgs.len()
    );
    assert!(
        orgs.len() <= 1 + 10,
        "at most 10 sign-ups per address an hour"
    );
    assert!(passwords::peak_concurrency() <= passwords::permits());
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_cannot_starve_the_server() {
    let app = TestApp::start_with(|c| c.http_header_timeout = 3).await;
    let addr = app.running.http_addr;
    // 2 000 connections that send half a request and then nothing, from 8 addresses.
    let mut idle = Vec::new();
    for i in 0..2000u32 {
        let socket = TcpSocket::new_v4().expect("socket");
        socket
            .bind(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(127, 0, 1, (i % 8) as u8 + 1)),
                0,
            ))
            .expect("bind");
        let Ok(mut s) = socket.connect(addr).await else {
            continue;
        };
        let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await;
        idle.push(s);
    }
    assert!(idle.len() >= 1900, "opened {}", idle.len());
    // A normal request is answered at once.
    let started = Instant::now();
    let res = app
        .client()
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("answered");
    let took = started.elapsed();
    assert!(res.status().is_success());
    println!(
        "hostile http: /healthz answered in {took:?} beside {} idle connections",
        idle.len()
    );
    assert!(took < Duration::from_secs(1), "took {took:?}");
    // The idle ones are closed once the header timeout passes.
    let mut closed = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for s in idle.iter_mut().take(50) {
        let mut buf = [0u8; 512];
        if let Ok(Ok(_)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            closed += 1;
        }
    }
    assert_eq!(
        closed, 50,
        "idle connections are closed after the header timeout"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_carry_a_nonce_policy_and_secure_cookies_their_prefix() {
    let app = TestApp::start_with(|c| c.secure_cookies = true).await;
    let callers = app.organisation("Acme", &[]).await;
    let res = app
        .client()
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("page");
    let headers = res.headers().clone();
    let body = res.text().await.expect("html");
    let csp = headers["content-security-policy"]
        .to_str()
        .expect("csp")
        .to_string();
    let nonce = csp
        .split("'nonce-")
        .nth(1)
        .and_then(|r| r.split('\'').next())
        .expect("a nonce in the page's policy");
    assert!(
        !csp.contains("'unsafe-inline' 'wasm")
            && !csp.contains("script-src 'self' 'unsafe-inline'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    // Every inline script of the page carries that nonce.
    for (i, piece) in body.split("<script").enumerate().skip(1) {
        let tag = piece.split('>').next().unwrap_or("");
        if !tag.contains("src=") {
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "inline script {i} without the nonce: {tag}"
            );
        }
    }
    assert_eq!(headers["x-frame-options"], "DENY");
    assert!(headers.contains_key("permissions-policy"));
    assert!(headers["strict-transport-security"]
        .to_str()
        .expect("hsts")
        .contains("max-age="));
    // Another request, another nonce.
    let again = app
        .client()
        .get(format!("{}/login", app.base))
        .send()
        .await
        .expect("page");
    assert_ne!(
        again.headers()["content-security-policy"].to_str().ok(),
        Some(csp.as_str())
    );
    // Logging in sets the __Host- cookie (Secure, whole site, no Domain).
    let res = app
        .client()
        .post(format!("{}/api/login", app.base))
        .form(&[
            ("email", callers[3].email.as_str()),
            ("password", "password123"),
        ])
        .send()
        .await
        .expect("login");
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.contains("lp_session"))
        .expect("cookie")
        .to_string();
    assert!(cookie.starts_with("__Host-lp_session="), "{cookie}");
    assert!(
        cookie.contains("; Secure") && cookie.contains("; Path=/") && !cookie.contains("Domain"),
        "{cookie}"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_addresses_come_from_trusted_proxies_only() {
    let login = |app: &TestApp, forwarded: &'static str| {
        let url = format!("{}/api/login", app.base);
        async move {
            reqwest::Client::new()
                .post(url)
                .header("x-forwarded-for", forwarded)
                .form(&[
                    ("email", "nobody@example.com"),
                    ("password", "wrong password"),
                ])
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    // Behind a trusted proxy, each client has its own limit.
    let app = TestApp::start_with(|c| c.trusted_proxies = vec!["127.0.0.1".into()]).await;
    for _ in 0..5 {
        assert_eq!(login(&app, "198.51.100.1").await, 400);
    }
    assert_eq!(
        login(&app, "198.51.100.1").await,
        429,
        "that client is slowed down"
    );
    assert_eq!(
        login(&app, "198.51.100.2").await,
        400,
        "another client behind the proxy is not"
    );
    app.running.stop().await.expect("stops");
    // From an untrusted peer the header means nothing: forging it does not help.
    let app = TestApp::start().await;
    for _ in 0..5 {
        assert_eq!(login(&app, "198.51.100.1").await, 400);
    }
    assert_eq!(
        login(&app, "198.51.100.2").await,
        429,
        "the forged header is ignored"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organisations_meet_their_limits_with_clear_errors() {
    let app = TestApp::start().await;
    let callers = app.organisation("Acme", &Package::ALL).await;
    let admin = &callers[2];
    let state = &app.running.state;
    let (url, _) = receiver(ok).await;
    let limits = state.config.org_limits;
    for _ in 0..limits.webhooks {
        integrations::create_webhook(
            state,
            admin,
            &NewWebhook {
                url: format!("{url}/h"),
                events: vec![EventKind::SessionStarted],
            },
        )
        .await
        .expect("within the limit");
    }
    let over = integrations::create_webhook(
        state,
        admin,
        &NewWebhook {
            url: format!("{url}/h"),
            events: vec![EventKind::SessionStarted],
        },
    )
    .await;
    assert_eq!(
        over,
        Err(AppError::LimitReached {
            what: "webhook endpoints".into(),
            limit: limits.webhooks
        })
    );
    for i in 0..limits.api_keys {
        integrations::create_key(
            state,
            admin,
            &format!("k{i}"),
            app::domain::roles::Role::Viewer,
        )
        .await
        .expect("within the limit");
    }
    let over =
        integrations::create_key(state, admin, "one more", app::domain::roles::Role::Viewer).await;
    assert!(
        matches!(over, Err(AppError::LimitReached { .. })),
        "{over:?}"
    );
    let key =
        integrations::create_key(state, &callers[3], "x", app::domain::roles::Role::Viewer).await;
    assert!(
        key.is_err(),
        "the owner is held to the same organisation limit"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replay_links_poster_comes_from_its_own_session() {
    use app::domain::assets::AssetKind;
    use app::domain::clips::LinkExpiry;
    use app::ssr::repo::assets::NewAsset;
    use app::ssr::services::clips;
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &common::Processes {
                thumbnail: Some(10),
                replay: Some(app::domain::settings::SpanInput::Seconds(30)),
                ..common::Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    let stream = g.streams[0];
    let now = chrono::Utc::now();
    // Two sessions of the same stream, each with a thumbnail; the first also has its replay.
    let mut sessions = Vec::new();
    for (i, bytes) in [b"FIRST-SESSION".as_slice(), b"LATER-SESSION"]
        .into_iter()
        .enumerate()
    {
        let at = now + chrono::Duration::seconds(i as i64 * 60);
        let node = app.running.node_id();
        let lease = app::ssr::testing::open_session(&state.db, g.id, node, at).await;
        app::ssr::testing::close_session(
            &state.db,
            lease,
            node,
            at + chrono::Duration::seconds(30),
        )
        .await;
        let session = lease.session_id;
        let path = format!("media/test/t{i}.jpg");
        std::fs::create_dir_all(app.dir.path().join("media/test")).expect("dir");
        std::fs::write(app.dir.path().join(&path), bytes).expect("file");
        repo::assets::insert(
            &state.db,
            &NewAsset {
                organisation_id: g.owner.organisation_id,
                stream_id: stream,
                session_id: Some(session),
                kind: AssetKind::Thumbnail,
                format: "jpeg",
                path,
                size_bytes: bytes.len() as i64,
                duration_ms: None,
                width: Some(4),
                height: Some(4),
                integrity: None,
                created_at: at + chrono::Duration::seconds(10),
            },
        )
        .await
        .expect("thumbnail");
        sessions.push(session);
    }
    std::fs::write(
        app.dir.path().join("media/test/replay.m3u8"),
        "#EXTM3U\n#EXT-X-ENDLIST\n",
    )
    .expect("playlist");
    let replay = repo::assets::insert(
        &state.db,
        &NewAsset {
            organisation_id: g.owner.organisation_id,
            stream_id: stream,
            session_id: Some(sessions[0]),
            kind: AssetKind::Replay,
            format: "hls",
            path: "media/test/replay.m3u8".into(),
            size_bytes: 24,
            duration_ms: Some(30_000),
            width: None,
            height: None,
            integrity: None,
            created_at: now,
        },
    )
    .await
    .expect("replay");
    let link = clips::share_replay(state, &g.owner, replay, "Last week", LinkExpiry::Day)
        .await
        .expect("share");
    let poster = app
        .client()
        .get(format!("{}{}/poster.jpg", app.base, link.path))
        .send()
        .await
        .expect("poster");
    assert_eq!(poster.status().as_u16(), 200);
    assert_eq!(
        &poster.bytes().await.expect("bytes")[..],
        b"FIRST-SESSION",
        "never a still of a later session"
    );
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_and_saved_recordings_meet_their_limits() {
    use app::domain::assets::AssetKind;
    use app::domain::clips::{LinkExpiry, NewClip};
    use app::ssr::repo::assets::NewAsset;
    use app::ssr::services::clips;
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &common::Processes {
                replay: Some(app::domain::settings::SpanInput::Seconds(30)),
                ..common::Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    let limits = state.config.org_limits;
    let owner = &g.owner;
    let now = chrono::Utc::now();
    let session = app::ssr::testing::open_session(&state.db, g.id, app.running.node_id(), now)
        .await
        .session_id;
    let asset = |kind, format: &'static str, path: String| NewAsset {
        organisation_id: owner.organisation_id,
        stream_id: g.streams[0],
        session_id: Some(session),
        kind,
        format,
        path,
        size_bytes: 1,
        duration_ms: Some(30_000),
        width: None,
        height: None,
        integrity: None,
        created_at: now,
    };
    let replay = repo::assets::insert(
        &state.db,
        &asset(AssetKind::Replay, "hls", "media/test/replay.m3u8".into()),
    )
    .await
    .expect("replay");
    // As many saved recordings and clips as the organisation may keep, but one.
    for i in 0..limits.saved_spans - 1 {
        let path = format!("media/test/recordings/saved-{i}.mp4");
        repo::assets::insert(&state.db, &asset(AssetKind::Recording, "mp4", path))
            .await
            .expect("saved recording");
    }
    // An ordinary recording is not a saved span and does not count.
    repo::assets::insert(
        &state.db,
        &asset(
            AssetKind::Recording,
            "mp4",
            "media/test/recordings/r.mp4".into(),
        ),
    )
    .await
    .expect("recording");
    let mut tx = app::ssr::db::begin_write(&state.db).await.expect("tx");
    for i in 0..limits.clips {
        repo::clips::insert(
            &mut tx,
            &repo::clips::NewClipRow {
                organisation_id: owner.organisation_id,
                stream_id: g.streams[0],
                session_id: Some(session),
                replay_asset_id: replay,
                title: format!("clip {i}"),
                starts_at: now,
                duration_ms: 1000,
                dir: format!("clips/test-{i}"),
                created_by: owner.user_id,
                created_by_email: owner.email.clone(),
                created_at: now,
                expires_at: None,
            },
        )
        .await
        .expect("clip");
    }
    tx.commit().await.expect("commit");

    let clip = clips::create(
        state,
        owner,
        &NewClip {
            replay_id: replay,
            title: "one too many".into(),
            from: now - chrono::Duration::seconds(10),
            to: now - chrono::Duration::seconds(5),
            expiry: LinkExpiry::Day,
        },
    )
    .await;
    assert_eq!(
        clip,
        Err(AppError::LimitReached {
            what: "clips".into(),
            limit: limits.clips
        })
    );
    // Below the saved-recording limit the request gets past it (and fails later, on the
    // fake playlist); at the limit it is refused before any work.
    let below = clips::save_span(state, owner, replay, 10).await;
    assert!(
        !matches!(below, Err(AppError::LimitReached { .. })),
        "{below:?}"
    );
    let path = "media/test/recordings/saved-last.mp4".to_string();
    repo::assets::insert(&state.db, &asset(AssetKind::Recording, "mp4", path))
        .await
        .expect("saved recording");
    assert_eq!(
        clips::save_span(state, owner, replay, 10).await,
        Err(AppError::LimitReached {
            what: "saved recordings".into(),
            limit: limits.saved_spans
        })
    );
    app.running.stop().await.expect("stops");
}

/// The site's code under `/pkg/`: gzipped for browsers that accept it (the same bytes once
/// inflated), as it is for those that do not, 304 for the same build, never an old compressed
/// copy after a rebuild, and nothing the build did not make (hidden names, other extensions,
/// anything outside the folder).
#[tokio::test]
async fn the_sites_code_is_sent_gzipped_and_nothing_else_from_its_folder() {
    use std::io::Read;

    let site = tempfile::tempdir().expect("site");
    let pkg = site.path().join("pkg");
    std::fs::create_dir_all(&pkg).expect("pkg");
    // Compressible like code: a repeated text with some noise.
    let wasm: Vec<u8> = (0..400_000u32)
        .map(|i| b"(func $f (param i32) (result i32))"[(i % 34) as usize] ^ (i % 7 == 0) as u8)
        .collect();
    std::fs::write(pkg.join("livepro.wasm"), &wasm).expect("wasm");
    std::fs::write(pkg.join(".env.json"), b"{\"secret\": 1}").expect("hidden");
    std::fs::write(pkg.join("notes.txt"), b"not the build's").expect("txt");
    // Beside the folder (the site root's own files, a favicon, are public by design).
    std::fs::write(site.path().join("outside.js"), b"outside").expect("outside");
    let root = site.path().to_path_buf();
    let app = TestApp::start_with(move |c| c.site_root = root).await;
    let http = reqwest::Client::new();
    let get = |path: &str, headers: &[(&str, &str)]| {
        let mut r = http.get(format!("{}{path}", app.base));
        for (k, v) in headers {
            r = r.header(*k, *v);
        }
        r.send()
    };

    let r = get("/pkg/livepro.wasm", &[("accept-encoding", "gzip, br")])
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["content-type"], "application/wasm");
    assert_eq!(r.headers()["vary"], "accept-encoding");
    let tag = r.headers()["etag"].to_str().expect("etag").to_string();
    let body = r.bytes().await.expect("body");
    assert!(
        body.len() * 4 < wasm.len(),
        "{} of {} bytes",
        body.len(),
        wasm.len()
    );
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .read_to_end(&mut inflated)
        .expect("gzip");
    assert!(inflated == wasm, "the same bytes once inflated");

    let again = get(
        "/pkg/livepro.wasm",
        &[("accept-encoding", "gzip"), ("if-none-match", &tag)],
    )
    .await
    .expect("get");
    assert_eq!(again.status(), 304);

    let plain = get("/pkg/livepro.wasm", &[("accept-encoding", "identity")])
        .await
        .expect("get");
    assert_eq!(plain.status(), 200);
    assert!(plain.headers().get("content-encoding").is_none());
    assert!(plain.bytes().await.expect("body") == wasm);

    // A rebuild (other bytes, a later time): the new file, never the kept copy.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let rebuilt: Vec<u8> = wasm.iter().rev().copied().collect();
    std::fs::write(pkg.join("livepro.wasm"), &rebuilt).expect("rebuild");
    let r = get(
        "/pkg/livepro.wasm",
        &[("accept-encoding", "gzip"), ("if-none-match", &tag)],
    )
    .await
    .expect("get");
    assert_eq!(r.status(), 200, "the old ETag no longer matches");
    let mut inflated = Vec::new();
    flate2::read::GzDecoder::new(&r.bytes().await.expect("body")[..])
        .read_to_end(&mut inflated)
        .expect("gzip");
    assert!(inflated == rebuilt);

    for path in [
        "/pkg/.env.json",
        "/pkg/notes.txt",
        "/pkg/..%2foutside.js",
        "/pkg/missing.wasm",
    ] {
        let r = get(path, &[("accept-encoding", "gzip")])
            .await
            .expect("get");
        assert_eq!(r.status(), 404, "{path}");
    }
    app.running.stop().await.expect("stops");
}
