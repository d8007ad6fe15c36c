//! Start-up reconciliation, after a clean stop or a crash: sessions left open are ended;
//! recordings left half-written (`.part`) are truncated to their last whole fragment, probed
//! and registered as repaired; replay playlists left open get their ENDLIST; other
//! half-written files are removed; and files and rows are made to agree — no row without its
//! file, no file without its row.

use std::path::{Path, PathBuf};

use app::domain::assets::Integrity;
use app::ssr::repo;

use super::recording;
use super::RunnerCtx;
use crate::media::{fmp4, m3u8};
use crate::media_store::{MediaStore, RenditionKey, PART};

/// What reconciliation did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    pub sessions_ended: usize,
    pub recordings_repaired: usize,
    pub playlists_closed: usize,
    pub rows_removed: usize,
    pub files_removed: usize,
    pub files_registered: usize,
}

/// Parses `…/o{org}/g{group}/s{session}/st{stream}/…` out of a path under the media folder.
pub fn key_of(store: &MediaStore, path: &Path) -> Option<RenditionKey> {
    let rel = path.strip_prefix(store.media_root()).ok()?;
    let mut parts = rel.components().map(|c| c.as_os_str().to_str());
    let mut num =
        |prefix: &str| -> Option<i64> { parts.next()??.strip_prefix(prefix)?.parse().ok() };
    Some(RenditionKey {
        organisation_id: num("o")?,
        group_id: num("g")?,
        session_id: num("s")?,
        stream_id: num("st")?,
    })
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

/// Runs every step; errors are logged and the step skipped.
pub async fn run(ctx: &RunnerCtx) -> Report {
    let mut report = Report::default();
    let db = &ctx.state.db;
    let now = ctx.state.clock.now();
    if let Ok(ids) = repo::live_sessions::end_all_open(db, "server restarted", now).await {
        report.sessions_ended = ids.len();
    }
    let root = ctx.store.media_root();
    let files = {
        let root = root.clone();
        tokio::task::spawn_blocking(move || {
            let mut v = Vec::new();
            walk(&root, &mut v);
            v
        })
        .await
        .unwrap_or_default()
    };

    // Rows whose file is gone.
    if let Ok(rows) = repo::assets::all_paths(db).await {
        let missing: Vec<i64> = rows
            .into_iter()
            .filter(|(_, p)| ctx.store.resolve(p).is_none_or(|f| !f.exists()))
            .map(|(id, _)| id)
            .collect();
        report.rows_removed = missing.len();
        let _ = repo::assets::delete(db, &missing).await;
    }

    for path in &files {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let in_dir = |d: &str| {
            path.parent()
                .and_then(|p| p.file_name())
                .is_some_and(|n| n == d)
        };
        let Some(key) = key_of(&ctx.store, path) else {
            continue;
        };
        if in_dir("recordings") && name.ends_with(&format!(".mp4.{PART}")) {
            if repair_recording(ctx, key, path).await {
                report.recordings_repaired += 1;
            } else {
                report.files_removed += 1;
            }
        } else if name.ends_with(&format!(".{PART}")) {
            let _ = tokio::fs::remove_file(path).await;
            report.files_removed += 1;
        } else if name == "replay.m3u8" {
            match close_playlist(ctx, path).await {
                Some(true) => report.playlists_closed += 1,
                Some(false) => {}
                None => {
                    let _ = tokio::fs::remove_file(path).await;
                    let _ = tokio::fs::remove_dir_all(path.with_file_name("segments")).await;
                    report.files_removed += 1;
                }
            }
        } else if in_dir("recordings") || in_dir("thumbnails") || in_dir("clips") {
            let Some(rel) = ctx.store.relative(path) else {
                continue;
            };
            if repo::assets::exists_path(db, &rel).await.unwrap_or(true) {
                continue;
            }
            if in_dir("recordings") {
                let size = tokio::fs::metadata(path)
                    .await
                    .map(|m| m.len())
                    .unwrap_or(0);
                if recording::register(ctx, key, path, size, 0.0, Integrity::Ok, now)
                    .await
                    .is_some()
                {
                    report.files_registered += 1;
                    continue;
                }
            }
            let _ = tokio::fs::remove_file(path).await;
            report.files_removed += 1;
        }
    }
    // Clip folders without a row (deleted while the server was down), rows without a folder.
    if let Ok(dirs) = repo::clips::all_dirs(db).await {
        let known: std::collections::HashSet<_> = dirs.iter().cloned().collect();
        let mut seen = std::collections::HashSet::new();
        for path in &files {
            let Some(dir) = path.parent().filter(|d| ctx.store.is_clip_dir(d)) else {
                continue;
            };
            let Some(rel) = ctx.store.relative(dir) else {
                continue;
            };
            if !known.contains(&rel) && seen.insert(rel) {
                let _ = tokio::fs::remove_dir_all(dir).await;
                report.files_removed += 1;
            } else if path.to_string_lossy().ends_with(&format!(".{PART}")) {
                let _ = tokio::fs::remove_file(path).await;
            }
        }
        for rel in dirs {
            if ctx.store.resolve(&rel).is_none_or(|d| !d.exists()) {
                let _ = repo::clips::delete_by_dir(db, &rel).await;
                report.rows_removed += 1;
            }
        }
    }
    // Segment folders of sessions whose replay was never registered.
    for path in &files {
        let Some(key) = key_of(&ctx.store, path) else {
            continue;
        };
        let playlist = ctx.store.replay_playlist(key);
        let segments = ctx.store.rendition(key).join("segments");
        if path.starts_with(&segments) && !playlist.exists() && segments.exists() {
            let _ = tokio::fs::remove_dir_all(&segments).await;
            report.files_removed += 1;
        }
    }
    if report != Report::default() {
        tracing::info!(?report, "reconciled the data folder");
    }
    report
}

/// Truncates a half-written recording to its last whole fragment, renames it, and registers
/// it as repaired. Returns false (and removes it) when nothing playable is left.
async fn repair_recording(ctx: &RunnerCtx, key: RenditionKey, part: &Path) -> bool {
    let Ok(bytes) = tokio::fs::read(part).await else {
        return false;
    };
    let whole = fmp4::complete_prefix(&bytes);
    let has_media = whole > 0
        && fmp4::timescales(&bytes[..whole]).is_ok()
        && bytes[..whole].windows(4).any(|w| w == b"mdat");
    if !has_media {
        let _ = tokio::fs::remove_file(part).await;
        return false;
    }
    if whole < bytes.len() {
        if let Ok(f) = tokio::fs::OpenOptions::new().write(true).open(part).await {
            let _ = f.set_len(whole as u64).await;
        }
    }
    let target = part.with_extension("");
    let Ok(size) = MediaStore::publish(part, &target).await else {
        return false;
    };
    let created_at = ctx.state.clock.now();
    match recording::register(
        ctx,
        key,
        &target,
        size,
        0.0,
        Integrity::Repaired,
        created_at,
    )
    .await
    {
        Some(_) => true,
        None => {
            let _ = tokio::fs::remove_file(&target).await;
            false
        }
    }
}

/// Adds ENDLIST to an open replay playlist of an ended session. `Some(true)` if it was
/// closed now, `Some(false)` if it already was, `None` if it has no asset row.
async fn close_playlist(ctx: &RunnerCtx, path: &Path) -> Option<bool> {
    let rel = ctx.store.relative(path)?;
    if !repo::assets::exists_path(&ctx.state.db, &rel)
        .await
        .unwrap_or(false)
    {
        return None;
    }
    let text = tokio::fs::read_to_string(path).await.ok()?;
    if m3u8::parse(&text).ended {
        return Some(false);
    }
    let closed = format!(
        "{}#EXT-X-ENDLIST\n",
        if text.ends_with('\n') {
            text
        } else {
            format!("{text}\n")
        }
    );
    MediaStore::write_atomic(path, closed.as_bytes())
        .await
        .ok()?;
    Some(true)
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
        };
        assert_eq!(key_of(&s, &s.recording(k, 1)), Some(k));
        assert_eq!(key_of(&s, Path::new("/data/media/x/y")), None);
        assert_eq!(
            key_of(&s, Path::new("/elsewhere/media/o1/g2/s3/st4/a")),
            None
        );
    }
}
