//! Start-up repair, after a clean stop or a crash. It runs with the data folder locked (no
//! other writer can exist) and never deletes on doubt:
//!
//! - sessions this node left open are ended (and announced); other nodes' sessions are
//!   theirs (a dead node's are taken over by a reconnecting publisher, or ended as orphans);
//! - a half-written recording (`.part`) is cut back to its last whole fragment, renamed and
//!   registered as repaired; one with no whole fragment is quarantined, an empty one removed;
//! - other `.part` files are removed: they are interrupted writes of outputs that can be made
//!   again, and with the folder locked their writer is proven dead;
//! - a replay playlist gets its ENDLIST; one without a row is registered when its session
//!   exists, quarantined when it does not; segments without a playlist are quarantined;
//! - a recording without a row is registered; other files without a row (thumbnails, motion
//!   clips, clip folders) are quarantined;
//! - rows whose file is missing are reported, never deleted.
//!
//! "Quarantined" means moved under `quarantine/<start time>/` with its path kept, recorded in
//! the `quarantine` table and reported (log, `/api/v1/quarantine`, the Organisation page).
//! Any database or disk error skips the step it hit: the file stays where it is and the
//! report says what was skipped.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use app::domain::assets::Integrity;
use app::domain::settings::ProcessKind;
use app::ssr::repo::{self, assets::NewAsset};

use super::error::JobError;
use super::recording;
use super::{PipelineEvent, RunnerCtx};
use crate::media::{fmp4, m3u8};
use crate::media_store::{parse_session_dir, MediaStore, RenditionKey, PART};

/// What reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sessions_ended: usize,
    pub recordings_repaired: usize,
    pub playlists_closed: usize,
    pub replays_registered: usize,
    pub files_registered: usize,
    /// Interrupted `.part` writes removed (and empty recordings).
    pub parts_removed: usize,
    pub quarantined: usize,
    /// Rows whose file is missing (kept, reported; with object storage not checked, since
    /// other nodes' files are only in the store).
    pub rows_missing: usize,
    /// Objects uploaded before a crash whose rows were never written (their local files are
    /// quarantined).
    pub objects_removed: usize,
    /// Steps skipped because of a database or disk error (nothing was changed by them).
    pub skipped: Vec<String>,
}

/// Parses `…/o{org}/g{group}/s{session}[e{epoch}]/st{stream}/…` out of a path under the
/// media folder.
pub fn key_of(store: &MediaStore, path: &Path) -> Option<RenditionKey> {
    let rel = path.strip_prefix(store.media_root()).ok()?;
    let mut parts = rel.components().map(|c| c.as_os_str().to_str());
    let mut num =
        |prefix: &str| -> Option<i64> { parts.next()??.strip_prefix(prefix)?.parse().ok() };
    let organisation_id = num("o")?;
    let group_id = num("g")?;
    let (session_id, epoch) = parse_session_dir(parts.next()??)?;
    let mut num =
        |prefix: &str| -> Option<i64> { parts.next()??.strip_prefix(prefix)?.parse().ok() };
    Some(RenditionKey {
        organisation_id,
        group_id,
        session_id,
        stream_id: num("st")?,
        epoch,
    })
}

/// The organisation a path under the media folder belongs to.
fn org_of(store: &MediaStore, path: &Path) -> Option<i64> {
    let rel = path.strip_prefix(store.media_root()).ok()?;
    rel.components()
        .next()?
        .as_os_str()
        .to_str()?
        .strip_prefix('o')?
        .parse()
        .ok()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn size_of(path: &Path) -> u64 {
    let mut files = Vec::new();
    if path.is_dir() {
        walk(path, &mut files);
    } else {
        files.push(path.to_path_buf());
    }
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// One run of reconciliation.
struct Repair<'a> {
    ctx: &'a RunnerCtx,
    report: Report,
    /// `quarantine/<start time>`.
    quarantine: PathBuf,
}

impl Repair<'_> {
    fn skip(&mut self, what: impl std::fmt::Display) {
        tracing::error!(step = %what, "start-up repair skipped a step; nothing was removed");
        self.report.skipped.push(what.to_string());
    }

    /// Moves a file or folder into the quarantine and records it. On any error it stays.
    async fn quarantine(&mut self, path: &Path, reason: &str) {
        let store = &self.ctx.store;
        let Some(rel) = store.relative(path) else {
            return;
        };
        let target = self.quarantine.join(&rel);
        let size = {
            let p = path.to_path_buf();
            tokio::task::spawn_blocking(move || size_of(&p))
                .await
                .unwrap_or(0)
        };
        let moved = async {
            if let Some(parent) = target.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            tokio::fs::rename(path, &target).await
        }
        .await;
        if let Err(e) = moved {
            self.skip(format!("quarantine {rel}: {e}"));
            return;
        }
        self.report.quarantined += 1;
        tracing::warn!(path = %rel, reason, "moved to the quarantine");
        // This node wrote the file (it is in its folder, under a session epoch only it held)
        // and may have uploaded it before the crash; no row will ever point at that object.
        // The file itself is kept, in the quarantine.
        if let (Some(remote), Some(_)) = (store.remote(), key_of(store, path)) {
            match remote.delete(&rel).await {
                Ok(()) => self.report.objects_removed += 1,
                Err(e) => self.skip(format!("delete the object of {rel}: {e}")),
            }
        }
        // A clip folder's name is random and this node cut it: no row will point at its
        // objects either.
        if let (Some(remote), true) = (store.remote(), store.is_clip_dir(path)) {
            match remote.delete_folder(&rel).await {
                Ok(()) => self.report.objects_removed += 1,
                Err(e) => self.skip(format!("delete the objects of {rel}: {e}")),
            }
        }
        let at = store.relative(&target).unwrap_or_default();
        let row = repo::instance::NewQuarantined {
            organisation_id: org_of(store, path),
            original_path: &rel,
            quarantine_path: &at,
            reason,
            size_bytes: i64::try_from(size).unwrap_or(i64::MAX),
            now: self.ctx.state.clock.now(),
        };
        if let Err(e) = repo::instance::add_quarantined(&self.ctx.state.db, &row).await {
            tracing::error!(path = %rel, error = %e, "moved to the quarantine but not recorded");
        }
    }

    async fn remove_part(&mut self, path: &Path) {
        match tokio::fs::remove_file(path).await {
            Ok(()) => self.report.parts_removed += 1,
            Err(e) => self.skip(format!("remove {}: {e}", path.display())),
        }
    }
}

/// Runs every step; errors skip the step they hit (see the module's doc).
pub async fn run(ctx: &RunnerCtx) -> Report {
    let stamp = ctx.state.clock.now().format("%Y%m%dT%H%M%SZ").to_string();
    let mut r = Repair {
        ctx,
        report: Report::default(),
        quarantine: ctx.store.quarantine_root().join(stamp),
    };
    let db = &ctx.state.db;
    let now = ctx.state.clock.now();
    // Files fetched for jobs that a stop interrupted: scratch only, nothing else lives there.
    let _ = tokio::fs::remove_dir_all(ctx.store.scratch_root()).await;
    // Retention's deletions that a stop interrupted: their rows are gone, so their files are
    // proven garbage (and must not be taken for files whose rows were never written).
    if let Err(e) = crate::retention::finish_pending(&ctx.state, &ctx.store).await {
        r.skip(format!("finish retention's deletions: {e}"));
    }
    match repo::live_sessions::end_open_of_node(db, &ctx.config.node_id, "server restarted", now)
        .await
    {
        Ok(ended) => {
            r.report.sessions_ended = ended.len();
            for s in ended {
                ctx.emit(PipelineEvent::SessionEnded {
                    organisation_id: s.organisation_id,
                    group_id: s.group_id,
                    session_id: s.session_id,
                    reason: "server restarted".into(),
                    at: now,
                });
            }
        }
        Err(e) => r.skip(format!("end open sessions: {e}")),
    }
    let root = ctx.store.media_root();
    let files = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            walk(&root, &mut v);
            v.sort();
            v
        })
        .await
        .unwrap_or_default()
    };
    // Without the rows nothing can be judged: stop here, changing nothing.
    let known: HashSet<String> = match repo::assets::all_paths(db).await {
        Ok(rows) => {
            let mut known = HashSet::new();
            for (id, p) in rows {
                if ctx.store.remote().is_none() && ctx.store.resolve(&p).is_none_or(|f| !f.exists())
                {
                    r.report.rows_missing += 1;
                    tracing::warn!(asset.id = id, path = %p, "asset row without its file (kept)");
                }
                known.insert(p);
            }
            known
        }
        Err(e) => {
            r.skip(format!("read the asset rows: {e}"));
            return finish(r);
        }
    };
    let clip_dirs: HashSet<String> = match repo::clips::all_dirs(db).await {
        Ok(dirs) => dirs.into_iter().collect(),
        Err(e) => {
            r.skip(format!("read the clip rows: {e}"));
            return finish(r);
        }
    };

    let mut handled_clip_dirs = HashSet::new();
    for path in &files {
        if !path.exists() {
            continue; // moved with its folder
        }
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let dir_name = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .unwrap_or("");
        // Shared clips: `o{org}/clips/{name}/…`.
        if let Some(dir) = path.parent().filter(|d| ctx.store.is_clip_dir(d)) {
            let Some(rel) = ctx.store.relative(dir) else {
                continue;
            };
            if clip_dirs.contains(&rel) {
                if name.ends_with(&format!(".{PART}")) {
                    r.remove_part(path).await;
                }
            } else if handled_clip_dirs.insert(rel) {
                r.quarantine(dir, "clip folder without a clip").await;
            }
            continue;
        }
        let Some(key) = key_of(&ctx.store, path) else {
            continue;
        };
        if dir_name == "recordings" && name.ends_with(&format!(".mp4.{PART}")) {
            let target = ctx.store.relative(&path.with_extension(""));
            if target.is_some_and(|t| known.contains(&t)) {
                // Another node finished it from its checkpoints after this node died.
                r.quarantine(path, "recording already finished by another node")
                    .await;
                continue;
            }
            repair_recording(&mut r, key, path).await;
        } else if name.ends_with(&format!(".{PART}")) {
            r.remove_part(path).await;
        } else if name == "replay.m3u8" {
            settle_playlist(&mut r, &known, key, path).await;
        } else if matches!(dir_name, "recordings" | "thumbnails" | "motion" | "clips") {
            let Some(rel) = ctx.store.relative(path) else {
                continue;
            };
            if known.contains(&rel) {
                continue;
            }
            if dir_name == "recordings" {
                match register_orphan_recording(ctx, key, path).await {
                    Ok(true) => r.report.files_registered += 1,
                    Ok(false) => {
                        r.quarantine(path, "recording without a row that does not play")
                            .await
                    }
                    Err(e) => r.skip(format!("register {rel}: {e}")),
                }
            } else {
                r.quarantine(path, "file without a row").await;
            }
        }
    }
    // Segment folders whose session never got a replay playlist.
    let mut seen = HashSet::new();
    for path in &files {
        let Some(key) = key_of(&ctx.store, path) else {
            continue;
        };
        let segments = ctx.store.segments_root(key);
        if path.starts_with(&segments)
            && seen.insert(segments.clone())
            && segments.exists()
            && !(1..=key.epoch).any(|epoch| {
                // After a takeover this epoch's segments are listed in the playlist it
                // continued, in an earlier epoch's folder.
                ctx.store
                    .replay_playlist(RenditionKey { epoch, ..key })
                    .exists()
            })
        {
            r.quarantine(&segments, "segments without a replay playlist")
                .await;
        }
    }
    // Clip rows whose folder is gone: reported, kept.
    for rel in &clip_dirs {
        if ctx.store.resolve(rel).is_none_or(|d| !d.exists()) {
            r.report.rows_missing += 1;
            tracing::warn!(clip.dir = %rel, "clip row without its folder (kept)");
        }
    }
    finish(r)
}

fn finish(r: Repair<'_>) -> Report {
    if r.report != Report::default() {
        tracing::info!(report = ?r.report, "reconciled the data folder");
    }
    r.report
}

/// Cuts a half-written recording back to its last whole fragment, renames it and registers
/// it as repaired. An empty one is removed; one with no whole fragment is quarantined. On a
/// disk or database error the file is left as it is.
async fn repair_recording(r: &mut Repair<'_>, key: RenditionKey, part: &Path) {
    let bytes = match tokio::fs::read(part).await {
        Ok(b) => b,
        Err(e) => return r.skip(format!("read {}: {e}", part.display())),
    };
    if bytes.is_empty() {
        return r.remove_part(part).await;
    }
    let whole = fmp4::complete_prefix(&bytes);
    let has_media = whole > 0
        && fmp4::timescales(&bytes[..whole]).is_ok()
        && bytes[..whole].windows(4).any(|w| w == b"mdat");
    if !has_media {
        return r
            .quarantine(part, "half-written recording without a whole fragment")
            .await;
    }
    if whole < bytes.len() {
        let cut = async {
            let f = tokio::fs::OpenOptions::new().write(true).open(part).await?;
            f.set_len(whole as u64).await?;
            f.sync_all().await
        }
        .await;
        if let Err(e) = cut {
            return r.skip(format!("truncate {}: {e}", part.display()));
        }
    }
    let target = part.with_extension("");
    let size = match MediaStore::publish(part, &target).await {
        Ok(s) => s,
        Err(e) => return r.skip(format!("rename {}: {e}", part.display())),
    };
    let ctx = r.ctx;
    let file = recording::Finished {
        path: &target,
        size,
        written_s: 0.0,
        integrity: Integrity::Repaired,
        created_at: ctx.state.clock.now(),
    };
    match recording::register(ctx, key, file, super::Writer::Settled).await {
        // Not registered: the file stays; the next start finds it without a row.
        Some(_) => {
            r.report.recordings_repaired += 1;
            recording::forget_checkpoints(ctx, &target).await;
        }
        None => r.skip(format!("register {}", target.display())),
    }
}

/// A recording found without a row: registered if it probes. `Ok(false)` if it does not.
async fn register_orphan_recording(
    ctx: &RunnerCtx,
    key: RenditionKey,
    path: &Path,
) -> Result<bool, JobError> {
    if crate::ffmpeg::probe::probe(&ctx.config.ffprobe, path)
        .await
        .is_err()
    {
        return Ok(false);
    }
    if !repo::live_sessions::exists(&ctx.state.db, key.session_id).await? {
        return Ok(false);
    }
    let size = tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .map_err(JobError::io(path))?;
    let now = ctx.state.clock.now();
    let file = recording::Finished {
        path,
        size,
        written_s: 0.0,
        integrity: Integrity::Ok,
        created_at: now,
    };
    recording::register(ctx, key, file, super::Writer::Settled)
        .await
        .map(|_| true)
        .ok_or(JobError::Invalid("the database refused the row"))
}

/// A replay playlist: closed if its row exists; registered (and closed) if only its session
/// does; quarantined with its segments otherwise.
async fn settle_playlist(
    r: &mut Repair<'_>,
    known: &HashSet<String>,
    key: RenditionKey,
    path: &Path,
) {
    let ctx = r.ctx;
    let Some(rel) = ctx.store.relative(path) else {
        return;
    };
    if !known.contains(&rel) {
        match repo::live_sessions::exists(&ctx.state.db, key.session_id).await {
            Ok(true) => {}
            Ok(false) => {
                r.quarantine(path, "replay playlist of an unknown session")
                    .await;
                let segments = ctx.store.segments_root(key);
                if segments.exists() {
                    r.quarantine(&segments, "segments of an unknown session")
                        .await;
                }
                return;
            }
            Err(e) => return r.skip(format!("look up the session of {rel}: {e}")),
        }
    }
    let text = match tokio::fs::read_to_string(path).await {
        Ok(t) => t,
        Err(e) => return r.skip(format!("read {rel}: {e}")),
    };
    let parsed = m3u8::parse(&text);
    if !parsed.ended {
        let closed = format!(
            "{}{}#EXT-X-ENDLIST\n",
            text,
            if text.ends_with('\n') { "" } else { "\n" }
        );
        if let Err(e) = MediaStore::write_atomic(path, closed.as_bytes()).await {
            return r.skip(format!("close {rel}: {e}"));
        }
        r.report.playlists_closed += 1;
    }
    if let Some(remote) = ctx.store.remote() {
        // The store's copy is the one served: closed there too once nobody continues it
        // (its ENDLIST appended; this folder's copy may be behind it after a takeover).
        match repo::live_sessions::is_open(&ctx.state.db, key.session_id).await {
            Ok(false) => super::replay::close_in_store(ctx, remote, &rel, None).await,
            Ok(true) => {}
            Err(e) => r.skip(format!("look up the session of {rel}: {e}")),
        }
    }
    if known.contains(&rel) {
        return;
    }
    let size = tokio::fs::metadata(path)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let duration_ms = m3u8::parse_replay(&text)
        .iter()
        .map(|e| e.duration)
        .sum::<f64>()
        * 1000.0;
    let row = NewAsset {
        organisation_id: key.organisation_id,
        stream_id: key.stream_id,
        session_id: Some(key.session_id),
        kind: ProcessKind::Replay,
        format: "m3u8",
        path: rel.clone(),
        size_bytes: i64::try_from(size).unwrap_or(0),
        duration_ms: Some(duration_ms.round() as i64),
        width: None,
        height: None,
        integrity: None,
        created_at: ctx.state.clock.now(),
    };
    match repo::assets::insert(&ctx.state.db, &row).await {
        Ok(id) => {
            r.report.replays_registered += 1;
            ctx.emit_asset(id);
        }
        Err(e) => r.skip(format!("register {rel}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_paths() {
        let s = MediaStore::new("/data");
        let k = RenditionKey {
            organisation_id: 1,
            group_id: 2,
            session_id: 3,
            stream_id: 4,
            epoch: 1,
        };
        assert_eq!(key_of(&s, &s.recording(k, 1)), Some(k));
        let taken = RenditionKey { epoch: 2, ..k };
        assert_eq!(key_of(&s, &s.recording(taken, 1)), Some(taken));
        assert_eq!(key_of(&s, Path::new("/data/media/x/y")), None);
        assert_eq!(
            key_of(&s, Path::new("/elsewhere/media/o1/g2/s3/st4/a")),
            None
        );
        assert_eq!(org_of(&s, &s.clip_dir(7, "abc")), Some(7));
    }
}
