//! Replay: the rendition's segments listed in an HLS playlist of the session, a rolling
//! window of `duration` (everything for "entire stream"). Registered as an asset when its
//! first segment arrives; closed with ENDLIST at the end of the session, so it plays on
//! demand afterwards.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};

use app::domain::settings::{ProcessKind, Span};
use app::ssr::repo::assets::{self, NewAsset};
use app::ssr::repo::live_sessions::Lease;

use super::error::JobError;
use super::segment::Segment;
use super::RunnerCtx;
use crate::media::m3u8::{self, Entry};
use crate::media_store::{MediaStore, RenditionKey};

/// The replay playlist of one rendition in one session.
pub(crate) struct Replay {
    key: RenditionKey,
    dir: PathBuf,
    playlist: PathBuf,
    entries: VecDeque<Segment>,
    first_seq: u64,
    discontinuities_before: u64,
    asset_id: Option<i64>,
    closed: bool,
}

impl Replay {
    /// An empty replay for a rendition.
    pub(crate) fn new(store: &MediaStore, key: RenditionKey) -> Self {
        Self {
            key,
            dir: store.rendition(key),
            playlist: store.replay_playlist(key),
            entries: VecDeque::new(),
            first_seq: 0,
            discontinuities_before: 0,
            asset_id: None,
            closed: false,
        }
    }

    /// Segments the playlist lists (they must stay on disk).
    pub(crate) fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.entries.iter()
    }

    /// Whether anything was ever listed.
    pub(crate) fn is_started(&self) -> bool {
        self.asset_id.is_some()
    }

    /// Adds a segment, trims the window to `window` (at this segment: a changed window applies
    /// here), rewrites the playlist.
    pub(crate) async fn push(
        &mut self,
        ctx: &RunnerCtx,
        seg: &Segment,
        window: Span,
    ) -> Result<(), JobError> {
        self.closed = false;
        self.entries.push_back(seg.clone());
        if let Span::Seconds(limit) = window {
            while self.entries.len() > 1 && self.total() > f64::from(limit) + 0.25 {
                if let Some(gone) = self.entries.pop_front() {
                    self.first_seq += 1;
                    if self
                        .entries
                        .front()
                        .is_some_and(|next| next.run != gone.run)
                    {
                        self.discontinuities_before += 1;
                    }
                }
            }
        }
        self.write(false).await?;
        if self.asset_id.is_none() {
            self.register(ctx).await;
        }
        Ok(())
    }

    /// Closes the playlist (ENDLIST) and updates the asset's size and duration.
    pub(crate) async fn close(&mut self, ctx: &RunnerCtx) {
        if self.closed || self.asset_id.is_none() {
            return;
        }
        self.closed = true;
        if let Err(e) = self.write(true).await {
            tracing::error!(error = %e, "cannot close the replay playlist (the next start closes it)");
        }
        let size = tokio::fs::metadata(&self.playlist)
            .await
            .map(|m| m.len())
            .unwrap_or(0);
        if let Some(id) = self.asset_id {
            let duration_ms = (self.total() * 1000.0).round() as i64;
            let _ = assets::update_stats(
                &ctx.state.db,
                id,
                i64::try_from(size).unwrap_or(0),
                Some(duration_ms),
            )
            .await;
            // "asset.created" again: the replay is now on-demand and has its final length.
            ctx.emit_asset(id);
        }
    }

    fn total(&self) -> f64 {
        self.entries.iter().map(|s| s.duration).sum()
    }

    fn relative(&self, path: &Path) -> String {
        path.strip_prefix(&self.dir)
            .map(|p| {
                p.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/")
            })
            .unwrap_or_default()
    }

    async fn write(&self, ended: bool) -> Result<(), JobError> {
        let entries: Vec<Entry> = self
            .entries
            .iter()
            .map(|s| Entry {
                uri: self.relative(&s.path),
                map_uri: self.relative(&s.init),
                duration: s.duration,
                program_date_time: s.wall,
            })
            .collect();
        let text = m3u8::write(&entries, self.first_seq, self.discontinuities_before, ended);
        MediaStore::replace(&self.playlist, text.as_bytes())
            .await
            .map_err(JobError::io(&self.playlist))
    }

    async fn register(&mut self, ctx: &RunnerCtx) {
        let Some(rel) = ctx.store.relative(&self.playlist) else {
            return;
        };
        let row = NewAsset {
            organisation_id: self.key.organisation_id,
            stream_id: self.key.stream_id,
            session_id: Some(self.key.session_id),
            kind: ProcessKind::Replay,
            format: "m3u8",
            path: rel,
            size_bytes: 0,
            duration_ms: None,
            width: None,
            height: None,
            integrity: None,
            created_at: ctx.state.clock.now(),
        };
        let lease = Lease {
            session_id: self.key.session_id,
            epoch: self.key.epoch,
        };
        match assets::insert_fenced(&ctx.state.db, &row, lease, &ctx.config.node_id).await {
            Ok(Some(id)) => {
                self.asset_id = Some(id);
                ctx.emit_asset(id);
            }
            Ok(None) => {
                tracing::warn!("the replay is not registered: another node took the session over")
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot register the replay yet (retried at the next segment)")
            }
        }
    }
}
