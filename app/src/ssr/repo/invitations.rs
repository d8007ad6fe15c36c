//! Invitations to join an organisation (only the SHA-256 of a link's token is stored).

use crate::ssr::db::{DbRow, Exec};
use crate::{with_db, with_exec, with_tx};
use chrono::{DateTime, Utc};

use super::role;
use crate::domain::account::Invitation;
use crate::domain::roles::Role;
use crate::ssr::db::{Db, Tx};

/// Columns of a new invitation.
#[derive(Debug, Clone)]
pub struct NewInvitationRow<'a> {
    pub organisation_id: i64,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a [u8],
    pub invited_by: i64,
    pub invited_by_email: &'a str,
    pub now: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Stores an invitation; returns its id.
pub async fn insert(db: &Db, i: &NewInvitationRow<'_>) -> Result<i64, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query_scalar(
        "INSERT INTO invitations (organisation_id, email, role, token_hash, invited_by, invited_by_email, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
    )
    .bind(i.organisation_id)
    .bind(i.email)
    .bind(i.role.key())
    .bind(i.token_hash)
    .bind(i.invited_by)
    .bind(i.invited_by_email)
    .bind(i.now)
    .bind(i.expires_at)
    .fetch_one(conn)
    .await?
    }))
}

fn map(r: &impl DbRow) -> Result<Invitation, sqlx::Error> {
    Ok(Invitation {
        id: r.col("id")?,
        email: r.col("email")?,
        role: role(&r.col::<String>("role")?),
        invited_by: r.col("invited_by_email")?,
        created_at: r.col("created_at")?,
        expires_at: r.col("expires_at")?,
    })
}

/// The organisation's invitations still open (not accepted, revoked or expired), newest
/// first.
pub async fn pending(
    db: &Db,
    org_id: i64,
    now: DateTime<Utc>,
) -> Result<Vec<Invitation>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT * FROM invitations WHERE organisation_id = $1 AND accepted_at IS NULL
         AND revoked_at IS NULL AND expires_at > $2 ORDER BY id DESC",
    )
    .bind(org_id)
    .bind(now)
    .fetch_all(conn)
    .await?
    .iter()
    .map(map)
    .collect())
}

/// How many invitations of the organisation are open.
pub async fn count_pending(db: &Db, org_id: i64, now: DateTime<Utc>) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM invitations WHERE organisation_id = $1 AND accepted_at IS NULL
         AND revoked_at IS NULL AND expires_at > $2",
    )
    .bind(org_id)
    .bind(now)
    .fetch_one(conn)
    .await)
}

/// Revokes an open invitation of the organisation; `false` if there is none.
pub async fn revoke(
    db: &Db,
    org_id: i64,
    id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND organisation_id = $3
         AND accepted_at IS NULL AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1))
}

/// An open invitation found by its token.
#[derive(Debug, Clone)]
pub struct OpenInvitation {
    pub id: i64,
    pub organisation_id: i64,
    pub organisation_name: String,
    pub email: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
}

/// The open invitation with this token hash (`None` for unknown, used, revoked or expired).
pub async fn find_open<'a>(
    exec: impl Into<Exec<'a>>,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<OpenInvitation>, sqlx::Error> {
    with_exec!(exec.into(), |conn| {
        sqlx::query(
        "SELECT i.id, i.organisation_id, o.name AS org_name, i.email, i.role, i.expires_at
         FROM invitations i JOIN organisations o ON o.id = i.organisation_id
         WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(conn)
    .await?
    .map(|r| {
        Ok(OpenInvitation {
            id: r.col("id")?,
            organisation_id: r.col("organisation_id")?,
            organisation_name: r.col("org_name")?,
            email: r.col("email")?,
            role: role(&r.col::<String>("role")?),
            expires_at: r.col("expires_at")?,
        })
    })
    .transpose()
    })
}

/// Marks an invitation used; `false` if it was used or revoked meanwhile (single use).
pub async fn mark_accepted(
    tx: &mut Tx,
    id: i64,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(with_tx!(tx, |conn| sqlx::query(
        "UPDATE invitations SET accepted_at = $1, accepted_by = $2
         WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $4",
    )
    .bind(now)
    .bind(user_id)
    .bind(id)
    .bind(now)
    .execute(conn)
    .await?
    .rows_affected()
        == 1))
}
