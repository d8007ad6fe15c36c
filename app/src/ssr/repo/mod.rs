//! Repositories: all SQL, one file per aggregate. Rows are mapped to domain types here and
//! nowhere else; multi-statement writes take a transaction from the caller. A Postgres
//! backend would be a sibling folder with the same functions.

pub mod assets;
pub mod clips;
pub mod instance;
pub mod integrations;
pub mod invitations;
pub mod live_sessions;
pub mod orgs;
pub mod retention;
pub mod sessions;
pub mod settings;
pub mod streams;
pub mod users;

use crate::domain::roles::Role;

/// Decodes a role column; unknown values (never written by us) read as the weakest role.
pub(crate) fn role(key: &str) -> Role {
    Role::from_key(key).unwrap_or(Role::Viewer)
}
