//! Live processing settings of a group: read, change with optimistic concurrency (a stale
//! version is refused with the current values), the change history, and the hand-over to
//! the pipeline for hot apply.

use super::super::auth::Caller;
use super::super::db::begin_write;
use super::super::repo;
use super::super::state::{AppState, OrInternal};
use super::require_package;
use super::streams::find_group;
use crate::domain::assets::AssetKind;
use crate::domain::jobs::ApplyMode;
use crate::domain::overview::{
    Preview, ProcessingOverview, SessionAsset, StreamAssets, CLIP_STRIP, SESSIONS_LISTED,
    THUMBNAIL_STRIP,
};
use crate::domain::packages::Package;
use crate::domain::roles::Permission;
use crate::domain::settings::{
    validate_changes, ProcessChange, ProcessConfig, ProcessInput, ProcessKind, ProcessPatch,
    SaveOutcome, SettingsChange, StreamProcessing,
};
use crate::domain::streams::StreamRole;
use crate::domain::AppError;

/// Settings of every stream of a group.
pub async fn get(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<Vec<StreamProcessing>, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let group = find_group(state, caller, group_id).await?;
    repo::settings::for_group(&state.db, group.id)
        .await
        .or_internal()
}

/// Everything the Live Processing tab shows: streams, settings, job states and the newest
/// assets of every stream.
pub async fn overview(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<ProcessingOverview, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let group = find_group(state, caller, group_id).await?;
    let db = &state.db;
    let streams = repo::streams::streams_of(db, group.id)
        .await
        .or_internal()?;
    let settings = repo::settings::for_group(db, group.id)
        .await
        .or_internal()?;
    let ids: Vec<i64> = streams.iter().map(|s| s.id).collect();
    let mut assets = Vec::with_capacity(streams.len());
    for &stream_id in &ids {
        assets.push(StreamAssets {
            stream_id,
            thumbnails: previews(
                state,
                stream_id,
                AssetKind::Thumbnail,
                "jpeg",
                THUMBNAIL_STRIP,
            )
            .await?,
            motion_clips: previews(state, stream_id, AssetKind::MotionClip, "mp4", CLIP_STRIP)
                .await?,
            replays: session_assets(state, stream_id, AssetKind::Replay).await?,
            recordings: session_assets(state, stream_id, AssetKind::Recording).await?,
        });
    }
    Ok(ProcessingOverview {
        group_id: group.id,
        status: repo::live_sessions::status(db, group.id)
            .await
            .or_internal()?,
        jobs: job_states(state, group.id, &ids, Some(&settings)).await?,
        streams,
        settings,
        assets,
        fetched_at: state.clock.now(),
        storage: state.pipeline.storage(caller.organisation_id),
        delivery: super::delivery::of_streams(state, &ids).await?,
    })
}

/// The newest `limit` assets of `kind` in `format`, each with its WebP twin (same file
/// name, other extension).
async fn previews(
    state: &AppState,
    stream_id: i64,
    kind: AssetKind,
    format: &str,
    limit: i64,
) -> Result<Vec<Preview>, AppError> {
    let main = repo::assets::list_format(&state.db, stream_id, kind, format, limit)
        .await
        .or_internal()?;
    let webps = repo::assets::list_format(&state.db, stream_id, kind, "webp", limit * 2)
        .await
        .or_internal()?;
    let stem = |path: &str| path.rsplit_once('.').map(|(s, _)| s.to_string());
    Ok(main
        .into_iter()
        .map(|row| {
            let own = stem(&row.path);
            let webp_url = webps
                .iter()
                .find(|w| own.is_some() && stem(&w.path) == own)
                .map(|w| w.asset.url.clone());
            Preview {
                asset: row.asset,
                webp_url,
            }
        })
        .collect())
}

async fn session_assets(
    state: &AppState,
    stream_id: i64,
    kind: AssetKind,
) -> Result<Vec<SessionAsset>, AppError> {
    Ok(
        repo::assets::list_with_sessions(&state.db, stream_id, kind, SESSIONS_LISTED)
            .await
            .or_internal()?
            .into_iter()
            .map(|r| SessionAsset {
                asset: r.row.asset,
                session_started_at: r.session_started_at,
                session_ended_at: r.session_ended_at,
            })
            .collect(),
    )
}

/// Saves a batch of changes atomically: all or nothing. Each change names the version it
/// was based on; if any is stale, nothing is saved and the current values come back.
pub async fn update(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    changes: &[ProcessChange],
) -> Result<SaveOutcome, AppError> {
    caller.require(Permission::EditProcessing)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let group = find_group(state, caller, group_id).await?;
    let valid = validate_changes(changes)?;
    let now = state.clock.now();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let in_group: Vec<i64> = repo::settings::for_group(&mut tx, group.id)
        .await
        .or_internal()?
        .iter()
        .map(|s| s.stream_id)
        .collect();
    let mut stale = false;
    let mut changed = 0;
    for (stream_id, config, version) in &valid {
        if !in_group.contains(stream_id) {
            return Err(AppError::NotFound(format!(
                "Stream {stream_id} in this group"
            )));
        }
        let current = repo::settings::get(&mut tx, *stream_id, config.kind())
            .await
            .or_internal()?
            .ok_or_else(|| AppError::NotFound("Settings".into()))?;
        if current.version != *version {
            stale = true;
            continue;
        }
        let diff = current.config.diff(config);
        if diff.is_empty() {
            continue;
        }
        repo::settings::update(&mut tx, *stream_id, config, *version, caller.user_id, now)
            .await
            .or_internal()?;
        for (field, old, new) in diff {
            repo::settings::record_change(
                &mut tx,
                *stream_id,
                config.kind(),
                field,
                &old,
                &new,
                caller.user_id,
                &caller.email,
                now,
            )
            .await
            .or_internal()?;
        }
        changed += 1;
    }
    if stale {
        drop(tx);
        let current = repo::settings::for_group(&state.db, group.id)
            .await
            .or_internal()?;
        return Err(AppError::Conflict {
            message: "Someone else changed these settings after you opened them. Nothing was saved; the current values are shown.".into(),
            current,
        });
    }
    tx.commit().await.or_internal()?;
    let apply = if changed > 0 {
        state.pipeline.settings_changed(group.id)
    } else {
        ApplyMode::NextIngest
    };
    let settings = repo::settings::for_group(&state.db, group.id)
        .await
        .or_internal()?;
    Ok(SaveOutcome {
        apply,
        settings,
        changed,
    })
}

/// The group of a stream of the caller's organisation (another's reads as not found).
async fn group_of(state: &AppState, caller: &Caller, stream_id: i64) -> Result<i64, AppError> {
    repo::streams::group_of_stream(&state.db, caller.organisation_id, stream_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Stream".into()))
}

/// The group of a stream and that stream's settings (one read of each).
async fn stream_settings(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<(i64, StreamProcessing), AppError> {
    let group_id = group_of(state, caller, stream_id).await?;
    let settings = get(state, caller, group_id)
        .await?
        .into_iter()
        .find(|s| s.stream_id == stream_id)
        .ok_or_else(|| AppError::NotFound("Stream".into()))?;
    Ok((group_id, settings))
}

/// The settings of one stream's four processes, with their versions.
pub async fn for_stream(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<StreamProcessing, AppError> {
    Ok(stream_settings(state, caller, stream_id).await?.1)
}

/// The group of a stream and the current settings of one of its processes.
async fn current_process(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
    kind: ProcessKind,
) -> Result<(i64, crate::domain::settings::VersionedConfig), AppError> {
    let (group_id, settings) = stream_settings(state, caller, stream_id).await?;
    let current = *settings
        .get(kind)
        .ok_or_else(|| AppError::NotFound("Settings".into()))?;
    Ok((group_id, current))
}

/// Replaces one process's settings. With `version`, a stale write is refused (409); without
/// it, the write applies to whatever is current.
pub async fn set_one(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
    kind: ProcessKind,
    input: ProcessInput,
    version: Option<i64>,
) -> Result<SaveOutcome, AppError> {
    caller.require(Permission::EditProcessing)?;
    let (group_id, current) = current_process(state, caller, stream_id, kind).await?;
    let change = ProcessChange {
        stream_id,
        kind,
        version: version.unwrap_or(current.version),
        input,
    };
    update(state, caller, group_id, &[change]).await
}

/// Changes the given fields of one process's settings, keeping the others.
pub async fn patch_one(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
    kind: ProcessKind,
    patch: ProcessPatch,
    version: Option<i64>,
) -> Result<SaveOutcome, AppError> {
    caller.require(Permission::EditProcessing)?;
    let (group_id, current) = current_process(state, caller, stream_id, kind).await?;
    let change = ProcessChange {
        stream_id,
        kind,
        version: version.unwrap_or(current.version),
        input: patch.apply(&current.config),
    };
    update(state, caller, group_id, &[change]).await
}

/// "Sync settings across profiles": copies the settings of `kinds` from `from_stream` to
/// every transcoding profile of its group, in one save.
pub async fn sync(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    from_stream: i64,
    kinds: &[ProcessKind],
) -> Result<SaveOutcome, AppError> {
    caller.require(Permission::EditProcessing)?;
    let settings = get(state, caller, group_id).await?;
    let streams = repo::streams::streams_of(&state.db, group_id)
        .await
        .or_internal()?;
    let source = settings
        .iter()
        .find(|s| s.stream_id == from_stream)
        .ok_or_else(|| AppError::NotFound("Stream in this group".into()))?;
    let kinds: &[ProcessKind] = if kinds.is_empty() {
        &ProcessKind::ALL
    } else {
        kinds
    };
    let mut changes = Vec::new();
    for target in streams
        .iter()
        .filter(|s| s.role == StreamRole::Profile && s.id != from_stream)
    {
        let Some(current) = settings.iter().find(|s| s.stream_id == target.id) else {
            continue;
        };
        for &kind in kinds {
            if let (Some(from), Some(to)) = (source.get(kind), current.get(kind)) {
                changes.push(ProcessChange {
                    stream_id: target.id,
                    kind,
                    version: to.version,
                    input: from.config.to_input(),
                });
            }
        }
    }
    update(state, caller, group_id, &changes).await
}

/// The job state of each process of a stream.
pub async fn jobs(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<Vec<crate::domain::jobs::JobStatus>, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let group_id = group_of(state, caller, stream_id).await?;
    job_states(state, group_id, &[stream_id], None).await
}

/// The job states of streams of a group. While the group's newest session is one refused
/// for its codecs (a live session has no end reason yet), every process enabled on a stream
/// reads as failed with that reason: the publisher sees why nothing was made. `settings` are
/// the group's, when the caller already read them.
async fn job_states(
    state: &AppState,
    group_id: i64,
    stream_ids: &[i64],
    settings: Option<&[StreamProcessing]>,
) -> Result<Vec<crate::domain::jobs::JobStatus>, AppError> {
    let mut jobs = state.pipeline.job_states(stream_ids);
    let Some(reason) = repo::live_sessions::last_refusal(&state.db, group_id)
        .await
        .or_internal()?
    else {
        return Ok(jobs);
    };
    let read;
    let settings = match settings {
        Some(s) => s,
        None => {
            read = repo::settings::for_group(&state.db, group_id)
                .await
                .or_internal()?;
            &read
        }
    };
    for job in &mut jobs {
        let enabled = settings
            .iter()
            .find(|s| s.stream_id == job.stream_id)
            .and_then(|s| s.get(job.process))
            .map(|v| v.config)
            .unwrap_or_else(|| ProcessConfig::default_for(job.process))
            .enabled();
        if enabled {
            job.state = crate::domain::jobs::JobState::Failed {
                reason: reason.clone(),
            };
        }
    }
    Ok(jobs)
}

/// The group's settings history, newest first.
pub async fn history(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<Vec<SettingsChange>, AppError> {
    caller.require(Permission::ViewStreams)?;
    require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    let group = find_group(state, caller, group_id).await?;
    repo::settings::history(&state.db, group.id, 200)
        .await
        .or_internal()
}
