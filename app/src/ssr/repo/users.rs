//! Users and their memberships (with roles) in organisations.

use crate::ssr::db::{DbRow, Exec};
use crate::{with_db, with_exec, with_tx};
use chrono::{DateTime, Utc};

use super::role;
use crate::domain::account::{Member, Membership};
use crate::domain::roles::Role;
use crate::ssr::db::{Db, Tx};

/// What login needs of a user.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
}

/// Creates a user; the e-mail must be new.
pub async fn create(
    tx: &mut Tx,
    email: &str,
    display_name: &str,
    password_hash: &str,
    now: DateTime<Utc>,
) -> Result<i64, sqlx::Error> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO users (email, display_name, password_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .bind(now)
    .fetch_one(conn)
    .await?
    }))
}

/// Finds a user's credentials by e-mail (case-insensitive).
pub async fn find_by_email<'a>(
    exec: impl Into<Exec<'a>>,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    with_exec!(exec.into(), |conn| sqlx::query(
        "SELECT id, email, password_hash FROM users WHERE email = lower($1)"
    )
    .bind(email)
    .fetch_optional(conn)
    .await?
    .map(|r| {
        Ok(Credentials {
            id: r.col("id")?,
            email: r.col("email")?,
            password_hash: r.col("password_hash")?,
        })
    })
    .transpose())
}

/// Replaces a user's password hash.
pub async fn set_password(db: &Db, user_id: i64, password_hash: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "UPDATE users SET password_hash = $1 WHERE id = $2"
    )
    .bind(password_hash)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Adds a user to an organisation with a role (or changes the role if already a member).
pub async fn upsert_membership(
    tx: &mut Tx,
    org_id: i64,
    user_id: i64,
    role: Role,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_tx!(tx, |conn| {
        sqlx::query(
        "INSERT INTO memberships (organisation_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (organisation_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.key())
    .bind(now)
    .execute(conn)
    .await.map(|r| r.rows_affected())?
    });
    Ok(())
}

/// A user's role in an organisation, if a member.
pub async fn role_in<'a>(
    exec: impl Into<Exec<'a>>,
    org_id: i64,
    user_id: i64,
) -> Result<Option<Role>, sqlx::Error> {
    let key: Option<String> = with_exec!(exec.into(), |conn| sqlx::query_scalar(
        "SELECT role FROM memberships WHERE organisation_id = $1 AND user_id = $2",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(conn)
    .await?);
    Ok(key.as_deref().map(role))
}

/// The organisation a user signs in to: their oldest membership.
pub async fn first_organisation(db: &Db, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query_scalar(
        "SELECT organisation_id FROM memberships WHERE user_id = $1 ORDER BY created_at, organisation_id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
    })
}

/// Every organisation a user belongs to, oldest membership first.
pub async fn memberships(db: &Db, user_id: i64) -> Result<Vec<Membership>, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organisations o ON o.id = m.organisation_id
         WHERE m.user_id = $1 ORDER BY m.created_at, o.id",
    )
    .bind(user_id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Membership {
            organisation_id: r.col("id")?,
            organisation_name: r.col("name")?,
            role: role(&r.col::<String>("role")?),
        })
    })
    .collect()
    })
}

/// Changes a member's role; `false` if they are not a member.
pub async fn set_role(
    tx: &mut Tx,
    org_id: i64,
    user_id: i64,
    role: Role,
) -> Result<bool, sqlx::Error> {
    Ok(with_tx!(tx, |conn| sqlx::query(
        "UPDATE memberships SET role = $1 WHERE organisation_id = $2 AND user_id = $3"
    )
    .bind(role.key())
    .bind(org_id)
    .bind(user_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1))
}

/// Members of an organisation, most powerful first.
pub async fn members(db: &Db, org_id: i64) -> Result<Vec<Member>, sqlx::Error> {
    let mut members = with_db!(db, |conn| sqlx::query(
        "SELECT u.id, u.email, u.display_name, m.role, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organisation_id = $1 ORDER BY u.email",
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Member {
            user_id: r.col("id")?,
            email: r.col("email")?,
            display_name: r.col("display_name")?,
            role: role(&r.col::<String>("role")?),
            since: r.col("created_at")?,
        })
    })
    .collect::<Result<Vec<_>, sqlx::Error>>()?);
    members.sort_by_key(|m| std::cmp::Reverse(m.role));
    Ok(members)
}

/// How many owners an organisation has.
pub async fn count_owners(tx: &mut Tx, org_id: i64) -> Result<i64, sqlx::Error> {
    with_tx!(tx, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE organisation_id = $1 AND role = 'owner'",
    )
    .bind(org_id)
    .fetch_one(conn)
    .await)
}

/// Removes a member.
pub async fn remove_membership(tx: &mut Tx, org_id: i64, user_id: i64) -> Result<(), sqlx::Error> {
    with_tx!(tx, |conn| sqlx::query(
        "DELETE FROM memberships WHERE organisation_id = $1 AND user_id = $2"
    )
    .bind(org_id)
    .bind(user_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Whether a user is a server admin (sees the server's status page).
pub async fn is_server_admin(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT is_server_admin FROM users WHERE id = $1"
    )
    .bind(user_id)
    .fetch_optional(conn)
    .await
    .map(|v: Option<bool>| v.unwrap_or(false)))
}

/// Makes a user a server admin or not; `false` if there is no such user.
pub async fn set_server_admin(db: &Db, email: &str, admin: bool) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "UPDATE users SET is_server_admin = $1 WHERE email = lower($2)"
    )
    .bind(admin)
    .bind(email)
    .execute(conn)
    .await?
    .rows_affected()
        == 1))
}
