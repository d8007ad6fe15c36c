//! Prometheus metrics on their own address (`--metrics-listen`, off unless set), optionally
//! behind a bearer token.
//!
//! Two kinds of families:
//! - **Events** counted where they happen (HTTP requests and their latency, publish attempts,
//!   restarts, bytes written, ffmpeg spawns, webhook deliveries), through the `metrics` facade
//!   and its Prometheus exporter. Without `--metrics-listen` no recorder is installed and the
//!   macros cost a branch.
//! - **States** read when scraped (live sessions, job states, last success ages and lags, disk,
//!   database pool, webhook queue, ffmpeg children, RTMP pools), written here: nothing on the
//!   hot path, and a stream that stops publishing stops appearing instead of leaving stale
//!   series behind.
//!
//! Names follow Prometheus conventions: `livepro_` prefix, base units in the name (`_seconds`,
//! `_bytes`), `_total` on counters. Labels are bounded: route patterns, never paths; stream
//! ids, never keys or share tokens.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use app::domain::jobs::JobState;
use app::domain::settings::ProcessKind;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ingest::admission::Admission;
use crate::runner::{RunnerCtx, Supervisor};

/// HTTP requests by route pattern, method and status.
pub(crate) const HTTP_REQUESTS: &str = "livepro_http_requests_total";
/// HTTP request latency by route pattern and method.
pub(crate) const HTTP_DURATION: &str = "livepro_http_request_duration_seconds";
/// `publish` commands by outcome.
pub(crate) const PUBLISH_ATTEMPTS: &str = "livepro_rtmp_publish_attempts_total";
/// Connections dropped at accept because their address sent too many wrong keys.
pub(crate) const RTMP_BLOCKED: &str = "livepro_rtmp_connections_blocked_total";
/// ffmpeg restarts by stream and process.
pub(crate) const JOB_RESTARTS: &str = "livepro_job_restarts_total";
/// Bytes of media written by stream and process.
pub(crate) const BYTES_WRITTEN: &str = "livepro_bytes_written_total";
/// ffmpeg (and ffprobe) children started, by program.
pub(crate) const FFMPEG_SPAWNS: &str = "livepro_ffmpeg_spawns_total";
/// Motion clips made, by where their pictures came from (`own` segments, `linked` to the
/// group leader's clip of the same window, cut from the `leader`'s segments).
pub(crate) const MOTION_CLIPS: &str = "livepro_motion_clips_total";
/// Thumbnails made, by who rendered them (`own`; `linked` to the group's thumbnail leader's
/// of the same keyframe; rendered by the `leader` at this stream's smaller size).
pub(crate) const THUMBNAILS: &str = "livepro_thumbnails_total";
/// Webhook delivery attempts by result (`delivered`, `retry`, `failed`).
pub(crate) const WEBHOOK_ATTEMPTS: &str = "livepro_webhook_attempts_total";
/// With object storage: from a finished file to its row (`kind="file"`), or from a closed
/// segment to the store's playlist listing it (`kind="segment"`).
pub(crate) const UPLOAD_LAG: &str = "livepro_upload_lag_seconds";

/// ffmpeg and ffprobe children alive now (kept by the process wrapper).
pub(crate) static FFMPEG_CHILDREN: AtomicI64 = AtomicI64::new(0);

/// ffmpeg and ffprobe processes running now.
pub(crate) fn ffmpeg_children() -> u64 {
    FFMPEG_CHILDREN.load(Ordering::Relaxed).max(0) as u64
}

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (later calls return the same handle); `None` if
/// another recorder was installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            // Request latencies from a cached page (~1 ms) to a slow export (~10 s).
            let buckets = [
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_DURATION.into()), &buckets)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            // Counters with a fixed label set start at zero, so a rate is defined from the
            // first scrape (and a dashboard shows 0, not "no data").
            metrics::counter!(RTMP_BLOCKED).absolute(0);
            for result in PUBLISH_RESULTS {
                metrics::counter!(PUBLISH_ATTEMPTS, "result" => result).absolute(0);
            }
            for result in ["delivered", "retry", "failed"] {
                metrics::counter!(WEBHOOK_ATTEMPTS, "result" => result).absolute(0);
            }
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    use metrics::{describe_counter, describe_histogram, Unit};
    describe_counter!(
        HTTP_REQUESTS,
        "HTTP requests by route pattern, method and status."
    );
    describe_histogram!(
        HTTP_DURATION,
        Unit::Seconds,
        "HTTP request latency by route pattern and method."
    );
    describe_counter!(PUBLISH_ATTEMPTS, "RTMP publish commands by outcome.");
    describe_counter!(
        RTMP_BLOCKED,
        "RTMP connections dropped at accept: their address sent too many wrong keys."
    );
    describe_counter!(JOB_RESTARTS, "ffmpeg restarts by stream and process.");
    describe_counter!(
        BYTES_WRITTEN,
        Unit::Bytes,
        "Media bytes written by stream and process."
    );
    describe_counter!(FFMPEG_SPAWNS, "ffmpeg and ffprobe children started.");
    describe_counter!(WEBHOOK_ATTEMPTS, "Webhook delivery attempts by result.");
    describe_counter!(
        MOTION_CLIPS,
        "Motion clips made, by source of their pictures: own, linked (the group leader's clip), leader (its segments)."
    );
    describe_counter!(
        THUMBNAILS,
        "Thumbnails made, by who rendered them: own, linked (the group leader's), leader (rendered at this stream's size by the group leader)."
    );
    describe_histogram!(
        UPLOAD_LAG,
        Unit::Seconds,
        "Object storage: a finished file to its row, a closed segment to the stored playlist."
    );
}

/// Records how long a finished file (`"file"`) or segment (`"segment"`) took to be in the
/// object store and announced.
pub(crate) fn uploaded(kind: &'static str, took: Duration) {
    metrics::histogram!(UPLOAD_LAG, "kind" => kind).record(took.as_secs_f64());
}

/// Counts a piece of media a job wrote, and marks the job's success (with how late it was,
/// when it had a due time).
pub(crate) fn produced(
    ctx: &RunnerCtx,
    stream_id: i64,
    kind: ProcessKind,
    bytes: u64,
    lag: Option<f64>,
) {
    metrics::counter!(BYTES_WRITTEN, "stream_id" => stream_id.to_string(), "process" => kind.key())
        .increment(bytes);
    ctx.jobs.succeeded(stream_id, kind, Instant::now(), lag);
}

/// Counts a motion clip made from `source` (`own`, `linked`, `leader`).
pub(crate) fn clip_made(source: &'static str) {
    metrics::counter!(MOTION_CLIPS, "source" => source).increment(1);
}

/// Counts a thumbnail made by `source` (`own`, `linked`, `leader`).
pub(crate) fn thumbnail_made(source: &'static str) {
    metrics::counter!(THUMBNAILS, "source" => source).increment(1);
}

/// Counts a restart of a stream's process.
pub(crate) fn restarted(stream_id: i64, kind: ProcessKind) {
    metrics::counter!(JOB_RESTARTS, "stream_id" => stream_id.to_string(), "process" => kind.key())
        .increment(1);
}

/// The outcomes of a `publish` command.
const PUBLISH_RESULTS: [&str; 6] = [
    "accepted",
    "unknown_key",
    "revoked_key",
    "already_live",
    "rate_limited",
    "error",
];

/// Counts a `publish` command's outcome (one of [`PUBLISH_RESULTS`]).
pub(crate) fn publish_attempt(result: &'static str) {
    debug_assert!(PUBLISH_RESULTS.contains(&result));
    metrics::counter!(PUBLISH_ATTEMPTS, "result" => result).increment(1);
}

/// Middleware: every HTTP request counted by its route pattern (`/media/{*path}`, not the
/// path), method and status, with its latency.
pub(crate) async fn track_http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "other".to_owned());
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::histogram!(HTTP_DURATION, "route" => route.clone(), "method" => method)
        .record(started.elapsed().as_secs_f64());
    metrics::counter!(HTTP_REQUESTS, "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}

/// A bounded method label: anything unusual is `other`.
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// What a scrape reads.
#[derive(Clone)]
pub(crate) struct Sources {
    pub(crate) handle: &'static PrometheusHandle,
    pub(crate) ctx: Arc<RunnerCtx>,
    pub(crate) supervisor: Supervisor,
    pub(crate) admission: Arc<Admission>,
    pub(crate) data_dir: std::path::PathBuf,
    /// Compared in constant time; `None` serves anyone who can reach the address.
    pub(crate) token: Option<Arc<str>>,
}

/// Connections the metrics address holds at once (a scraper or two, and an operator).
const METRICS_CONNECTIONS: usize = 32;

/// Serves `GET /metrics` on its own listener until `stop`, through the same hardened
/// listener as the dashboard (header timeout, connection caps): its bytes arrive before the
/// token is checked.
pub(crate) async fn serve(listener: TcpListener, sources: Sources, stop: CancellationToken) {
    let router = Router::new()
        .route("/metrics", get(scrape))
        .with_state(sources);
    let limits = crate::http::serve::HttpLimits {
        per_address: METRICS_CONNECTIONS / 2,
        ..crate::http::serve::HttpLimits::new(METRICS_CONNECTIONS, Vec::new())
    };
    let served = crate::http::serve::serve(listener, router, limits, stop).await;
    if let Err(e) = served {
        tracing::error!(error = %e, "the metrics listener stopped");
    }
}

async fn scrape(State(s): State<Sources>, headers: HeaderMap) -> Response {
    if let Some(token) = &s.token {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        if !constant_time_eq(given.as_bytes(), token.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "a bearer token is required\n",
            )
                .into_response();
        }
    }
    s.handle.run_upkeep();
    let mut text = s.handle.render();
    states(&s, &mut text).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Prometheus text for families read at scrape time.
struct Families<'a>(&'a mut String);

impl Families<'_> {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP {name} {help}");
        let _ = writeln!(self.0, "# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"{}\"", escape(v));
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn one(&mut self, name: &str, kind: &str, help: &str, value: f64) {
        self.family(name, kind, help);
        self.sample(name, &[], value);
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The state names of [`JobState`], as the `state` label.
const JOB_STATES: [&str; 6] = [
    "idle",
    "starting",
    "running",
    "restarting",
    "failed",
    "paused",
];

fn state_label(s: &JobState) -> &'static str {
    match s {
        JobState::Idle => "idle",
        JobState::Starting => "starting",
        JobState::Running => "running",
        JobState::Restarting { .. } => "restarting",
        JobState::Failed { .. } => "failed",
        JobState::Paused { .. } => "paused",
    }
}

async fn states(s: &Sources, text: &mut String) {
    let mut f = Families(text);
    f.family(
        "livepro_build_info",
        "gauge",
        "The server's version (always 1).",
    );
    f.sample(
        "livepro_build_info",
        &[("version", env!("CARGO_PKG_VERSION"))],
        1.0,
    );
    f.one(
        "livepro_live_sessions",
        "gauge",
        "Stream groups live now.",
        s.supervisor.live_count() as f64,
    );
    f.one(
        "livepro_rtmp_publishers",
        "gauge",
        "RTMP connections publishing now.",
        s.admission.publishing() as f64,
    );
    f.one(
        "livepro_rtmp_pending_connections",
        "gauge",
        "RTMP connections that have not published yet.",
        s.admission.pending() as f64,
    );
    let stats = &s.admission.stats;
    f.family(
        "livepro_rtmp_connections_total",
        "counter",
        "RTMP connections by what admission did: admitted, or refused because their address held its share of half-open connections, or because every slot was taken; evicted counts half-open connections closed for a newcomer.",
    );
    for (result, n) in [
        ("admitted", &stats.admitted),
        ("refused_per_source", &stats.refused_per_source),
        ("refused_full", &stats.refused_full),
        ("evicted", &stats.evicted),
    ] {
        f.sample(
            "livepro_rtmp_connections_total",
            &[("result", result)],
            n.load(Ordering::Relaxed) as f64,
        );
    }

    let jobs = s.ctx.jobs.snapshot();
    let now = Instant::now();
    f.family(
        "livepro_job_state",
        "gauge",
        "1 for the state each process of each live stream is in, 0 for the others.",
    );
    for j in &jobs {
        let (stream, current) = (j.stream_id.to_string(), state_label(&j.state));
        for state in JOB_STATES {
            f.sample(
                "livepro_job_state",
                &[
                    ("stream_id", &stream),
                    ("process", j.process.key()),
                    ("state", state),
                ],
                if state == current { 1.0 } else { 0.0 },
            );
        }
    }
    f.family(
        "livepro_job_last_success_age_seconds",
        "gauge",
        "Seconds since each process of each live stream last produced something.",
    );
    for j in &jobs {
        if let Some(at) = j.last_success {
            f.sample(
                "livepro_job_last_success_age_seconds",
                &[
                    ("stream_id", &j.stream_id.to_string()),
                    ("process", j.process.key()),
                ],
                now.saturating_duration_since(at).as_secs_f64(),
            );
        }
    }
    for (name, process, help) in [
        (
            "livepro_thumbnail_lag_seconds",
            ProcessKind::Thumbnail,
            "How late the newest thumbnail was ready after the moment it shows.",
        ),
        (
            "livepro_segment_lag_seconds",
            ProcessKind::Replay,
            "How late the newest replay segment was ready after its last frame was due.",
        ),
    ] {
        f.family(name, "gauge", help);
        for j in jobs.iter().filter(|j| j.process == process) {
            if let Some(lag) = j.lag {
                f.sample(name, &[("stream_id", &j.stream_id.to_string())], lag);
            }
        }
    }
    f.family(
        "livepro_encoder_speed_ratio",
        "gauge",
        "Media seconds ffmpeg produced per wall-clock second over the last segments (1 is real time).",
    );
    for (stream_id, speed) in s.ctx.jobs.speeds() {
        f.sample(
            "livepro_encoder_speed_ratio",
            &[("stream_id", &stream_id.to_string())],
            speed,
        );
    }
    f.one(
        "livepro_ffmpeg_children",
        "gauge",
        "ffmpeg and ffprobe processes running now.",
        ffmpeg_children() as f64,
    );
    // The disk as of now, not as of the watch's last minute.
    let (free, total) = crate::runner::disk::space(&s.data_dir).unwrap_or_else(|_| {
        let st = s.ctx.disk.status();
        (st.free_bytes, st.total_bytes)
    });
    f.one(
        "livepro_disk_free_bytes",
        "gauge",
        "Free bytes on the data folder's file system.",
        free as f64,
    );
    f.one(
        "livepro_disk_total_bytes",
        "gauge",
        "Size of the data folder's file system.",
        total as f64,
    );
    f.one(
        "livepro_disk_low",
        "gauge",
        "1 while free space is below --min-free-disk-mb (optional work waits).",
        if s.ctx.disk.is_low() { 1.0 } else { 0.0 },
    );
    let db = &s.ctx.state.db;
    let (size, idle) = (db.size() as f64, db.num_idle() as f64);
    f.family(
        "livepro_db_pool_connections",
        "gauge",
        "Database connections by state.",
    );
    f.sample(
        "livepro_db_pool_connections",
        &[("state", "busy")],
        (size - idle).max(0.0),
    );
    f.sample("livepro_db_pool_connections", &[("state", "idle")], idle);
    f.one(
        "livepro_db_pool_max_connections",
        "gauge",
        "Most database connections the pool opens.",
        f64::from(db.max_connections()),
    );
    let queue = tokio::time::timeout(
        Duration::from_secs(2),
        app::ssr::repo::integrations::count_pending_deliveries(db),
    )
    .await;
    if let Ok(Ok(n)) = queue {
        f.one(
            "livepro_webhook_queue_depth",
            "gauge",
            "Webhook deliveries waiting for their next attempt.",
            n as f64,
        );
    }
}

/// Where `--metrics-listen` serves, for the start-up banner.
pub fn url(addr: SocketAddr) -> String {
    format!("http://{}/metrics", crate::display_addr(addr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut s = String::new();
        let mut f = Families(&mut s);
        f.sample("x", &[("a", "q\"b\\c\nd")], 1.5);
        assert_eq!(s, "x{a=\"q\\\"b\\\\c\\nd\"} 1.5\n");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
