//! Replay: the rendition's segments listed in an HLS playlist of the session, a rolling
//! window of `duration` (everything for "entire stream"). Registered as an asset when its
//! first segment arrives; closed with ENDLIST at the end of the session, so it plays on
//! demand afterwards. After a takeover the new owner continues the same playlist (same
//! asset, same URL: players keep playing) with a discontinuity, listing its own segments as
//! `e{epoch}/…` ([`crate::media_store::replay_uri`]).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use app::domain::settings::{ProcessKind, Span};
use app::ssr::repo::assets::{self, AssetRow, NewAsset};
use app::ssr::repo::live_sessions::Lease;

use super::error::JobError;
use super::segment::Segment;
use super::RunnerCtx;
use crate::media::m3u8::{self, Entry};
use crate::media_store::{self, MediaStore, RenditionKey};

/// The replay playlist of one rendition in one session.
pub(crate) struct Replay {
    key: RenditionKey,
    store: MediaStore,
    playlist: PathBuf,
    /// The playlist relative to the data folder (its asset row's path).
    playlist_rel: String,
    entries: VecDeque<Segment>,
    first_seq: u64,
    discontinuities_before: u64,
    asset_id: Option<i64>,
    closed: bool,
    /// An earlier epoch's playlist was looked for (after a takeover, once).
    adopt_tried: bool,
    /// With object storage: closed, and the closed playlist with every file it lists is in
    /// the store (the data folder's copies are then not needed).
    stored: bool,
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
    /// The playlist as last written, and whether the store's copy is older.
    text: Vec<u8>,
    dirty: bool,
    /// The round of sending under way (in the background: the rendition worker never waits
    /// for the store, so a slow store delays the store's copy, never the live work).
    round: Option<tokio::task::JoinHandle<Sent>>,
}

/// What one round of sending did.
struct Sent {
    /// Files now in the store.
    files: Vec<PathBuf>,
    /// The playlist went too (every file it lists was already there).
    playlist: bool,
    /// Evicted segments whose objects were not deleted (the playlist did not go): kept for
    /// the next round.
    kept_evicted: Vec<PathBuf>,
    since: Option<std::time::Instant>,
}

impl Replay {
    /// An empty replay for a rendition.
    pub(crate) fn new(store: &MediaStore, key: RenditionKey) -> Self {
        let playlist = store.replay_playlist(key);
        Self {
            key,
            store: store.clone(),
            playlist_rel: store.relative(&playlist).unwrap_or_default(),
            playlist,
            entries: VecDeque::new(),
            first_seq: 0,
            discontinuities_before: 0,
            asset_id: None,
            closed: false,
            adopt_tried: false,
            stored: false,
            unsent: VecDeque::new(),
            sent_inits: std::collections::HashSet::new(),
            evicted: Vec::new(),
            unannounced_since: None,
            text: Vec::new(),
            dirty: false,
            round: None,
        }
    }

    /// Segments the playlist lists (they must stay on disk).
    pub(crate) fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.entries.iter()
    }

    /// With object storage: whether the closed replay is entirely in the store.
    pub(crate) fn is_stored(&self) -> bool {
        self.stored && self.closed
    }

    /// This node's copy of the playlist.
    pub(crate) fn playlist(&self) -> &std::path::Path {
        &self.playlist
    }

    /// Whether anything was ever listed.
    pub(crate) fn is_started(&self) -> bool {
        self.asset_id.is_some()
    }

    /// Adds a segment, trims the window to `window` (at this segment: a changed window applies
    /// here), rewrites the playlist.
    pub(crate) async fn push(
        &mut self,
        ctx: &Arc<RunnerCtx>,
        seg: &Segment,
        window: Span,
    ) -> Result<(), JobError> {
        if self.key.epoch > 1 && self.asset_id.is_none() && !self.adopt_tried {
            self.adopt_tried = true;
            self.adopt(ctx).await;
        }
        self.closed = false;
        if self.entries.is_empty() {
            self.store.set_writing(&self.playlist_rel, true);
        }
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
                        .is_some_and(|next| next.init != gone.init)
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

    /// With object storage: takes the result of the last round of sending if it is over,
    /// and starts the next one when there is something to send (in the background).
    async fn send(&mut self, ctx: &Arc<RunnerCtx>) {
        if ctx.store.remote().is_none() {
            return;
        }
        self.collect(false).await;
        if self.round.is_none() {
            self.start_round(ctx);
        }
    }

    /// Sends everything now; answers whether the store is then up to date.
    async fn flush(&mut self, ctx: &Arc<RunnerCtx>) -> bool {
        if ctx.store.remote().is_none() {
            return true;
        }
        self.collect(true).await;
        self.start_round(ctx);
        self.collect(true).await;
        !self.dirty && self.unsent.is_empty()
    }

    /// Takes the result of the round under way once it is over (with `wait`, waits for it).
    async fn collect(&mut self, wait: bool) {
        let Some(round) = self.round.take() else {
            return;
        };
        if !wait && !round.is_finished() {
            self.round = Some(round);
            return;
        }
        match round.await {
            Ok(sent) => {
                self.unsent.retain(|p| !sent.files.contains(p));
                self.evicted.extend(sent.kept_evicted);
                if !sent.playlist {
                    self.dirty = true;
                    self.unannounced_since = match (sent.since, self.unannounced_since) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            // The round panicked: the playlist goes again with the next.
            Err(_) => self.dirty = true,
        }
    }

    /// Starts a round when there is something to send. A round uploads the listed files
    /// not yet in the store, then the playlist as it was when the round started (so it
    /// never lists a missing object), then deletes the objects of segments that left the
    /// window. A failure keeps the rest for the next round (the store's playlist stays the
    /// last complete one meanwhile).
    fn start_round(&mut self, ctx: &Arc<RunnerCtx>) {
        let Some(remote) = ctx.store.remote() else {
            return;
        };
        if self.round.is_some() || (!self.dirty && self.unsent.is_empty()) {
            return;
        }
        let files: Vec<(PathBuf, String)> = self
            .unsent
            .iter()
            .filter_map(|p| Some((p.clone(), ctx.store.relative(p)?)))
            .collect();
        let (remote, ctx) = (remote.clone(), ctx.clone());
        let (text, rel, lease) = (self.text.clone(), self.playlist_rel.clone(), self.lease());
        let evicted = std::mem::take(&mut self.evicted);
        let since = self.unannounced_since.take();
        self.dirty = false;
        self.round = Some(tokio::spawn(async move {
            let mut sent = Sent {
                files: Vec::new(),
                playlist: false,
                kept_evicted: evicted,
                since,
            };
            for (path, name) in files {
                if let Err(e) = remote.upload(&path, &name).await {
                    tracing::warn!(path = %name, error = %e, "cannot upload a replay segment yet");
                    return sent;
                }
                sent.files.push(path);
            }
            // The playlist is the one file another epoch writes too: only while the lease is
            // surely held (a node cut off from the database stops before a takeover can
            // start).
            let margin = ctx.config.lease_ttl / 3;
            if !ctx.leases.may_write(lease, margin) {
                tracing::warn!(path = %rel, "not sending the replay playlist: this node's lease is not surely held");
                return sent;
            }
            if let Err(e) = remote.write(&rel, text).await {
                tracing::warn!(path = %rel, error = %e, "cannot upload the replay playlist yet");
                return sent;
            }
            sent.playlist = true;
            if let Some(since) = sent.since.take() {
                crate::metrics::uploaded("segment", since.elapsed());
            }
            for path in std::mem::take(&mut sent.kept_evicted) {
                if let Some(rel) = ctx.store.relative(&path) {
                    if let Err(e) = remote.delete(&rel).await {
                        tracing::warn!(path = %rel, error = %e, "cannot delete an evicted segment's object");
                    }
                }
            }
            sent
        }));
    }

    /// Closes the playlist (ENDLIST) and updates the asset's size and duration. With
    /// `keep_open` (the publisher dropped and may come back) the playlist is written without
    /// ENDLIST, so players keep polling it: the session's next epoch continues it, or the
    /// end of the grace closes it ([`close_left_open`]).
    pub(crate) async fn close(&mut self, ctx: &Arc<RunnerCtx>, keep_open: bool) {
        if self.closed || self.asset_id.is_none() {
            return;
        }
        self.closed = true;
        if ctx.store.remote().is_some() && !ctx.leases.may_write(self.lease(), Duration::ZERO) {
            // Another node took the session over and continues this playlist.
            tracing::warn!(path = %self.playlist_rel, "the replay continues on another node; not closed here");
            self.store.set_writing(&self.playlist_rel, false);
            return;
        }
        if let Err(e) = self.write(!keep_open).await {
            tracing::error!(error = %e, "cannot close the replay playlist (the next start closes it)");
        }
        // The closed playlist in the store too: a few tries, the store may be briefly away.
        // Until it is there, this node's copy stays the one served.
        for attempt in 0..5u32 {
            if self.flush(ctx).await {
                self.store.set_writing(&self.playlist_rel, false);
                // Only with object storage is there another copy.
                self.stored = ctx.store.remote().is_some();
                break;
            }
            tokio::time::sleep(Duration::from_millis(250 << attempt)).await;
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
            if !keep_open {
                ctx.emit_asset(id);
            }
        }
    }

    fn total(&self) -> f64 {
        self.entries.iter().map(|s| s.duration).sum()
    }

    fn lease(&self) -> Lease {
        Lease {
            session_id: self.key.session_id,
            epoch: self.key.epoch,
        }
    }

    /// How the playlist names a file (beside it, or in another epoch's folder).
    fn uri(&self, path: &std::path::Path) -> String {
        self.store
            .relative(path)
            .and_then(|rel| media_store::replay_uri(&self.playlist_rel, &rel))
            .unwrap_or_default()
    }

    /// After a takeover: continues the replay an earlier epoch wrote for this stream (found
    /// by its row; read from the store, or this folder), so the asset and its URL stay the
    /// same. Nothing is changed when there is none or it cannot be read: this epoch then
    /// starts a replay of its own, and the earlier one is closed.
    async fn adopt(&mut self, ctx: &RunnerCtx) {
        let Some(row) = earlier_replay(ctx, self.key).await else {
            return;
        };
        let text = match read_playlist(&ctx.store, &row.path).await {
            Ok(text) => text,
            Err(e) => {
                tracing::warn!(path = %row.path, error = %e, "cannot continue the earlier epoch's replay; starting another");
                return;
            }
        };
        let Some(playlist) = ctx.store.resolve(&row.path) else {
            return;
        };
        // This node's copy lives where the row says, beside nothing else of that epoch.
        if let Some(dir) = playlist.parent() {
            if let Err(e) = tokio::fs::create_dir_all(dir).await {
                tracing::warn!(path = %row.path, error = %e, "cannot continue the earlier epoch's replay; starting another");
                return;
            }
        }
        let parsed = m3u8::parse(&text);
        let mut entries = VecDeque::new();
        for e in m3u8::parse_replay(&text) {
            let file = |uri: &str| {
                media_store::replay_file(&row.path, uri).and_then(|rel| ctx.store.resolve(&rel))
            };
            let (Some(path), Some(init)) = (file(&e.uri), file(&e.map_uri)) else {
                tracing::warn!(path = %row.path, uri = %e.uri, "an earlier replay names a file outside it; starting another");
                return;
            };
            entries.push_back(Segment {
                run: u32::MAX,
                path,
                init,
                start: 0.0,
                duration: e.duration,
                wall: e.program_date_time,
            });
        }
        tracing::info!(
            path = %row.path,
            segments = entries.len(),
            epoch = self.key.epoch,
            "continuing the replay of the node taken over from"
        );
        self.playlist = playlist;
        self.playlist_rel = row.path;
        self.entries = entries;
        self.first_seq = parsed.media_sequence;
        self.discontinuities_before = parsed.discontinuity_sequence;
        self.asset_id = Some(row.asset.id);
    }

    async fn write(&mut self, ended: bool) -> Result<(), JobError> {
        let entries: Vec<Entry> = self
            .entries
            .iter()
            .map(|s| Entry {
                uri: self.uri(&s.path),
                map_uri: self.uri(&s.init),
                duration: s.duration,
                program_date_time: s.wall,
            })
            .collect();
        let text = m3u8::write(&entries, self.first_seq, self.discontinuities_before, ended);
        MediaStore::replace(&self.playlist, text.as_bytes())
            .await
            .map_err(JobError::io(&self.playlist))?;
        self.text = text.into_bytes();
        self.dirty = true;
        Ok(())
    }

    async fn register(&mut self, ctx: &RunnerCtx) {
        let rel = self.playlist_rel.clone();
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
        match assets::insert_fenced(&ctx.state.db, &row, self.lease(), &ctx.config.node_id).await {
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

/// The replay of the key's stream in the session that an earlier epoch started, if any.
async fn earlier_replay(ctx: &RunnerCtx, key: RenditionKey) -> Option<AssetRow> {
    earlier_replays(ctx, key.organisation_id, key.session_id, key.epoch)
        .await
        .into_iter()
        .find(|r| r.asset.stream_id == key.stream_id)
}

/// The replays of a session whose folders belong to epochs before `epoch`, newest first.
async fn earlier_replays(
    ctx: &RunnerCtx,
    organisation_id: i64,
    session_id: i64,
    epoch: i64,
) -> Vec<AssetRow> {
    let rows = assets::page(
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
    .unwrap_or_else(|e| {
        tracing::warn!(error = %e, "cannot find the replays of an earlier epoch");
        Vec::new()
    });
    rows.into_iter()
        .filter(|row| {
            ctx.store
                .resolve(&row.path)
                .and_then(|p| super::reconcile::key_of(&ctx.store, &p))
                .is_some_and(|k| k.epoch < epoch)
        })
        .collect()
}

/// A replay playlist's text: this node's copy when it is the one to read, else the store's.
async fn read_playlist(store: &MediaStore, rel: &str) -> Result<String, String> {
    if let Some(path) = store.local_copy(rel).await {
        return tokio::fs::read_to_string(&path)
            .await
            .map_err(|e| e.to_string());
    }
    let remote = store.remote().ok_or("not in the data folder")?;
    let bytes = remote.read(rel).await.map_err(|e| e.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Closes (ENDLIST) the replays (in the object store, or this node's folder) that earlier
/// epochs of the session left open and nobody continues: the stream's replay after a takeover when this epoch does not
/// continue it (`stream_id`), or every replay of a session ended for a dead node (`None`,
/// `epoch` past the last). Each then plays on demand, every segment its node finished
/// included.
pub(crate) async fn close_abandoned(
    ctx: &RunnerCtx,
    organisation_id: i64,
    session_id: i64,
    epoch: i64,
    stream_id: Option<i64>,
) {
    for row in earlier_replays(ctx, organisation_id, session_id, epoch).await {
        if stream_id.is_some_and(|s| s != row.asset.stream_id) {
            continue;
        }
        match ctx.store.remote() {
            Some(remote) => close_in_store(ctx, remote, &row.path, Some(row.asset.id)).await,
            // A reconnect on this node makes later epochs without object storage too.
            None => close_local(ctx, &row).await,
        }
    }
}

/// Closes (ENDLIST) every replay of a session that its last epoch left open for a reconnect
/// that did not come: in the object store, or in this node's folder.
pub(crate) async fn close_left_open(ctx: &RunnerCtx, organisation_id: i64, session_id: i64) {
    if let Some(remote) = ctx.store.remote() {
        for row in earlier_replays(ctx, organisation_id, session_id, i64::MAX).await {
            close_in_store(ctx, remote, &row.path, Some(row.asset.id)).await;
        }
        return;
    }
    for row in earlier_replays(ctx, organisation_id, session_id, i64::MAX).await {
        close_local(ctx, &row).await;
    }
}

/// Appends ENDLIST to a replay playlist in this node's folder that lacks it.
async fn close_local(ctx: &RunnerCtx, row: &AssetRow) {
    let Some(path) = ctx.store.resolve(&row.path) else {
        return;
    };
    let Ok(text) = tokio::fs::read_to_string(&path).await else {
        tracing::warn!(path = %row.path, "cannot read a replay left open");
        return;
    };
    if m3u8::parse(&text).ended {
        return;
    }
    let closed = format!(
        "{text}{}#EXT-X-ENDLIST\n",
        if text.ends_with('\n') { "" } else { "\n" }
    );
    // Written beside it and renamed over it: a reader never sees half a playlist.
    let part = MediaStore::part(&path);
    let written = async {
        tokio::fs::write(&part, closed.as_bytes()).await?;
        tokio::fs::rename(&part, &path).await
    };
    match written.await {
        Ok(()) => ctx.emit_asset(row.asset.id),
        Err(e) => tracing::warn!(path = %row.path, error = %e, "cannot close a replay left open"),
    }
}

/// Appends ENDLIST to a replay playlist in the object store that lacks it.
pub(crate) async fn close_in_store(
    ctx: &RunnerCtx,
    remote: &crate::remote::Remote,
    path: &str,
    asset_id: Option<i64>,
) {
    let text = match remote.read(path).await {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => {
            tracing::warn!(path = %path, error = %e, "cannot read a replay left open");
            return;
        }
    };
    if m3u8::parse(&text).ended {
        return;
    }
    let closed = format!(
        "{text}{}#EXT-X-ENDLIST\n",
        if text.ends_with('\n') { "" } else { "\n" }
    );
    match remote.write(path, closed.into_bytes()).await {
        Ok(()) => {
            tracing::info!(path = %path, "closed a replay left open in the store");
            if let Some(id) = asset_id {
                ctx.emit_asset(id);
            }
        }
        Err(e) => tracing::warn!(path = %path, error = %e, "cannot close a replay left open"),
    }
}
