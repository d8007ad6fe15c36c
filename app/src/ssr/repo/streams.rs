//! Stream groups, their streams, and stream keys.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::streams::{StreamInfo, StreamRole};
use crate::ssr::db::{Db, Tx};

/// A stream group row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub organisation_id: i64,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

/// A new stream's columns.
#[derive(Debug, Clone)]
pub struct NewStream {
    pub role: StreamRole,
    pub position: i64,
    pub name: String,
    pub quality: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_kbps: Option<u32>,
}

/// What a publish key resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyOwner {
    pub stream_id: i64,
    pub group_id: i64,
    pub organisation_id: i64,
    /// The key was valid once but has been replaced.
    pub revoked: bool,
}

fn map_group(r: sqlx::sqlite::SqliteRow) -> Result<Group, sqlx::Error> {
    Ok(Group {
        id: r.try_get("id")?,
        organisation_id: r.try_get("organisation_id")?,
        name: r.try_get("name")?,
        created_at: r.try_get("created_at")?,
    })
}

/// Creates an empty group.
pub async fn create_group(
    tx: &mut Tx,
    org_id: i64,
    name: &str,
    created_by: i64,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO stream_groups (organisation_id, name, created_at, created_by) VALUES (?, ?, ?, ?)",
    )
    .bind(org_id)
    .bind(name)
    .bind(now)
    .bind(created_by)
    .execute(&mut **tx)
    .await?
    .last_insert_rowid())
}

/// Renames a group and its streams (a profile is named after its group and quality).
pub async fn rename_group(
    tx: &mut Tx,
    org_id: i64,
    group_id: i64,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE stream_groups SET name = ? WHERE id = ? AND organisation_id = ?")
            .bind(name)
            .bind(group_id)
            .bind(org_id)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1;
    if done {
        sqlx::query(
            "UPDATE streams SET name = CASE role WHEN 'ingest' THEN ? ELSE ? || ' ' || quality END WHERE group_id = ?",
        )
        .bind(name)
        .bind(name)
        .bind(group_id)
        .execute(&mut **tx)
        .await?;
    }
    Ok(done)
}

/// Adds a stream to a group.
pub async fn create_stream(
    tx: &mut Tx,
    group_id: i64,
    s: &NewStream,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO streams (group_id, role, position, name, quality, width, height, video_kbps, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(group_id)
    .bind(s.role.key())
    .bind(s.position)
    .bind(&s.name)
    .bind(&s.quality)
    .bind(s.width)
    .bind(s.height)
    .bind(s.video_kbps)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .last_insert_rowid())
}

/// Groups of an organisation, newest first.
pub async fn list_groups(db: &Db, org_id: i64) -> Result<Vec<Group>, sqlx::Error> {
    sqlx::query(
        "SELECT id, organisation_id, name, created_at FROM stream_groups
         WHERE organisation_id = ? ORDER BY created_at DESC, id DESC",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(map_group)
    .collect()
}

/// A group, only if it belongs to `org_id` (another organisation's group reads as missing).
pub async fn get_group(db: &Db, org_id: i64, group_id: i64) -> Result<Option<Group>, sqlx::Error> {
    sqlx::query(
        "SELECT id, organisation_id, name, created_at FROM stream_groups WHERE id = ? AND organisation_id = ?",
    )
    .bind(group_id)
    .bind(org_id)
    .fetch_optional(db)
    .await?
    .map(map_group)
    .transpose()
}

/// A group by id, whatever its organisation (for the pipeline).
pub async fn get_group_any(db: &Db, group_id: i64) -> Result<Option<Group>, sqlx::Error> {
    sqlx::query("SELECT id, organisation_id, name, created_at FROM stream_groups WHERE id = ?")
        .bind(group_id)
        .fetch_optional(db)
        .await?
        .map(map_group)
        .transpose()
}

/// Streams of a group: ingest first, then profiles in position order.
pub async fn streams_of(db: &Db, group_id: i64) -> Result<Vec<StreamInfo>, sqlx::Error> {
    sqlx::query(
        "SELECT id, role, name, quality, width, height, video_kbps FROM streams
         WHERE group_id = ? ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| {
        Ok(StreamInfo {
            id: r.try_get("id")?,
            role: StreamRole::from_key(&r.try_get::<String, _>("role")?)
                .unwrap_or(StreamRole::Profile),
            name: r.try_get("name")?,
            quality: r.try_get("quality")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
            video_kbps: r.try_get("video_kbps")?,
        })
    })
    .collect()
}

/// The group a stream belongs to, if the stream is in `org_id`.
pub async fn group_of_stream(
    db: &Db,
    org_id: i64,
    stream_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT s.group_id FROM streams s JOIN stream_groups g ON g.id = s.group_id
         WHERE s.id = ? AND g.organisation_id = ?",
    )
    .bind(stream_id)
    .bind(org_id)
    .fetch_optional(db)
    .await
}

/// The ingest stream of a group.
pub async fn ingest_of(db: &Db, group_id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT id FROM streams WHERE group_id = ? AND role = 'ingest'")
        .bind(group_id)
        .fetch_optional(db)
        .await
}

/// Stores a new active key for a stream, revoking the previous one.
pub async fn replace_key(
    tx: &mut Tx,
    stream_id: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE stream_keys SET revoked_at = ? WHERE stream_id = ? AND revoked_at IS NULL")
        .bind(now)
        .bind(stream_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query("INSERT INTO stream_keys (stream_id, key, created_at) VALUES (?, ?, ?)")
        .bind(stream_id)
        .bind(key)
        .bind(now)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// The active key of a stream.
pub async fn active_key(db: &Db, stream_id: i64) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT key FROM stream_keys WHERE stream_id = ? AND revoked_at IS NULL")
        .bind(stream_id)
        .fetch_optional(db)
        .await
}

/// Resolves a publish key (active or revoked) to its stream.
pub async fn find_key(db: &Db, key: &str) -> Result<Option<KeyOwner>, sqlx::Error> {
    sqlx::query(
        "SELECT k.stream_id, s.group_id, g.organisation_id, k.revoked_at IS NOT NULL AS revoked
         FROM stream_keys k JOIN streams s ON s.id = k.stream_id JOIN stream_groups g ON g.id = s.group_id
         WHERE k.key = ?",
    )
    .bind(key)
    .fetch_optional(db)
    .await?
    .map(|r| {
        Ok(KeyOwner {
            stream_id: r.try_get("stream_id")?,
            group_id: r.try_get("group_id")?,
            organisation_id: r.try_get("organisation_id")?,
            revoked: r.try_get("revoked")?,
        })
    })
    .transpose()
}

/// Deletes a group (its streams, keys, settings and asset rows go with it).
pub async fn delete_group(db: &Db, org_id: i64, group_id: i64) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM stream_groups WHERE id = ? AND organisation_id = ?")
            .bind(group_id)
            .bind(org_id)
            .execute(db)
            .await?
            .rows_affected()
            > 0,
    )
}

/// How many stream groups an organisation has.
pub async fn count_groups(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM stream_groups WHERE organisation_id = ?")
        .bind(org_id)
        .fetch_one(db)
        .await
}
