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
    /// With object storage: listed files not yet in the store, oldest first (the playlist
    /// is uploaded only once all of them are, so it never lists a missing object).
    unsent: VecDeque<PathBuf>,
    /// Init segments already in the store.
    sent_inits: std::collections::HashSet<PathBuf>,
    /// Objects of segments that left the window, to delete once the playlist without them
    /// is in the store.
    evicted: Vec<PathBuf>,
    /// When the oldest segment not yet in the store's playlist was listed locally.
    unannounced_since: Option<std::time::Instant>,
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
            unsent: VecDeque::new(),
            sent_inits: std::collections::HashSet::new(),
            evicted: Vec::new(),
            unannounced_since: None,
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
        if ctx.store.remote().is_some() {
            self.unannounced_since
                .get_or_insert_with(std::time::Instant::now);
            if self.sent_inits.insert(seg.init.clone()) {
                self.unsent.push_back(seg.init.clone());
            }
            self.unsent.push_back(seg.path.clone());
        }
        if let Span::Seconds(limit) = window {
            while self.entries.len() > 1 && self.total() > f64::from(limit) + 0.25 {
                if let Some(gone) = self.entries.pop_front() {
                    if ctx.store.remote().is_some() {
                        self.unsent.retain(|p| *p != gone.path);
                        self.evicted.push(gone.path.clone());
                    }
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
        self.send(ctx).await;
        if self.asset_id.is_none() {
            self.register(ctx).await;
        }
        Ok(())
    }

    /// With object storage: uploads the listed files not yet there, then the playlist, then
    /// deletes the objects of segments that left the window. A failure keeps the rest for
    /// the next segment (the store's playlist stays the last complete one meanwhile).
    /// Answers whether the store is up to date.
    async fn send(&mut self, ctx: &RunnerCtx) -> bool {
        let Some(remote) = ctx.store.remote() else {
            return true;
        };
        while let Some(path) = self.unsent.front() {
            let Some(rel) = ctx.store.relative(path) else {
                self.unsent.pop_front();
                continue;
            };
            if let Err(e) = remote.upload(path, &rel).await {
                tracing::warn!(path = %rel, error = %e, "cannot upload a replay segment yet");
                return false;
            }
            self.unsent.pop_front();
        }
        let Some(rel) = ctx.store.relative(&self.playlist) else {
            return false;
        };
        if let Err(e) = remote.upload(&self.playlist, &rel).await {
            tracing::warn!(path = %rel, error = %e, "cannot upload the replay playlist yet");
            return false;
        }
        if let Some(since) = self.unannounced_since.take() {
            crate::metrics::uploaded("segment", since.elapsed());
        }
        for path in std::mem::take(&mut self.evicted) {
            if let Some(rel) = ctx.store.relative(&path) {
                if let Err(e) = remote.delete(&rel).await {
                    tracing::warn!(path = %rel, error = %e, "cannot delete an evicted segment's object");
                }
            }
        }
        true
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
        // The closed playlist in the store too: a few tries, the store may be briefly away.
        for attempt in 0..5u32 {
            if self.send(ctx).await {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250 << attempt)).await;
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

/// After a takeover: the replays earlier epochs of the session left in the object store
/// (their node died mid-session) get their ENDLIST, so they play on demand, every segment
/// that node finished included.
pub(crate) async fn close_abandoned(
    ctx: &RunnerCtx,
    organisation_id: i64,
    session_id: i64,
    epoch: i64,
) {
    let Some(remote) = ctx.store.remote() else {
        return;
    };
    let rows = match assets::page(
        &ctx.state.db,
        organisation_id,
        None,
        Some(session_id),
        Some(ProcessKind::Replay),
        None,
        None,
        None,
        100,
    )
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "cannot find the replays of the session taken over");
            return;
        }
    };
    for row in rows {
        let earlier = ctx
            .store
            .resolve(&row.path)
            .and_then(|p| super::reconcile::key_of(&ctx.store, &p))
            .is_some_and(|k| k.epoch < epoch);
        if !earlier {
            continue;
        }
        let text = match remote.read(&row.path).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => {
                tracing::warn!(path = %row.path, error = %e, "cannot read an abandoned replay");
                continue;
            }
        };
        if m3u8::parse(&text).ended {
            continue;
        }
        let closed = format!(
            "{text}{}#EXT-X-ENDLIST\n",
            if text.ends_with('\n') { "" } else { "\n" }
        );
        match remote.write(&row.path, closed.into_bytes()).await {
            Ok(()) => {
                tracing::info!(path = %row.path, "closed the replay of the node taken over from");
                ctx.emit_asset(row.asset.id);
            }
            Err(e) => {
                tracing::warn!(path = %row.path, error = %e, "cannot close an abandoned replay")
            }
        }
    }
}
