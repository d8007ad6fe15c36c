//! Live sessions: one row per publish of a group's ingest.

use crate::ssr::db::begin_write;
use crate::ssr::db::DbRow;
use crate::{with_db, with_tx};
use chrono::{DateTime, Utc};

use crate::domain::streams::{LiveStatus, MAX_RECONNECT_GRACE_S};
use crate::ssr::db::Db;

/// Whether a group is live now, and since when.
pub async fn status(db: &Db, group_id: i64) -> Result<LiveStatus, sqlx::Error> {
    let row: Option<(i64, DateTime<Utc>)> = with_db!(db, |conn| sqlx::query_as(
        "SELECT id, started_at FROM live_sessions WHERE group_id = $1 AND ended_at IS NULL",
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await?);
    Ok(match row {
        Some((session_id, since)) => LiveStatus::Live { session_id, since },
        None => LiveStatus::Idle,
    })
}

/// Why a group's newest session ended, if it ended because its media could not be processed
/// (`None` while a session is live: it has no end reason yet).
pub async fn last_refusal(db: &Db, group_id: i64) -> Result<Option<String>, sqlx::Error> {
    let reason: Option<Option<String>> = with_db!(db, |conn| sqlx::query_scalar(
        "SELECT end_reason FROM live_sessions WHERE group_id = $1
         ORDER BY started_at DESC, id DESC LIMIT 1",
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await?);
    Ok(reason
        .flatten()
        .filter(|r| r.starts_with(crate::domain::jobs::UNSUPPORTED_MEDIA)))
}

/// A node's hold on a live session: it may write for the session while the session's epoch
/// is this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Lease {
    pub session_id: i64,
    pub epoch: i64,
}

/// How a publish got its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// A new session.
    Started(Lease),
    /// The open session of a node whose lease expired, or whose publisher dropped and is
    /// waited for (`reconnected`), continues here, one epoch on.
    TookOver {
        lease: Lease,
        from_node: Option<String>,
        started_at: DateTime<Utc>,
        reconnected: bool,
    },
    /// A node holds the group's open session with a fresh lease.
    Held {
        node_id: Option<String>,
        heartbeat_at: Option<DateTime<Utc>>,
    },
}

/// Opens a session for a group, or takes over its open session when that session's lease
/// (heartbeat) is older than `stale_before` or the session waits for its dropped publisher;
/// in one write transaction, so of two nodes racing for a group exactly one gets it. The
/// unique index on open sessions backs this.
pub async fn begin(
    db: &Db,
    group_id: i64,
    node_id: &str,
    remote_addr: &str,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<Begun, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let open = with_tx!(&mut tx, |conn| sqlx::query(
        "SELECT id, node_id, epoch, heartbeat_at, started_at, waiting_since FROM live_sessions
         WHERE group_id = $1 AND ended_at IS NULL",
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>((
            r.col::<i64>("id")?,
            r.col::<Option<String>>("node_id")?,
            r.col::<i64>("epoch")?,
            r.col::<Option<DateTime<Utc>>>("heartbeat_at")?,
            r.col::<DateTime<Utc>>("started_at")?,
            // A mark older than the longest grace is stale (its node could not end the
            // session): not a reconnect.
            r.col::<Option<DateTime<Utc>>>("waiting_since")?
                .is_some_and(|w| w > now - chrono::Duration::seconds(MAX_RECONNECT_GRACE_S)),
        ))
    })
    .transpose()?);
    let begun = match open {
        None => {
            let session_id = with_tx!(&mut tx, |conn| {
                sqlx::query_scalar(
                "INSERT INTO live_sessions (group_id, started_at, remote_addr, node_id, epoch, heartbeat_at)
                 VALUES ($1, $2, $3, $4, 1, $5) RETURNING id",
            )
            .bind(group_id)
            .bind(now)
            .bind(remote_addr)
            .bind(node_id)
            .bind(now)
            .fetch_one(conn)
            .await?
            });
            Begun::Started(Lease {
                session_id,
                epoch: 1,
            })
        }
        Some((_, holder, _, heartbeat_at, _, false))
            if heartbeat_at.is_some_and(|h| h > stale_before) =>
        {
            Begun::Held {
                node_id: holder,
                heartbeat_at,
            }
        }
        Some((session_id, holder, epoch, heartbeat_at, started_at, waiting)) => {
            // Only the row as read: a resume, an end or another takeover that committed since
            // (PostgreSQL's writers of those do not take this transaction's lock) wins.
            let changed = with_tx!(&mut tx, |conn| {
                sqlx::query(
                "UPDATE live_sessions SET node_id = $1, epoch = $2, heartbeat_at = $3, remote_addr = $4,
                   waiting_since = NULL
                 WHERE id = $5 AND epoch = $6 AND ended_at IS NULL",
            )
            .bind(node_id)
            .bind(epoch + 1)
            .bind(now)
            .bind(remote_addr)
            .bind(session_id)
            .bind(epoch)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())?
            });
            if changed != 1 {
                tx.commit().await?;
                // The caller asks again and sees what won.
                return Ok(Begun::Held {
                    node_id: holder,
                    heartbeat_at,
                });
            }
            Begun::TookOver {
                lease: Lease {
                    session_id,
                    epoch: epoch + 1,
                },
                from_node: holder,
                started_at,
                reconnected: waiting,
            }
        }
    };
    tx.commit().await?;
    Ok(begun)
}

/// Continues a session this node holds after its publisher reconnected: the epoch goes one
/// on (files of the new epoch go to folders of their own, the replay gets a discontinuity).
/// `None` when the session is no longer this node's at this epoch, or has ended.
pub async fn resume(
    db: &Db,
    lease: Lease,
    node_id: &str,
    remote_addr: &str,
    now: DateTime<Utc>,
) -> Result<Option<Lease>, sqlx::Error> {
    let changed = with_db!(db, |conn| sqlx::query(
        "UPDATE live_sessions SET epoch = $1, heartbeat_at = $2, remote_addr = $3,
           waiting_since = NULL
         WHERE id = $4 AND epoch = $5 AND node_id = $6 AND ended_at IS NULL",
    )
    .bind(lease.epoch + 1)
    .bind(now)
    .bind(remote_addr)
    .bind(lease.session_id)
    .bind(lease.epoch)
    .bind(node_id)
    .execute(conn)
    .await?
    .rows_affected());
    Ok((changed == 1).then_some(Lease {
        session_id: lease.session_id,
        epoch: lease.epoch + 1,
    }))
}

/// Marks a session this node holds (with this epoch) as waiting for its dropped publisher,
/// once the dropped epoch has finished its files: from then on any node the publisher
/// reaches may continue it. `false` if the lease was lost or the session ended.
pub async fn mark_waiting(
    db: &Db,
    lease: Lease,
    node_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query(
            "UPDATE live_sessions SET waiting_since = $1
             WHERE id = $2 AND epoch = $3 AND node_id = $4 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(lease.session_id)
        .bind(lease.epoch)
        .bind(node_id)
        .execute(conn)
        .await?
        .rows_affected()
    }) == 1)
}

/// Renews the leases of a node's open sessions; answers the leases it still holds (a
/// session missing from the answer was taken over or ended elsewhere).
pub async fn heartbeat(
    db: &Db,
    node_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<Lease>, sqlx::Error> {
    let rows: Vec<(i64, i64)> = with_db!(db, |conn| sqlx::query_as(
        "UPDATE live_sessions SET heartbeat_at = $1 WHERE node_id = $2 AND ended_at IS NULL
         RETURNING id, epoch",
    )
    .bind(now)
    .bind(node_id)
    .fetch_all(conn)
    .await?);
    Ok(rows
        .into_iter()
        .map(|(session_id, epoch)| Lease { session_id, epoch })
        .collect())
}

/// Closes a session this node holds (with this epoch); `false` if the lease was lost.
pub async fn end(
    db: &Db,
    lease: Lease,
    node_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query(
            "UPDATE live_sessions SET ended_at = $1, end_reason = $2
         WHERE id = $3 AND epoch = $4 AND node_id = $5 AND ended_at IS NULL",
        )
        .bind(now)
        .bind(reason)
        .bind(lease.session_id)
        .bind(lease.epoch)
        .bind(node_id)
        .execute(conn)
        .await?
        .rows_affected()
    }) == 1)
}

/// A page of an organisation's sessions, newest first: optionally of one group, started in
/// `[from, to)`, with ids below `before`.
pub async fn page(
    db: &Db,
    org_id: i64,
    group_id: Option<i64>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<crate::domain::integrations::LiveSession>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT s.id, s.group_id, s.started_at, s.ended_at, s.end_reason FROM live_sessions s
         JOIN stream_groups g ON g.id = s.group_id
         WHERE g.organisation_id = $1 AND ($2 IS NULL OR s.group_id = $3)
           AND ($4 IS NULL OR s.started_at >= $5) AND ($6 IS NULL OR s.started_at < $7)
           AND ($8 IS NULL OR s.id < $9)
         ORDER BY s.id DESC LIMIT $10",
    )
    .bind(org_id)
    .bind(group_id)
    .bind(group_id)
    .bind(from)
    .bind(from)
    .bind(to)
    .bind(to)
    .bind(before)
    .bind(before)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(crate::domain::integrations::LiveSession {
            id: r.col("id")?,
            group_id: r.col("group_id")?,
            started_at: r.col("started_at")?,
            ended_at: r.col("ended_at")?,
            end_reason: r.col("end_reason")?,
        })
    })
    .collect())
}

/// Closes the sessions a node left open (it crashed: its publishers are gone), and those of
/// versions before nodes, returning them.
pub async fn end_open_of_node(
    db: &Db,
    node_id: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EndedSession>, sqlx::Error> {
    end_where(
        db,
        "SELECT s.id, s.group_id, g.organisation_id, s.epoch FROM live_sessions s
         JOIN stream_groups g ON g.id = s.group_id
         WHERE s.ended_at IS NULL AND (s.node_id = $1 OR s.node_id IS NULL) AND $2 IS NULL",
        node_id,
        None,
        reason,
        now,
    )
    .await
}

/// Closes the sessions of other nodes whose lease has not been renewed since `stale_before`
/// and that no publisher took over (their node died and did not come back), returning them.
pub async fn end_orphaned(
    db: &Db,
    node_id: &str,
    stale_before: DateTime<Utc>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EndedSession>, sqlx::Error> {
    end_where(
        db,
        "SELECT s.id, s.group_id, g.organisation_id, s.epoch FROM live_sessions s
         JOIN stream_groups g ON g.id = s.group_id
         WHERE s.ended_at IS NULL AND s.node_id <> $1 AND s.heartbeat_at < $2",
        node_id,
        Some(stale_before),
        reason,
        now,
    )
    .await
}

/// Ends the open sessions `select` finds (with `$1` the node and `$2` the optional time),
/// in one write transaction.
async fn end_where(
    db: &Db,
    select: &'static str,
    node_id: &str,
    before: Option<DateTime<Utc>>,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EndedSession>, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let rows: Vec<(i64, i64, i64, i64)> = with_tx!(&mut tx, |conn| sqlx::query_as(select)
        .bind(node_id)
        .bind(before)
        .fetch_all(conn)
        .await?);
    for &(id, _, _, _) in &rows {
        with_tx!(&mut tx, |conn| {
            sqlx::query(
            "UPDATE live_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL"
        )
        .bind(now)
        .bind(reason)
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?
        });
    }
    tx.commit().await?;
    Ok(rows
        .into_iter()
        .map(
            |(session_id, group_id, organisation_id, epoch)| EndedSession {
                session_id,
                group_id,
                organisation_id,
                epoch,
            },
        )
        .collect())
}

/// A session ended at start-up (to announce it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedSession {
    pub session_id: i64,
    pub group_id: i64,
    pub organisation_id: i64,
    /// The last epoch it had (its files are in that epoch's folders and the ones before).
    pub epoch: i64,
}

/// Whether a session exists (its files may be registered).
pub async fn exists(db: &Db, session_id: i64) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "SELECT 1 FROM live_sessions WHERE id = $1"
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await?
    .is_some()))
}

/// Whether a session is still open (on some node).
pub async fn is_open(db: &Db, session_id: i64) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "SELECT 1 FROM live_sessions WHERE id = $1 AND ended_at IS NULL"
    )
    .bind(session_id)
    .fetch_optional(conn)
    .await?
    .is_some()))
}

/// Every live session across organisations: (organisation name, group id, group name,
/// started at, node), oldest first.
pub async fn all_live(
    db: &Db,
) -> Result<Vec<(String, i64, String, DateTime<Utc>, Option<String>)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as(
        "SELECT o.name, g.id, g.name, l.started_at, l.node_id FROM live_sessions l
         JOIN stream_groups g ON g.id = l.group_id
         JOIN organisations o ON o.id = g.organisation_id
         WHERE l.ended_at IS NULL ORDER BY l.started_at",
    )
    .fetch_all(conn)
    .await)
}
