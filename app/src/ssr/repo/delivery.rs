//! Public delivery of streams (`stream_delivery`) and the organisations' URL signing keys
//! (`signing_keys`).

use chrono::{DateTime, Utc};

use crate::ssr::db::{Db, DbRow};
use crate::with_db;

/// A stream's public delivery: whether it is on and its current token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub stream_id: i64,
    pub public: bool,
    pub token: String,
}

fn map_delivery(r: impl DbRow) -> Result<Delivery, sqlx::Error> {
    Ok(Delivery {
        stream_id: r.col("stream_id")?,
        public: r.col("public")?,
        token: r.col("token")?,
    })
}

/// The delivery rows of some streams (streams never switched on have none).
pub async fn of_streams(db: &Db, stream_ids: &[i64]) -> Result<Vec<Delivery>, sqlx::Error> {
    let mut out = Vec::new();
    for id in stream_ids {
        if let Some(d) = get(db, *id).await? {
            out.push(d);
        }
    }
    Ok(out)
}

/// One stream's delivery row.
pub async fn get(db: &Db, stream_id: i64) -> Result<Option<Delivery>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT stream_id, public, token FROM stream_delivery WHERE stream_id = $1"
    )
    .bind(stream_id)
    .fetch_optional(conn)
    .await?
    .map(map_delivery)
    .transpose())
}

/// Switches public delivery on or off; the first switch makes the row with `new_token`.
/// Returns the row as it is now.
pub async fn set_public(
    db: &Db,
    stream_id: i64,
    public: bool,
    new_token: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "INSERT INTO stream_delivery (stream_id, public, token, updated_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (stream_id) DO UPDATE SET public = excluded.public, updated_at = excluded.updated_at
         RETURNING stream_id, public, token"
    )
    .bind(stream_id)
    .bind(public)
    .bind(new_token)
    .bind(now)
    .fetch_one(conn)
    .await
    .and_then(map_delivery)
    })
}

/// Replaces the token (the old URLs stop at once); `None` if the stream has no row.
pub async fn rotate(
    db: &Db,
    stream_id: i64,
    new_token: &str,
    now: DateTime<Utc>,
) -> Result<Option<Delivery>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "UPDATE stream_delivery SET token = $1, updated_at = $2 WHERE stream_id = $3
         RETURNING stream_id, public, token"
    )
    .bind(new_token)
    .bind(now)
    .bind(stream_id)
    .fetch_optional(conn)
    .await?
    .map(map_delivery)
    .transpose())
}

/// The stream a public token opens, only while delivery is on.
pub async fn find_public(db: &Db, token: &str) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT stream_id FROM stream_delivery WHERE token = $1 AND public = $2"
    )
    .bind(token)
    .bind(true)
    .fetch_optional(conn)
    .await)
}

/// An organisation's URL signing key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningKey {
    pub key_id: String,
    pub organisation_id: i64,
    pub name: String,
    pub secret: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const KEY_COLUMNS: &str = "key_id, organisation_id, name, secret, created_at, revoked_at";

fn map_key(r: impl DbRow) -> Result<SigningKey, sqlx::Error> {
    Ok(SigningKey {
        key_id: r.col("key_id")?,
        organisation_id: r.col("organisation_id")?,
        name: r.col("name")?,
        secret: r.col("secret")?,
        created_at: r.col("created_at")?,
        revoked_at: r.col("revoked_at")?,
    })
}

/// Stores a new signing key.
pub async fn insert_key(db: &Db, key: &SigningKey) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "INSERT INTO signing_keys (organisation_id, key_id, name, secret, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(key.organisation_id)
    .bind(&key.key_id)
    .bind(&key.name)
    .bind(&key.secret)
    .bind(key.created_at)
    .execute(conn)
    .await
    .map(|_| ())
    })
}

/// An organisation's keys, newest first, revoked ones included.
pub async fn keys_of(db: &Db, org_id: i64) -> Result<Vec<SigningKey>, sqlx::Error> {
    let sql = format!(
        "SELECT {KEY_COLUMNS} FROM signing_keys WHERE organisation_id = $1 ORDER BY id DESC"
    );
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map_key)
        .collect())
}

/// A key by its public id, revoked or not.
pub async fn key(db: &Db, key_id: &str) -> Result<Option<SigningKey>, sqlx::Error> {
    let sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE key_id = $1");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(key_id)
        .fetch_optional(conn)
        .await?
        .map(map_key)
        .transpose())
}

/// Revokes a key of the organisation; `false` if there is none (or it was revoked).
pub async fn revoke_key(
    db: &Db,
    org_id: i64,
    key_id: &str,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "UPDATE signing_keys SET revoked_at = $1 WHERE key_id = $2 AND organisation_id = $3 AND revoked_at IS NULL"
    )
    .bind(now)
    .bind(key_id)
    .bind(org_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
    })
}
