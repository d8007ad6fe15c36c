//! Live sessions: one row per publish of a group's ingest.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::streams::LiveStatus;
use crate::ssr::db::Db;

/// Whether a group is live now, and since when.
pub async fn status(db: &Db, group_id: i64) -> Result<LiveStatus, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, started_at FROM live_sessions WHERE group_id = ? AND ended_at IS NULL",
    )
    .bind(group_id)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        Some(r) => LiveStatus::Live {
            session_id: r.try_get("id")?,
            since: r.try_get("started_at")?,
        },
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
    Ok(sqlx::query(
        "INSERT INTO live_sessions (group_id, started_at, remote_addr) VALUES (?, ?, ?)",
    )
    .bind(group_id)
    .bind(now)
    .bind(remote_addr)
    .execute(db)
    .await?
    .last_insert_rowid())
}

/// Closes a session.
pub async fn end(
    db: &Db,
    session_id: i64,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE live_sessions SET ended_at = ?, end_reason = ? WHERE id = ? AND ended_at IS NULL",
    )
    .bind(now)
    .bind(reason)
    .bind(session_id)
    .execute(db)
    .await?;
    Ok(())
}

/// Closes every session left open (after a crash), returning their ids.
pub async fn end_all_open(
    db: &Db,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<Vec<i64>, sqlx::Error> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM live_sessions WHERE ended_at IS NULL")
        .fetch_all(db)
        .await?;
    sqlx::query("UPDATE live_sessions SET ended_at = ?, end_reason = ? WHERE ended_at IS NULL")
        .bind(now)
        .bind(reason)
        .execute(db)
        .await?;
    Ok(ids)
}
