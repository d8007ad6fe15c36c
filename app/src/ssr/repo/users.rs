//! Users and their memberships (with roles) in organisations.

use chrono::{DateTime, Utc};
use sqlx::Row;

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
    Ok(sqlx::query(
        "INSERT INTO users (email, display_name, password_hash, created_at) VALUES (?, ?, ?, ?)",
    )
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .bind(now)
    .execute(&mut **tx)
    .await?
    .last_insert_rowid())
}

/// Finds a user's credentials by e-mail (case-insensitive).
pub async fn find_by_email<'e, E: sqlx::SqliteExecutor<'e>>(
    exec: E,
    email: &str,
) -> Result<Option<Credentials>, sqlx::Error> {
    sqlx::query("SELECT id, email, password_hash FROM users WHERE email = ?")
        .bind(email)
        .fetch_optional(exec)
        .await?
        .map(|r| {
            Ok(Credentials {
                id: r.try_get("id")?,
                email: r.try_get("email")?,
                password_hash: r.try_get("password_hash")?,
            })
        })
        .transpose()
}

/// Replaces a user's password hash.
pub async fn set_password(db: &Db, user_id: i64, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = ? WHERE id = ?")
        .bind(password_hash)
        .bind(user_id)
        .execute(db)
        .await?;
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
    sqlx::query(
        "INSERT INTO memberships (organisation_id, user_id, role, created_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (organisation_id, user_id) DO UPDATE SET role = excluded.role",
    )
    .bind(org_id)
    .bind(user_id)
    .bind(role.key())
    .bind(now)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A user's role in an organisation, if a member.
pub async fn role_in<'e, E: sqlx::SqliteExecutor<'e>>(
    exec: E,
    org_id: i64,
    user_id: i64,
) -> Result<Option<Role>, sqlx::Error> {
    let key: Option<String> = sqlx::query_scalar(
        "SELECT role FROM memberships WHERE organisation_id = ? AND user_id = ?",
    )
    .bind(org_id)
    .bind(user_id)
    .fetch_optional(exec)
    .await?;
    Ok(key.as_deref().map(role))
}

/// The organisation a user signs in to: their oldest membership.
pub async fn first_organisation(db: &Db, user_id: i64) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT organisation_id FROM memberships WHERE user_id = ? ORDER BY created_at, organisation_id LIMIT 1",
    )
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Every organisation a user belongs to, oldest membership first.
pub async fn memberships(db: &Db, user_id: i64) -> Result<Vec<Membership>, sqlx::Error> {
    sqlx::query(
        "SELECT o.id, o.name, m.role FROM memberships m JOIN organisations o ON o.id = m.organisation_id
         WHERE m.user_id = ? ORDER BY m.created_at, o.id",
    )
    .bind(user_id)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| {
        Ok(Membership {
            organisation_id: r.try_get("id")?,
            organisation_name: r.try_get("name")?,
            role: role(&r.try_get::<String, _>("role")?),
        })
    })
    .collect()
}

/// Changes a member's role; `false` if they are not a member.
pub async fn set_role(
    tx: &mut Tx,
    org_id: i64,
    user_id: i64,
    role: Role,
) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE memberships SET role = ? WHERE organisation_id = ? AND user_id = ?")
            .bind(role.key())
            .bind(org_id)
            .bind(user_id)
            .execute(&mut **tx)
            .await?
            .rows_affected()
            == 1,
    )
}

/// Members of an organisation, most powerful first.
pub async fn members(db: &Db, org_id: i64) -> Result<Vec<Member>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT u.id, u.email, u.display_name, m.role, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.organisation_id = ? ORDER BY u.email",
    )
    .bind(org_id)
    .fetch_all(db)
    .await?;
    let mut members = rows
        .into_iter()
        .map(|r| {
            Ok(Member {
                user_id: r.try_get("id")?,
                email: r.try_get("email")?,
                display_name: r.try_get("display_name")?,
                role: role(&r.try_get::<String, _>("role")?),
                since: r.try_get("created_at")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    members.sort_by_key(|m| std::cmp::Reverse(m.role));
    Ok(members)
}

/// How many owners an organisation has.
pub async fn count_owners(tx: &mut Tx, org_id: i64) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM memberships WHERE organisation_id = ? AND role = 'owner'",
    )
    .bind(org_id)
    .fetch_one(&mut **tx)
    .await
}

/// Removes a member.
pub async fn remove_membership(tx: &mut Tx, org_id: i64, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM memberships WHERE organisation_id = ? AND user_id = ?")
        .bind(org_id)
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Whether a user is a server admin (sees the server's status page).
pub async fn is_server_admin(db: &Db, user_id: i64) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT is_server_admin FROM users WHERE id = ?")
        .bind(user_id)
        .fetch_optional(db)
        .await
        .map(|v: Option<bool>| v.unwrap_or(false))
}

/// Makes a user a server admin or not; `false` if there is no such user.
pub async fn set_server_admin(db: &Db, email: &str, admin: bool) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE users SET is_server_admin = ? WHERE email = ?")
            .bind(admin)
            .bind(email)
            .execute(db)
            .await?
            .rows_affected()
            == 1,
    )
}
