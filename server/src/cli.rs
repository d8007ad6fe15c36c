//! The operator's subcommands: organisations, their packages, and API keys for scripts.

use app::domain::packages::Package;
use app::domain::roles::Role;
use app::ssr::auth::Caller;
use app::ssr::services::{accounts, integrations};
use app::ssr::{repo, AppState};

use crate::config::{OrgCommand, UserCommand};
use crate::BoxError;

/// Runs a `user` subcommand, printing its result.
pub async fn user(state: &AppState, command: UserCommand) -> Result<(), BoxError> {
    match command {
        UserCommand::ResetPassword { email } => {
            let password = accounts::reset_password(state, &email).await?;
            println!("new password for {email} (every session ended; ask them to change it):");
            println!("{password}");
        }
        UserCommand::MakeAdmin { email } => {
            if !repo::users::set_server_admin(&state.db, &email, true).await? {
                return Err(format!("no account {email:?}").into());
            }
            println!("{email} is a server admin: /status shows the server's status");
        }
        UserCommand::RemoveAdmin { email } => {
            if !repo::users::set_server_admin(&state.db, &email, false).await? {
                return Err(format!("no account {email:?}").into());
            }
            println!("{email} is no longer a server admin");
        }
    }
    Ok(())
}

/// Lists the quarantine: when, the original path, where it is now, its size and why.
pub async fn quarantine(state: &AppState) -> Result<(), BoxError> {
    for (q, at) in repo::instance::quarantined_all(&state.db).await? {
        println!(
            "{}\t{}\t{}\t{} bytes\t{}",
            q.created_at.format("%Y-%m-%d %H:%M:%S"),
            q.original_path,
            at,
            q.size_bytes,
            q.reason
        );
    }
    Ok(())
}

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
        OrgCommand::SetQuota { org, quota } => {
            let found = repo::orgs::find(&state.db, &org)
                .await?
                .ok_or_else(|| format!("no organisation {org:?}"))?;
            let bytes = if quota.trim().eq_ignore_ascii_case("none") {
                None
            } else {
                let b = app::domain::jobs::parse_size(&quota)
                    .ok_or_else(|| format!("{quota:?} is not a size (e.g. 500MB, 50GB, 2TiB)"))?;
                Some(i64::try_from(b).map_err(|_| "too large")?)
            };
            repo::orgs::set_quota(&state.db, found.id, bytes).await?;
            match bytes {
                Some(b) => println!("storage quota of {} set to {b} bytes", found.slug),
                None => println!(
                    "storage quota of {} cleared (the server's default applies)",
                    found.slug
                ),
            }
        }
        OrgCommand::CreateApiKey { org, name, role } => {
            let role = Role::from_key(&role).ok_or_else(|| format!("unknown role {role:?}"))?;
            let found = repo::orgs::find(&state.db, &org)
                .await?
                .ok_or_else(|| format!("no organisation {org:?}"))?;
            let owner = repo::users::members(&state.db, found.id)
                .await?
                .into_iter()
                .find(|m| m.role == Role::Owner)
                .ok_or("the organisation has no owner")?;
            let caller = Caller {
                user_id: owner.user_id,
                email: owner.email,
                display_name: owner.display_name,
                organisation_id: found.id,
                organisation_name: found.name,
                role: Role::Owner,
            };
            let made = integrations::create_key(state, &caller, &name, role).await?;
            println!("{}", made.secret);
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
