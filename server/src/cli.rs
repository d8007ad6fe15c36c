//! The operator's subcommands: organisations and their packages.

use app::domain::packages::Package;
use app::ssr::{repo, services::accounts, AppState};

use crate::config::OrgCommand;
use crate::BoxError;

/// Runs an `org` subcommand, printing its result.
pub async fn org(state: &AppState, command: OrgCommand) -> Result<(), BoxError> {
    match command {
        OrgCommand::List => {
            for org in repo::orgs::list(&state.db).await? {
                let packages = repo::orgs::enabled_packages(&state.db, org.id).await?;
                let keys: Vec<_> = packages.iter().map(|p| p.key()).collect();
                println!("{}\t{}\t{}\t{}", org.id, org.slug, org.name, keys.join(","));
            }
        }
        OrgCommand::EnablePackage { org, package } => {
            let slug = accounts::set_package(state, &org, parse_package(&package)?, true).await?;
            println!("enabled {package} for {slug}");
        }
        OrgCommand::DisablePackage { org, package } => {
            let slug = accounts::set_package(state, &org, parse_package(&package)?, false).await?;
            println!("disabled {package} for {slug}");
        }
    }
    Ok(())
}

fn parse_package(key: &str) -> Result<Package, BoxError> {
    Package::from_key(key).ok_or_else(|| {
        let known: Vec<_> = Package::ALL.iter().map(|p| p.key()).collect();
        format!("unknown package {key:?}; known: {}", known.join(", ")).into()
    })
}
