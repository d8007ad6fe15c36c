//! Disk full is a state, not a crash: the data folder's free space is read every few
//! seconds; below the threshold the pipeline stops starting optional work (thumbnails,
//! motion clips, clip exports, saved spans) and says so (job states, the dashboard, the
//! API), while recordings and replays go on as long as they can. Work resumes by itself once
//! free space is back above the threshold plus a margin (so it does not flap).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use app::domain::jobs::StorageStatus;
use tokio_util::sync::CancellationToken;

use super::RunnerCtx;

/// How often free space is read.
pub const INTERVAL: Duration = Duration::from_secs(2);
/// Why paused jobs wait.
pub const PAUSED: &str = "paused: the server's disk is almost full";

/// What the watch last read.
#[derive(Debug, Default)]
pub struct DiskState {
    free: AtomicU64,
    total: AtomicU64,
    low: AtomicBool,
}

impl DiskState {
    /// Whether optional work must wait.
    pub fn is_low(&self) -> bool {
        self.low.load(Ordering::Relaxed)
    }

    /// As the dashboard and the API show it.
    pub fn status(&self) -> StorageStatus {
        StorageStatus {
            free_bytes: self.free.load(Ordering::Relaxed),
            total_bytes: self.total.load(Ordering::Relaxed),
            low: self.is_low(),
            quota: Default::default(),
        }
    }

    /// Takes in a reading; returns whether the state changed.
    pub fn update(&self, free: u64, total: u64, min_free: u64) -> bool {
        self.free.store(free, Ordering::Relaxed);
        self.total.store(total, Ordering::Relaxed);
        let was = self.is_low();
        let now = if was {
            free < min_free + min_free / 10
        } else {
            free < min_free
        };
        self.low.store(now, Ordering::Relaxed);
        was != now
    }
}

/// Free and total bytes of the file system holding `dir`.
pub fn space(dir: &std::path::Path) -> std::io::Result<(u64, u64)> {
    let s = nix::sys::statvfs::statvfs(dir).map_err(std::io::Error::from)?;
    let unit = s.fragment_size() as u64;
    Ok((s.blocks_available() as u64 * unit, s.blocks() as u64 * unit))
}

/// Reads the free space of `dir` until `stop`.
pub async fn watch(ctx: Arc<RunnerCtx>, dir: PathBuf, min_free: u64, stop: CancellationToken) {
    let mut tick = tokio::time::interval(INTERVAL);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let d = dir.clone();
        match tokio::task::spawn_blocking(move || space(&d)).await {
            Ok(Ok((free, total))) => {
                if ctx.disk.update(free, total, min_free) {
                    if ctx.disk.is_low() {
                        tracing::error!(
                            free_bytes = free,
                            min_free_bytes = min_free,
                            "disk almost full: optional work paused"
                        );
                    } else {
                        tracing::info!(free_bytes = free, "disk space back: optional work resumes");
                    }
                }
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the free disk space"),
            Err(e) => tracing::warn!(error = %e, "cannot read the free disk space"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_below_the_threshold_and_back_above_it_with_a_margin() {
        let d = DiskState::default();
        assert!(!d.update(2000, 10_000, 1000));
        assert!(d.update(900, 10_000, 1000), "went low");
        assert!(d.is_low());
        assert!(!d.update(1050, 10_000, 1000), "still low inside the margin");
        assert!(d.update(1200, 10_000, 1000), "back");
        assert!(!d.status().low);
        assert_eq!(d.status().free_bytes, 1200);
    }
}
