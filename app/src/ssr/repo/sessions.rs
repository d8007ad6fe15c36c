//! Login sessions: only the SHA-256 of the cookie's token is stored.

use crate::ssr::db::DbRow;
use crate::with_db;
use chrono::{DateTime, Utc};

use super::role;
use crate::ssr::auth::Caller;
use crate::ssr::db::Db;

/// Stores a new session.
pub async fn create(
    db: &Db,
    token_hash: &[u8],
    user_id: i64,
    org_id: i64,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "INSERT INTO login_sessions (token_hash, user_id, organisation_id, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(org_id)
    .bind(now)
    .bind(expires_at)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// The caller behind a live session; `None` when unknown, expired, or no longer a member.
pub async fn find(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Caller>, sqlx::Error> {
    let found = with_db!(db, |conn| sqlx::query(
        "SELECT u.id AS user_id, u.email, u.display_name, o.id AS org_id, o.name AS org_name,
                m.role, s.expires_at
         FROM login_sessions s
         JOIN users u ON u.id = s.user_id
         JOIN organisations o ON o.id = s.organisation_id
         JOIN memberships m ON m.organisation_id = s.organisation_id AND m.user_id = s.user_id
         WHERE s.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(conn)
    .await?
    .map(|r| {
        Ok::<_, sqlx::Error>((
            r.col::<DateTime<Utc>>("expires_at")?,
            Caller {
                user_id: r.col("user_id")?,
                email: r.col("email")?,
                display_name: r.col("display_name")?,
                organisation_id: r.col("org_id")?,
                organisation_name: r.col("org_name")?,
                role: role(&r.col::<String>("role")?),
            },
        ))
    })
    .transpose()?);
    Ok(found.and_then(|(expires_at, caller)| (expires_at > now).then_some(caller)))
}

/// Ends a session.
pub async fn delete(db: &Db, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "DELETE FROM login_sessions WHERE token_hash = $1"
    )
    .bind(token_hash)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Removes expired sessions; returns how many.
pub async fn delete_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "DELETE FROM login_sessions WHERE expires_at <= $1"
    )
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()))
}

/// Ends every session of a user (after a password reset).
pub async fn delete_for_user(db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "DELETE FROM login_sessions WHERE user_id = $1"
    )
    .bind(user_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Ends every session of a user but one (after a password change, or on request).
pub async fn delete_for_user_except(
    db: &Db,
    user_id: i64,
    keep_hash: &[u8],
) -> Result<u64, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "DELETE FROM login_sessions WHERE user_id = $1 AND token_hash <> $2"
    )
    .bind(user_id)
    .bind(keep_hash)
    .execute(conn)
    .await?
    .rows_affected()))
}

/// Ends a user's sessions in one organisation (they left or were removed).
pub async fn delete_for_membership(db: &Db, user_id: i64, org_id: i64) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "DELETE FROM login_sessions WHERE user_id = $1 AND organisation_id = $2"
    )
    .bind(user_id)
    .bind(org_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Moves a session to another organisation of its user; `false` if they are not a member.
pub async fn switch_organisation(
    db: &Db,
    token_hash: &[u8],
    org_id: i64,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query(
        "UPDATE login_sessions SET organisation_id = $1 WHERE token_hash = $2
         AND EXISTS (SELECT 1 FROM memberships m WHERE m.organisation_id = $3 AND m.user_id = login_sessions.user_id)",
    )
    .bind(org_id)
    .bind(token_hash)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1
    }))
}
