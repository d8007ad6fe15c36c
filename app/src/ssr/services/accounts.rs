//! Accounts: sign-up (a new organisation and its owner), login and logout, members, and the
//! organisation overview with its Enabled Packages.

use std::time::Instant;

use super::super::auth::Caller;
use super::super::db::begin_write;
use super::super::state::{AppState, OrInternal};
use super::super::{passwords, repo, tokens};
use crate::domain::account::{check_email, check_name, check_password, OrganisationOverview};
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

/// Creates an organisation with its owner and signs the owner in; returns the session token.
pub async fn sign_up(state: &AppState, input: SignUp) -> Result<String, AppError> {
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
    let hash = passwords::hash(input.password).await.or_internal()?;
    let now = state.clock.now();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    if repo::users::find_by_email(&mut *tx, &email)
        .await
        .or_internal()?
        .is_some()
    {
        return Err(FieldError::new(
            "email",
            "E-mail",
            email,
            "an address not registered yet".into(),
        )
        .into());
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
        repo::orgs::set_package(&mut *tx, org.id, *package, true, now)
            .await
            .or_internal()?;
    }
    tx.commit().await.or_internal()?;
    tracing::info!(org.id = org.id, user.id = user_id, "organisation signed up");
    start_session(state, user_id, org.id).await
}

/// Checks credentials and starts a session; returns its token. Rate limited per client
/// address and per account; unknown users and wrong passwords get the same answer in the
/// same time.
pub async fn log_in(
    state: &AppState,
    email: &str,
    password: String,
    client: &str,
) -> Result<String, AppError> {
    let email = email.trim().to_lowercase();
    let now = Instant::now();
    let limits = &state.limits;
    for (limiter, key) in [
        (&limits.login_by_address, client),
        (&limits.login_by_account, email.as_str()),
    ] {
        if let Err(wait) = limiter.check(key, now) {
            return Err(AppError::RateLimited {
                retry_after_s: wait.as_secs().max(1),
            });
        }
    }
    let user = repo::users::find_by_email(&state.db, &email)
        .await
        .or_internal()?;
    let verified = match &user {
        Some(u) => passwords::verify(password, u.password_hash.clone()).await,
        None => {
            passwords::dummy_verify(password).await;
            false
        }
    };
    let org = match (&user, verified) {
        (Some(u), true) => repo::users::first_organisation(&state.db, u.id)
            .await
            .or_internal()?,
        _ => None,
    };
    let (Some(user), Some(org_id)) = (user, org) else {
        limits.login_by_address.fail(client, now);
        limits.login_by_account.fail(&email, now);
        return Err(bad_credentials());
    };
    limits.login_by_account.clear(&email);
    start_session(state, user.id, org_id).await
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
    })
}

/// Adds a member by e-mail with a role. A new user gets a generated password, returned once
/// so the admin can pass it on; an existing user just joins.
pub async fn add_member(
    state: &AppState,
    caller: &Caller,
    email: &str,
    display_name: &str,
    role: Role,
) -> Result<Option<String>, AppError> {
    caller.require(Permission::ManageMembers)?;
    if !caller.role.can_assign(role) {
        return Err(AppError::Forbidden(format!(
            "{} may not make someone {}",
            caller.role, role
        )));
    }
    let email = check_email(email)?;
    let display_name = if display_name.trim().is_empty() {
        email.clone()
    } else {
        check_name("display_name", "Name", display_name)?
    };
    let existing = repo::users::find_by_email(&state.db, &email)
        .await
        .or_internal()?;
    let (password, hash) = match existing {
        Some(_) => (None, None),
        None => {
            let p = tokens::new_password();
            let h = passwords::hash(p.clone()).await.or_internal()?;
            (Some(p), Some(h))
        }
    };
    let now = state.clock.now();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let user_id = match (
        repo::users::find_by_email(&mut *tx, &email)
            .await
            .or_internal()?,
        hash,
    ) {
        (Some(u), _) => {
            if let Some(current) = repo::users::role_in(&mut *tx, caller.organisation_id, u.id)
                .await
                .or_internal()?
            {
                if !caller.role.can_assign(current) {
                    return Err(AppError::Forbidden(format!(
                        "{} may not change an {}",
                        caller.role, current
                    )));
                }
            }
            u.id
        }
        (None, Some(hash)) => repo::users::create(&mut tx, &email, &display_name, &hash, now)
            .await
            .or_internal()?,
        (None, None) => return Err(AppError::Internal("user vanished".into())),
    };
    repo::users::upsert_membership(&mut tx, caller.organisation_id, user_id, role, now)
        .await
        .or_internal()?;
    tx.commit().await.or_internal()?;
    Ok(password)
}

/// Removes a member (never the last owner).
pub async fn remove_member(
    state: &AppState,
    caller: &Caller,
    user_id: i64,
) -> Result<(), AppError> {
    caller.require(Permission::ManageMembers)?;
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let role = repo::users::role_in(&mut *tx, caller.organisation_id, user_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Member".into()))?;
    if !caller.role.can_assign(role) {
        return Err(AppError::Forbidden(format!(
            "{} may not remove an {}",
            caller.role, role
        )));
    }
    if role == Role::Owner
        && repo::users::count_owners(&mut tx, caller.organisation_id)
            .await
            .or_internal()?
            <= 1
    {
        return Err(AppError::BadRequest(
            "An organisation keeps at least one owner.".into(),
        ));
    }
    repo::users::remove_membership(&mut tx, caller.organisation_id, user_id)
        .await
        .or_internal()?;
    tx.commit().await.or_internal()
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
