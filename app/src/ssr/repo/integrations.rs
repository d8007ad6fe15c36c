//! API keys, webhook endpoints and webhook deliveries.

use crate::ssr::db::DbRow;
use crate::with_db;
use chrono::{DateTime, Utc};

use crate::domain::integrations::{ApiKeyInfo, Delivery, DeliveryStatus, EventKind, Webhook};
use crate::domain::roles::Role;
use crate::ssr::db::Db;

fn role_of(r: &impl DbRow) -> Result<Role, sqlx::Error> {
    let key: String = r.col("role")?;
    Role::from_key(&key).ok_or_else(|| sqlx::Error::Decode(format!("role {key}").into()))
}

fn map_key(r: impl DbRow) -> Result<ApiKeyInfo, sqlx::Error> {
    Ok(ApiKeyInfo {
        id: r.col("id")?,
        name: r.col("name")?,
        role: role_of(&r)?,
        prefix: r.col("prefix")?,
        created_at: r.col("created_at")?,
        created_by: r.col("created_by_email")?,
        last_used_at: r.col("last_used_at")?,
        revoked_at: r.col("revoked_at")?,
    })
}

/// Columns of a new key.
#[derive(Debug, Clone)]
pub struct NewKeyRow<'a> {
    pub organisation_id: i64,
    pub name: &'a str,
    pub role: Role,
    pub prefix: &'a str,
    pub key_hash: &'a [u8],
    pub created_by: i64,
    pub created_by_email: &'a str,
    pub now: DateTime<Utc>,
}

/// Stores a key; returns its id.
pub async fn insert_key(db: &Db, k: &NewKeyRow<'_>) -> Result<i64, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query_scalar(
        "INSERT INTO api_keys (organisation_id, name, role, prefix, key_hash, created_by, created_by_email, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(k.organisation_id)
    .bind(k.name)
    .bind(k.role.key())
    .bind(k.prefix)
    .bind(k.key_hash)
    .bind(k.created_by)
    .bind(k.created_by_email)
    .bind(k.now)
    .fetch_one(conn)
    .await?
    }))
}

/// The organisation's keys, newest first.
pub async fn keys_of(db: &Db, org_id: i64) -> Result<Vec<ApiKeyInfo>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT * FROM api_keys WHERE organisation_id = $1 ORDER BY id DESC"
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(map_key)
    .collect())
}

/// Revokes a key of the organisation; `false` if there is no such active key.
pub async fn revoke_key(
    db: &Db,
    org_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query(
        "UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND organisation_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1
    }))
}

/// An active key as found by its secret.
#[derive(Debug, Clone)]
pub struct FoundKey {
    pub key: ApiKeyInfo,
    pub organisation_id: i64,
    pub organisation_name: String,
    /// The key's maker, unless their account is gone.
    pub maker_id: Option<i64>,
    /// The maker's role in the key's organisation now, unless they left it.
    pub maker_role: Option<Role>,
}

/// An active key by the hash of its secret, with its organisation and its maker's current
/// role; marks it used.
pub async fn use_key(
    db: &Db,
    key_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<FoundKey>, sqlx::Error> {
    let found = with_db!(db, |conn| {
        sqlx::query(
        "SELECT k.*, o.name AS org_name, m.role AS maker_role FROM api_keys k
         JOIN organisations o ON o.id = k.organisation_id
         LEFT JOIN memberships m ON m.organisation_id = k.organisation_id AND m.user_id = k.created_by
         WHERE k.key_hash = $1 AND k.revoked_at IS NULL",
    )
    .bind(key_hash)
    .fetch_optional(conn)
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>((
            r.col::<i64>("organisation_id")?,
            r.col::<String>("org_name")?,
            r.col::<Option<i64>>("created_by")?,
            r.col::<Option<String>>("maker_role")?,
            map_key(r)?,
        ))
    })
    .transpose()?
    });
    let Some((org, org_name, created_by, maker_role, info)) = found else {
        return Ok(None);
    };
    // Only write when it changes noticeably, so a busy integration does not write every call.
    if info
        .last_used_at
        .is_none_or(|t| now - t > chrono::Duration::seconds(60))
    {
        with_db!(db, |conn| sqlx::query(
            "UPDATE api_keys SET last_used_at = $1 WHERE id = $2"
        )
        .bind(now)
        .bind(info.id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?);
    }
    Ok(Some(FoundKey {
        key: info,
        organisation_id: org,
        organisation_name: org_name,
        maker_id: created_by,
        maker_role: maker_role.as_deref().and_then(Role::from_key),
    }))
}

fn events_of(text: &str) -> Vec<EventKind> {
    text.split(',').filter_map(EventKind::from_key).collect()
}

/// Registers an endpoint; returns its id.
pub async fn insert_webhook(
    db: &Db,
    org_id: i64,
    url: &str,
    events: &[EventKind],
    secret: &str,
    created_by: i64,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    let events = events.iter().map(|e| e.key()).collect::<Vec<_>>().join(",");
    Ok(with_db!(db, |conn| {
        sqlx::query_scalar(
        "INSERT INTO webhooks (organisation_id, url, events, secret, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(org_id)
    .bind(url)
    .bind(events)
    .bind(secret)
    .bind(created_by)
    .bind(now)
    .fetch_one(conn)
    .await?
    }))
}

/// The organisation's endpoints with their newest `deliveries` deliveries, newest first.
pub async fn webhooks_of(
    db: &Db,
    org_id: i64,
    deliveries: i64,
) -> Result<Vec<Webhook>, sqlx::Error> {
    let hooks: Vec<(i64, String, String, DateTime<Utc>)> = with_db!(db, |conn| {
        sqlx::query_as(
        "SELECT id, url, events, created_at FROM webhooks WHERE organisation_id = $1 ORDER BY id DESC"
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?
    });
    let mut out = Vec::with_capacity(hooks.len());
    for (id, url, events, created_at) in hooks {
        out.push(Webhook {
            id,
            url,
            events: events_of(&events),
            created_at,
            deliveries: recent_deliveries(db, id, deliveries).await?,
        });
    }
    Ok(out)
}

/// Deletes an endpoint (and its log); `false` if the organisation has no such endpoint.
pub async fn delete_webhook(db: &Db, org_id: i64, id: i64) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "DELETE FROM webhooks WHERE id = $1 AND organisation_id = $2"
    )
    .bind(id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1))
}

/// Queues `payload` for every endpoint of the organisation subscribed to `event`; returns
/// how many were queued.
pub async fn enqueue(
    db: &Db,
    org_id: i64,
    event: EventKind,
    payload: &str,
    now: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "INSERT INTO webhook_deliveries (webhook_id, event, payload, next_attempt_at, created_at)
         SELECT id, $1, $2, $3, $4 FROM webhooks
         WHERE organisation_id = $5 AND (',' || events || ',') LIKE '%,' || $6 || ',%'",
    )
    .bind(event.key())
    .bind(payload)
    .bind(now)
    .bind(now)
    .bind(org_id)
    .bind(event.key())
    .execute(conn)
    .await?
    .rows_affected()))
}

/// A due delivery, before it is claimed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    pub id: i64,
    pub webhook_id: i64,
    pub organisation_id: i64,
}

/// Pending deliveries whose time has come: the `per_org` oldest of every organisation, then
/// oldest first, at most `limit` (so one organisation's backlog never hides another's).
pub async fn due_candidates(
    db: &Db,
    now: DateTime<Utc>,
    per_org: i64,
    limit: i64,
) -> Result<Vec<Candidate>, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "SELECT id, webhook_id, organisation_id FROM (
             SELECT d.id, d.webhook_id, w.organisation_id, d.next_attempt_at,
                    ROW_NUMBER() OVER (PARTITION BY w.organisation_id ORDER BY d.next_attempt_at, d.id) AS n
             FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
             WHERE d.status = 'pending' AND d.next_attempt_at <= $1) AS due
         WHERE n <= $2 ORDER BY next_attempt_at, id LIMIT $3",
    )
    .bind(now)
    .bind(per_org)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Candidate {
            id: r.col("id")?,
            webhook_id: r.col("webhook_id")?,
            organisation_id: r.col("organisation_id")?,
        })
    })
    .collect()
    })
}

/// A delivery to make now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueDelivery {
    pub id: i64,
    pub webhook_id: i64,
    pub organisation_id: i64,
    pub url: String,
    pub secret: String,
    pub event: String,
    pub payload: String,
    pub attempts: i64,
}

/// Claims the given deliveries if they are still due: each is pushed `lease` into the future
/// so it is not started twice (by this server or another).
pub async fn claim(
    db: &Db,
    ids: &[i64],
    now: DateTime<Utc>,
    lease: chrono::Duration,
) -> Result<Vec<DueDelivery>, sqlx::Error> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let claimed: Option<(i64, String, String, i64)> = with_db!(db, |conn| sqlx::query_as(
            "UPDATE webhook_deliveries SET next_attempt_at = $1
             WHERE id = $2 AND status = 'pending' AND next_attempt_at <= $3
             RETURNING webhook_id, event, payload, attempts",
        )
        .bind(now + lease)
        .bind(id)
        .bind(now)
        .fetch_optional(conn)
        .await?);
        let Some((webhook_id, event, payload, attempts)) = claimed else {
            continue;
        };
        let hook: Option<(String, String, i64)> = with_db!(db, |conn| sqlx::query_as(
            "SELECT url, secret, organisation_id FROM webhooks WHERE id = $1"
        )
        .bind(webhook_id)
        .fetch_optional(conn)
        .await?);
        let Some((url, secret, organisation_id)) = hook else {
            continue;
        };
        out.push(DueDelivery {
            id: *id,
            webhook_id,
            organisation_id,
            url,
            secret,
            event,
            payload,
            attempts,
        });
    }
    Ok(out)
}

/// Deletes finished deliveries (delivered or failed for good) created before `before`;
/// returns how many.
pub async fn prune_deliveries(db: &Db, before: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query(
        "DELETE FROM webhook_deliveries WHERE status IN ('delivered', 'failed') AND created_at < $1",
    )
    .bind(before)
    .execute(conn)
    .await?
    .rows_affected()
    }))
}

/// How many endpoints an organisation has.
pub async fn count_webhooks(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhooks WHERE organisation_id = $1"
    )
    .bind(org_id)
    .fetch_one(conn)
    .await)
}

/// Deliveries waiting for their next attempt, across organisations.
pub async fn count_pending_deliveries(db: &Db) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'pending'"
    )
    .fetch_one(conn)
    .await)
}

/// How many active (not revoked) API keys an organisation has.
pub async fn count_active_keys(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM api_keys WHERE organisation_id = $1 AND revoked_at IS NULL",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await)
}

/// Records an attempt: delivered, to retry at `retry_at`, or failed for good (`None`).
pub async fn record_attempt(
    db: &Db,
    id: i64,
    outcome: Result<i64, (Option<i64>, String)>,
    now: DateTime<Utc>,
    retry_at: Option<DateTime<Utc>>,
) -> Result<(), sqlx::Error> {
    match outcome {
        Ok(status) => {
            with_db!(db, |conn| {
                sqlx::query(
                "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1, last_status = $1, last_error = NULL, delivered_at = $2 WHERE id = $3",
            )
            .bind(status)
            .bind(now)
            .bind(id)
            .execute(conn)
            .await.map(|r| r.rows_affected())?
            });
        }
        Err((status, error)) => {
            let (state, next) = match retry_at {
                Some(t) => (DeliveryStatus::Pending, t),
                None => (DeliveryStatus::Failed, now),
            };
            with_db!(db, |conn| {
                sqlx::query(
                "UPDATE webhook_deliveries SET status = $1, attempts = attempts + 1, last_status = $2, last_error = $3, next_attempt_at = $4 WHERE id = $5",
            )
            .bind(state.key())
            .bind(status)
            .bind(error)
            .bind(next)
            .bind(id)
            .execute(conn)
            .await.map(|r| r.rows_affected())?
            });
        }
    }
    Ok(())
}

/// The newest deliveries of an endpoint.
pub async fn recent_deliveries(
    db: &Db,
    webhook_id: i64,
    limit: i64,
) -> Result<Vec<Delivery>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT * FROM webhook_deliveries WHERE webhook_id = $1 ORDER BY id DESC LIMIT $2"
    )
    .bind(webhook_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        let event: String = r.col("event")?;
        let status: String = r.col("status")?;
        Ok(Delivery {
            id: r.col("id")?,
            event: EventKind::from_key(&event)
                .ok_or_else(|| sqlx::Error::Decode(format!("event {event}").into()))?,
            status: DeliveryStatus::from_key(&status).unwrap_or(DeliveryStatus::Failed),
            attempts: r.col("attempts")?,
            last_status: r.col("last_status")?,
            last_error: r.col("last_error")?,
            created_at: r.col("created_at")?,
            delivered_at: r.col("delivered_at")?,
        })
    })
    .collect())
}
