//! Live sessions: one row per publish of a group's ingest.

use crate::ssr::db::DbRow;
use crate::with_db;
use chrono::{DateTime, Utc};

use crate::domain::streams::LiveStatus;
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

/// Opens a session for a group; fails if one is already open (unique index).
pub async fn start(
    db: &Db,
    group_id: i64,
    remote_addr: &str,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query_scalar(
        "INSERT INTO live_sessions (group_id, started_at, remote_addr) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(group_id)
    .bind(now)
    .bind(remote_addr)
    .fetch_one(conn)
    .await?
    }))
}

/// Closes a session.
pub async fn end(
    db: &Db,
    session_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "UPDATE live_sessions SET ended_at = $1, end_reason = $2 WHERE id = $3 AND ended_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(session_id)
    .execute(conn)
    .await.map(|r| r.rows_affected())?
    });
    Ok(())
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

/// Closes every session left open (after a crash), returning their ids.
pub async fn end_all_open(
    db: &Db,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<EndedSession>, sqlx::Error> {
    let rows: Vec<(i64, i64, i64)> = with_db!(db, |conn| sqlx::query_as(
        "SELECT s.id, s.group_id, g.organisation_id FROM live_sessions s
         JOIN stream_groups g ON g.id = s.group_id WHERE s.ended_at IS NULL",
    )
    .fetch_all(conn)
    .await?);
    with_db!(db, |conn| sqlx::query(
        "UPDATE live_sessions SET ended_at = $1, end_reason = $2 WHERE ended_at IS NULL"
    )
    .bind(now)
    .bind(reason)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(rows
        .into_iter()
        .map(|(session_id, group_id, organisation_id)| EndedSession {
            session_id,
            group_id,
            organisation_id,
        })
        .collect())
}

/// A session ended at start-up (to announce it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EndedSession {
    pub session_id: i64,
    pub group_id: i64,
    pub organisation_id: i64,
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

/// Every live session across organisations: (organisation name, group id, group name,
/// started at), oldest first.
pub async fn all_live(db: &Db) -> Result<Vec<(String, i64, String, DateTime<Utc>)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as(
        "SELECT o.name, g.id, g.name, l.started_at FROM live_sessions l
         JOIN stream_groups g ON g.id = l.group_id
         JOIN organisations o ON o.id = g.organisation_id
         WHERE l.ended_at IS NULL ORDER BY l.started_at",
    )
    .fetch_all(conn)
    .await)
}
