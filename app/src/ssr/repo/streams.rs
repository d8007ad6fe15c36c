//! Stream groups, their streams, and stream keys.

use crate::ssr::db::DbRow;
use crate::{with_db, with_tx};
use chrono::{DateTime, Utc};

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
    /// The group's SRT passphrase, when it has one.
    pub srt_passphrase: Option<String>,
}

fn map_group(r: impl DbRow) -> Result<Group, sqlx::Error> {
    Ok(Group {
        id: r.col("id")?,
        organisation_id: r.col("organisation_id")?,
        name: r.col("name")?,
        created_at: r.col("created_at")?,
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
    Ok(with_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO stream_groups (organisation_id, name, created_at, created_by) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(org_id)
    .bind(name)
    .bind(now)
    .bind(created_by)
    .fetch_one(conn)
    .await?
    }))
}

/// Renames a group and its streams (a profile is named after its group and quality).
pub async fn rename_group(
    tx: &mut Tx,
    org_id: i64,
    group_id: i64,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let done = with_tx!(tx, |conn| sqlx::query(
        "UPDATE stream_groups SET name = $1 WHERE id = $2 AND organisation_id = $3"
    )
    .bind(name)
    .bind(group_id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1);
    if done {
        with_tx!(tx, |conn| {
            sqlx::query(
            "UPDATE streams SET name = CASE role WHEN 'ingest' THEN $1 ELSE $2 || ' ' || quality END WHERE group_id = $3",
        )
        .bind(name)
        .bind(name)
        .bind(group_id)
        .execute(conn)
        .await.map(|r| r.rows_affected())?
        });
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
    Ok(with_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO streams (group_id, role, position, name, quality, width, height, video_kbps, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(group_id)
    .bind(s.role.key())
    .bind(s.position)
    .bind(&s.name)
    .bind(&s.quality)
    .bind(s.width.map(i64::from))
    .bind(s.height.map(i64::from))
    .bind(s.video_kbps.map(i64::from))
    .bind(now)
    .fetch_one(conn)
    .await?
    }))
}

/// Groups of an organisation, newest first.
pub async fn list_groups(db: &Db, org_id: i64) -> Result<Vec<Group>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT id, organisation_id, name, created_at FROM stream_groups
         WHERE organisation_id = $1 ORDER BY created_at DESC, id DESC",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(map_group)
    .collect())
}

/// A group, only if it belongs to `org_id` (another organisation's group reads as missing).
pub async fn get_group(db: &Db, org_id: i64, group_id: i64) -> Result<Option<Group>, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "SELECT id, organisation_id, name, created_at FROM stream_groups WHERE id = $1 AND organisation_id = $2",
    )
    .bind(group_id)
    .bind(org_id)
    .fetch_optional(conn)
    .await?
    .map(map_group)
    .transpose()
    })
}

/// A group by id, whatever its organisation (for the pipeline).
pub async fn get_group_any(db: &Db, group_id: i64) -> Result<Option<Group>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT id, organisation_id, name, created_at FROM stream_groups WHERE id = $1"
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await?
    .map(map_group)
    .transpose())
}

/// Streams of a group: ingest first, then profiles in position order.
pub async fn streams_of(db: &Db, group_id: i64) -> Result<Vec<StreamInfo>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT id, role, name, quality, width, height, video_kbps FROM streams
         WHERE group_id = $1 ORDER BY position",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(StreamInfo {
            id: r.col("id")?,
            role: StreamRole::from_key(&r.col::<String>("role")?).unwrap_or(StreamRole::Profile),
            name: r.col("name")?,
            quality: r.col("quality")?,
            width: r.col_u32("width")?,
            height: r.col_u32("height")?,
            video_kbps: r.col_u32("video_kbps")?,
        })
    })
    .collect())
}

/// The group a stream belongs to, if the stream is in `org_id`.
pub async fn group_of_stream(
    db: &Db,
    org_id: i64,
    stream_id: i64,
) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT s.group_id FROM streams s JOIN stream_groups g ON g.id = s.group_id
         WHERE s.id = $1 AND g.organisation_id = $2",
    )
    .bind(stream_id)
    .bind(org_id)
    .fetch_optional(conn)
    .await)
}

/// The ingest stream of a group.
pub async fn ingest_of(db: &Db, group_id: i64) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT id FROM streams WHERE group_id = $1 AND role = 'ingest'"
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await)
}

/// Stores a new active key for a stream, revoking the previous one.
pub async fn replace_key(
    tx: &mut Tx,
    stream_id: i64,
    key: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_tx!(tx, |conn| sqlx::query(
        "UPDATE stream_keys SET revoked_at = $1 WHERE stream_id = $2 AND revoked_at IS NULL"
    )
    .bind(now)
    .bind(stream_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    with_tx!(tx, |conn| sqlx::query(
        "INSERT INTO stream_keys (stream_id, key, created_at) VALUES ($1, $2, $3)"
    )
    .bind(stream_id)
    .bind(key)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// The active key of a stream.
pub async fn active_key(db: &Db, stream_id: i64) -> Result<Option<String>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT key FROM stream_keys WHERE stream_id = $1 AND revoked_at IS NULL"
    )
    .bind(stream_id)
    .fetch_optional(conn)
    .await)
}

/// Resolves a publish key (active or revoked) to its stream.
pub async fn find_key(db: &Db, key: &str) -> Result<Option<KeyOwner>, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "SELECT k.stream_id, s.group_id, g.organisation_id, k.revoked_at IS NOT NULL AS revoked,
                g.srt_passphrase
         FROM stream_keys k JOIN streams s ON s.id = k.stream_id JOIN stream_groups g ON g.id = s.group_id
         WHERE k.key = $1",
    )
    .bind(key)
    .fetch_optional(conn)
    .await?
    .map(|r| {
        Ok(KeyOwner {
            stream_id: r.col("stream_id")?,
            group_id: r.col("group_id")?,
            organisation_id: r.col("organisation_id")?,
            revoked: r.col("revoked")?,
            srt_passphrase: r.col("srt_passphrase")?,
        })
    })
    .transpose()
    })
}

/// A group's reconnect grace in seconds (`None`: the server's default).
pub async fn reconnect_grace(db: &Db, group_id: i64) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT reconnect_grace_s FROM stream_groups WHERE id = $1"
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await
    .map(Option::flatten))
}

/// Sets a group's reconnect grace (`None`: the server's default); false when the
/// organisation has no such group.
pub async fn set_reconnect_grace(
    db: &Db,
    org_id: i64,
    group_id: i64,
    seconds: Option<i64>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "UPDATE stream_groups SET reconnect_grace_s = $1 WHERE id = $2 AND organisation_id = $3"
    )
    .bind(seconds)
    .bind(group_id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        > 0))
}

/// A group's SRT passphrase.
pub async fn srt_passphrase(db: &Db, group_id: i64) -> Result<Option<String>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT srt_passphrase FROM stream_groups WHERE id = $1"
    )
    .bind(group_id)
    .fetch_optional(conn)
    .await
    .map(Option::flatten))
}

/// Sets or clears a group's SRT passphrase; false when the organisation has no such group.
pub async fn set_srt_passphrase(
    db: &Db,
    org_id: i64,
    group_id: i64,
    passphrase: Option<&str>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "UPDATE stream_groups SET srt_passphrase = $1 WHERE id = $2 AND organisation_id = $3"
    )
    .bind(passphrase)
    .bind(group_id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        > 0))
}

/// Deletes a group (its streams, keys, settings and asset rows go with it).
pub async fn delete_group(db: &Db, org_id: i64, group_id: i64) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "DELETE FROM stream_groups WHERE id = $1 AND organisation_id = $2"
    )
    .bind(group_id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        > 0))
}

/// How many stream groups an organisation has.
pub async fn count_groups(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM stream_groups WHERE organisation_id = $1"
    )
    .bind(org_id)
    .fetch_one(conn)
    .await)
}
