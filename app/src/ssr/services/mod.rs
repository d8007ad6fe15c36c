//! Services: what the dashboard's server functions and the REST API both call. Each one
//! checks the caller's role and the organisation's packages, validates with the domain
//! rules, and talks to the repositories. No HTTP here.

pub mod accounts;
pub mod catalog;
pub mod clips;
pub mod delivery;
pub mod integrations;
pub mod processing;
pub mod retention;
pub mod status;
pub mod streams;

use super::repo;
use super::state::{AppState, OrInternal};
use crate::domain::packages::Package;
use crate::domain::AppError;

/// Refuses with a clear error when an organisation already has `limit` of `what`: `count`
/// is how many it has (a repository count, so its failure is the server's).
pub async fn within_limit(
    count: impl std::future::Future<Output = Result<i64, sqlx::Error>>,
    limit: u64,
    what: &str,
) -> Result<(), AppError> {
    let have = u64::try_from(count.await.or_internal()?).unwrap_or(0);
    if have >= limit {
        return Err(AppError::LimitReached {
            what: what.into(),
            limit,
        });
    }
    Ok(())
}

/// Refuses unless `package` is enabled for the organisation.
pub async fn require_package(
    state: &AppState,
    org_id: i64,
    package: Package,
) -> Result<(), AppError> {
    if repo::orgs::has_package(&state.db, org_id, package)
        .await
        .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::PackageRequired(package))
    }
}
