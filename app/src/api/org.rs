//! The organisation overview: Enabled Packages and members.

use leptos::prelude::*;

use crate::domain::account::OrganisationOverview;
use crate::domain::roles::Role;
use crate::domain::AppError;

/// Name, Enabled Packages and members of the caller's organisation.
#[server(endpoint = "get_organisation")]
pub async fn get_organisation() -> Result<OrganisationOverview, AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::overview(&state, &caller).await
}

/// Adds a member; returns the generated password when a new account was made.
#[server(endpoint = "add_member")]
pub async fn add_member(
    email: String,
    display_name: String,
    role: Role,
) -> Result<Option<String>, AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::add_member(&state, &caller, &email, &display_name, role).await
}

/// Removes a member.
#[server(endpoint = "remove_member")]
pub async fn remove_member(user_id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::remove_member(&state, &caller, user_id).await
}
