//! Accounts: sign-up (a new organisation and its owner), login and logout, invitations and
//! members, passwords and sessions, and the organisation overview with its Enabled Packages.
//!
//! Nobody but its owner ever knows an account's password: members join by invitation, a new
//! account chooses its own password when accepting, and an existing account joins another
//! organisation only by signing in to accept. Password hashing is bounded (see
//! [`passwords`]); login attempts count before the password is checked, and slow down per
//! account and client address instead of locking an account.

use std::time::Instant;

use super::super::auth::Caller;
use super::super::db::begin_write;
use super::super::passwords::{self, Busy};
use super::super::state::{AppState, OrInternal};
use super::super::{repo, tokens};
use super::within_limit;
use crate::domain::account::{
    check_email, check_name, check_password, Invitation, InvitationInfo, Membership, NewInvitation,
    OrganisationOverview, INVITATION_DAYS,
};
use crate::domain::packages::Package;
use crate::domain::roles::{Permission, Role};
use crate::domain::{AppError, FieldError};

/// What the sign-up form sends.
#[derive(Debug, Clone)]
pub struct SignUp {
    pub organisation_name: String,
    pub display_name: String,
    pub email: String,
    pub password: String,
}

/// The answer to a wrong e-mail *or* a wrong password: the same words either way.
pub fn bad_credentials() -> AppError {
    AppError::BadRequest("Wrong e-mail or password.".into())
}

fn busy(_: Busy) -> AppError {
    AppError::Busy { retry_after_s: 1 }
}

fn limited(wait: std::time::Duration) -> AppError {
    AppError::RateLimited {
        retry_after_s: wait.as_secs().max(1),
    }
}

/// Creates an organisation with its owner and signs the owner in; returns the session token.
/// Everything cheap is checked before the password is hashed; sign-ups are limited per
/// client address and in all.
pub async fn sign_up(state: &AppState, input: SignUp, client: &str) -> Result<String, AppError> {
    if !state.config.sign_up_open {
        return Err(AppError::BadRequest(
            "Sign-up is closed on this server: ask an organisation's admin for an invitation."
                .into(),
        ));
    }
    let mut errors = Vec::new();
    let org_name = check_name(
        "organisation_name",
        "Organisation name",
        &input.organisation_name,
    )
    .map_err(|e| errors.push(e))
    .ok();
    let display_name = check_name("display_name", "Your name", &input.display_name)
        .map_err(|e| errors.push(e))
        .ok();
    let email = check_email(&input.email).map_err(|e| errors.push(e)).ok();
    if let Err(e) = check_password(&input.password) {
        errors.push(e);
    }
    let (Some(org_name), Some(display_name), Some(email)) = (org_name, display_name, email) else {
        return Err(AppError::Validation(errors));
    };
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let taken = || {
        FieldError::new(
            "email",
            "E-mail",
            email.clone(),
            "an address not registered yet".into(),
        )
    };
    // Counted before anything is looked up or hashed: this bounds both the cost and how
    // fast addresses can be probed.
    let now = Instant::now();
    state
        .limits
        .sign_up_by_address
        .hit(client, now)
        .map_err(limited)?;
    state.limits.sign_up_total.hit("", now).map_err(limited)?;
    if repo::users::find_by_email(&state.db, &email)
        .await
        .or_internal()?
        .is_some()
    {
        return Err(taken().into());
    }
    let hash = passwords::hash(input.password).await.map_err(|e| match e {
        passwords::HashError::Busy(b) => busy(b),
        e => super::super::state::internal(e),
    })?;
    let now = state.clock.now();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    if repo::users::find_by_email(&mut tx, &email)
        .await
        .or_internal()?
        .is_some()
    {
        return Err(taken().into());
    }
    let org = repo::orgs::create(&mut tx, &org_name, now)
        .await
        .or_internal()?;
    let user_id = repo::users::create(&mut tx, &email, &display_name, &hash, now)
        .await
        .or_internal()?;
    repo::users::upsert_membership(&mut tx, org.id, user_id, Role::Owner, now)
        .await
        .or_internal()?;
    for package in &state.config.default_packages {
        repo::orgs::set_package(&mut tx, org.id, *package, true, now)
            .await
            .or_internal()?;
    }
    tx.commit().await.or_internal()?;
    tracing::info!(org.id = org.id, user.id = user_id, "organisation signed up");
    start_session(state, user_id, org.id).await
}

/// Counts a password attempt for `email` from `client` before it is made; the returned
/// guard takes it back if the attempt succeeds.
fn count_attempt(state: &AppState, email: &str, client: &str) -> Result<String, AppError> {
    let now = Instant::now();
    let limits = &state.limits;
    limits.login_by_address.hit(client, now).map_err(limited)?;
    let pair = format!("{email}\n{client}");
    if let Err(wait) = limits.login_by_account_address.hit(&pair, now) {
        limits.login_by_address.forgive(client, now);
        return Err(limited(wait));
    }
    Ok(pair)
}

fn attempt_succeeded(state: &AppState, pair: &str, client: &str) {
    state
        .limits
        .login_by_address
        .forgive(client, Instant::now());
    state.limits.login_by_account_address.clear(pair);
}

/// Verifies `password` for the account `email` (the same cost and answer for unknown
/// accounts); the user id if it matches.
async fn verify_account(
    state: &AppState,
    email: &str,
    password: String,
) -> Result<Option<i64>, AppError> {
    let user = repo::users::find_by_email(&state.db, email)
        .await
        .or_internal()?;
    match user {
        Some(u) => Ok(passwords::verify(password, u.password_hash)
            .await
            .map_err(busy)?
            .then_some(u.id)),
        None => {
            passwords::dummy_verify(password).await.map_err(busy)?;
            Ok(None)
        }
    }
}

/// Checks credentials and starts a session in the user's first organisation; returns its
/// token.
pub async fn log_in(
    state: &AppState,
    email: &str,
    password: String,
    client: &str,
) -> Result<String, AppError> {
    let Ok(email) = check_email(email) else {
        // Not an address at all: the same answer as a wrong password, and it still counts.
        state
            .limits
            .login_by_address
            .hit(client, Instant::now())
            .map_err(limited)?;
        return Err(bad_credentials());
    };
    let pair = count_attempt(state, &email, client)?;
    let user = match verify_account(state, &email, password).await {
        Ok(u) => u,
        Err(e @ AppError::Busy { .. }) => {
            // Not an attempt at all: give it back.
            attempt_succeeded(state, &pair, client);
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    let org = match user {
        Some(id) => repo::users::first_organisation(&state.db, id)
            .await
            .or_internal()?
            .map(|org| (id, org)),
        None => None,
    };
    let Some((user_id, org_id)) = org else {
        return Err(bad_credentials());
    };
    attempt_succeeded(state, &pair, client);
    start_session(state, user_id, org_id).await
}

/// Stores a new session for a user in an organisation; returns the cookie token.
pub async fn start_session(
    state: &AppState,
    user_id: i64,
    org_id: i64,
) -> Result<String, AppError> {
    let token = tokens::new_token();
    let now = state.clock.now();
    let ttl = chrono::Duration::from_std(state.config.session_ttl).or_internal()?;
    repo::sessions::create(
        &state.db,
        &tokens::hash_token(&token),
        user_id,
        org_id,
        now,
        now + ttl,
    )
    .await
    .or_internal()?;
    Ok(token)
}

/// Ends the session with this token.
pub async fn log_out(state: &AppState, token: &str) -> Result<(), AppError> {
    repo::sessions::delete(&state.db, &tokens::hash_token(token))
        .await
        .or_internal()
}

/// The organisation overview: name, Enabled Packages, members.
pub async fn overview(state: &AppState, caller: &Caller) -> Result<OrganisationOverview, AppError> {
    caller.require(Permission::ViewStreams)?;
    let org = repo::orgs::get(&state.db, caller.organisation_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Organisation".into()))?;
    Ok(OrganisationOverview {
        id: org.id,
        slug: org.slug,
        name: org.name,
        created_at: org.created_at,
        packages: repo::orgs::package_states(&state.db, org.id)
            .await
            .or_internal()?,
        members: repo::users::members(&state.db, org.id)
            .await
            .or_internal()?,
        storage: state.pipeline.storage(org.id),
    })
}

/// Invites `email` to the caller's organisation as `role`: returns the single-use link the
/// caller passes on. The answer is the same whether or not the address has an account.
pub async fn invite_member(
    state: &AppState,
    caller: &Caller,
    email: &str,
    role: Role,
) -> Result<NewInvitation, AppError> {
    caller.require(Permission::ManageMembers)?;
    if !caller.role.can_assign(role) {
        return Err(AppError::Forbidden(format!(
            "{} may not make someone {}",
            caller.role, role
        )));
    }
    let email = check_email(email)?;
    if let Some(u) = repo::users::find_by_email(&state.db, &email)
        .await
        .or_internal()?
    {
        if repo::users::role_in(&state.db, caller.organisation_id, u.id)
            .await
            .or_internal()?
            .is_some()
        {
            return Err(FieldError::new(
                "email",
                "E-mail",
                email,
                "someone who is not a member yet (change a member's role in the list)".into(),
            )
            .into());
        }
    }
    let now = state.clock.now();
    within_limit(
        repo::invitations::count_pending(&state.db, caller.organisation_id, now),
        state.config.org_limits.pending_invitations,
        "open invitations",
    )
    .await?;
    let token = tokens::new_token();
    let expires_at = now + chrono::Duration::days(INVITATION_DAYS);
    let id = repo::invitations::insert(
        &state.db,
        &repo::invitations::NewInvitationRow {
            organisation_id: caller.organisation_id,
            email: &email,
            role,
            token_hash: &tokens::hash_token(&token),
            invited_by: caller.user_id,
            invited_by_email: &caller.email,
            now,
            expires_at,
        },
    )
    .await
    .or_internal()?;
    tracing::info!(
        org.id = caller.organisation_id,
        invitation.id = id,
        "member invited"
    );
    Ok(NewInvitation {
        invitation: Invitation {
            id,
            email,
            role,
            invited_by: caller.email.clone(),
            created_at: now,
            expires_at,
        },
        path: format!("/invite/{token}"),
    })
}

/// The organisation's open invitations.
pub async fn invitations(state: &AppState, caller: &Caller) -> Result<Vec<Invitation>, AppError> {
    caller.require(Permission::ManageMembers)?;
    repo::invitations::pending(&state.db, caller.organisation_id, state.clock.now())
        .await
        .or_internal()
}

/// Revokes an open invitation: its link stops working at once.
pub async fn revoke_invitation(state: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageMembers)?;
    if repo::invitations::revoke(&state.db, caller.organisation_id, id, state.clock.now())
        .await
        .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("Open invitation".into()))
    }
}

async fn open_invitation(
    state: &AppState,
    token: &str,
    client: &str,
) -> Result<repo::invitations::OpenInvitation, AppError> {
    let limiter = &state.limits.share_lookups;
    limiter.check(client, Instant::now()).map_err(limited)?;
    let found = if token.len() == 43 {
        repo::invitations::find_open(&state.db, &tokens::hash_token(token), state.clock.now())
            .await
            .or_internal()?
    } else {
        None
    };
    found.ok_or_else(|| {
        limiter.fail(client, Instant::now());
        AppError::NotFound("Invitation (it may have been used, revoked or have expired)".into())
    })
}

/// What an invitation link offers (for the invitee's page).
pub async fn invitation_info(
    state: &AppState,
    token: &str,
    client: &str,
) -> Result<InvitationInfo, AppError> {
    let inv = open_invitation(state, token, client).await?;
    let account_exists = repo::users::find_by_email(&state.db, &inv.email)
        .await
        .or_internal()?
        .is_some();
    Ok(InvitationInfo {
        organisation_name: inv.organisation_name,
        email: inv.email,
        role: inv.role,
        expires_at: inv.expires_at,
        account_exists,
    })
}

/// Accepts an invitation and signs the invitee in to that organisation; returns the session
/// token. An existing account proves itself with its password; a new one is made with the
/// password given (and `display_name`).
pub async fn accept_invitation(
    state: &AppState,
    token: &str,
    display_name: &str,
    password: String,
    client: &str,
) -> Result<String, AppError> {
    let inv = open_invitation(state, token, client).await?;
    let existing = repo::users::find_by_email(&state.db, &inv.email)
        .await
        .or_internal()?;
    let user_id = match existing {
        Some(_) => {
            let pair = count_attempt(state, &inv.email, client)?;
            match verify_account(state, &inv.email, password).await? {
                Some(id) => {
                    attempt_succeeded(state, &pair, client);
                    id
                }
                None => return Err(bad_credentials()),
            }
        }
        None => {
            let display_name = check_name("display_name", "Your name", display_name)?;
            check_password(&password)?;
            let hash = passwords::hash(password).await.map_err(|e| match e {
                passwords::HashError::Busy(b) => busy(b),
                e => super::super::state::internal(e),
            })?;
            let mut tx = begin_write(&state.db).await.or_internal()?;
            if repo::users::find_by_email(&mut tx, &inv.email)
                .await
                .or_internal()?
                .is_some()
            {
                return Err(AppError::BadRequest(
                    "An account with this address was made meanwhile; sign in to accept.".into(),
                ));
            }
            let id =
                repo::users::create(&mut tx, &inv.email, &display_name, &hash, state.clock.now())
                    .await
                    .or_internal()?;
            tx.commit().await.or_internal()?;
            id
        }
    };
    let now = state.clock.now();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    if !repo::invitations::mark_accepted(&mut tx, inv.id, user_id, now)
        .await
        .or_internal()?
    {
        return Err(AppError::NotFound(
            "Invitation (it may have been used, revoked or have expired)".into(),
        ));
    }
    if repo::users::role_in(&mut tx, inv.organisation_id, user_id)
        .await
        .or_internal()?
        .is_none()
    {
        repo::users::upsert_membership(&mut tx, inv.organisation_id, user_id, inv.role, now)
            .await
            .or_internal()?;
    }
    tx.commit().await.or_internal()?;
    tracing::info!(
        org.id = inv.organisation_id,
        user.id = user_id,
        invitation.id = inv.id,
        "invitation accepted"
    );
    start_session(state, user_id, inv.organisation_id).await
}

/// Changes a member's role (never leaving the organisation without an owner).
pub async fn set_member_role(
    state: &AppState,
    caller: &Caller,
    user_id: i64,
    role: Role,
) -> Result<(), AppError> {
    caller.require(Permission::ManageMembers)?;
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let current = repo::users::role_in(&mut tx, caller.organisation_id, user_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Member".into()))?;
    for r in [current, role] {
        if !caller.role.can_assign(r) {
            return Err(AppError::Forbidden(format!(
                "{} may not change an {} or make someone {}",
                caller.role, current, role
            )));
        }
    }
    if current == Role::Owner && role != Role::Owner {
        last_owner_check(&mut tx, caller.organisation_id).await?;
    }
    repo::users::set_role(&mut tx, caller.organisation_id, user_id, role)
        .await
        .or_internal()?;
    tx.commit().await.or_internal()
}

async fn last_owner_check(tx: &mut super::super::db::Tx, org_id: i64) -> Result<(), AppError> {
    if repo::users::count_owners(tx, org_id).await.or_internal()? <= 1 {
        return Err(AppError::BadRequest(
            "An organisation keeps at least one owner.".into(),
        ));
    }
    Ok(())
}

/// Removes a member (never the last owner); their sessions in the organisation end.
pub async fn remove_member(
    state: &AppState,
    caller: &Caller,
    user_id: i64,
) -> Result<(), AppError> {
    caller.require(Permission::ManageMembers)?;
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let role = repo::users::role_in(&mut tx, caller.organisation_id, user_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Member".into()))?;
    if !caller.role.can_assign(role) {
        return Err(AppError::Forbidden(format!(
            "{} may not remove an {}",
            caller.role, role
        )));
    }
    if role == Role::Owner {
        last_owner_check(&mut tx, caller.organisation_id).await?;
    }
    repo::users::remove_membership(&mut tx, caller.organisation_id, user_id)
        .await
        .or_internal()?;
    tx.commit().await.or_internal()?;
    repo::sessions::delete_for_membership(&state.db, user_id, caller.organisation_id)
        .await
        .or_internal()
}

/// The caller leaves their current organisation (not as its last owner).
pub async fn leave_organisation(state: &AppState, caller: &Caller) -> Result<(), AppError> {
    let mut tx = begin_write(&state.db).await.or_internal()?;
    if caller.role == Role::Owner {
        last_owner_check(&mut tx, caller.organisation_id).await?;
    }
    repo::users::remove_membership(&mut tx, caller.organisation_id, caller.user_id)
        .await
        .or_internal()?;
    tx.commit().await.or_internal()?;
    repo::sessions::delete_for_membership(&state.db, caller.user_id, caller.organisation_id)
        .await
        .or_internal()
}

/// Every organisation the caller belongs to.
pub async fn memberships(state: &AppState, caller: &Caller) -> Result<Vec<Membership>, AppError> {
    repo::users::memberships(&state.db, caller.user_id)
        .await
        .or_internal()
}

/// Moves the caller's session to another of their organisations.
pub async fn switch_organisation(
    state: &AppState,
    session_token: &str,
    org_id: i64,
) -> Result<(), AppError> {
    if repo::sessions::switch_organisation(&state.db, &tokens::hash_token(session_token), org_id)
        .await
        .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("Organisation".into()))
    }
}

/// Changes the caller's password (the current one proves it is them) and ends every other
/// session of theirs; returns how many ended.
pub async fn change_password(
    state: &AppState,
    caller: &Caller,
    session_token: &str,
    current: String,
    new: String,
    client: &str,
) -> Result<u64, AppError> {
    check_password(&new)?;
    let pair = count_attempt(state, &caller.email, client)?;
    match verify_account(state, &caller.email, current).await? {
        Some(id) if id == caller.user_id => attempt_succeeded(state, &pair, client),
        _ => {
            return Err(FieldError::new(
                "current_password",
                "Current password",
                String::new(),
                "your current password".into(),
            )
            .into())
        }
    }
    let hash = passwords::hash(new).await.map_err(|e| match e {
        passwords::HashError::Busy(b) => busy(b),
        e => super::super::state::internal(e),
    })?;
    repo::users::set_password(&state.db, caller.user_id, &hash)
        .await
        .or_internal()?;
    sign_out_others(state, caller, session_token).await
}

/// Ends every session of the caller but this one; returns how many ended.
pub async fn sign_out_others(
    state: &AppState,
    caller: &Caller,
    session_token: &str,
) -> Result<u64, AppError> {
    repo::sessions::delete_for_user_except(
        &state.db,
        caller.user_id,
        &tokens::hash_token(session_token),
    )
    .await
    .or_internal()
}

/// The operator's password reset: a new random password for the account, every session
/// ended; returns the password to hand over (the user should change it).
pub async fn reset_password(state: &AppState, email: &str) -> Result<String, AppError> {
    let email = check_email(email)?;
    let user = repo::users::find_by_email(&state.db, &email)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound(format!("Account {email}")))?;
    let password = tokens::new_password();
    let hash = passwords::hash(password.clone())
        .await
        .map_err(|e| match e {
            passwords::HashError::Busy(b) => busy(b),
            e => super::super::state::internal(e),
        })?;
    repo::users::set_password(&state.db, user.id, &hash)
        .await
        .or_internal()?;
    repo::sessions::delete_for_user(&state.db, user.id)
        .await
        .or_internal()?;
    tracing::info!(user.id = user.id, "password reset by the operator");
    Ok(password)
}

/// Turns a package on or off for an organisation (the operator's CLI; no caller).
pub async fn set_package(
    state: &AppState,
    org_key: &str,
    package: Package,
    enabled: bool,
) -> Result<String, AppError> {
    let org = repo::orgs::find(&state.db, org_key)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound(format!("Organisation {org_key}")))?;
    repo::orgs::set_package(&state.db, org.id, package, enabled, state.clock.now())
        .await
        .or_internal()?;
    Ok(org.slug)
}
