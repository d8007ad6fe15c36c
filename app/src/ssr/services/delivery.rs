//! Delivery to viewers without an account. Public delivery is switched per stream by editors
//! and opens the stream's latest thumbnail, motion clip and live replay behind a token that
//! can be rotated. Signed URLs open one asset or clip until they expire: the organisation's
//! backend signs them itself with a signing key (HMAC-SHA256, see the README), or asks the
//! API to. Lookups by token or key from the public routes are rate limited per address on
//! misses, like share links.

use std::time::Instant;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::super::auth::Caller;
use super::super::repo::{self, delivery::SigningKey};
use super::super::state::{AppState, OrInternal};
use super::super::tokens;
use super::{require_package, within_limit};
use crate::domain::assets::AssetKind;
use crate::domain::delivery::{
    signed_message, signed_prefix, NewSigningKey, PublicUrls, SignedTarget, SignedUrl,
    SigningKeyInfo, StreamDelivery, MAX_SIGNED_SECONDS,
};
use crate::domain::integrations::check_label;
use crate::domain::packages::Package;
use crate::domain::roles::Permission;
use crate::domain::{AppError, FieldError};

fn view(stream_id: i64, row: Option<repo::delivery::Delivery>) -> StreamDelivery {
    let urls = row.filter(|d| d.public).map(|d| PublicUrls::of(&d.token));
    StreamDelivery::new(stream_id, urls)
}

/// A stream of the caller's organisation, or not found.
async fn own_stream(state: &AppState, caller: &Caller, stream_id: i64) -> Result<(), AppError> {
    repo::streams::group_of_stream(&state.db, caller.organisation_id, stream_id)
        .await
        .or_internal()?
        .map(|_| ())
        .ok_or_else(|| AppError::NotFound("Stream".into()))
}

/// Whether a stream's files are public, and where.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<StreamDelivery, AppError> {
    caller.require(Permission::ViewStreams)?;
    own_stream(state, caller, stream_id).await?;
    let row = repo::delivery::get(&state.db, stream_id)
        .await
        .or_internal()?;
    Ok(view(stream_id, row))
}

/// The delivery of several streams the caller may already see (the Live Processing tab).
pub async fn of_streams(
    state: &AppState,
    stream_ids: &[i64],
) -> Result<Vec<StreamDelivery>, AppError> {
    let rows = repo::delivery::of_streams(&state.db, stream_ids)
        .await
        .or_internal()?;
    Ok(stream_ids
        .iter()
        .map(|id| view(*id, rows.iter().find(|r| r.stream_id == *id).cloned()))
        .collect())
}

/// Switches a stream's public delivery on or off (editors). Switching it on again keeps the
/// token, so embeds made before work again; rotate to change it.
pub async fn set_public(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
    public: bool,
) -> Result<StreamDelivery, AppError> {
    caller.require(Permission::EditProcessing)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    own_stream(state, caller, stream_id).await?;
    let row = repo::delivery::set_public(
        &state.db,
        stream_id,
        public,
        &tokens::new_share_token(),
        state.clock.now(),
    )
    .await
    .or_internal()?;
    state.lookups.forget();
    tracing::info!(
        stream.id = stream_id,
        user.id = caller.user_id,
        public,
        "public delivery switched"
    );
    Ok(view(stream_id, Some(row)))
}

/// The delivery of every stream of a group (ingest first, then its profiles).
pub async fn of_group(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<Vec<StreamDelivery>, AppError> {
    caller.require(Permission::ViewStreams)?;
    let ids = group_streams(state, caller, group_id).await?;
    of_streams(state, &ids).await
}

/// Switches public delivery of every stream of a group at once (editors): the group's
/// switch. Each stream keeps its own token, so one stream's URLs never open another's.
pub async fn set_group_public(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    public: bool,
) -> Result<Vec<StreamDelivery>, AppError> {
    caller.require(Permission::EditProcessing)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let ids = group_streams(state, caller, group_id).await?;
    let now = state.clock.now();
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row =
            repo::delivery::set_public(&state.db, id, public, &tokens::new_share_token(), now)
                .await
                .or_internal()?;
        out.push(view(id, Some(row)));
    }
    state.lookups.forget();
    tracing::info!(
        group.id = group_id,
        user.id = caller.user_id,
        public,
        "public delivery switched for a group"
    );
    Ok(out)
}

/// The stream ids of a group of the caller's organisation, or not found.
async fn group_streams(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<Vec<i64>, AppError> {
    repo::streams::get_group(&state.db, caller.organisation_id, group_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Stream group".into()))?;
    Ok(repo::streams::streams_of(&state.db, group_id)
        .await
        .or_internal()?
        .into_iter()
        .map(|s| s.id)
        .collect())
}

/// Gives a stream a new public token: every URL made with the old one stops at once.
pub async fn rotate(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<StreamDelivery, AppError> {
    caller.require(Permission::EditProcessing)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    own_stream(state, caller, stream_id).await?;
    let token = tokens::new_share_token();
    let now = state.clock.now();
    let row = match repo::delivery::rotate(&state.db, stream_id, &token, now)
        .await
        .or_internal()?
    {
        Some(row) => row,
        // Never switched on: make the row (off) with the new token.
        None => repo::delivery::set_public(&state.db, stream_id, false, &token, now)
            .await
            .or_internal()?,
    };
    state.lookups.forget();
    tracing::info!(
        stream.id = stream_id,
        user.id = caller.user_id,
        "public token rotated"
    );
    Ok(view(stream_id, Some(row)))
}

/// The stream a public token opens while its delivery is on. A miss counts against the
/// address like a wrong share token.
pub async fn find_public(
    state: &AppState,
    token: &str,
    client: &str,
) -> Result<Option<i64>, AppError> {
    counted(state, client, async {
        if !tokens::looks_like_share_token(token) {
            return Ok(None);
        }
        state
            .lookups
            .tokens
            .get_or_fetch(token, async {
                repo::delivery::find_public(&state.db, token)
                    .await
                    .or_internal()
            })
            .await
    })
    .await
}

/// An asset by id for public media (a replay's playlist and segments), kept for a moment:
/// a player asks for the same replay every second.
pub async fn public_asset(
    state: &AppState,
    asset_id: i64,
) -> Result<Option<repo::assets::AssetRow>, AppError> {
    state
        .lookups
        .assets
        .get_or_fetch(&asset_id, async {
            repo::assets::get(&state.db, asset_id).await.or_internal()
        })
        .await
}

/// A stream's newest asset of a kind and format for public media, kept for a moment (an
/// embed's `Cache-Control` already lets a viewer keep it for seconds).
pub async fn public_latest(
    state: &AppState,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
) -> Result<Option<repo::assets::AssetRow>, AppError> {
    state
        .lookups
        .latest
        .get_or_fetch(&(stream_id, kind, format.to_string()), async {
            repo::assets::latest(&state.db, stream_id, kind, format)
                .await
                .or_internal()
        })
        .await
}

/// A lookup by a secret from a viewer without an account: an address that misses too often
/// is refused for a while (as with share tokens), before the lookup runs.
async fn counted<T>(
    state: &AppState,
    client: &str,
    lookup: impl std::future::Future<Output = Result<Option<T>, AppError>>,
) -> Result<Option<T>, AppError> {
    let limiter = &state.limits.share_lookups;
    if let Err(wait) = limiter.check(client, Instant::now()) {
        return Err(AppError::RateLimited {
            retry_after_s: wait.as_secs().max(1),
        });
    }
    let found = lookup.await?;
    if found.is_none() {
        limiter.fail(client, Instant::now());
    }
    Ok(found)
}

/// A new signing key id: `key_` and 16 random bytes.
fn new_key_id() -> String {
    let mut bytes = [0u8; 16];
    rand::fill(&mut bytes);
    format!("key_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Makes a signing key (admins); the secret is in the answer and never again.
pub async fn create_key(
    state: &AppState,
    caller: &Caller,
    name: &str,
) -> Result<NewSigningKey, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    let name = check_label("name", "Name", name).map_err(|e| AppError::Validation(vec![e]))?;
    let keys = repo::delivery::keys_of(&state.db, caller.organisation_id)
        .await
        .or_internal()?;
    within_limit(
        async { Ok(keys.iter().filter(|k| k.revoked_at.is_none()).count() as i64) },
        state.config.org_limits.api_keys,
        "signing keys",
    )
    .await?;
    let key = insert_key(state, caller.organisation_id, &name).await?;
    tracing::info!(org.id = caller.organisation_id, key.id = %key.key_id, "signing key made");
    Ok(NewSigningKey {
        key_id: key.key_id,
        name: key.name,
        secret: key.secret,
    })
}

async fn insert_key(state: &AppState, org_id: i64, name: &str) -> Result<SigningKey, AppError> {
    let key = SigningKey {
        key_id: new_key_id(),
        organisation_id: org_id,
        name: name.to_string(),
        secret: format!("lps_{}", tokens::new_token()),
        created_at: state.clock.now(),
        revoked_at: None,
    };
    repo::delivery::insert_key(&state.db, &key)
        .await
        .or_internal()?;
    Ok(key)
}

/// The organisation's signing keys (admins), without their secrets.
pub async fn keys(state: &AppState, caller: &Caller) -> Result<Vec<SigningKeyInfo>, AppError> {
    caller.require(Permission::ManageIntegrations)?;
    Ok(repo::delivery::keys_of(&state.db, caller.organisation_id)
        .await
        .or_internal()?
        .into_iter()
        .map(|k| SigningKeyInfo {
            key_id: k.key_id,
            name: k.name,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        })
        .collect())
}

/// Revokes a signing key: every URL it signed stops at once.
pub async fn revoke_key(state: &AppState, caller: &Caller, key_id: &str) -> Result<(), AppError> {
    caller.require(Permission::ManageIntegrations)?;
    if repo::delivery::revoke_key(&state.db, caller.organisation_id, key_id, state.clock.now())
        .await
        .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("Signing key".into()))
    }
}

/// The signature of `target` until `expires` (Unix seconds) with `secret`: HMAC-SHA256 of
/// `<key id>/<expires>/<target>`, URL-safe base64 without padding.
pub fn signature(secret: &str, key_id: &str, expires: i64, target: SignedTarget) -> String {
    URL_SAFE_NO_PAD.encode(mac(secret, key_id, expires, target).finalize().into_bytes())
}

fn mac(secret: &str, key_id: &str, expires: i64, target: SignedTarget) -> Hmac<Sha256> {
    // HMAC takes a key of any length, so this never falls back; the fallback (an empty
    // key) would only make signatures that never match a real secret's.
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| <Hmac<Sha256> as KeyInit>::new(&Default::default()));
    mac.update(signed_message(key_id, expires, target).as_bytes());
    mac
}

/// Signs a URL for an asset or clip of the caller's organisation, valid for `seconds`
/// (1 s to 7 days), with the organisation's newest signing key (one named "API" is made
/// when it has none).
pub async fn sign(
    state: &AppState,
    caller: &Caller,
    target: SignedTarget,
    seconds: i64,
) -> Result<SignedUrl, AppError> {
    caller.require(Permission::ManageClips)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    if !(1..=MAX_SIGNED_SECONDS).contains(&seconds) {
        return Err(AppError::Validation(vec![FieldError::new(
            "expires_in_s",
            "Expires in (s)",
            seconds.to_string(),
            format!("must be 1–{MAX_SIGNED_SECONDS}"),
        )]));
    }
    let file = match target {
        SignedTarget::Asset(id) => match repo::assets::get(&state.db, id).await.or_internal()? {
            Some(a) if a.organisation_id == caller.organisation_id => {
                if a.asset.format == "m3u8" {
                    "replay.m3u8".to_string()
                } else {
                    format!("{id}.{}", a.asset.format)
                }
            }
            _ => return Err(AppError::NotFound("Asset".into())),
        },
        SignedTarget::Clip(id) => {
            match repo::clips::get(&state.db, caller.organisation_id, id)
                .await
                .or_internal()?
            {
                Some(_) => "clip.m3u8".to_string(),
                None => return Err(AppError::NotFound("Clip".into())),
            }
        }
    };
    let keys = repo::delivery::keys_of(&state.db, caller.organisation_id)
        .await
        .or_internal()?;
    let key = match keys.into_iter().find(|k| k.revoked_at.is_none()) {
        Some(k) => k,
        None => insert_key(state, caller.organisation_id, "API").await?,
    };
    let expires_at = state.clock.now() + Duration::seconds(seconds);
    let expires = expires_at.timestamp();
    let sig = signature(&key.secret, &key.key_id, expires, target);
    Ok(SignedUrl {
        url: format!(
            "{}{file}",
            signed_prefix(&key.key_id, expires, &sig, target)
        ),
        expires_at: DateTime::<Utc>::from_timestamp(expires, 0).unwrap_or(expires_at),
    })
}

/// The organisation whose key made a valid, unexpired signature of `target`; `None` for an
/// unknown or revoked key, an expired URL or a wrong signature (all alike to the caller,
/// and each a miss counted against `client`).
pub async fn check_signed(
    state: &AppState,
    key_id: &str,
    expires: i64,
    sig: &str,
    target: SignedTarget,
    client: &str,
) -> Result<Option<i64>, AppError> {
    counted(state, client, verify(state, key_id, expires, sig, target)).await
}

async fn verify(
    state: &AppState,
    key_id: &str,
    expires: i64,
    sig: &str,
    target: SignedTarget,
) -> Result<Option<i64>, AppError> {
    if expires < state.clock.now().timestamp() || key_id.len() > 64 || sig.len() > 64 {
        return Ok(None);
    }
    let Ok(given) = URL_SAFE_NO_PAD.decode(sig) else {
        return Ok(None);
    };
    let Some(key) = repo::delivery::key(&state.db, key_id)
        .await
        .or_internal()?
        .filter(|k| k.revoked_at.is_none())
    else {
        return Ok(None);
    };
    // Constant-time comparison.
    Ok(mac(&key.secret, key_id, expires, target)
        .verify_slice(&given)
        .is_ok()
        .then_some(key.organisation_id))
}
