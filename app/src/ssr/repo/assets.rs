//! Asset rows: one per finished file (path relative to the data folder).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::assets::{asset_url, Asset, AssetKind, Integrity};
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

fn map(r: sqlx::sqlite::SqliteRow) -> Result<AssetRow, sqlx::Error> {
    let kind: String = r.try_get("kind")?;
    let format: String = r.try_get("format")?;
    let id: i64 = r.try_get("id")?;
    let integrity: Option<String> = r.try_get("integrity")?;
    Ok(AssetRow {
        asset: Asset {
            id,
            stream_id: r.try_get("stream_id")?,
            session_id: r.try_get("session_id")?,
            kind: AssetKind::from_key(&kind)
                .ok_or_else(|| sqlx::Error::Decode(format!("asset kind {kind}").into()))?,
            url: asset_url(id, &format),
            format,
            size_bytes: r.try_get("size_bytes")?,
            duration_ms: r.try_get("duration_ms")?,
            width: r.try_get("width")?,
            height: r.try_get("height")?,
            integrity: integrity.as_deref().and_then(Integrity::from_key),
            created_at: r.try_get("created_at")?,
        },
        organisation_id: r.try_get("organisation_id")?,
        path: r.try_get("path")?,
    })
}

/// Registers a finished file; returns its id.
pub async fn insert<'e, E: sqlx::SqliteExecutor<'e>>(
    db: E,
    a: &NewAsset,
) -> Result<i64, sqlx::Error> {
    Ok(sqlx::query(
        "INSERT INTO assets (organisation_id, stream_id, session_id, kind, format, path, size_bytes, duration_ms, width, height, integrity, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(a.organisation_id)
    .bind(a.stream_id)
    .bind(a.session_id)
    .bind(a.kind.key())
    .bind(a.format)
    .bind(&a.path)
    .bind(a.size_bytes)
    .bind(a.duration_ms)
    .bind(a.width)
    .bind(a.height)
    .bind(a.integrity.map(Integrity::key))
    .bind(a.created_at)
    .execute(db)
    .await?
    .last_insert_rowid())
}

/// Updates the size and duration of a growing asset (a replay playlist).
pub async fn update_stats(
    db: &Db,
    id: i64,
    size_bytes: i64,
    duration_ms: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE assets SET size_bytes = ?, duration_ms = ? WHERE id = ?")
        .bind(size_bytes)
        .bind(duration_ms)
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// How many replay spans an organisation has saved as recordings (`…/recordings/saved-*`).
pub async fn count_saved_spans(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM assets WHERE organisation_id = ? AND kind = 'recording'
         AND path LIKE '%/recordings/saved-%'",
    )
    .bind(org_id)
    .fetch_one(db)
    .await
}

/// One asset by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE id = ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(map)
        .transpose()
}

/// The newest asset of a kind and format for a stream.
pub async fn latest(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = ? AND kind = ? AND format = ? ORDER BY created_at DESC, id DESC LIMIT 1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(format)
        .fetch_optional(db)
        .await?
        .map(map)
        .transpose()
}

/// The newest asset of a kind and format made for a stream during one live session.
pub async fn latest_of_session(
    db: &Db,
    stream_id: i64,
    session_id: i64,
    kind: AssetKind,
    format: &str,
) -> Result<Option<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = ? AND session_id = ? AND kind = ? AND format = ? ORDER BY created_at DESC, id DESC LIMIT 1");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(session_id)
        .bind(kind.key())
        .bind(format)
        .fetch_optional(db)
        .await?
        .map(map)
        .transpose()
}

/// The newest assets of a kind for a stream, newest first.
pub async fn list(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    limit: i64,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(limit)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map)
        .collect()
}

/// The newest assets of a kind and format for a stream, newest first.
pub async fn list_format(
    db: &Db,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
    limit: i64,
) -> Result<Vec<AssetRow>, sqlx::Error> {
    let sql = format!("SELECT {COLUMNS} FROM assets WHERE stream_id = ? AND kind = ? AND format = ? ORDER BY created_at DESC, id DESC LIMIT ?");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(format)
        .bind(limit)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map)
        .collect()
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

fn map_with_session(r: sqlx::sqlite::SqliteRow) -> Result<SessionAssetRow, sqlx::Error> {
    Ok(SessionAssetRow {
        session_started_at: r.try_get("session_started_at")?,
        session_ended_at: r.try_get("session_ended_at")?,
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
        "{} ORDER BY s.started_at DESC, a.created_at DESC, a.id DESC LIMIT ?",
        with_sessions("a.stream_id = ? AND a.kind = ?")
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(limit)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map_with_session)
        .collect()
}

/// One asset with its session's times.
pub async fn get_with_session(db: &Db, id: i64) -> Result<Option<SessionAssetRow>, sqlx::Error> {
    sqlx::query(sqlx::AssertSqlSafe(with_sessions("a.id = ?")))
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(map_with_session)
        .transpose()
}

/// A page of an organisation's assets, newest first, with optional filters and ids below
/// `before`.
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
        "SELECT {COLUMNS} FROM assets WHERE organisation_id = ?
           AND (? IS NULL OR stream_id = ?) AND (? IS NULL OR session_id = ?) AND (? IS NULL OR kind = ?)
           AND (? IS NULL OR created_at >= ?) AND (? IS NULL OR created_at < ?) AND (? IS NULL OR id < ?)
         ORDER BY id DESC LIMIT ?"
    );
    let kind = kind.map(|k| k.key());
    sqlx::query(sqlx::AssertSqlSafe(sql))
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
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map)
        .collect()
}

/// Every asset's id and path (start-up reconciliation).
pub async fn all_paths(db: &Db) -> Result<Vec<(i64, String)>, sqlx::Error> {
    sqlx::query_as("SELECT id, path FROM assets")
        .fetch_all(db)
        .await
}

/// Whether a path is registered.
pub async fn exists_path(db: &Db, path: &str) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query("SELECT 1 FROM assets WHERE path = ?")
        .bind(path)
        .fetch_optional(db)
        .await?
        .is_some())
}

/// Deletes rows.
pub async fn delete(db: &Db, ids: &[i64]) -> Result<(), sqlx::Error> {
    for id in ids {
        sqlx::query("DELETE FROM assets WHERE id = ?")
            .bind(id)
            .execute(db)
            .await?;
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
        "SELECT {COLUMNS} FROM assets WHERE stream_id = ? AND kind = ? ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?"
    );
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(kind.key())
        .bind(keep)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map)
        .collect()
}
