//! Storage use per organisation against its quota. A watch measures each organisation's media
//! folder (`media/o<id>`, a file linked twice counted once; with object storage, its objects
//! in the store, which every node lists alike) every `usage_interval`, compares
//! it with the organisation's quota (or the server's default), and announces changes of level
//! (`storage.quota`: below 90 %, 90 % or more, 100 % or more). At 100 % new optional work
//! (thumbnails, motion clips, clips, saved spans) waits with a visible reason, recordings
//! too if the operator chose so, until space is freed (retention, deletions) or the quota
//! raised.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use app::domain::jobs::{QuotaLevel, QuotaStatus};
use app::ssr::repo;
use tokio_util::sync::CancellationToken;

use super::{PipelineEvent, RunnerCtx};

/// Why optional work waits when the quota is used up.
pub const PAUSED: &str = "paused: the organisation's storage quota is used up";

/// The last measurement of every organisation.
#[derive(Debug, Default)]
pub struct Usage(Mutex<HashMap<i64, QuotaStatus>>);

impl Usage {
    /// An organisation's status (no quota until measured).
    pub fn get(&self, organisation_id: i64) -> QuotaStatus {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&organisation_id)
            .copied()
            .unwrap_or_default()
    }

    /// Whether new optional work of the organisation must wait.
    pub fn is_full(&self, organisation_id: i64) -> bool {
        self.get(organisation_id).level == QuotaLevel::Full
    }

    /// Records a measurement; returns the level it had before.
    fn set(&self, organisation_id: i64, status: QuotaStatus) -> QuotaLevel {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(organisation_id, status)
            .map(|s| s.level)
            .unwrap_or_default()
    }
}

/// Measures now, then every `usage_interval` until `stop`.
pub async fn watch(ctx: Arc<RunnerCtx>, stop: CancellationToken) {
    loop {
        if let Err(e) = measure(&ctx).await {
            tracing::warn!(error = %e, "cannot read the organisations' quotas");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ctx.config.usage_interval) => {}
        }
    }
}

/// One measurement of every organisation.
pub async fn measure(ctx: &RunnerCtx) -> Result<(), sqlx::Error> {
    for (org, own) in repo::orgs::quotas(&ctx.state.db).await? {
        let used = if let Some(remote) = ctx.store.remote() {
            // With object storage the store holds the organisation's media for every node
            // (the data folder only live work): what it lists is what is used.
            let Some(folder) = ctx
                .store
                .relative(&ctx.store.media_root().join(format!("o{org}")))
            else {
                continue;
            };
            match remote.list(&folder).await {
                Ok(objects) => objects.iter().map(|(_, size)| size).sum(),
                Err(e) => {
                    tracing::warn!(org.id = org, error = %e, "cannot measure storage use in the store; kept the last figure");
                    continue;
                }
            }
        } else {
            let dir = ctx.store.media_root().join(format!("o{org}"));
            tokio::task::spawn_blocking(move || bytes_under(&dir))
                .await
                .unwrap_or(0)
        };
        let quota = own
            .and_then(|q| u64::try_from(q).ok())
            .or(ctx.config.default_quota_bytes);
        let status = QuotaStatus::of(used, quota);
        let before = ctx.usage.set(org, status);
        if before != status.level {
            tracing::warn!(
                org.id = org,
                used_bytes = used,
                quota_bytes = ?quota,
                level = ?status.level,
                "storage quota level changed"
            );
            ctx.emit(PipelineEvent::StorageQuota {
                organisation_id: org,
                status,
            });
        }
    }
    Ok(())
}

/// Bytes of the files under `dir`, each inode once (clips hard-link replay segments).
fn bytes_under(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut seen = HashSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.path().symlink_metadata() else {
                continue;
            };
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() && (m.nlink() == 1 || seen.insert((m.dev(), m.ino()))) {
                total += m.len();
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_linked_twice_counts_once() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(dir.path().join("a/b")).expect("dirs");
        std::fs::write(dir.path().join("a/one"), [0u8; 1000]).expect("write");
        std::fs::write(dir.path().join("a/b/two"), [0u8; 500]).expect("write");
        std::fs::hard_link(dir.path().join("a/one"), dir.path().join("a/b/link")).expect("link");
        assert_eq!(bytes_under(dir.path()), 1500);
        assert_eq!(bytes_under(&dir.path().join("missing")), 0);
    }
}
