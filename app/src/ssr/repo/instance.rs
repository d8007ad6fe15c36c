//! What the database knows of its installation: the id of its data folder, and the
//! quarantine (files start-up repair moved aside instead of deleting).

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::domain::assets::QuarantinedFile;
use crate::ssr::db::Db;

/// The data folder id this database was used with, if any yet.
pub async fn data_folder_id(db: &Db) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM instance WHERE key = 'data_folder_id'")
        .fetch_optional(db)
        .await
}

/// Records the data folder id (the first start with this database).
pub async fn set_data_folder_id(db: &Db, id: &str) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO instance (key, value) VALUES ('data_folder_id', ?)")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// A file moved to the quarantine.
#[derive(Debug, Clone)]
pub struct NewQuarantined<'a> {
    pub organisation_id: Option<i64>,
    pub original_path: &'a str,
    pub quarantine_path: &'a str,
    pub reason: &'a str,
    pub size_bytes: i64,
    pub now: DateTime<Utc>,
}

/// Records a quarantined file or folder.
pub async fn add_quarantined(db: &Db, q: &NewQuarantined<'_>) -> Result<i64, sqlx::Error> {
    // The organisation may be gone (or never existed in this database).
    let org: Option<i64> = match q.organisation_id {
        Some(id) => {
            sqlx::query_scalar("SELECT id FROM organisations WHERE id = ?")
                .bind(id)
                .fetch_optional(db)
                .await?
        }
        None => None,
    };
    Ok(sqlx::query(
        "INSERT INTO quarantine (organisation_id, original_path, quarantine_path, reason, size_bytes, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(org)
    .bind(q.original_path)
    .bind(q.quarantine_path)
    .bind(q.reason)
    .bind(q.size_bytes)
    .bind(q.now)
    .execute(db)
    .await?
    .last_insert_rowid())
}

fn map(r: sqlx::sqlite::SqliteRow) -> Result<QuarantinedFile, sqlx::Error> {
    Ok(QuarantinedFile {
        id: r.try_get("id")?,
        original_path: r.try_get("original_path")?,
        reason: r.try_get("reason")?,
        size_bytes: r.try_get("size_bytes")?,
        created_at: r.try_get("created_at")?,
    })
}

/// An organisation's quarantined files, newest first.
pub async fn quarantined_of(
    db: &Db,
    org_id: i64,
    limit: i64,
) -> Result<Vec<QuarantinedFile>, sqlx::Error> {
    sqlx::query("SELECT * FROM quarantine WHERE organisation_id = ? ORDER BY id DESC LIMIT ?")
        .bind(org_id)
        .bind(limit)
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map)
        .collect()
}

/// Every quarantined file with where it is now (the operator's view), oldest first.
pub async fn quarantined_all(db: &Db) -> Result<Vec<(QuarantinedFile, String)>, sqlx::Error> {
    sqlx::query("SELECT * FROM quarantine ORDER BY id")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(|r| {
            let at: String = r.try_get("quarantine_path")?;
            Ok((map(r)?, at))
        })
        .collect()
}
