//! Clips cut from a replay. Cutting is instant: the chosen segments are hard-linked into the
//! clip's own folder (so they outlive the rolling window and the session) and a VOD playlist
//! is written over them; nothing is decoded. Then, in the background, a poster from the
//! first keyframe and an MP4 download by stream copy: the fragments rebased to start at
//! zero, remuxed by ffmpeg with `+faststart`, never re-encoded.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use app::domain::clips::Mp4State;
use app::ssr::pipeline::ClipFiles;
use app::ssr::repo;
use tokio::io::AsyncWriteExt;

use super::select::select;
use crate::ffmpeg::{args, process};
use crate::media::{fmp4, m3u8};
use crate::media_store::MediaStore;
use crate::runner::error::JobError;
use crate::runner::segment::InitInfo;
use crate::runner::RunnerCtx;
use app::ssr::pipeline::ReplaySpan;

/// The playlist, init segment, media segments and downloads of a clip folder.
pub const PLAYLIST: &str = "clip.m3u8";
pub const INIT: &str = "init.mp4";
pub const POSTER: &str = "poster.jpg";
pub const MP4: &str = "clip.mp4";

/// The name of the `i`th media segment in a clip folder.
pub fn segment_name(i: usize) -> String {
    format!("seg_{i:06}.m4s")
}

/// The segments of a replay playlist, resolved to files, for `wanted`.
pub struct Chosen {
    pub init: PathBuf,
    pub segments: Vec<(PathBuf, m3u8::Entry)>,
    /// Each file as the data folder and the object store name it: the init, then the
    /// segments (a clip's copies in the store are made from these, inside the store).
    pub rels: Vec<String>,
    /// Where the files were fetched to when the replay is not in this node's folder (removed
    /// with this).
    _scratch: Option<Scratch>,
}

/// A folder of fetched files, removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reads a replay playlist (path relative to the data folder) and picks the segments that
/// cover `wanted`. A replay another node owns (media in object storage) is read from the
/// store, and the chosen files are fetched into a scratch folder.
pub async fn choose(
    store: &MediaStore,
    replay: &str,
    wanted: ReplaySpan,
) -> Result<Chosen, JobError> {
    let not_ours = || JobError::Invalid("not a replay of this server");
    let gone = || JobError::refused("the replay playlist is gone");
    store.resolve(replay).ok_or_else(not_ours)?;
    let local = match store.local_copy(replay).await {
        Some(path) => tokio::fs::read_to_string(&path).await.ok(),
        None => None,
    };
    let (text, remote) = match local {
        Some(text) => (text, None),
        None => {
            let remote = store.remote().ok_or_else(gone)?;
            let bytes = remote.read(replay).await.map_err(|_| gone())?;
            (String::from_utf8_lossy(&bytes).into_owned(), Some(remote))
        }
    };
    let entries = m3u8::parse_replay(&text);
    let range = select(&entries, wanted)?;
    let chosen = &entries[range];
    let first = chosen.first().ok_or(JobError::refused("nothing to cut"))?;
    // Each file as the data folder names it (a continued replay lists other epochs' folders).
    let outside = || JobError::Invalid("the replay playlist names files outside its folder");
    let file = |uri: &str| crate::media_store::replay_file(replay, uri).ok_or_else(outside);
    let init_rel = file(&first.map_uri)?;
    let segment_rels = chosen
        .iter()
        .map(|e| file(&e.uri))
        .collect::<Result<Vec<_>, _>>()?;
    let local = |rel: &str| store.resolve(rel).ok_or_else(outside);
    let all_here = remote.is_none()
        || std::iter::once(&init_rel)
            .chain(&segment_rels)
            .all(|rel| local(rel).is_ok_and(|p| p.exists()));
    let rels: Vec<String> = std::iter::once(init_rel.clone())
        .chain(segment_rels.iter().cloned())
        .collect();
    if all_here {
        return Ok(Chosen {
            rels,
            init: local(&init_rel)?,
            segments: segment_rels
                .iter()
                .zip(chosen)
                .map(|(rel, e)| Ok((local(rel)?, e.clone())))
                .collect::<Result<_, JobError>>()?,
            _scratch: None,
        });
    }
    let remote = remote.or(store.remote()).ok_or_else(gone)?;
    let scratch = store
        .scratch_root()
        .join(format!("{:032x}", rand::random::<u128>()));
    tokio::fs::create_dir_all(&scratch)
        .await
        .map_err(JobError::io(&scratch))?;
    let scratch = Scratch(scratch);
    let fetch = |rel: String, name: String| {
        let to = scratch.0.join(name);
        async move {
            remote.download(&rel, &to).await.map(|()| to).map_err(|_| {
                JobError::refused("a segment left the replay buffer while cutting; try again")
            })
        }
    };
    let init = fetch(init_rel, INIT.into()).await?;
    let mut segments = Vec::with_capacity(chosen.len());
    for (i, (rel, e)) in segment_rels.into_iter().zip(chosen).enumerate() {
        segments.push((fetch(rel, segment_name(i)).await?, e.clone()));
    }
    Ok(Chosen {
        rels,
        init,
        segments,
        _scratch: Some(scratch),
    })
}

/// With object storage: uploads the named files of a clip folder (so every node serves them).
async fn upload_clip_files(
    store: &MediaStore,
    dir: &Path,
    names: &[String],
) -> Result<(), JobError> {
    let Some(remote) = store.remote() else {
        return Ok(());
    };
    let rel = store
        .relative(dir)
        .ok_or(JobError::Invalid("a clip folder outside the data folder"))?;
    for name in names {
        remote
            .upload(&dir.join(name), &format!("{rel}/{name}"))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot upload a clip's file");
                JobError::refused("the media store is unavailable; try again")
            })?;
    }
    Ok(())
}

/// With object storage: a clip folder's files, from the store into this node's folder.
async fn fetch_clip_files(store: &MediaStore, rel: &str, dir: &Path) -> Result<(), JobError> {
    let remote = store
        .remote()
        .ok_or(JobError::refused("the clip's folder is on another node"))?;
    let unavailable = |_| JobError::refused("the media store is unavailable");
    let objects = remote.list(rel).await.map_err(unavailable)?;
    if !objects
        .iter()
        .any(|(o, _)| o.ends_with(&format!("/{PLAYLIST}")))
    {
        return Err(JobError::refused("the clip's files are not in the store"));
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(JobError::io(dir))?;
    for (object, _) in objects {
        let Some(name) = object
            .strip_prefix(rel)
            .and_then(|n| n.strip_prefix('/'))
            .filter(|n| !n.contains('/'))
        else {
            continue;
        };
        let to = dir.join(name);
        remote.download(&object, &to).await.map_err(unavailable)?;
    }
    Ok(())
}

/// With object storage: the clip's copies of the replay's files, made inside the store from
/// the replay's objects (`sources`, one per name); a file whose object is not there yet
/// (the live edge, not uploaded yet) is uploaded from the clip folder instead.
async fn copy_clip_files(
    store: &MediaStore,
    dir: &Path,
    names: &[String],
    sources: &[String],
) -> Result<(), JobError> {
    let Some(remote) = store.remote() else {
        return Ok(());
    };
    let rel = store
        .relative(dir)
        .ok_or(JobError::Invalid("a clip folder outside the data folder"))?;
    for (name, source) in names.iter().zip(sources) {
        if remote.copy(source, &format!("{rel}/{name}")).await.is_err() {
            upload_clip_files(store, dir, std::slice::from_ref(name)).await?;
        }
    }
    Ok(())
}

/// A hard link (same file system: no bytes copied), or a copy where links are impossible.
async fn link(from: &Path, to: &Path) -> Result<(), JobError> {
    if tokio::fs::hard_link(from, to).await.is_ok() {
        return Ok(());
    }
    tokio::fs::copy(from, to)
        .await
        .map(|_| ())
        .map_err(|_| JobError::refused("a segment left the replay buffer while cutting; try again"))
}

/// Cuts a clip of organisation `org` out of `replay`.
pub async fn cut(
    store: &MediaStore,
    org: i64,
    replay: &str,
    wanted: ReplaySpan,
) -> Result<ClipFiles, JobError> {
    let chosen = choose(store, replay, wanted).await?;
    let name = format!("{:032x}", rand::random::<u128>());
    let dir = store.clip_dir(org, &name);
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(JobError::io(&dir))?;
    let result = async {
        link(&chosen.init, &dir.join(INIT)).await?;
        let mut entries = Vec::with_capacity(chosen.segments.len());
        for (i, (path, entry)) in chosen.segments.iter().enumerate() {
            link(path, &dir.join(segment_name(i))).await?;
            entries.push(m3u8::Entry {
                uri: segment_name(i),
                map_uri: INIT.into(),
                ..entry.clone()
            });
        }
        let text = m3u8::write(&entries, 0, 0, true);
        MediaStore::write_atomic(&dir.join(PLAYLIST), text.as_bytes())
            .await
            .map_err(JobError::io(dir.join(PLAYLIST)))?;
        // The playlist last: in the store, a clip's playlist never names a missing file.
        let names: Vec<String> = std::iter::once(INIT.to_string())
            .chain((0..entries.len()).map(segment_name))
            .collect();
        copy_clip_files(store, &dir, &names, &chosen.rels).await?;
        upload_clip_files(store, &dir, &[PLAYLIST.into()]).await?;
        Ok::<_, JobError>(entries)
    }
    .await;
    let entries = match result {
        Ok(e) => e,
        Err(e) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            if let (Some(remote), Some(rel)) = (store.remote(), store.relative(&dir)) {
                let _ = remote.delete_folder(&rel).await;
            }
            return Err(e);
        }
    };
    let duration: f64 = entries.iter().map(|e| e.duration).sum();
    Ok(ClipFiles {
        dir: store
            .relative(&dir)
            .ok_or(JobError::Invalid("a clip folder outside the data folder"))?,
        starts_at: entries
            .first()
            .map(|e| e.program_date_time)
            .ok_or(JobError::refused("nothing to cut"))?,
        duration_ms: (duration * 1000.0).round() as i64,
    })
}

/// Writes the init segment and the media segments into one fragmented MP4 that starts at
/// time zero (`target`, written as `.part`, synced and renamed). Returns its size.
pub async fn write_fragmented(
    init: &Path,
    segments: &[PathBuf],
    target: &Path,
) -> Result<u64, JobError> {
    let info = InitInfo::read(init).await?;
    let part = MediaStore::part(target);
    let mut file = tokio::fs::File::create(&part)
        .await
        .map_err(JobError::io(&part))?;
    file.write_all(&info.bytes)
        .await
        .map_err(JobError::io(&part))?;
    let mut base = None;
    for s in segments {
        let mut bytes = tokio::fs::read(s).await.map_err(JobError::io(s))?;
        let start = fmp4::earliest_time(&bytes, &info.timescales).unwrap_or(0.0);
        let base = *base.get_or_insert(start);
        fmp4::rebase(&mut bytes, &info.timescales, base)?;
        file.write_all(&bytes).await.map_err(JobError::io(&part))?;
    }
    file.flush().await.map_err(JobError::io(&part))?;
    drop(file);
    MediaStore::publish(&part, target)
        .await
        .map_err(JobError::io(target))
}

/// Makes the MP4 download of a clip folder by stream copy; returns its size.
pub async fn export_mp4(ffmpeg: &Path, dir: &Path) -> Result<u64, JobError> {
    let mut segments = Vec::new();
    for i in 0.. {
        let p = dir.join(segment_name(i));
        if !tokio::fs::try_exists(&p).await.unwrap_or(false) {
            break;
        }
        segments.push(p);
    }
    let fragmented = dir.join("clip.frag.mp4");
    write_fragmented(&dir.join(INIT), &segments, &fragmented).await?;
    let target = dir.join(MP4);
    let part = MediaStore::part(&target);
    let run = process::run(
        "ffmpeg",
        ffmpeg,
        &args::remux_faststart(&fragmented, &part),
        Duration::from_secs(120),
        0,
    )
    .await;
    let _ = tokio::fs::remove_file(&fragmented).await;
    run?;
    MediaStore::publish(&part, &target)
        .await
        .map_err(JobError::io(&target))
}

/// The poster of a clip: its first keyframe.
async fn poster(ffmpeg: &Path, dir: &Path) -> Result<(), JobError> {
    let jpg = dir.join(POSTER);
    let webp = dir.join("poster.webp");
    let (jpg_part, webp_part) = (MediaStore::part(&jpg), MediaStore::part(&webp));
    process::run(
        "ffmpeg",
        ffmpeg,
        &args::thumbnail(
            &dir.join(INIT),
            &dir.join(segment_name(0)),
            &jpg_part,
            &webp_part,
            &[],
        ),
        Duration::from_secs(20),
        0,
    )
    .await?;
    MediaStore::publish(&jpg_part, &jpg)
        .await
        .map_err(JobError::io(&jpg))?;
    MediaStore::publish(&webp_part, &webp)
        .await
        .map(|_| ())
        .map_err(JobError::io(&webp))
}

/// The poster and the MP4 download, then the clip row says they exist.
pub async fn finish(ctx: Arc<RunnerCtx>, clip_id: i64, dir: String) {
    let Some(path) = ctx.store.resolve(&dir) else {
        return;
    };
    let store = &ctx.store;
    if !path.is_dir() {
        // Cut on a node that died before finishing it: its files come from the store.
        if let Err(e) = fetch_clip_files(store, &dir, &path).await {
            tracing::warn!(clip.id = clip_id, error = %e, "cannot fetch a clip's files to finish it (tried again later)");
            return;
        }
    }
    let dir = path;
    let has_poster = match poster(&ctx.config.ffmpeg, &dir).await {
        Ok(()) => upload_clip_files(store, &dir, &[POSTER.into(), "poster.webp".into()])
            .await
            .is_ok(),
        Err(e) => {
            tracing::warn!(clip.id = clip_id, error = %e, "no poster");
            false
        }
    };
    let exported = match export_mp4(&ctx.config.ffmpeg, &dir).await {
        Ok(size) => upload_clip_files(store, &dir, &[MP4.into()])
            .await
            .map(|()| size),
        Err(e) => Err(e),
    };
    let (state, size) = match exported {
        Ok(size) => (Mp4State::Ready, i64::try_from(size).ok()),
        Err(e) => {
            tracing::warn!(clip.id = clip_id, error = %e, "MP4 export failed");
            (Mp4State::Failed, None)
        }
    };
    if let Err(e) = repo::clips::set_files(&ctx.state.db, clip_id, state, size, has_poster).await {
        tracing::error!(clip.id = clip_id, "cannot record the clip's files: {e}");
    }
}

/// Removes a deleted or expired clip's folder.
pub async fn remove(store: &MediaStore, dir: &str) {
    let Some(path) = store.resolve(dir) else {
        return;
    };
    if store.is_clip_dir(&path) {
        let _ = tokio::fs::remove_dir_all(&path).await;
        if let Some(remote) = store.remote() {
            if let Err(e) = remote.delete_folder(dir).await {
                tracing::warn!(clip.dir = %dir, error = %e, "cannot delete a clip's objects");
            }
        }
    }
}
