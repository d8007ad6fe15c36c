//! Asset rows: one per finished file (path relative to the data folder).

use crate::ssr::db::{begin_write, DbRow, Exec};
use crate::ssr::repo::live_sessions::Lease;
use crate::{with_db, with_exec, with_tx};
use chrono::{DateTime, Utc};

use crate::domain::assets::{asset_url, storyboard_url, Asset, AssetKind, Integrity};
use crate::ssr::db::Db;

/// Columns of a new asset.
#[derive(Debug, Clone)]
pub struct NewAsset {
    pub organisation_id: i64,
    pub stream_id: i64,
    pub session_id: Option<i64>,
    pub kind: AssetKind,
    pub format: &'static str,
    pub path: String,
    pub size_bytes: i64,
    pub duration_ms: Option<i64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub integrity: Option<Integrity>,
    pub created_at: DateTime<Utc>,
}

/// An asset row with what serving it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetRow {
    pub asset: Asset,
    pub organisation_id: i64,
    /// Relative to the data folder.
    pub path: String,
}

const COLUMNS: &str = "id, organisation_id, stream_id, session_id, kind, format, path, size_bytes, duration_ms, width, height, integrity, created_at";

fn map(r: impl DbRow) -> Result<AssetRow, sqlx::Error> {
    let kind: String = r.col("kind")?;
    let format: String = r.col("format")?;
    let id: i64 = r.col("id")?;
    let integrity: Option<String> = r.col("integrity")?;
    let kind = AssetKind::from_key(&kind)
        .ok_or_else(|| sqlx::Error::Decode(format!("asset kind {kind}").into()))?;
    Ok(AssetRow {
        asset: Asset {
            id,
            stream_id: r.col("stream_id")?,
            session_id: r.col("session_id")?,
            kind,
            storyboard_url: storyboard_url(id, kind),
            url: asset_url(id, &format),
            format,
            size_bytes: r.col("size_bytes")?,
            duration_ms: r.col("duration_ms")?,
            width: r.col_u32("width")?,
            height: r.col_u32("height")?,
            integrity: integrity.as_deref().and_then(Integrity::from_key),
            created_at: r.col("created_at")?,
        },
        organisation_id: r.col("organisation_id")?,
        path: r.col("path")?,
    })
}

/// Registers a finished file; returns its id.
pub async fn insert<'a>(db: impl Into<Exec<'a>>, a: &NewAsset) -> Result<i64, sqlx::Error> {
    with_exec!(db.into(), |conn| {
        sqlx::query_scalar(
        "INSERT INTO assets (organisation_id, stream_id, session_id, kind, format, path, size_bytes, duration_ms, width, height, integrity, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(a.organisation_id)
    .bind(a.stream_id)
    .bind(a.session_id)
    .bind(a.kind.key())
    .bind(a.format)
    .bind(&a.path)
    .bind(a.size_bytes)
    .bind(a.duration_ms)
    .bind(a.width.map(i64::from))
    .bind(a.height.map(i64::from))
    .bind(a.integrity.map(Integrity::key))
    .bind(a.created_at)
    .fetch_one(conn)
    .await
    })
}

/// Registers a live session's finished file only while `node_id` holds the session with the
/// lease's epoch, in one write transaction: a node whose lease passed to another writes
/// nothing. `None` when the lease is lost.
pub async fn insert_fenced(
    db: &Db,
    a: &NewAsset,
    lease: Lease,
    node_id: &str,
) -> Result<Option<i64>, sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let holds = with_tx!(&mut tx, |conn| sqlx::query(
        "SELECT 1 FROM live_sessions WHERE id = $1 AND epoch = $2 AND node_id = $3"
    )
    .bind(lease.session_id)
    .bind(lease.epoch)
    .bind(node_id)
    .fetch_optional(conn)
    .await?
    .is_some());
    if !holds {
        tx.rollback().await?;
        return Ok(None);
    }
    let id = insert(&mut tx, a).await?;
    tx.commit().await?;
    Ok(Some(id))
}

/// Updates the size and duration of a growing asset (a replay playlist).
pub async fn update_stats(
    db: &Db,
    id: i64,
    size_bytes: i64,
    duration_ms: Option<i64>,
) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "UPDATE assets SET size_bytes = $1, duration_ms = $2 WHERE id = $3"
    )
    .bind(size_bytes)
    .bind(duration_ms)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// How many replay spans an organisation has saved as recordings (`…/recordings/saved-*`).
pub async fn count_saved_spans(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM assets WHERE organisation_id = $1 AND kind = 'recording'
         AND path LIKE '%/recordings/saved-%'",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await)
}

/// One asset by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE id = $1");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(map)
        .transpose())
}

/// The newest asset of a kind and format for a stream.
pub async fn latest(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND kind = $2 AND format = $3 ORDER BY created_at DESC, id DESC LIMIT 1");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(format)
        .fetch_optional(conn)
        .await?
        .map(map)
        .transpose())
}

/// A stream's assets of a kind and format made between two times, oldest first (at most
/// 20,000: a storyboard's thumbnails).
pub async fn of_stream_between(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND kind = $2 AND format = $3 AND created_at >= $4 AND created_at <= $5 ORDER BY created_at, id LIMIT 20000");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(format)
        .bind(from)
        .bind(to)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map)
        .collect())
}

/// A stream's newest asset of a kind and format made before `at`, within the longest
/// thumbnail interval (an hour): the picture on screen when a span starts between two
/// thumbnails.
pub async fn latest_before(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
    at: DateTime<Utc>,
) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND kind = $2 AND format = $3 AND created_at < $4 AND created_at >= $5 ORDER BY created_at DESC, id DESC LIMIT 1");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(format)
        .bind(at)
        .bind(at - chrono::Duration::hours(1))
        .fetch_optional(conn)
        .await?
        .map(map)
        .transpose())
}

/// The newest asset of a kind and format made for a stream during one live session.
pub async fn latest_of_session(
    db: &Db,
    stream_id: i64,
    session_id: i64,
    kind: AssetKind,
    format: &str,
) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND session_id = $2 AND kind = $3 AND format = $4 ORDER BY created_at DESC, id DESC LIMIT 1");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(session_id)
        .bind(kind.key())
        .bind(format)
        .fetch_optional(conn)
        .await?
        .map(map)
        .transpose())
}

/// The newest assets of a kind for a stream, newest first (storyboard tiles are not listed).
pub async fn list(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    limit: i64,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND kind = $2 AND format <> 'tile' ORDER BY created_at DESC, id DESC LIMIT $3");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(limit)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map)
        .collect())
}

/// The newest assets of a kind and format for a stream, newest first.
pub async fn list_format(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
    limit: i64,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND kind = $2 AND format = $3 ORDER BY created_at DESC, id DESC LIMIT $4");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(format)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map)
        .collect())
}

/// An asset with the times of the live session it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionAssetRow {
    pub row: AssetRow,
    pub session_started_at: DateTime<Utc>,
    pub session_ended_at: Option<DateTime<Utc>>,
}

fn with_sessions(filter: &str) -> String {
    let columns = COLUMNS
        .split(", ")
        .map(|c| format!("a.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "SELECT {columns}, s.started_at AS session_started_at, s.ended_at AS session_ended_at
         FROM assets a JOIN live_sessions s ON s.id = a.session_id
         WHERE {filter}"
    )
}

fn map_with_session(r: impl DbRow) -> Result<SessionAssetRow, sqlx::Error> {
    Ok(SessionAssetRow {
        session_started_at: r.col("session_started_at")?,
        session_ended_at: r.col("session_ended_at")?,
        row: map(r)?,
    })
}

/// The newest assets of a kind for a stream with their sessions' times, newest first.
pub async fn list_with_sessions(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    limit: i64,
) -> Result<Vec<SessionAssetRow>, sqlx::Error> {
    let sql = format!(
        "{} ORDER BY s.started_at DESC, a.created_at DESC, a.id DESC LIMIT $3",
        with_sessions("a.stream_id = $1 AND a.kind = $2 AND a.format <> 'tile'")
    );
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(limit)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map_with_session)
        .collect())
}

/// A stream's assets of a kind made in one session, oldest first (no storyboard tiles).
pub async fn of_session(
    db: &Db,
    stream_id: i64,
    session_id: i64,
    kind: AssetKind,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND session_id = $2 AND kind = $3 AND format <> 'tile' ORDER BY created_at, id LIMIT 1000");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(session_id)
        .bind(kind.key())
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map)
        .collect())
}

/// One asset with its session's times.
pub async fn get_with_session(db: &Db, id: i64) -> Result<Option<SessionAssetRow>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(with_sessions(
        "a.id = $1"
    )))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .map(map_with_session)
    .transpose())
}

/// A page of an organisation's assets (no storyboard tiles), newest first, with optional
/// filters and ids below `before`.
#[allow(clippy::too_many_arguments)]
pub async fn page(
    db: &Db,
    org_id: i64,
    stream_id: Option<i64>,
    session_id: Option<i64>,
    kind: Option<AssetKind>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    before: Option<i64>,
    limit: i64,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assets WHERE organisation_id = $1 AND format <> 'tile'
           AND ($2 IS NULL OR stream_id = $3) AND ($4 IS NULL OR session_id = $5) AND ($6 IS NULL OR kind = $7)
           AND ($8 IS NULL OR created_at >= $9) AND ($10 IS NULL OR created_at < $11) AND ($12 IS NULL OR id < $13)
         ORDER BY id DESC LIMIT $14"
    );
    let kind = kind.map(|k| k.key());
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(stream_id)
        .bind(stream_id)
        .bind(session_id)
        .bind(session_id)
        .bind(kind)
        .bind(kind)
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
        .map(map)
        .collect())
}

/// Every asset's id and path (start-up reconciliation).
pub async fn all_paths(db: &Db) -> Result<Vec<(i64, String)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as("SELECT id, path FROM assets")
        .fetch_all(conn)
        .await)
}

/// Whether a path is registered.
pub async fn exists_path(db: &Db, path: &str) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "SELECT 1 FROM assets WHERE path = $1"
    )
    .bind(path)
    .fetch_optional(conn)
    .await?
    .is_some()))
}

/// Deletes rows.
pub async fn delete(db: &Db, ids: &[i64]) -> Result<(), sqlx::Error> {
    for id in ids {
        with_db!(db, |conn| sqlx::query("DELETE FROM assets WHERE id = $1")
            .bind(id)
            .execute(conn)
            .await
            .map(|r| r.rows_affected())?);
    }
    Ok(())
}

/// Rows of a kind for a stream beyond the newest `keep` (by creation), oldest first.
pub async fn beyond_newest(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    keep: i64,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS} FROM assets WHERE stream_id = $1 AND kind = $2 ORDER BY created_at DESC, id DESC LIMIT 9223372036854775807 OFFSET $3"
    );
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(keep)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map)
        .collect())
}
