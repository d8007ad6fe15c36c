//! Login sessions: only the SHA-256 of the cookie's token is stored.

use chrono::{DateTime, Utc};
use sqlx::Row;

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
    sqlx::query(
        "INSERT INTO login_sessions (token_hash, user_id, organisation_id, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(org_id)
    .bind(now)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// The caller behind a live session; `None` when unknown, expired, or no longer a member.
pub async fn find(
    db: &Db,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<Caller>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT u.id AS user_id, u.email, u.display_name, o.id AS org_id, o.name AS org_name,
                m.role, s.expires_at
         FROM login_sessions s
         JOIN users u ON u.id = s.user_id
         JOIN organisations o ON o.id = s.organisation_id
         JOIN memberships m ON m.organisation_id = s.organisation_id AND m.user_id = s.user_id
         WHERE s.token_hash = ?",
    )
    .bind(token_hash)
    .fetch_optional(db)
    .await?;
    let Some(r) = row else { return Ok(None) };
    let expires_at: DateTime<Utc> = r.try_get("expires_at")?;
    if expires_at <= now {
        return Ok(None);
    }
    Ok(Some(Caller {
        user_id: r.try_get("user_id")?,
        email: r.try_get("email")?,
        display_name: r.try_get("display_name")?,
        organisation_id: r.try_get("org_id")?,
        organisation_name: r.try_get("org_name")?,
        role: role(&r.try_get::<String, _>("role")?),
    }))
}

/// Ends a session.
pub async fn delete(db: &Db, token_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_sessions WHERE token_hash = ?")
        .bind(token_hash)
        .execute(db)
        .await?;
    Ok(())
}

/// Removes expired sessions; returns how many.
pub async fn delete_expired(db: &Db, now: DateTime<Utc>) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM login_sessions WHERE expires_at <= ?")
            .bind(now)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Ends every session of a user (after a password reset).
pub async fn delete_for_user(db: &Db, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_sessions WHERE user_id = ?")
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Ends every session of a user but one (after a password change, or on request).
pub async fn delete_for_user_except(
    db: &Db,
    user_id: i64,
    keep_hash: &[u8],
) -> Result<u64, sqlx::Error> {
    Ok(
        sqlx::query("DELETE FROM login_sessions WHERE user_id = ? AND token_hash <> ?")
            .bind(user_id)
            .bind(keep_hash)
            .execute(db)
            .await?
            .rows_affected(),
    )
}

/// Ends a user's sessions in one organisation (they left or were removed).
pub async fn delete_for_membership(db: &Db, user_id: i64, org_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_sessions WHERE user_id = ? AND organisation_id = ?")
        .bind(user_id)
        .bind(org_id)
        .execute(db)
        .await?;
    Ok(())
}

/// Moves a session to another organisation of its user; `false` if they are not a member.
pub async fn switch_organisation(
    db: &Db,
    token_hash: &[u8],
    org_id: i64,
) -> Result<bool, sqlx::Error> {
    Ok(sqlx::query(
        "UPDATE login_sessions SET organisation_id = ? WHERE token_hash = ?
         AND EXISTS (SELECT 1 FROM memberships m WHERE m.organisation_id = ? AND m.user_id = login_sessions.user_id)",
    )
    .bind(org_id)
    .bind(token_hash)
    .bind(org_id)
    .execute(db)
    .await?
    .rows_affected()
        == 1)
}
