//! Repositories: all SQL, one file per aggregate. Rows are mapped to domain types here and
//! nowhere else; multi-statement writes take a transaction from the caller. Each statement
//! is written once, in the SQL that SQLite and PostgreSQL share (`$n` placeholders,
//! `RETURNING id`, no engine-specific functions), and run on either engine through
//! [`with_db!`](crate::with_db), [`with_tx!`](crate::with_tx) or [`with_exec!`](crate::with_exec).

pub mod assets;
pub mod claims;
pub mod clips;
pub mod delivery;
pub mod instance;
pub mod integrations;
pub mod invitations;
pub mod live_sessions;
pub mod nodes;
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
