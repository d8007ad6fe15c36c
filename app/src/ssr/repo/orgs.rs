//! Organisations and their enabled packages.

use chrono::{DateTime, Utc};
use sqlx::Row;

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

fn map(row: sqlx::sqlite::SqliteRow) -> Result<Organisation, sqlx::Error> {
    Ok(Organisation {
        id: row.try_get("id")?,
        slug: row.try_get("slug")?,
        name: row.try_get("name")?,
        created_at: row.try_get("created_at")?,
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
    while sqlx::query("SELECT 1 FROM organisations WHERE slug = ?")
        .bind(&slug)
        .fetch_optional(&mut **tx)
        .await?
        .is_some()
    {
        n += 1;
        slug = format!("{base}-{n}");
    }
    let id = sqlx::query("INSERT INTO organisations (slug, name, created_at) VALUES (?, ?, ?)")
        .bind(&slug)
        .bind(name)
        .bind(now)
        .execute(&mut **tx)
        .await?
        .last_insert_rowid();
    Ok(Organisation {
        id,
        slug,
        name: name.into(),
        created_at: now,
    })
}

/// Finds an organisation by id.
pub async fn get(db: &Db, id: i64) -> Result<Option<Organisation>, sqlx::Error> {
    sqlx::query("SELECT id, slug, name, created_at FROM organisations WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await?
        .map(map)
        .transpose()
}

/// Finds an organisation by slug, or by id when `key` is a number.
pub async fn find(db: &Db, key: &str) -> Result<Option<Organisation>, sqlx::Error> {
    if let Ok(id) = key.parse::<i64>() {
        if let Some(org) = get(db, id).await? {
            return Ok(Some(org));
        }
    }
    sqlx::query("SELECT id, slug, name, created_at FROM organisations WHERE slug = ?")
        .bind(key)
        .fetch_optional(db)
        .await?
        .map(map)
        .transpose()
}

/// Every organisation, oldest first.
pub async fn list(db: &Db) -> Result<Vec<Organisation>, sqlx::Error> {
    sqlx::query("SELECT id, slug, name, created_at FROM organisations ORDER BY id")
        .fetch_all(db)
        .await?
        .into_iter()
        .map(map)
        .collect()
}

/// Packages enabled for an organisation.
pub async fn enabled_packages(db: &Db, org_id: i64) -> Result<Vec<Package>, sqlx::Error> {
    let keys: Vec<String> =
        sqlx::query_scalar("SELECT package FROM organisation_packages WHERE organisation_id = ?")
            .bind(org_id)
            .fetch_all(db)
            .await?;
    Ok(keys.iter().filter_map(|k| Package::from_key(k)).collect())
}

/// Whether one package is enabled.
pub async fn has_package(db: &Db, org_id: i64, package: Package) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query(
            "SELECT 1 FROM organisation_packages WHERE organisation_id = ? AND package = ?",
        )
        .bind(org_id)
        .bind(package.key())
        .fetch_optional(db)
        .await?
        .is_some(),
    )
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
pub async fn set_package<'e, E>(
    exec: E,
    org_id: i64,
    package: Package,
    enabled: bool,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error>
where
    E: sqlx::SqliteExecutor<'e>,
{
    if enabled {
        sqlx::query(
            "INSERT INTO organisation_packages (organisation_id, package, enabled_at) VALUES (?, ?, ?)
             ON CONFLICT (organisation_id, package) DO NOTHING",
        )
        .bind(org_id)
        .bind(package.key())
        .bind(now)
        .execute(exec)
        .await?;
    } else {
        sqlx::query("DELETE FROM organisation_packages WHERE organisation_id = ? AND package = ?")
            .bind(org_id)
            .bind(package.key())
            .execute(exec)
            .await?;
    }
    Ok(())
}

/// Every organisation with its own storage quota in bytes (`None`: the server's default).
pub async fn quotas(db: &Db) -> Result<Vec<(i64, Option<i64>)>, sqlx::Error> {
    sqlx::query_as("SELECT id, storage_quota_bytes FROM organisations ORDER BY id")
        .fetch_all(db)
        .await
}

/// Sets (or with `None` clears) an organisation's storage quota.
pub async fn set_quota(db: &Db, org_id: i64, bytes: Option<i64>) -> Result<bool, sqlx::Error> {
    Ok(
        sqlx::query("UPDATE organisations SET storage_quota_bytes = ? WHERE id = ?")
            .bind(bytes)
            .bind(org_id)
            .execute(db)
            .await?
            .rows_affected()
            == 1,
    )
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
