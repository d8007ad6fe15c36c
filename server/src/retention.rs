//! Retention runs: every few minutes, for each group some rule applies to, the assets and
//! shared clips its rules make due are deleted oldest first, in batches, with a pause between
//! batches so the pipeline's own writes are never held up. Rows go first (with their files
//! written to a journal in the same transaction), then the files; the journal is finished at
//! the next run or start, so a crash leaves neither rows without files nor files without
//! rows. What was removed is logged per group (items, bytes, reason).

use std::time::Duration;

use app::domain::retention::RetainedKind;
use app::ssr::repo::claims;
use app::ssr::repo::retention::{self as repo, Due};
use app::ssr::AppState;
use tokio_util::sync::CancellationToken;

use crate::media_store::MediaStore;

/// Rows deleted per transaction.
pub(crate) const BATCH: usize = 200;
/// Due rows found per query (then deleted in batches): finding them ranks a kind's rows, so
/// it is done once per page, not once per batch.
const PAGE: i64 = 5_000;
/// Pause between batches.
const BREATHE: Duration = Duration::from_millis(20);

/// What one run removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub items: u64,
    pub bytes: u64,
    /// Files or folders removed.
    pub files: u64,
}

/// Runs until `stop`: the first run a minute after start (sooner if `every` is shorter),
/// then every `every`.
pub(crate) async fn schedule(
    state: AppState,
    store: MediaStore,
    every: Duration,
    stop: CancellationToken,
) {
    let mut next = tokio::time::Instant::now() + every.min(Duration::from_secs(60));
    let node = state.config.node_id.clone();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep_until(next) => {}
        }
        next = tokio::time::Instant::now() + every;
        // One node of a cluster runs retention: the one holding the claim (renewed each
        // run; another node takes it once it runs out).
        let now = state.clock.now();
        let until =
            now + chrono::Duration::from_std(every * 2).unwrap_or(chrono::Duration::hours(1));
        match claims::claim(&state.db, CLAIM, &node, now, until).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!("retention runs on another node");
                continue;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot claim the retention run; it will try again");
                continue;
            }
        }
        match run_once(&state, &store).await {
            Ok(r) if r.items > 0 => {
                tracing::info!(
                    items = r.items,
                    bytes = r.bytes,
                    "retention removed expired media"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "retention run failed; it will try again"),
        }
    }
    let _ = claims::release(&state.db, CLAIM, &node).await;
}

/// The name of retention's claim.
const CLAIM: &str = "retention";

/// One run: the journal left by an earlier one first, then every group's due media.
pub async fn run_once(state: &AppState, store: &MediaStore) -> Result<Report, sqlx::Error> {
    let mut report = Report {
        files: finish_pending(state, store).await?,
        ..Report::default()
    };
    let now = state.clock.now();
    for (org, group) in repo::groups_with_rules(&state.db).await? {
        let defaults = repo::rules(&state.db, org, 0).await?;
        let own = repo::rules(&state.db, org, group).await?;
        for kind in RetainedKind::ALL {
            let rule = own.effective(&defaults, kind);
            if !rule.limits() {
                continue;
            }
            loop {
                let due: Vec<Due> = match kind {
                    RetainedKind::Clip => {
                        repo::due_clips(&state.db, group, rule, now, PAGE).await?
                    }
                    _ => repo::due_assets(&state.db, group, kind, rule, now, PAGE).await?,
                };
                let mut removed_any = false;
                for batch in due.chunks(BATCH) {
                    let (journal, removed) =
                        repo::remove_rows(&state.db, org, group, kind, batch, now).await?;
                    removed_any |= !removed.is_empty();
                    report.items += removed.len() as u64;
                    report.bytes += removed
                        .iter()
                        .map(|d| d.size_bytes.max(0) as u64)
                        .sum::<u64>();
                    report.files += remove_files(state, store, journal).await;
                    tokio::time::sleep(BREATHE).await;
                }
                // A short page was the last; a page whose rows all turned out protected
                // would come back the same.
                if (due.len() as i64) < PAGE || !removed_any {
                    break;
                }
            }
        }
    }
    Ok(report)
}

/// Removes what the journal lists (rows already gone); returns how many it removed.
pub async fn finish_pending(state: &AppState, store: &MediaStore) -> Result<u64, sqlx::Error> {
    let mut removed = 0;
    loop {
        let batch = repo::pending(&state.db, BATCH as i64).await?;
        let n = batch.len();
        let before = removed;
        removed += remove_files(state, store, batch).await;
        if n < BATCH || removed == before {
            return Ok(removed);
        }
    }
}

/// Removes journaled files and folders and their journal rows. A path that cannot be removed
/// keeps its journal row (tried again next run); a path outside the data folder is never
/// touched.
async fn remove_files(state: &AppState, store: &MediaStore, journal: Vec<(i64, String)>) -> u64 {
    let mut gone_ids = Vec::with_capacity(journal.len());
    for (id, rel) in journal {
        let Some(path) = store.resolve(&rel) else {
            tracing::error!(path = %rel, "a journaled deletion outside the data folder; left alone");
            continue;
        };
        let mut gone = match tokio::fs::symlink_metadata(&path).await {
            Ok(m) if m.is_dir() => tokio::fs::remove_dir_all(&path).await,
            Ok(_) => tokio::fs::remove_file(&path).await,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if let (Ok(()), Some(remote)) = (&gone, store.remote()) {
            // A file's object, or a shared clip folder's objects.
            gone = match remote.delete(&rel).await {
                Ok(()) => remote.delete_folder(&rel).await,
                Err(e) => Err(e),
            }
            .map_err(std::io::Error::other);
        }
        match gone {
            Ok(()) => gone_ids.push(id),
            Err(e) => tracing::warn!(path = %rel, error = %e, "cannot remove; will try again"),
        }
    }
    if let Err(e) = repo::done(&state.db, &gone_ids).await {
        // Removing an absent file again is harmless: the next run finishes the journal.
        tracing::warn!(error = %e, "files removed, but their journal rows stay");
    }
    gone_ids.len() as u64
}
