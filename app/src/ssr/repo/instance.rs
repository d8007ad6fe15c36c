//! What the database knows of its installation: the quarantine (files start-up repair moved
//! aside instead of deleting). Its data folders are its nodes (`nodes`).

use crate::ssr::db::DbRow;
use crate::with_db;
use chrono::{DateTime, Utc};

use crate::domain::assets::QuarantinedFile;
use crate::ssr::db::Db;

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
            with_db!(db, |conn| sqlx::query_scalar(
                "SELECT id FROM organisations WHERE id = $1"
            )
            .bind(id)
            .fetch_optional(conn)
            .await?)
        }
        None => None,
    };
    Ok(with_db!(db, |conn| {
        sqlx::query_scalar(
        "INSERT INTO quarantine (organisation_id, original_path, quarantine_path, reason, size_bytes, created_at)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(org)
    .bind(q.original_path)
    .bind(q.quarantine_path)
    .bind(q.reason)
    .bind(q.size_bytes)
    .bind(q.now)
    .fetch_one(conn)
    .await?
    }))
}

fn map(r: impl DbRow) -> Result<QuarantinedFile, sqlx::Error> {
    Ok(QuarantinedFile {
        id: r.col("id")?,
        original_path: r.col("original_path")?,
        reason: r.col("reason")?,
        size_bytes: r.col("size_bytes")?,
        created_at: r.col("created_at")?,
    })
}

/// An organisation's quarantined files, newest first.
pub async fn quarantined_of(
    db: &Db,
    org_id: i64,
    limit: i64,
) -> Result<Vec<QuarantinedFile>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT * FROM quarantine WHERE organisation_id = $1 ORDER BY id DESC LIMIT $2"
    )
    .bind(org_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(map)
    .collect())
}

/// Every quarantined file with where it is now (the operator's view), oldest first.
pub async fn quarantined_all(db: &Db) -> Result<Vec<(QuarantinedFile, String)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT * FROM quarantine ORDER BY id"
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        let at: String = r.col("quarantine_path")?;
        Ok((map(r)?, at))
    })
    .collect())
}
