//! "Save the last N minutes": a span of a replay buffer copied into a permanent recording of
//! its rendition (the fragments rebased to start at zero, no re-encoding), probed and
//! registered like any recording, so a moment is kept even with recording off.

use app::domain::assets::Integrity;

use super::cut::{choose, write_fragmented};
use crate::runner::error::JobError;
use crate::runner::reconcile::key_of;
use crate::runner::recording;
use crate::runner::RunnerCtx;
use app::ssr::pipeline::ReplaySpan;

/// Copies `wanted` of `replay` (path relative to the data folder) into a recording; returns
/// the new asset's id.
pub async fn save(ctx: &RunnerCtx, replay: &str, wanted: ReplaySpan) -> Result<i64, JobError> {
    let chosen = choose(&ctx.store, replay, wanted).await?;
    let not_ours = || JobError::Invalid("not a replay of this server");
    let playlist = ctx.store.resolve(replay).ok_or_else(not_ours)?;
    let key = key_of(&ctx.store, &playlist).ok_or_else(not_ours)?;
    let first = chosen
        .segments
        .first()
        .map(|(_, e)| e.program_date_time)
        .ok_or(JobError::refused("nothing to save"))?;
    let target = ctx.store.saved_recording(key, first);
    if let Some(dir) = target.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(JobError::io(dir))?;
    }
    let paths: Vec<_> = chosen.segments.iter().map(|(p, _)| p.clone()).collect();
    let size = write_fragmented(&chosen.init, &paths, &target).await?;
    let seconds: f64 = chosen.segments.iter().map(|(_, e)| e.duration).sum();
    let file = recording::Finished {
        path: &target,
        size,
        written_s: seconds,
        integrity: Integrity::Ok,
        created_at: ctx.state.clock.now(),
    };
    let closed = recording::register(ctx, key, file, crate::runner::Writer::Settled)
        .await
        .ok_or(JobError::Invalid(
            "the saved recording could not be registered",
        ))?;
    tracing::info!(
        asset.id = closed.asset_id,
        seconds,
        "replay span saved as a recording"
    );
    Ok(closed.asset_id)
}
