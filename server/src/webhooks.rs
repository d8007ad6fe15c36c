//! Webhooks: the pipeline's events become signed HTTP POSTs to the endpoints an
//! organisation registered. Events are turned into queued deliveries (rows) by one task and
//! sent by another, with a timeout, a bounded number at once, and retries with backoff; so
//! a slow or failing receiver never slows the pipeline, and a restart loses nothing queued.
//!
//! Every delivery carries `X-LP-Event`, `X-LP-Delivery`, `X-LP-Timestamp` and
//! `X-LP-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
//!
//! Deliveries reach public addresses only: the client's DNS resolver is the
//! [`OutboundPolicy`], so the address checked is the address connected to; literal
//! addresses are checked before sending; no proxy, no redirects. Only the status code and an
//! error class are kept, never the answer's body (of which at most 1 KiB is read). Each
//! organisation has at most [`PER_ORGANISATION`] deliveries in flight and each endpoint one,
//! so a slow receiver delays only its own organisation.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::integrations::EventKind;
use app::domain::network::host_and_port;
use app::ssr::outbound::{OutboundPolicy, Refused};
use app::ssr::repo;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use app::ssr::AppState;

use crate::events::PipelineEvent;

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Wait before the first retry; each next one waits 4 times longer.
    pub(crate) first: Duration,
    /// Attempts in all, the first one included.
    pub(crate) attempts: i64,
    /// How long a receiver may take to answer.
    pub(crate) timeout: Duration,
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts, if at all.
    pub(crate) fn next_wait(&self, attempts: i64) -> Option<Duration> {
        (attempts < self.attempts).then(|| {
            let n = u32::try_from(attempts.saturating_sub(1))
                .unwrap_or(0)
                .min(10);
            self.first.saturating_mul(4u32.saturating_pow(n))
        })
    }
}

/// Deliveries in flight at once, in all.
const PARALLEL: usize = 16;
/// Deliveries in flight at once for one organisation (one per endpoint).
pub(crate) const PER_ORGANISATION: usize = 2;
/// At most this much of an answer's body is read (then dropped).
const BODY_READ_MAX: usize = 1024;
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// `v1=<hex>`: the signature of `body` sent at `timestamp` with `secret`.
pub(crate) fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Starts the two tasks under `tasks`; they stop with `shutdown`. The queue subscribes to
/// the pipeline's events before this returns, so nothing emitted afterwards is missed.
pub(crate) fn spawn(
    tasks: &crate::tasks::Tasks,
    state: AppState,
    events: broadcast::Sender<PipelineEvent>,
    policy: RetryPolicy,
    shutdown: CancellationToken,
) {
    let wake = Arc::new(Notify::new());
    // The first subscription is taken now; a restarted queue subscribes afresh.
    let first = std::sync::Mutex::new(Some(events.subscribe()));
    let (c, w, s) = (state.clone(), wake.clone(), shutdown.clone());
    tasks.spawn("webhook queue", move || {
        let events = first
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_else(|| events.subscribe());
        enqueue_events(c.clone(), events, w.clone(), s.clone())
    });
    let (st, w, s) = (state.clone(), wake.clone(), shutdown.clone());
    tasks.spawn("webhook wakeups", move || {
        listen_for_work(st.clone(), w.clone(), s.clone())
    });
    tasks.spawn("webhook dispatcher", move || {
        deliver(state.clone(), policy, wake.clone(), shutdown.clone())
    });
}

/// The channel on which a node that queued deliveries wakes the others' dispatchers.
const WORK_CHANNEL: &str = "livepro_webhooks";

/// With PostgreSQL: wakes this node's dispatcher whenever any node queues deliveries, so
/// whichever node has room claims them at once (the dispatcher's poll is then only the
/// safety net and the clock for retries). Nothing to do on SQLite.
async fn listen_for_work(state: AppState, wake: Arc<Notify>, shutdown: CancellationToken) {
    crate::tasks::listen(&state.db, WORK_CHANNEL, &shutdown, |_| wake.notify_one()).await;
}

/// Turns pipeline events into queued deliveries. At shutdown the events already emitted
/// are queued before it returns (they are delivered after the next start if not before).
async fn enqueue_events(
    state: AppState,
    mut events: broadcast::Receiver<PipelineEvent>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            biased;
            e = events.recv() => e,
            _ = shutdown.cancelled() => {
                while let Ok(e) = events.try_recv() {
                    enqueue(&state, &e, &wake).await;
                }
                return;
            }
        };
        let event = match event {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    missed = n,
                    "webhook queue fell behind the pipeline's events"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        enqueue(&state, &event, &wake).await;
    }
}

async fn enqueue(state: &AppState, event: &PipelineEvent, wake: &Notify) {
    match envelope(state, event).await {
        Ok(Some((org, kind, payload))) => {
            let now = state.clock.now();
            match repo::integrations::enqueue(&state.db, org, kind, &payload, now).await {
                Ok(0) => {}
                Ok(_) => {
                    wake.notify_one();
                    if let Err(e) = app::ssr::db::notify(&state.db, WORK_CHANNEL, "").await {
                        tracing::debug!(error = %e, "cannot wake the other nodes' dispatchers");
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot queue a webhook delivery"),
            }
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot describe an event for webhooks"),
    }
}

/// The organisation, kind and JSON body of an event (`None` if what it names is gone).
async fn envelope(
    state: &AppState,
    event: &PipelineEvent,
) -> Result<Option<(i64, EventKind, String)>, sqlx::Error> {
    let db = &state.db;
    let (org, kind, data) = match event {
        PipelineEvent::AssetCreated { asset_id } => {
            let Some(row) = repo::assets::get(db, *asset_id).await? else {
                return Ok(None);
            };
            (
                row.organisation_id,
                EventKind::AssetCreated,
                json!({ "asset": row.asset }),
            )
        }
        PipelineEvent::SessionStarted {
            organisation_id,
            group_id,
            session_id,
            at,
        } => (
            *organisation_id,
            EventKind::SessionStarted,
            json!({ "session_id": session_id, "group_id": group_id, "started_at": at }),
        ),
        PipelineEvent::SessionTakenOver {
            organisation_id,
            group_id,
            session_id,
            epoch,
            reconnect,
            at,
        } => (
            *organisation_id,
            EventKind::SessionResumed,
            json!({
                "session_id": session_id,
                "group_id": group_id,
                "resumed_at": at,
                "epoch": epoch,
                "cause": if *reconnect { "publisher_reconnected" } else { "node_failover" },
            }),
        ),
        PipelineEvent::SessionEnded {
            organisation_id,
            group_id,
            session_id,
            reason,
            at,
        } => (
            *organisation_id,
            EventKind::SessionEnded,
            json!({ "session_id": session_id, "group_id": group_id, "ended_at": at, "reason": reason }),
        ),
        PipelineEvent::JobFailed {
            organisation_id,
            stream_id,
            process,
            reason,
        } => (
            *organisation_id,
            EventKind::JobFailed,
            json!({ "stream_id": stream_id, "process": process, "reason": reason }),
        ),
        PipelineEvent::StorageQuota {
            organisation_id,
            status,
        } => (
            *organisation_id,
            EventKind::StorageQuota,
            json!({
                "level": status.level,
                "used_bytes": status.used_bytes,
                "quota_bytes": status.quota_bytes,
                "percent": status.percent(),
            }),
        ),
        PipelineEvent::ClipCreated { clip_id } => {
            let Some(row) = repo::clips::get_any(db, *clip_id).await? else {
                return Ok(None);
            };
            (
                row.organisation_id,
                EventKind::ClipCreated,
                json!({ "clip": row.clip }),
            )
        }
    };
    let body = json!({
        "id": format!("evt_{:032x}", rand::random::<u128>()),
        "type": kind.key(),
        "created_at": state.clock.now(),
        "data": data,
    });
    Ok(Some((org, kind, body.to_string())))
}

/// The dispatcher's DNS: every name through the outbound policy.
struct PolicyResolver(OutboundPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { Box::new(e) })?;
            Ok(Box::new(addrs.into_iter()) as Box<dyn Iterator<Item = SocketAddr> + Send>)
        })
    }
}

/// What is in flight, per organisation and per endpoint.
#[derive(Default)]
struct InFlight {
    per_org: HashMap<i64, usize>,
    hooks: HashSet<i64>,
}

/// Sends what is due, again and again.
async fn deliver(
    state: AppState,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let outbound = state.config.outbound.clone();
    let client = match reqwest::Client::builder()
        .timeout(policy.timeout)
        .connect_timeout(CONNECT_TIMEOUT.min(policy.timeout))
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .dns_resolver(Arc::new(PolicyResolver(outbound.clone())))
        .user_agent("LiveProcessing-Webhooks/1")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "webhooks disabled: no HTTP client");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(PARALLEL));
    let in_flight = Arc::new(Mutex::new(InFlight::default()));
    // A claimed delivery starts at once and takes at most the timeout; it is not claimed
    // again for twice that.
    let lease =
        chrono::Duration::from_std(policy.timeout * 2).unwrap_or(chrono::Duration::seconds(60));
    // Polling finds retries that came due, and, on SQLite, nothing else: new deliveries
    // wake the dispatcher (on PostgreSQL from any node, through NOTIFY), so its period is
    // only the retries' granularity there.
    let every = match state.db.engine() {
        app::ssr::db::Engine::Sqlite => Duration::from_millis(200),
        app::ssr::db::Engine::Postgres => Duration::from_secs(1),
    };
    let tick = every.min(policy.first);
    loop {
        let free = permits.available_permits();
        if free > 0 {
            let chosen = choose(&state, &in_flight, free).await;
            let claimed = if chosen.is_empty() {
                Vec::new()
            } else {
                repo::integrations::claim(&state.db, &chosen, state.clock.now(), lease)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::error!(error = %e, "cannot claim webhook deliveries");
                        Vec::new()
                    })
            };
            for d in claimed {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                {
                    let mut f = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                    *f.per_org.entry(d.organisation_id).or_insert(0) += 1;
                    f.hooks.insert(d.webhook_id);
                }
                let (state, client, outbound, in_flight) = (
                    state.clone(),
                    client.clone(),
                    outbound.clone(),
                    in_flight.clone(),
                );
                tokio::spawn(async move {
                    let outcome =
                        attempt(&client, &outbound, &d, state.clock.now().timestamp()).await;
                    let now = state.clock.now();
                    let retry_at = match &outcome {
                        Ok(_) => None,
                        Err(_) => policy
                            .next_wait(d.attempts + 1)
                            .and_then(|w| chrono::Duration::from_std(w).ok())
                            .map(|w| now + w),
                    };
                    let result = match (&outcome, retry_at) {
                        (Ok(_), _) => "delivered",
                        (Err(_), Some(_)) => "retry",
                        (Err(_), None) => "failed",
                    };
                    metrics::counter!(crate::metrics::WEBHOOK_ATTEMPTS, "result" => result)
                        .increment(1);
                    if let Err(e) =
                        repo::integrations::record_attempt(&state.db, d.id, outcome, now, retry_at)
                            .await
                    {
                        tracing::error!(delivery.id = d.id, error = %e, "cannot record a webhook attempt");
                    }
                    let mut f = in_flight.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(n) = f.per_org.get_mut(&d.organisation_id) {
                        *n = n.saturating_sub(1);
                    }
                    f.hooks.remove(&d.webhook_id);
                    drop(permit);
                });
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// Due deliveries to start now: the oldest few of every organisation, then only those whose
/// organisation and endpoint have room, oldest first, up to `free`.
async fn choose(state: &AppState, in_flight: &Mutex<InFlight>, free: usize) -> Vec<i64> {
    let candidates = match repo::integrations::due_candidates(
        &state.db,
        state.clock.now(),
        PER_ORGANISATION as i64 * 2,
        200,
    )
    .await
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot read due webhook deliveries");
            return Vec::new();
        }
    };
    let f = in_flight.lock().unwrap_or_else(|p| p.into_inner());
    let mut per_org = f.per_org.clone();
    let mut hooks = f.hooks.clone();
    let mut chosen = Vec::new();
    for c in candidates {
        if chosen.len() >= free {
            break;
        }
        let n = per_org.entry(c.organisation_id).or_insert(0);
        if *n >= PER_ORGANISATION || hooks.contains(&c.webhook_id) {
            continue;
        }
        *n += 1;
        hooks.insert(c.webhook_id);
        chosen.push(c.id);
    }
    chosen
}

/// One POST; the receiver's status on a 2xx, else the status (if any) and an error class.
async fn attempt(
    client: &reqwest::Client,
    outbound: &OutboundPolicy,
    d: &repo::integrations::DueDelivery,
    timestamp: i64,
) -> Result<i64, (Option<i64>, String)> {
    // Literal addresses never reach the resolver: check them here.
    match host_and_port(&d.url) {
        Some((host, port)) if host.parse::<std::net::IpAddr>().is_ok() => {
            if let Err(e) = outbound.resolve(&host, port).await {
                return Err((None, format!("refused: {e}")));
            }
        }
        Some(_) => {}
        None => return Err((None, format!("refused: {}", Refused::BadUrl))),
    }
    let response = client
        .post(&d.url)
        .header("content-type", "application/json")
        .header("x-lp-event", &d.event)
        .header("x-lp-delivery", d.id.to_string())
        .header("x-lp-timestamp", timestamp.to_string())
        .header(
            "x-lp-signature",
            signature(&d.secret, timestamp, &d.payload),
        )
        .body(d.payload.clone())
        .send()
        .await
        .map_err(|e| (None, error_class(&e)))?;
    let status = response.status();
    drain_some(response).await;
    let code = i64::from(status.as_u16());
    if status.is_success() {
        Ok(code)
    } else {
        Err((Some(code), format!("HTTP {code}")))
    }
}

/// Reads (and drops) at most [`BODY_READ_MAX`] bytes of an answer.
async fn drain_some(mut response: reqwest::Response) {
    let mut read = 0;
    while read < BODY_READ_MAX {
        match response.chunk().await {
            Ok(Some(c)) => read += c.len(),
            _ => break,
        }
    }
}

/// What went wrong, in words that say nothing of the receiver's answer.
fn error_class(e: &reqwest::Error) -> String {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(r) = s.downcast_ref::<Refused>() {
            return format!("refused: {r}");
        }
        for r in [Refused::Internal, Refused::Unresolvable] {
            // Layers between the resolver and here may re-wrap it as text.
            if s.to_string().contains(&r.to_string()) {
                return format!("refused: {r}");
            }
        }
        source = s.source();
    }
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_request() || e.is_body() {
        "request failed".into()
    } else {
        "delivery failed".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_by_four_then_gives_up() {
        let p = RetryPolicy {
            first: Duration::from_secs(5),
            attempts: 4,
            timeout: Duration::from_secs(10),
        };
        assert_eq!(p.next_wait(1), Some(Duration::from_secs(5)));
        assert_eq!(p.next_wait(2), Some(Duration::from_secs(20)));
        assert_eq!(p.next_wait(3), Some(Duration::from_secs(80)));
        assert_eq!(p.next_wait(4), None);
    }

    #[test]
    fn signatures_cover_the_timestamp_and_the_body() {
        let a = signature("whsec_x", 1000, "{}");
        assert!(a.starts_with("v1=") && a.len() == 3 + 64, "{a}");
        assert_eq!(a, signature("whsec_x", 1000, "{}"));
        assert_ne!(a, signature("whsec_x", 1001, "{}"));
        assert_ne!(a, signature("whsec_x", 1000, "{ }"));
        assert_ne!(a, signature("whsec_y", 1000, "{}"));
        // The same HMAC computed by Python's hmac module over b"1000.{}".
        assert_eq!(
            a,
            "v1=0944eda1d221748c796dbc44bc872ca0ae71f44440bb374028a3865326815c70"
        );
    }
}
