//! Webhooks: the pipeline's events become signed HTTP POSTs to the endpoints an
//! organisation registered. Events are turned into queued deliveries (rows) by one task and
//! sent by another, with a timeout, a bounded number at once, and retries with backoff; so
//! a slow or failing receiver never slows the pipeline, and a restart loses nothing queued.
//!
//! Every delivery carries `X-LP-Event`, `X-LP-Delivery`, `X-LP-Timestamp` and
//! `X-LP-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.

use std::sync::Arc;
use std::time::Duration;

use app::domain::integrations::EventKind;
use app::ssr::repo;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::runner::{PipelineEvent, RunnerCtx};

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Wait before the first retry; each next one waits 4 times longer.
    pub first: Duration,
    /// Attempts in all, the first one included.
    pub attempts: i64,
    /// How long a receiver may take to answer.
    pub timeout: Duration,
}

impl RetryPolicy {
    /// When to try again after `attempts` failed attempts, if at all.
    pub fn next_wait(&self, attempts: i64) -> Option<Duration> {
        (attempts < self.attempts).then(|| {
            let n = u32::try_from(attempts.saturating_sub(1))
                .unwrap_or(0)
                .min(10);
            self.first.saturating_mul(4u32.saturating_pow(n))
        })
    }
}

/// Deliveries in flight at once.
const PARALLEL: usize = 8;
/// Longest answer body kept in the log.
const ERROR_MAX: usize = 300;

/// `v1=<hex>`: the signature of `body` sent at `timestamp` with `secret`.
pub fn signature(secret: &str, timestamp: i64, body: &str) -> String {
    // HMAC takes keys of any length; new_from_slice cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Starts the two tasks; they stop with `shutdown`.
pub fn spawn(ctx: Arc<RunnerCtx>, policy: RetryPolicy, shutdown: CancellationToken) {
    let wake = Arc::new(Notify::new());
    tokio::spawn(enqueue_events(
        ctx.clone(),
        ctx.events.subscribe(),
        wake.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(deliver(ctx, policy, wake, shutdown));
}

/// Turns pipeline events into queued deliveries.
async fn enqueue_events(
    ctx: Arc<RunnerCtx>,
    mut events: broadcast::Receiver<PipelineEvent>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    loop {
        let event = tokio::select! {
            _ = shutdown.cancelled() => return,
            e = events.recv() => e,
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
        match envelope(&ctx, &event).await {
            Ok(Some((org, kind, payload))) => {
                let now = ctx.state.clock.now();
                match repo::integrations::enqueue(&ctx.state.db, org, kind, &payload, now).await {
                    Ok(0) => {}
                    Ok(_) => wake.notify_one(),
                    Err(e) => tracing::error!("cannot queue a webhook delivery: {e}"),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!("cannot describe an event for webhooks: {e}"),
        }
    }
}

/// The organisation, kind and JSON body of an event (`None` if what it names is gone).
async fn envelope(
    ctx: &RunnerCtx,
    event: &PipelineEvent,
) -> Result<Option<(i64, EventKind, String)>, sqlx::Error> {
    let db = &ctx.state.db;
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
        "created_at": ctx.state.clock.now(),
        "data": data,
    });
    Ok(Some((org, kind, body.to_string())))
}

/// Sends what is due, again and again.
async fn deliver(
    ctx: Arc<RunnerCtx>,
    policy: RetryPolicy,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let client = match reqwest::Client::builder()
        .timeout(policy.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("LiveProcessing-Webhooks/1")
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("webhooks disabled: no HTTP client: {e}");
            return;
        }
    };
    let permits = Arc::new(Semaphore::new(PARALLEL));
    // A claimed delivery is not claimed again for this long (an attempt takes at most the
    // timeout).
    let lease =
        chrono::Duration::from_std(policy.timeout * 2).unwrap_or(chrono::Duration::seconds(60));
    let tick = Duration::from_millis(200).min(policy.first);
    loop {
        let due = repo::integrations::claim_due(&ctx.state.db, ctx.state.clock.now(), lease, 50)
            .await
            .unwrap_or_else(|e| {
                tracing::error!("cannot read due webhook deliveries: {e}");
                Vec::new()
            });
        for d in due {
            let Ok(permit) = permits.clone().acquire_owned().await else {
                return;
            };
            let (ctx, client) = (ctx.clone(), client.clone());
            tokio::spawn(async move {
                let outcome = attempt(&client, &d, ctx.state.clock.now().timestamp()).await;
                let now = ctx.state.clock.now();
                let retry_at = match &outcome {
                    Ok(_) => None,
                    Err(_) => policy
                        .next_wait(d.attempts + 1)
                        .and_then(|w| chrono::Duration::from_std(w).ok())
                        .map(|w| now + w),
                };
                if let Err(e) =
                    repo::integrations::record_attempt(&ctx.state.db, d.id, outcome, now, retry_at)
                        .await
                {
                    tracing::error!(delivery.id = d.id, "cannot record a webhook attempt: {e}");
                }
                drop(permit);
            });
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = wake.notified() => {}
            _ = tokio::time::sleep(tick) => {}
        }
    }
}

/// One POST; the receiver's status on a 2xx, else what went wrong.
async fn attempt(
    client: &reqwest::Client,
    d: &repo::integrations::DueDelivery,
    timestamp: i64,
) -> Result<i64, (Option<i64>, String)> {
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
        .map_err(|e| {
            (
                None,
                e.to_string().chars().take(ERROR_MAX).collect::<String>(),
            )
        })?;
    let status = i64::from(response.status().as_u16());
    if response.status().is_success() {
        Ok(status)
    } else {
        let text = response.text().await.unwrap_or_default();
        let text: String = text.chars().take(ERROR_MAX).collect();
        Err((Some(status), format!("HTTP {status}: {text}")))
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
