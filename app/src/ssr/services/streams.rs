//! Stream groups: create (with transcoding profiles and their live processing settings),
//! list, show with publish details, regenerate the key, delete.

use super::super::auth::Caller;
use super::super::db::begin_write;
use super::super::repo::{self, streams::NewStream};
use super::super::state::{AppConfig, AppState, OrInternal};
use super::super::tokens;
use super::{require_package, within_limit};
use crate::domain::packages::Package;
use crate::domain::roles::Permission;
use crate::domain::streams::{
    srt_publish_url, validate_srt_passphrase, NewStreamGroup, PublishInfo, StreamGroupDetail,
    StreamGroupSummary, StreamRole, MAX_RECONNECT_GRACE_S, SOURCE_QUALITY,
};
use crate::domain::{AppError, FieldError};

/// Creates a group: its ingest with a fresh key, its profiles, and every stream's settings.
/// Returns the group id.
pub async fn create_group(
    state: &AppState,
    caller: &Caller,
    input: &NewStreamGroup,
) -> Result<i64, AppError> {
    caller.require(Permission::EditStreams)?;
    let group = input.validate()?;
    within_limit(
        repo::streams::count_groups(&state.db, caller.organisation_id),
        state.config.org_limits.stream_groups,
        "stream groups",
    )
    .await?;
    if !group.profiles.is_empty() {
        require_package(state, caller.organisation_id, Package::Transcoding).await?;
    }
    if group.processing.iter().flatten().any(|c| c.enabled()) {
        require_package(state, caller.organisation_id, Package::LiveProcessing).await?;
    }
    let now = state.clock.now();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    let group_id = repo::streams::create_group(
        &mut tx,
        caller.organisation_id,
        &group.name,
        caller.user_id,
        now,
    )
    .await
    .or_internal()?;
    let mut streams = vec![NewStream {
        role: StreamRole::Ingest,
        position: 0,
        name: group.name.clone(),
        quality: SOURCE_QUALITY.into(),
        width: None,
        height: None,
        video_kbps: None,
    }];
    for (i, p) in group.profiles.iter().enumerate() {
        streams.push(NewStream {
            role: StreamRole::Profile,
            position: i as i64 + 1,
            name: format!("{} {}", group.name, p.quality),
            quality: p.quality.to_string(),
            width: Some(p.width),
            height: Some(p.height),
            video_kbps: Some(p.video_kbps),
        });
    }
    for (stream, configs) in streams.iter().zip(&group.processing) {
        let stream_id = repo::streams::create_stream(&mut tx, group_id, stream, now)
            .await
            .or_internal()?;
        if stream.role == StreamRole::Ingest {
            repo::streams::replace_key(&mut tx, stream_id, &tokens::new_stream_key(), now)
                .await
                .or_internal()?;
        }
        for config in configs {
            repo::settings::insert(&mut tx, stream_id, config, Some(caller.user_id), now)
                .await
                .or_internal()?;
        }
    }
    tx.commit().await.or_internal()?;
    tracing::info!(
        group.id = group_id,
        org.id = caller.organisation_id,
        "stream group created"
    );
    Ok(group_id)
}

/// The organisation's groups with their live status.
pub async fn list_groups(
    state: &AppState,
    caller: &Caller,
) -> Result<Vec<StreamGroupSummary>, AppError> {
    caller.require(Permission::ViewStreams)?;
    let groups = repo::streams::list_groups(&state.db, caller.organisation_id)
        .await
        .or_internal()?;
    let mut out = Vec::with_capacity(groups.len());
    for g in groups {
        let streams = repo::streams::streams_of(&state.db, g.id)
            .await
            .or_internal()?;
        out.push(StreamGroupSummary {
            id: g.id,
            name: g.name,
            created_at: g.created_at,
            profiles: streams
                .into_iter()
                .filter(|s| s.role == StreamRole::Profile)
                .map(|s| s.quality)
                .collect(),
            status: repo::live_sessions::status(&state.db, g.id)
                .await
                .or_internal()?,
        });
    }
    Ok(out)
}

/// A group as the overview shows it. `host` is the dashboard's host name as the browser sent
/// it, used for the RTMP URL unless one is configured.
pub async fn group_detail(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    host: Option<&str>,
) -> Result<StreamGroupDetail, AppError> {
    caller.require(Permission::ViewStreams)?;
    let group = find_group(state, caller, group_id).await?;
    let streams = repo::streams::streams_of(&state.db, group.id)
        .await
        .or_internal()?;
    let stream_key = match (caller.role.can(Permission::ViewStreamKey), streams.first()) {
        (true, Some(ingest)) => repo::streams::active_key(&state.db, ingest.id)
            .await
            .or_internal()?,
        _ => None,
    };
    let srt_passphrase = match stream_key {
        Some(_) => repo::streams::srt_passphrase(&state.db, group.id)
            .await
            .or_internal()?,
        None => None,
    };
    let srt_url = srt_server_url(&state.config, host)
        .zip(stream_key.as_deref())
        .map(|(server, key)| srt_publish_url(&server, key, srt_passphrase.as_deref()));
    let reconnect_grace_s = repo::streams::reconnect_grace(&state.db, group.id)
        .await
        .or_internal()?
        .unwrap_or(state.config.reconnect_grace_s);
    Ok(StreamGroupDetail {
        reconnect_grace_s,
        id: group.id,
        name: group.name,
        created_at: group.created_at,
        streams,
        status: repo::live_sessions::status(&state.db, group.id)
            .await
            .or_internal()?,
        publish: PublishInfo {
            server_url: rtmp_server_url(&state.config, host),
            stream_key,
            srt_url,
            srt_passphrase,
        },
    })
}

/// Issues a new publish key; the old one stops working and a live publisher on it is cut.
pub async fn regenerate_key(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<String, AppError> {
    caller.require(Permission::RegenerateStreamKey)?;
    let group = find_group(state, caller, group_id).await?;
    let ingest = repo::streams::ingest_of(&state.db, group.id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Ingest stream".into()))?;
    let key = tokens::new_stream_key();
    let mut tx = begin_write(&state.db).await.or_internal()?;
    repo::streams::replace_key(&mut tx, ingest, &key, state.clock.now())
        .await
        .or_internal()?;
    tx.commit().await.or_internal()?;
    state.pipeline.disconnect_group(group.id);
    tracing::info!(
        group.id = group.id,
        user.id = caller.user_id,
        "stream key regenerated"
    );
    Ok(key)
}

/// Sets (or with `None` clears) a group's SRT passphrase. Publishers connected already stay;
/// the next SRT publish must use the new one. RTMP publishes are not affected.
pub async fn set_srt_passphrase(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    passphrase: Option<String>,
) -> Result<(), AppError> {
    caller.require(Permission::RegenerateStreamKey)?;
    let passphrase = passphrase.filter(|p| !p.is_empty());
    if let Some(p) = &passphrase {
        // The value is not echoed back: it is a secret.
        validate_srt_passphrase(p).map_err(|allowed| {
            AppError::Validation(vec![FieldError::new(
                "passphrase",
                "SRT passphrase",
                format!("{} characters", p.chars().count()),
                allowed,
            )])
        })?;
    }
    let group = find_group(state, caller, group_id).await?;
    repo::streams::set_srt_passphrase(
        &state.db,
        caller.organisation_id,
        group.id,
        passphrase.as_deref(),
    )
    .await
    .or_internal()?;
    tracing::info!(
        group.id = group.id,
        user.id = caller.user_id,
        set = passphrase.is_some(),
        "srt passphrase changed"
    );
    Ok(())
}

/// Sets how long a group's live session waits for a dropped publisher (0 to
/// [`MAX_RECONNECT_GRACE_S`] seconds; `None`: the server's default). Applies from the next drop.
pub async fn set_reconnect_grace(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    seconds: Option<i64>,
) -> Result<(), AppError> {
    caller.require(Permission::EditStreams)?;
    if let Some(s) = seconds.filter(|s| !(0..=MAX_RECONNECT_GRACE_S).contains(s)) {
        return Err(AppError::Validation(vec![FieldError::new(
            "seconds",
            "Reconnect grace",
            s.to_string(),
            format!("0–{MAX_RECONNECT_GRACE_S} s"),
        )]));
    }
    let group = find_group(state, caller, group_id).await?;
    repo::streams::set_reconnect_grace(&state.db, caller.organisation_id, group.id, seconds)
        .await
        .or_internal()?;
    Ok(())
}

/// One stream of the caller's organisation.
pub async fn stream(
    state: &AppState,
    caller: &Caller,
    stream_id: i64,
) -> Result<crate::domain::streams::StreamInfo, AppError> {
    caller.require(Permission::ViewStreams)?;
    let group_id = repo::streams::group_of_stream(&state.db, caller.organisation_id, stream_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Stream".into()))?;
    repo::streams::streams_of(&state.db, group_id)
        .await
        .or_internal()?
        .into_iter()
        .find(|s| s.id == stream_id)
        .ok_or_else(|| AppError::NotFound("Stream".into()))
}

/// Renames a group (its profiles follow: "<group> <quality>").
pub async fn rename_group(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
    name: &str,
) -> Result<(), AppError> {
    caller.require(Permission::EditStreams)?;
    let name = crate::domain::streams::check_group_name(name)?;
    let group = find_group(state, caller, group_id).await?;
    let mut tx = begin_write(&state.db).await.or_internal()?;
    repo::streams::rename_group(&mut tx, caller.organisation_id, group.id, &name)
        .await
        .or_internal()?;
    tx.commit().await.or_internal()
}

/// Deletes a group with its streams and settings; a live session is ended first.
pub async fn delete_group(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<(), AppError> {
    caller.require(Permission::EditStreams)?;
    let group = find_group(state, caller, group_id).await?;
    state.pipeline.disconnect_group(group.id);
    repo::streams::delete_group(&state.db, caller.organisation_id, group.id)
        .await
        .or_internal()?;
    state.lookups.forget();
    Ok(())
}

/// A group of the caller's organisation; another organisation's group is "not found".
pub async fn find_group(
    state: &AppState,
    caller: &Caller,
    group_id: i64,
) -> Result<repo::streams::Group, AppError> {
    repo::streams::get_group(&state.db, caller.organisation_id, group_id)
        .await
        .or_internal()?
        .ok_or_else(|| AppError::NotFound("Stream group".into()))
}

/// `rtmp://host:port/live`: the configured URL, else the dashboard's host with the RTMP port.
pub fn rtmp_server_url(config: &AppConfig, host: Option<&str>) -> String {
    if let Some(url) = &config.rtmp_public_url {
        return url.trim_end_matches('/').to_string();
    }
    let host = host
        .map(strip_port)
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1");
    format!("rtmp://{host}:{}/live", config.rtmp_port)
}

/// `srt://host:port`: the configured URL, else the dashboard's host with the SRT port;
/// `None` when the server does not listen for SRT.
pub fn srt_server_url(config: &AppConfig, host: Option<&str>) -> Option<String> {
    let port = config.srt_port?;
    if let Some(url) = &config.srt_public_url {
        return Some(url.trim_end_matches('/').to_string());
    }
    let host = host
        .map(strip_port)
        .filter(|h| !h.is_empty())
        .unwrap_or("127.0.0.1");
    Some(format!("srt://{host}:{port}"))
}

fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtmp_url_from_host_or_config() {
        let mut c = AppConfig::default();
        assert_eq!(
            rtmp_server_url(&c, Some("example.com:3000")),
            "rtmp://example.com:1935/live"
        );
        assert_eq!(
            rtmp_server_url(&c, Some("[::1]:3000")),
            "rtmp://[::1]:1935/live"
        );
        assert_eq!(rtmp_server_url(&c, None), "rtmp://127.0.0.1:1935/live");
        c.rtmp_public_url = Some("rtmp://live.example.com/live/".into());
        assert_eq!(
            rtmp_server_url(&c, Some("x")),
            "rtmp://live.example.com/live"
        );
    }
}
