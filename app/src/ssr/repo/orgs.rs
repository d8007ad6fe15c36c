//! Organisations and their enabled packages.

use crate::ssr::db::{DbRow, Exec};
use crate::{with_db, with_exec, with_tx};
use chrono::{DateTime, Utc};

use crate::domain::packages::{Package, PackageState};
use crate::ssr::db::{Db, Tx};

/// An organisation row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organisation {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

fn map(row: impl DbRow) -> Result<Organisation, sqlx::Error> {
    Ok(Organisation {
        id: row.col("id")?,
        slug: row.col("slug")?,
        name: row.col("name")?,
        created_at: row.col("created_at")?,
    })
}

/// Turns a name into a URL-safe slug base (`Acme Live!` → `acme-live`).
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug
        .trim_end_matches('-')
        .chars()
        .take(40)
        .collect::<String>();
    if slug.is_empty() {
        "org".into()
    } else {
        slug
    }
}

/// Creates an organisation with a unique slug derived from its name.
pub async fn create(
    tx: &mut Tx,
    name: &str,
    now: DateTime<Utc>,
) -> Result<Organisation, sqlx::Error> {
    let base = slugify(name);
    let mut slug = base.clone();
    let mut n = 1;
    while with_tx!(tx, |conn| sqlx::query(
        "SELECT 1 FROM organisations WHERE slug = $1"
    )
    .bind(&slug)
    .fetch_optional(conn)
    .await?
    .is_some())
    {
        n += 1;
        slug = format!("{base}-{n}");
    }
    let id = with_tx!(tx, |conn| sqlx::query_scalar(
        "INSERT INTO organisations (slug, name, created_at) VALUES ($1, $2, $3) RETURNING id"
    )
    .bind(&slug)
    .bind(name)
    .bind(now)
    .fetch_one(conn)
    .await?);
    Ok(Organisation {
        id,
        slug,
        name: name.into(),
        created_at: now,
    })
}

/// Finds an organisation by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<Organisation>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT id, slug, name, created_at FROM organisations WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .map(map)
    .transpose())
}

/// Finds an organisation by slug, or by id when `key` is a number.
pub async fn find(db: &Db, key: &str) -> Result<Option<Organisation>, sqlx::Error> {
    if let Ok(id) = key.parse::<i64>() {
        if let Some(org) = get(db, id).await? {
            return Ok(Some(org));
        }
    }
    with_db!(db, |conn| sqlx::query(
        "SELECT id, slug, name, created_at FROM organisations WHERE slug = $1"
    )
    .bind(key)
    .fetch_optional(conn)
    .await?
    .map(map)
    .transpose())
}

/// Every organisation, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Organisation>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT id, slug, name, created_at FROM organisations ORDER BY id"
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(map)
    .collect())
}

/// Packages enabled for an organisation.
pub async fn enabled_packages(db: &Db, org_id: i64) -> Result<Vec<Package>, sqlx::Error> {
    let keys: Vec<String> = with_db!(db, |conn| sqlx::query_scalar(
        "SELECT package FROM organisation_packages WHERE organisation_id = $1"
    )
    .bind(org_id)
    .fetch_all(conn)
    .await?);
    Ok(keys.iter().filter_map(|k| Package::from_key(k)).collect())
}

/// Whether one package is enabled.
pub async fn has_package(db: &Db, org_id: i64, package: Package) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "SELECT 1 FROM organisation_packages WHERE organisation_id = $1 AND package = $2",
    )
    .bind(org_id)
    .bind(package.key())
    .fetch_optional(conn)
    .await?
    .is_some()))
}

/// Every package with its state, in display order.
pub async fn package_states(db: &Db, org_id: i64) -> Result<Vec<PackageState>, sqlx::Error> {
    let enabled = enabled_packages(db, org_id).await?;
    Ok(Package::ALL
        .into_iter()
        .map(|package| PackageState {
            package,
            enabled: enabled.contains(&package),
        })
        .collect())
}

/// Turns a package on or off (idempotent).
pub async fn set_package<'a>(
    exec: impl Into<Exec<'a>>,
    org_id: i64,
    package: Package,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    if enabled {
        with_exec!(exec.into(), |conn| {
            sqlx::query(
            "INSERT INTO organisation_packages (organisation_id, package, enabled_at) VALUES ($1, $2, $3)
             ON CONFLICT (organisation_id, package) DO NOTHING",
        )
        .bind(org_id)
        .bind(package.key())
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?
        });
    } else {
        with_exec!(exec.into(), |conn| sqlx::query(
            "DELETE FROM organisation_packages WHERE organisation_id = $1 AND package = $2"
        )
        .bind(org_id)
        .bind(package.key())
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?);
    }
    Ok(())
}

/// Every organisation with its own storage quota in bytes (`None`: the server's default).
pub async fn quotas(db: &Db) -> Result<Vec<(i64, Option<i64>)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as(
        "SELECT id, storage_quota_bytes FROM organisations ORDER BY id"
    )
    .fetch_all(conn)
    .await)
}

/// Sets (or with `None` clears) an organisation's storage quota.
pub async fn set_quota(db: &Db, org_id: i64, bytes: Option<i64>) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "UPDATE organisations SET storage_quota_bytes = $1 WHERE id = $2"
    )
    .bind(bytes)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1))
}

#[cfg(test)]
mod tests {
    #[test]
    fn slugs() {
        assert_eq!(super::slugify("Acme Live!"), "acme-live");
        assert_eq!(super::slugify("  ---  "), "org");
        assert_eq!(super::slugify("Café Über"), "caf-ber");
    }
}
