//! `/metrics` scraped while a real ffmpeg publishes: the token is required, every family the
//! operator needs is there with sane values, counters grow, a killed ffmpeg shows as a
//! restart, no secret appears, and every query of the Grafana dashboard in the repo names a
//! family the endpoint serves.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use app::domain::settings::SpanInput;
use common::{kill9, source_pid, wait_for, Processes, TestApp, TestPublisher};

const TOKEN: &str = "metrics-token-for-the-test";

/// One scrape: samples by their full series text (`name{labels}`), and the families named in
/// `# TYPE` lines.
struct Scrape {
    text: String,
    samples: HashMap<String, f64>,
    families: BTreeSet<String>,
}

impl Scrape {
    fn parse(text: String) -> Self {
        let mut samples = HashMap::new();
        let mut families = BTreeSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                if let Some(name) = rest.split_whitespace().next() {
                    families.insert(name.to_string());
                }
            } else if !line.starts_with('#') && !line.is_empty() {
                if let Some((series, value)) = line.rsplit_once(' ') {
                    if let Ok(v) = value.parse::<f64>() {
                        samples.insert(series.to_string(), v);
                    }
                }
            }
        }
        Self {
            text,
            samples,
            families,
        }
    }

    /// The value of the one series of `name` whose labels include every `labels` pair.
    fn value(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut found = self.samples.iter().filter(|(series, _)| {
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            n == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        });
        let first = found.next().map(|(_, v)| *v);
        assert!(found.next().is_none(), "one series of {name} {labels:?}");
        first
    }

    /// The sum of every series of `name` whose labels include `labels`.
    fn sum(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.samples
            .iter()
            .filter(|(series, _)| {
                let (n, rest) = series.split_once('{').unwrap_or((series, ""));
                n == name
                    && labels
                        .iter()
                        .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
            })
            .map(|(_, v)| v)
            .sum()
    }
}

async fn scrape(client: &reqwest::Client, url: &str) -> Scrape {
    let res = client
        .get(url)
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("scrape");
    assert_eq!(res.status().as_u16(), 200);
    assert!(res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain; version=0.0.4")));
    Scrape::parse(res.text().await.expect("text"))
}

/// Every family the issue lists, by the name we serve it under.
const FAMILIES: [&str; 24] = [
    "livepro_build_info",
    "livepro_live_sessions",
    "livepro_rtmp_publishers",
    "livepro_rtmp_pending_connections",
    "livepro_rtmp_connections_total",
    "livepro_rtmp_connections_blocked_total",
    "livepro_rtmp_publish_attempts_total",
    "livepro_job_state",
    "livepro_job_restarts_total",
    "livepro_job_last_success_age_seconds",
    "livepro_thumbnail_lag_seconds",
    "livepro_segment_lag_seconds",
    "livepro_encoder_speed_ratio",
    "livepro_bytes_written_total",
    "livepro_http_requests_total",
    "livepro_http_request_duration_seconds",
    "livepro_ffmpeg_children",
    "livepro_ffmpeg_spawns_total",
    "livepro_disk_free_bytes",
    "livepro_disk_total_bytes",
    "livepro_db_pool_connections",
    "livepro_db_pool_max_connections",
    "livepro_webhook_queue_depth",
    "livepro_webhook_attempts_total",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_follow_a_real_stream_and_match_the_dashboard() {
    let app = TestApp::start_with(|c| {
        c.metrics_listen = Some(([127, 0, 0, 1], 0).into());
        c.metrics_token = Some(TOKEN.into());
    })
    .await;
    let addr = app.running.metrics_addr.expect("metrics served");
    let url = format!("http://{addr}/metrics");
    let client = reqwest::Client::new();

    // The token is required, and compared whole.
    for auth in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
        let mut req = client.get(&url);
        if let Some(t) = auth {
            req = req.bearer_auth(t);
        }
        assert_eq!(req.send().await.expect("scrape").status().as_u16(), 401);
    }
    // The metrics are not on the dashboard's address.
    let on_dashboard = client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("get");
    assert_ne!(on_dashboard.status().as_u16(), 200);

    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                clip: Some((10, 1)),
                recording: Some(SpanInput::EntireStream),
                replay: Some(SpanInput::Seconds(60)),
            },
        )
        .await;
    let stream = g.streams[0].to_string();
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 40, "640x360");
    // A wrong key too: refused publishes are counted by reason.
    let wrong = TestPublisher::start(&app.publish_url("sk_not_a_key"), 2, "320x180");

    let first = wait_for(
        "a thumbnail and a motion clip",
        Duration::from_secs(30),
        || async {
            let s = scrape(&client, &url).await;
            (s.value(
                "livepro_job_last_success_age_seconds",
                &[("stream_id", &stream), ("process", "thumbnail")],
            )
            .is_some()
                && s.value(
                    "livepro_job_last_success_age_seconds",
                    &[("stream_id", &stream), ("process", "motion_clip")],
                )
                .is_some()
                && s.value("livepro_encoder_speed_ratio", &[("stream_id", &stream)])
                    .is_some())
            .then_some(s)
        },
    )
    .await;
    drop(wrong);
    assert_eq!(first.value("livepro_live_sessions", &[]), Some(1.0));
    assert_eq!(first.value("livepro_rtmp_publishers", &[]), Some(1.0));
    assert!(first.value("livepro_ffmpeg_children", &[]) >= Some(1.0));
    assert!(first.value("livepro_disk_free_bytes", &[]) > Some(0.0));
    assert_eq!(
        first.value(
            "livepro_rtmp_publish_attempts_total",
            &[("result", "accepted")]
        ),
        Some(1.0)
    );
    for process in ["replay", "recording"] {
        assert_eq!(
            first.value(
                "livepro_job_state",
                &[
                    ("stream_id", &stream),
                    ("process", process),
                    ("state", "running")
                ]
            ),
            Some(1.0),
            "{process} runs"
        );
        assert_eq!(
            first.value(
                "livepro_job_state",
                &[
                    ("stream_id", &stream),
                    ("process", process),
                    ("state", "failed")
                ]
            ),
            Some(0.0)
        );
    }
    // Sane values: work is on time for a 10 s interval, the encoder keeps real time.
    let thumb_lag = first
        .value("livepro_thumbnail_lag_seconds", &[("stream_id", &stream)])
        .expect("thumbnail lag");
    assert!(
        (0.0..10.0).contains(&thumb_lag),
        "thumbnail lag {thumb_lag}"
    );
    let seg_lag = first
        .value("livepro_segment_lag_seconds", &[("stream_id", &stream)])
        .expect("segment lag");
    assert!(seg_lag < 5.0, "segment lag {seg_lag}");
    let speed = first
        .value("livepro_encoder_speed_ratio", &[("stream_id", &stream)])
        .expect("speed");
    assert!((0.5..2.0).contains(&speed), "encoder speed {speed}");
    let age = first
        .value(
            "livepro_job_last_success_age_seconds",
            &[("stream_id", &stream), ("process", "replay")],
        )
        .expect("replay age");
    assert!(age < 5.0, "the replay wrote a segment {age} s ago");

    // Counters grow: media keeps being written, and dashboard requests are counted by route
    // pattern, never by path.
    let bytes = |s: &Scrape, process: &str| {
        s.sum(
            "livepro_bytes_written_total",
            &[("stream_id", &stream), ("process", process)],
        )
    };
    for _ in 0..3 {
        let r = client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .expect("healthz");
        assert_eq!(r.status().as_u16(), 200);
    }
    let missing = client
        .get(format!("{}/media/streams/1/no-such-file.jpg", app.base))
        .send()
        .await
        .expect("media");
    assert!(missing.status().is_client_error());
    let later = wait_for("more media written", Duration::from_secs(10), || async {
        let s = scrape(&client, &url).await;
        (bytes(&s, "replay") > bytes(&first, "replay")
            && bytes(&s, "recording") > bytes(&first, "recording"))
        .then_some(s)
    })
    .await;
    let healthz = |s: &Scrape| {
        s.sum(
            "livepro_http_requests_total",
            &[("route", "/healthz"), ("method", "GET"), ("status", "200")],
        )
    };
    assert!(
        healthz(&later) >= healthz(&first) + 3.0,
        "requests are counted"
    );
    assert!(later
        .text
        .contains("livepro_http_request_duration_seconds_bucket{"));
    assert!(!later.text.contains("no-such-file"), "paths are not labels");
    assert!(!later.text.contains(&g.key), "no stream key in the metrics");
    assert!(
        later.sum(
            "livepro_rtmp_publish_attempts_total",
            &[("result", "unknown_key")]
        ) >= 1.0,
        "the wrong key is counted"
    );

    // Killing the source ffmpeg shows as a restart of the stream's replay and recording.
    let restarts = |s: &Scrape| {
        s.sum(
            "livepro_job_restarts_total",
            &[("stream_id", &stream), ("process", "replay")],
        )
    };
    kill9(source_pid(app.dir.path()).expect("the source ffmpeg"));
    let spawns = |s: &Scrape| s.sum("livepro_ffmpeg_spawns_total", &[("program", "ffmpeg")]);
    let after = wait_for(
        "the restart to be counted and the new ffmpeg spawned",
        Duration::from_secs(10),
        || async {
            let s = scrape(&client, &url).await;
            (restarts(&s) >= restarts(&later) + 1.0 && spawns(&s) > spawns(&later)).then_some(s)
        },
    )
    .await;

    // Every family is served (restarts appear with the first restart).
    for family in FAMILIES {
        assert!(
            after.families.contains(family),
            "{family} is served:\n{}",
            after.text
        );
    }

    // The dashboard in the repo asks only for what is served.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/ops/grafana-dashboard.json"
        ))
        .expect("dashboard file"),
    )
    .expect("dashboard JSON");
    let mut asked = BTreeSet::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("expr");
            for word in expr.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                if word.starts_with("livepro_") {
                    let family = word
                        .strip_suffix("_bucket")
                        .or_else(|| word.strip_suffix("_sum"))
                        .or_else(|| word.strip_suffix("_count"))
                        .unwrap_or(word);
                    asked.insert(family.to_string());
                }
            }
        }
    }
    assert!(
        asked.len() >= 20,
        "the dashboard covers the families: {asked:?}"
    );
    let unknown: Vec<_> = asked.difference(&after.families).collect();
    assert!(unknown.is_empty(), "the dashboard asks for {unknown:?}");
    let unshown: Vec<_> = FAMILIES.iter().filter(|f| !asked.contains(**f)).collect();
    assert!(unshown.is_empty(), "the dashboard leaves out {unshown:?}");

    drop(publisher);
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_carry_the_request_id_and_no_paths_or_secrets() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let dir = tempfile::tempdir().expect("tmp");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_server"))
        .args([
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rtmp-listen",
            "127.0.0.1:0",
        ])
        .args(["--log-format", "json", "--min-free-disk-mb", "1"])
        .arg("--data-dir")
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("server starts");
    let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let base = tokio::time::timeout(Duration::from_secs(30), async {
        while let Ok(Some(line)) = out.next_line().await {
            if let Some(rest) = line.strip_prefix("Dashboard:") {
                return rest.trim().to_string();
            }
        }
        panic!("no dashboard URL");
    })
    .await
    .expect("starts");
    let client = reqwest::Client::new();
    let password = "a password of the test";
    let signed_up = client
        .post(format!("{base}/api/sign_up"))
        .header("x-request-id", "req-from-the-proxy-1")
        .header("origin", &base)
        .form(&[
            ("organisation_name", "Logs Ltd"),
            ("display_name", "Lou"),
            ("email", "lou@example.com"),
            ("password", password),
        ])
        .send()
        .await
        .expect("sign up");
    assert!(
        signed_up.status().is_success() || signed_up.status().is_redirection(),
        "{}",
        signed_up.status()
    );
    assert_eq!(
        signed_up
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-from-the-proxy-1"),
        "the response returns the id"
    );
    // An id a client made up badly is replaced, and a fresh one is given when none came.
    let odd = client
        .get(format!("{base}/healthz"))
        .header("x-request-id", "no spaces\tor tabs please")
        .send()
        .await
        .expect("healthz");
    let given = odd
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("an id")
        .to_string();
    assert!(
        given.len() == 16 && given.bytes().all(|b| b.is_ascii_hexdigit()),
        "{given}"
    );

    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().expect("pid") as i32),
        nix::sys::signal::Signal::SIGTERM,
    );
    let mut err = BufReader::new(child.stderr.take().expect("stderr")).lines();
    let mut lines = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), async {
        while let Ok(Some(line)) = err.next_line().await {
            lines.push(line);
        }
    })
    .await;
    let _ = child.wait().await;
    assert!(!lines.is_empty(), "the server logged");
    let mut found = false;
    for line in &lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert!(
            v["timestamp"].is_string() && v["level"].is_string(),
            "{line}"
        );
        assert!(!line.contains(password), "no password in the logs");
        if v["fields"]["message"] == "organisation signed up" {
            let spans = v["spans"].as_array().expect("spans");
            found = spans.iter().any(|s| {
                s["request_id"] == "req-from-the-proxy-1"
                    && s["route"] == "/api/sign_up"
                    && s["method"] == "POST"
            });
        }
    }
    assert!(found, "the sign-up line carries its request: {lines:#?}");
}
