//! Replay clips and share links: cut a clip from a replay (instantly: the pipeline writes a
//! playlist over the segments that exist), list, revoke, delete; share a whole live replay;
//! save a span of the buffer as a recording; and what a viewer's share page may see. Every
//! call checks the role and the package; share lookups are rate limited per address.

use std::time::Instant;

use super::super::auth::Caller;
use super::super::db::begin_write;
use super::super::limiter::JobSlot;
use super::super::pipeline::ReplaySpan;
use super::super::repo::{self, assets::AssetRow, clips::FoundShare, clips::ShareTarget};
use super::super::state::{internal, AppState, OrInternal};
use super::super::tokens;
use super::streams::find_group;
use super::{require_package, within_limit};
use crate::domain::assets::{Asset, AssetKind};
use crate::domain::clips::{
    check_save_seconds, share_part_path, Clip, LinkExpiry, NewClip, PublicShare, ReplayView,
    ShareLink, SharePart, TimelineThumb,
};
use crate::domain::jobs::QuotaLevel;
use crate::domain::overview::SessionAsset;
use crate::domain::packages::Package;
use crate::domain::roles::Permission;
use crate::domain::AppError;

/// Clips listed per stream.
pub const CLIPS_LISTED: i64 = 100;

/// A replay asset of the caller's organisation with its session's times.
async fn find_replay(
    state: &AppState,
    caller: &Caller,
    replay_id: i64,
) -> Result<(AssetRow, SessionAsset), AppError> {
    let found = repo::assets::get_with_session(&state.db, replay_id)
        .await
        .or_internal()?
        .filter(|r| r.row.organisation_id == caller.organisation_id)
        .filter(|r| r.row.asset.kind == AssetKind::Replay)
        .ok_or_else(|| AppError::NotFound("Replay".into()))?;
    let session = SessionAsset {
        asset: found.row.asset.clone(),
        session_started_at: found.session_started_at,
        session_ended_at: found.session_ended_at,
    };
    Ok((found.row, session))
}

async fn allowed(
    state: &AppState,
    caller: &Caller,
    permission: Permission,
) -> Result<(), AppError> {
    caller.require(permission)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await
}

/// Cuts a clip and makes its share link. Instant: no re-encoding; the MP4 download and the
/// poster follow in the background.
pub async fn create(state: &AppState, caller: &Caller, input: &NewClip) -> Result<Clip, AppError> {
    allowed(state, caller, Permission::ManageClips).await?;
    let clip = input.validate()?;
    let (replay, _) = find_replay(state, caller, clip.replay_id).await?;
    within_limit(
        repo::clips::count(&state.db, caller.organisation_id),
        state.config.org_limits.clips,
        "clips",
    )
    .await?;
    room_for_more(state, caller)?;
    let slot = job_slot(state, caller)?;
    let files = state
        .pipeline
        .cut_clip(
            caller.organisation_id,
            replay.path.clone(),
            ReplaySpan::Between(clip.from, clip.to),
        )
        .await
        .map_err(AppError::from)?;
    let now = state.clock.now();
    let expires_at = clip.expiry.expires_at(now);
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let id = repo::clips::insert(
        &mut tx,
        &repo::clips::NewClipRow {
            organisation_id: caller.organisation_id,
            stream_id: replay.asset.stream_id,
            session_id: replay.asset.session_id,
            replay_asset_id: replay.asset.id,
            title: clip.title.clone(),
            starts_at: files.starts_at,
            duration_ms: files.duration_ms,
            dir: files.dir.clone(),
            created_by: caller.user_id,
            created_by_email: caller.email.clone(),
            created_at: now,
            expires_at,
        },
    )
    .await
    .or_internal()?;
    repo::clips::insert_link(
        &mut tx,
        caller.organisation_id,
        &tokens::new_share_token(),
        Some(id),
        None,
        false,
        &clip.title,
        caller.user_id,
        now,
        expires_at,
    )
    .await
    .or_internal()?;
    tx.commit().await.or_internal()?;
    state.pipeline.finish_clip(id, files.dir, slot);
    tracing::info!(clip.id = id, replay.id = replay.asset.id, "clip created");
    repo::clips::get(&state.db, caller.organisation_id, id)
        .await
        .or_internal()?
        .map(|r| r.clip)
        .ok_or_else(|| internal("clip vanished after insert"))
}

/// A stream's clips, newest first.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<Vec<Clip>, AppError> {
    allowed(state, caller, Permission::ViewStreams).await?;
    repo::streams::group_of_stream(&state.db, caller.organisation_id, stream_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Stream".into()))?;
    let rows = repo::clips::for_stream(&state.db, stream_id, CLIPS_LISTED)
        .await
        .or_internal()?;
    Ok(visible_clips(caller, rows))
}

/// Clips as the caller may see them: their share links (public tokens) only for those who
/// may manage clips, so a viewer cannot copy a link and keep access after leaving.
fn visible_clips(caller: &Caller, rows: Vec<repo::clips::ClipRow>) -> Vec<Clip> {
    let links = caller.role.can(Permission::ManageClips);
    rows.into_iter()
        .map(|r| Clip {
            share: r.clip.share.filter(|_| links),
            ..r.clip
        })
        .collect()
}

/// Revokes a share link: it shows not-found from now on.
pub async fn revoke_link(state: &AppState, caller: &Caller, link_id: i64) -> Result<(), AppError> {
    allowed(state, caller, Permission::ManageClips).await?;
    if repo::clips::revoke_link(
        &state.db,
        caller.organisation_id,
        link_id,
        state.clock.now(),
    )
    .await
    .or_internal()?
    {
        Ok(())
    } else {
        Err(AppError::NotFound("Active share link".into()))
    }
}

/// Deletes a clip, its links and its files.
pub async fn delete(state: &AppState, caller: &Caller, clip_id: i64) -> Result<(), AppError> {
    allowed(state, caller, Permission::ManageClips).await?;
    let dir = repo::clips::delete(&state.db, caller.organisation_id, clip_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Clip".into()))?;
    state.pipeline.remove_clip(dir);
    Ok(())
}

/// Shares a whole replay session (live or ended) with a link.
pub async fn share_replay(
    state: &AppState,
    caller: &Caller,
    replay_id: i64,
    title: &str,
    expiry: LinkExpiry,
) -> Result<ShareLink, AppError> {
    allowed(state, caller, Permission::ManageClips).await?;
    let title = crate::domain::clips::check_title(title)?;
    let (replay, _) = find_replay(state, caller, replay_id).await?;
    link_asset(state, caller, replay.asset.id, false, title, expiry).await
}

/// Shares a recording file, or with `whole_session` every recording file of its stream and
/// session (played in turn on the share page).
pub async fn share_recording(
    state: &AppState,
    caller: &Caller,
    asset_id: i64,
    title: &str,
    expiry: LinkExpiry,
    whole_session: bool,
) -> Result<ShareLink, AppError> {
    allowed(state, caller, Permission::ManageClips).await?;
    let title = crate::domain::clips::check_title(title)?;
    match repo::assets::get(&state.db, asset_id).await.or_internal()? {
        Some(a)
            if a.organisation_id == caller.organisation_id
                && a.asset.kind == AssetKind::Recording
                && a.asset.format == "mp4" => {}
        _ => return Err(AppError::NotFound("Recording".into())),
    }
    link_asset(state, caller, asset_id, whole_session, title, expiry).await
}

/// Makes a share link for an asset the caller may share (checked by the caller of this).
async fn link_asset(
    state: &AppState,
    caller: &Caller,
    asset_id: i64,
    whole_session: bool,
    title: String,
    expiry: LinkExpiry,
) -> Result<ShareLink, AppError> {
    let now = state.clock.now();
    let token = tokens::new_share_token();
    let expires_at = expiry.expires_at(now);
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let id = repo::clips::insert_link(
        &mut tx,
        caller.organisation_id,
        &token,
        None,
        Some(asset_id),
        whole_session,
        &title,
        caller.user_id,
        now,
        expires_at,
    )
    .await
    .or_internal()?;
    tx.commit().await.or_internal()?;
    Ok(ShareLink {
        id,
        path: crate::domain::clips::share_path(&token),
        title,
        created_at: now,
        expires_at,
        revoked_at: None,
    })
}

/// Refuses new clips and saved spans while the organisation's storage quota is used up.
fn room_for_more(state: &AppState, caller: &Caller) -> Result<(), AppError> {
    let quota = state.pipeline.storage(caller.organisation_id).quota;
    if quota.level == QuotaLevel::Full {
        return Err(AppError::LimitReached {
            what: "bytes of storage (free some space, or ask the operator for a larger quota)"
                .into(),
            limit: quota.quota_bytes.unwrap_or(0),
        });
    }
    Ok(())
}

/// A slot for one more clip job of the caller's organisation, or a clear refusal: an
/// organisation finishes at most a few clips and saves at once.
fn job_slot(state: &AppState, caller: &Caller) -> Result<JobSlot, AppError> {
    state
        .limits
        .clip_jobs
        .try_start(caller.organisation_id)
        .ok_or(AppError::RateLimited { retry_after_s: 5 })
}

/// "Save the last N seconds": copies that span of the buffer into a permanent recording.
pub async fn save_span(
    state: &AppState,
    caller: &Caller,
    replay_id: i64,
    seconds: i64,
) -> Result<Asset, AppError> {
    allowed(state, caller, Permission::ManageClips).await?;
    let seconds = check_save_seconds(seconds)?;
    let (replay, _) = find_replay(state, caller, replay_id).await?;
    within_limit(
        repo::assets::count_saved_spans(&state.db, caller.organisation_id),
        state.config.org_limits.saved_spans,
        "saved recordings",
    )
    .await?;
    room_for_more(state, caller)?;
    let _slot = job_slot(state, caller)?;
    let asset_id = state
        .pipeline
        .save_span(replay.path.clone(), ReplaySpan::Last(seconds))
        .await
        .map_err(AppError::from)?;
    repo::assets::get(&state.db, asset_id)
        .await
        .or_internal()?
        .map(|r| r.asset)
        .ok_or_else(|| internal("saved recording vanished"))
}

/// The player page of a replay: the session, its thumbnails on the timeline, its clips.
pub async fn replay_view(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    replay_id: i64,
) -> Result<ReplayView, AppError> {
    allowed(state, caller, Permission::ViewStreams).await?;
    let group = find_group(state, caller, group_id).await?;
    let (row, replay) = find_replay(state, caller, replay_id).await?;
    let streams = repo::streams::streams_of(&state.db, group.id)
        .await
        .or_internal()?;
    let stream = streams
        .into_iter()
        .find(|s| s.id == row.asset.stream_id)
        .ok_or_else(|| AppError::NotFound("Replay".into()))?;
    let thumbnails =
        repo::assets::list_format(&state.db, stream.id, AssetKind::Thumbnail, "jpeg", 500)
            .await
            .or_internal()?
            .into_iter()
            .filter(|t| t.asset.session_id == row.asset.session_id)
            .filter_map(|t| {
                let ms = media_ms(&t.path)?;
                Some(TimelineThumb {
                    at: replay.session_started_at + chrono::Duration::milliseconds(ms),
                    url: t.asset.url,
                })
            })
            .rev()
            .collect();
    let clips = visible_clips(
        caller,
        repo::clips::for_stream(&state.db, stream.id, CLIPS_LISTED)
            .await
            .or_internal()?,
    );
    let shares = if caller.role.can(Permission::ManageClips) {
        repo::clips::links_of_replay(&state.db, replay_id)
            .await
            .or_internal()?
    } else {
        Vec::new()
    };
    Ok(ReplayView {
        replay,
        group_name: group.name,
        stream_name: stream.name,
        quality: stream.quality,
        thumbnails,
        clips,
        shares,
    })
}

/// The media time (ms since the session's first frame) a thumbnail shows, from its file name
/// `t0000012345.jpg`.
fn media_ms(path: &str) -> Option<i64> {
    let name = path.rsplit('/').next()?;
    name.strip_prefix('t')?.split('.').next()?.parse().ok()
}

/// An active share link by token (`None` for wrong, expired or revoked ones alike). Counts
/// misses per client address and refuses a client that misses too often.
pub async fn find_share(
    state: &AppState,
    token: &str,
    client: &str,
) -> Result<Option<FoundShare>, AppError> {
    let limiter = &state.limits.share_lookups;
    if let Err(wait) = limiter.check(client, Instant::now()) {
        return Err(AppError::RateLimited {
            retry_after_s: wait.as_secs().max(1),
        });
    }
    let now = state.clock.now();
    let found = if tokens::looks_like_share_token(token) {
        repo::clips::find_by_token(&state.db, token)
            .await
            .or_internal()?
            .filter(|f| f.link.is_active(now))
            .filter(|f| match &f.target {
                ShareTarget::Clip(c) => c.clip.expires_at.is_none_or(|e| e > now),
                ShareTarget::Replay { .. } | ShareTarget::Recording(_) => true,
            })
    } else {
        None
    };
    if found.is_none() {
        limiter.fail(client, Instant::now());
    }
    Ok(found)
}

/// What the public page `/s/<token>` shows. `origin` (`http://host`) makes the absolute URLs
/// link previews need.
pub async fn public_share(
    state: &AppState,
    token: &str,
    client: &str,
    origin: &str,
) -> Result<PublicShare, AppError> {
    let found = find_share(state, token, client)
        .await?
        .ok_or_else(|| AppError::NotFound("Page".into()))?;
    let base = crate::domain::clips::share_path(token);
    let page_url = format!("{origin}{base}");
    Ok(match found.target {
        ShareTarget::Clip(c) => PublicShare {
            title: found.link.title,
            date: c.clip.starts_at,
            duration_ms: Some(c.clip.duration_ms),
            is_live: false,
            playlist_url: format!("{base}/clip.m3u8"),
            image_url: c
                .clip
                .poster_url
                .as_ref()
                .map(|_| format!("{origin}{base}/poster.jpg")),
            page_url,
            mp4_url: (c.clip.mp4 == crate::domain::clips::Mp4State::Ready)
                .then(|| format!("{base}/clip.mp4")),
            storyboard_url: format!("{base}/storyboard.vtt"),
            parts: Vec::new(),
        },
        ShareTarget::Recording(pieces) => {
            let first = pieces
                .first()
                .ok_or_else(|| AppError::NotFound("Page".into()))?;
            let has_thumb = match first.session_id {
                Some(session) => repo::assets::latest_of_session(
                    &state.db,
                    first.stream_id,
                    session,
                    AssetKind::Thumbnail,
                    "jpeg",
                )
                .await
                .or_internal()?
                .is_some(),
                None => false,
            };
            let parts: Vec<SharePart> = pieces
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let dir = share_part_path(&base, i + 1);
                    SharePart {
                        url: format!("{dir}/recording.mp4"),
                        storyboard_url: format!("{dir}/storyboard.vtt"),
                        started_at: p.started_at,
                        duration_ms: p.duration_ms,
                    }
                })
                .collect();
            PublicShare {
                title: found.link.title,
                date: first.started_at,
                duration_ms: pieces.iter().map(|p| p.duration_ms).sum(),
                is_live: false,
                playlist_url: String::new(),
                image_url: has_thumb.then(|| format!("{origin}{base}/poster.jpg")),
                page_url,
                mp4_url: (parts.len() == 1).then(|| parts[0].url.clone()),
                storyboard_url: parts[0].storyboard_url.clone(),
                parts,
            }
        }
        ShareTarget::Replay {
            session_started_at,
            session_ended_at,
            duration_ms,
            stream_id,
            session_id,
            ..
        } => {
            let has_thumb = repo::assets::latest_of_session(
                &state.db,
                stream_id,
                session_id,
                AssetKind::Thumbnail,
                "jpeg",
            )
            .await
            .or_internal()?
            .is_some();
            PublicShare {
                title: found.link.title,
                date: session_started_at,
                duration_ms: session_ended_at.and(duration_ms),
                is_live: session_ended_at.is_none(),
                playlist_url: format!("{base}/replay.m3u8"),
                image_url: has_thumb.then(|| format!("{origin}{base}/poster.jpg")),
                page_url,
                mp4_url: None,
                storyboard_url: format!("{base}/storyboard.vtt"),
                parts: Vec::new(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::media_ms;

    #[test]
    fn thumbnail_names_carry_their_media_time() {
        assert_eq!(
            media_ms("media/o1/g1/s1/st1/thumbnails/t0000012345.jpg"),
            Some(12_345)
        );
        assert_eq!(media_ms("media/o1/x.jpg"), None);
    }
}
