//! API keys and webhooks, managed by admins: keys are shown once and stored hashed, act with
//! the role they were given (never above their maker's), and record when they were last
//! used; webhook endpoints get a signing secret shown once and a delivery log.

use super::super::auth::Caller;
use super::super::repo::{self, integrations::NewKeyRow};
use super::super::state::{AppState, OrInternal};
use super::super::tokens;
use super::within_limit;
use crate::domain::integrations::{
    check_label, ApiKeyInfo, Integrations, NewApiKey, NewWebhook, NewWebhookCreated, Webhook,
};
use crate::domain::roles::{Permission, Role};
use crate::domain::{AppError, FieldError};

/// Deliveries shown per endpoint.
pub const DELIVERIES_SHOWN: i64 = 20;
/// Characters of a key kept to recognise it (`lpk_` and 8 more).
const PREFIX_LEN: usize = 12;

/// The organisation's keys and endpoints.
pub async fn overview(state: &AppState, caller: &Caller) -> Result<Integrations, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    Ok(Integrations {
        api_keys: repo::integrations::keys_of(&state.db, caller.organisation_id)
            .await
            .or_internal()?,
        webhooks: repo::integrations::webhooks_of(
            &state.db,
            caller.organisation_id,
            DELIVERIES_SHOWN,
        )
        .await
        .or_internal()?,
    })
}

/// Makes a key acting as `role`; returns it with its secret (the only time it is shown).
pub async fn create_key(
    state: &AppState,
    caller: &Caller,
    name: &str,
    role: Role,
) -> Result<NewApiKey, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let name = check_label("name", "Key name", name)?;
    within_limit(
        repo::integrations::count_active_keys(&state.db, caller.organisation_id),
        state.config.org_limits.api_keys,
        "active API keys",
    )
    .await?;
    if role > caller.role {
        return Err(AppError::Forbidden(format!(
            "a key cannot have more rights than its maker ({} may make keys up to {})",
            caller.role.label(),
            caller.role.label()
        )));
    }
    let secret = tokens::new_api_key();
    let prefix: String = secret.chars().take(PREFIX_LEN).collect();
    let now = state.clock.now();
    let id = repo::integrations::insert_key(
        &state.db,
        &NewKeyRow {
            organisation_id: caller.organisation_id,
            name: &name,
            role,
            prefix: &prefix,
            key_hash: &tokens::hash_token(&secret),
            created_by: caller.user_id,
            created_by_email: &caller.email,
            now,
        },
    )
    .await
    .or_internal()?;
    tracing::info!(
        api_key.id = id,
        org.id = caller.organisation_id,
        "API key created"
    );
    Ok(NewApiKey {
        key: ApiKeyInfo {
            id,
            name,
            role,
            prefix,
            created_at: now,
            created_by: caller.email.clone(),
            last_used_at: None,
            revoked_at: None,
        },
        secret,
    })
}

/// Revokes a key: it stops working at once.
pub async fn revoke_key(state: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageIntegrations)?;
    if repo::integrations::revoke_key(&state.db, caller.organisation_id, id, state.clock.now())
        .await
        .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("Active API key".into()))
    }
}

/// The caller an API key acts as, with the lesser of the key's role and its maker's role now
/// (a key loses power when its maker is demoted, and stops when they leave); unknown,
/// revoked or malformed keys, and keys whose maker is no longer a member, are all
/// [`AppError::Unauthenticated`].
pub async fn authenticate(state: &AppState, secret: &str) -> Result<Caller, AppError> {
    if !tokens::looks_like_api_key(secret) {
        return Err(AppError::Unauthenticated);
    }
    let found =
        repo::integrations::use_key(&state.db, &tokens::hash_token(secret), state.clock.now())
            .await
            .or_internal()?;
    match found {
        // Changes a key makes are recorded under its maker, labelled with the key.
        Some(found) => match (found.maker_id, found.maker_role) {
            (Some(user_id), Some(maker_role)) => Ok(Caller {
                user_id,
                email: format!("api-key:{}", found.key.name),
                display_name: found.key.name,
                organisation_id: found.organisation_id,
                organisation_name: found.organisation_name,
                role: found.key.role.min(maker_role),
            }),
            _ => Err(AppError::Unauthenticated),
        },
        _ => Err(AppError::Unauthenticated),
    }
}

/// Registers an endpoint; returns it with its signing secret (the only time it is shown).
pub async fn create_webhook(
    state: &AppState,
    caller: &Caller,
    input: &NewWebhook,
) -> Result<NewWebhookCreated, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let hook = input.validate()?;
    if let Err(why) = state.config.outbound.check_url(&hook.url).await {
        return Err(FieldError::new(
            "url",
            "Endpoint URL",
            hook.url,
            format!("a URL of a public host ({why})"),
        )
        .into());
    }
    within_limit(
        repo::integrations::count_webhooks(&state.db, caller.organisation_id),
        state.config.org_limits.webhooks,
        "webhook endpoints",
    )
    .await?;
    let secret = tokens::new_webhook_secret();
    let now = state.clock.now();
    let id = repo::integrations::insert_webhook(
        &state.db,
        caller.organisation_id,
        &hook.url,
        &hook.events,
        &secret,
        caller.user_id,
        now,
    )
    .await
    .or_internal()?;
    let webhook = Webhook {
        id,
        url: hook.url,
        events: hook.events,
        created_at: now,
        deliveries: Vec::new(),
    };
    Ok(NewWebhookCreated { webhook, secret })
}

/// Removes an endpoint and its delivery log.
pub async fn delete_webhook(state: &AppState, caller: &Caller, id: i64) -> Result<(), AppError> {
    caller.require(Permission::ManageIntegrations)?;
    if repo::integrations::delete_webhook(&state.db, caller.organisation_id, id)
        .await
        .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("Webhook".into()))
    }
}
