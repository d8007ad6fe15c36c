//! The organisation overview: Enabled Packages and members.

use leptos::prelude::*;

use crate::domain::account::{Invitation, InvitationInfo, NewInvitation, OrganisationOverview};
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

/// Invites an e-mail address as `role`; returns the invitation with its single-use link.
#[server(endpoint = "invite_member")]
pub async fn invite_member(email: String, role: Role) -> Result<NewInvitation, AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::invite_member(&state, &caller, &email, role).await
}

/// The organisation's open invitations.
#[server(endpoint = "list_invitations")]
pub async fn list_invitations() -> Result<Vec<Invitation>, AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::invitations(&state, &caller).await
}

/// Revokes an open invitation.
#[server(endpoint = "revoke_invitation")]
pub async fn revoke_invitation(id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::revoke_invitation(&state, &caller, id).await
}

/// Changes a member's role.
#[server(endpoint = "set_member_role")]
pub async fn set_member_role(user_id: i64, role: Role) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::set_member_role(&state, &caller, user_id, role).await
}

/// Leaves the current organisation (not as its last owner); signs out of it.
#[server(endpoint = "leave_organisation")]
pub async fn leave_organisation() -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::leave_organisation(&state, &caller).await?;
    auth::set_cookie(auth::clear_cookie(state.config.secure_cookies));
    leptos_axum::redirect("/login");
    Ok(())
}

/// What an invitation link offers; no account needed.
#[server(endpoint = "get_invitation")]
pub async fn get_invitation(token: String) -> Result<InvitationInfo, AppError> {
    use crate::api::auth::client_address;
    use crate::ssr::{services::accounts, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let client = client_address().await.or_internal()?;
    accounts::invitation_info(&state, &token, &client).await
}

/// Accepts an invitation (signing in, or making the account with the password given) and
/// signs in to the organisation; redirects to its streams.
#[server(endpoint = "accept_invitation")]
pub async fn accept_invitation(
    token: String,
    display_name: String,
    password: String,
) -> Result<(), AppError> {
    use crate::api::auth::client_address;
    use crate::ssr::{auth, services::accounts, state::OrInternal, AppState};
    let state = AppState::from_context()?;
    let client = client_address().await.or_internal()?;
    let session =
        accounts::accept_invitation(&state, &token, &display_name, password, &client).await?;
    auth::set_cookie(auth::session_cookie(
        &session,
        state.config.session_ttl.as_secs(),
        state.config.secure_cookies,
    ));
    leptos_axum::redirect("/streams");
    Ok(())
}

/// Removes a member.
#[server(endpoint = "remove_member")]
pub async fn remove_member(user_id: i64) -> Result<(), AppError> {
    use crate::ssr::{auth, services::accounts, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    accounts::remove_member(&state, &caller, user_id).await
}

/// Files start-up repair moved to the quarantine from this organisation (admins).
#[server(endpoint = "list_quarantined")]
pub async fn list_quarantined() -> Result<Vec<crate::domain::assets::QuarantinedFile>, AppError> {
    use crate::ssr::{auth, services::catalog, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    catalog::quarantined(&state, &caller).await
}

/// The server's status page (server admins only).
#[server(endpoint = "get_server_status")]
pub async fn get_server_status() -> Result<crate::domain::status::ServerStatus, AppError> {
    use crate::ssr::{auth, services::status, AppState};
    let state = AppState::from_context()?;
    let caller = auth::caller(&state).await?;
    status::server_status(&state, &caller).await
}
