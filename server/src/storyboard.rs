//! Storyboards: a WebVTT thumbnail track for a replay, a clip or a recording, whose cues point
//! at tiles of sprite sheets, for seek-bar previews. The tiles are the thumbnails the
//! pipeline already made for that stream and span (a JPEG decode and a tile per sheet, no
//! video decode); while a stream's thumbnails are off the pipeline makes small keyframe tiles
//! instead (one keyframe decoded every 10 s), and a span without thumbnails uses those.
//!
//! A sheet holds up to [`PER_SHEET`] tiles of [`TILE_W`]×[`TILE_H`]; its URL names its index
//! and how many tiles it holds (`storyboard-{sheet}-{count}.jpg`), so a URL always means the
//! same picture and a growing live replay gets new URLs, never changed content. Only the
//! sheet the current track names is made (any other count is not found), sheets are made one
//! at a time, and the newest few are kept in memory: a viewer cannot make the server tile
//! more than the track lists.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use app::domain::assets::AssetKind;
use app::ssr::db::Db;
use app::ssr::repo;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;

use crate::ffmpeg::process;
use crate::media_store::MediaStore;

/// A tile's size (16:9; other shapes are letterboxed).
pub(crate) const TILE_W: u32 = 160;
pub(crate) const TILE_H: u32 = 90;
/// Tiles per row, and per sheet.
pub(crate) const COLUMNS: usize = 10;
pub(crate) const PER_SHEET: usize = 100;
/// The most tiles a track lists (longer spans keep every n-th thumbnail).
pub(crate) const MAX_TILES: usize = 1200;
/// Sheets kept in memory.
const CACHED: usize = 24;

/// The file names beside a playlist.
pub(crate) const VTT: &str = "storyboard.vtt";

/// A span of a stream: where the track's time 0 is, and how long it is.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub(crate) stream_id: i64,
    pub(crate) start: DateTime<Utc>,
    pub(crate) duration_s: f64,
}

/// The filter that fits a picture into a tile (letterboxed), for sheets and for the keyframe
/// tiles made while thumbnails are off.
pub(crate) fn fit_tile() -> String {
    format!(
        "scale={TILE_W}:{TILE_H}:force_original_aspect_ratio=decrease:flags=fast_bilinear,pad={TILE_W}:{TILE_H}:(ow-iw)/2:(oh-ih)/2"
    )
}

/// A tile: a thumbnail and the second of the span it shows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tile {
    pub(crate) at_s: f64,
    pub(crate) asset_id: i64,
    /// Relative to the data folder.
    pub(crate) path: String,
}

/// The thumbnails (JPEG) of the span, oldest first, at most [`MAX_TILES`] evenly chosen,
/// led by the one on screen when the span starts if that was made before it (a short clip
/// between two thumbnails still has a picture); for a span without thumbnails (they were
/// off), the keyframe tiles made instead.
pub(crate) async fn tiles(db: &Db, span: Span) -> Result<Vec<Tile>, sqlx::Error> {
    let end = span.start + chrono::Duration::milliseconds((span.duration_s * 1000.0) as i64);
    let from = span.start - chrono::Duration::milliseconds(500);
    let of_format = |format: &'static str| async move {
        let mut rows = repo::assets::of_stream_between(
            db,
            span.stream_id,
            AssetKind::Thumbnail,
            format,
            from,
            end,
        )
        .await?;
        let late = span.start + chrono::Duration::milliseconds(500);
        if rows.first().is_none_or(|r| r.asset.created_at > late) {
            let before =
                repo::assets::latest_before(db, span.stream_id, AssetKind::Thumbnail, format, from)
                    .await?;
            rows.splice(0..0, before);
        }
        Ok::<_, sqlx::Error>(rows)
    };
    let mut rows = of_format("jpeg").await?;
    if rows.is_empty() {
        rows = of_format(app::domain::assets::TILE_FORMAT).await?;
    }
    let all: Vec<Tile> = rows
        .into_iter()
        .map(|r| Tile {
            at_s: ((r.asset.created_at - span.start).num_milliseconds() as f64 / 1000.0).max(0.0),
            asset_id: r.asset.id,
            path: r.path,
        })
        .collect();
    if all.len() <= MAX_TILES {
        return Ok(all);
    }
    let step = all.len().div_ceil(MAX_TILES);
    Ok(all.into_iter().step_by(step).collect())
}

fn timestamp(s: f64) -> String {
    let ms = (s.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

/// The sheet a tile is on, and where.
pub(crate) fn place(index: usize) -> (usize, u32, u32) {
    let sheet = index / PER_SHEET;
    let at = index % PER_SHEET;
    (
        sheet,
        (at % COLUMNS) as u32 * TILE_W,
        (at / COLUMNS) as u32 * TILE_H,
    )
}

/// How many tiles sheet `sheet` holds.
pub(crate) fn sheet_len(tiles: usize, sheet: usize) -> usize {
    tiles.saturating_sub(sheet * PER_SHEET).min(PER_SHEET)
}

/// The track: a cue per tile, from its moment to the next tile's (the first from 0, the last
/// to the end of the span). `start` is noted for players that map wall-clock times.
pub(crate) fn vtt(tiles: &[Tile], span: Span) -> String {
    let mut out = format!(
        "WEBVTT\n\nNOTE start={}\n",
        span.start
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    );
    for (i, tile) in tiles.iter().enumerate() {
        let from = if i == 0 { 0.0 } else { tile.at_s };
        let to = tiles
            .get(i + 1)
            .map(|t| t.at_s)
            .unwrap_or(span.duration_s)
            .max(from + 0.001);
        let (sheet, x, y) = place(i);
        let count = sheet_len(tiles.len(), sheet);
        out.push_str(&format!(
            "\n{} --> {}\nstoryboard-{sheet}-{count}.jpg#xywh={x},{y},{TILE_W},{TILE_H}\n",
            timestamp(from),
            timestamp(to)
        ));
    }
    out
}

/// Reads `storyboard-{sheet}-{count}.jpg`.
pub(crate) fn parse_sheet(name: &str) -> Option<(usize, usize)> {
    let rest = name.strip_prefix("storyboard-")?.strip_suffix(".jpg")?;
    let (sheet, count) = rest.split_once('-')?;
    let digits = |s: &str| !s.is_empty() && s.len() <= 6 && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(sheet) || !digits(count) {
        return None;
    }
    Some((sheet.parse().ok()?, count.parse().ok()?))
}

/// Makes sprite sheets (one at a time) and keeps the newest few.
pub(crate) struct Sheets {
    ffmpeg: PathBuf,
    scratch: PathBuf,
    one_at_a_time: Semaphore,
    cache: Mutex<VecDeque<(String, Bytes)>>,
    made: std::sync::atomic::AtomicU64,
}

impl Sheets {
    pub(crate) fn new(ffmpeg: PathBuf, scratch: PathBuf) -> Self {
        Self {
            ffmpeg,
            scratch,
            one_at_a_time: Semaphore::new(1),
            cache: Mutex::new(VecDeque::new()),
            made: std::sync::atomic::AtomicU64::new(0),
        }
    }

    fn cached(&self, key: &str) -> Option<Bytes> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.iter().find(|(k, _)| k == key).map(|(_, b)| b.clone())
    }

    /// Sheet `sheet` of `tiles` when it holds `count` tiles now (else `None`: the URL is not
    /// one the current track names).
    pub(crate) async fn sheet(
        &self,
        store: &MediaStore,
        tiles: &[Tile],
        sheet: usize,
        count: usize,
    ) -> Result<Option<Bytes>, String> {
        if count == 0 || sheet_len(tiles.len(), sheet) != count {
            return Ok(None);
        }
        let chosen = &tiles[sheet * PER_SHEET..sheet * PER_SHEET + count];
        let key = format!(
            "{sheet}:{count}:{}",
            chosen
                .iter()
                .map(|t| t.asset_id.to_string())
                .collect::<Vec<_>>()
                .join(",")
        );
        if let Some(b) = self.cached(&key) {
            return Ok(Some(b));
        }
        let _turn = self
            .one_at_a_time
            .acquire()
            .await
            .map_err(|e| e.to_string())?;
        if let Some(b) = self.cached(&key) {
            return Ok(Some(b));
        }
        // Our own folder under the scratch area, removed once the sheet is read (the scratch
        // area is emptied at start-up too).
        let work = self.scratch.join(format!(
            "storyboard-{}",
            self.made.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        tokio::fs::create_dir_all(&work)
            .await
            .map_err(|e| e.to_string())?;
        let made = self.make(store, chosen, &work, count).await;
        let _ = tokio::fs::remove_dir_all(&work).await;
        let bytes = made?;
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= CACHED {
            cache.pop_front();
        }
        cache.push_back((key, bytes.clone()));
        Ok(Some(bytes))
    }

    /// Tiles `chosen` into one JPEG in `work`.
    async fn make(
        &self,
        store: &MediaStore,
        chosen: &[Tile],
        work: &Path,
        count: usize,
    ) -> Result<Bytes, String> {
        let mut list = String::new();
        for (i, tile) in chosen.iter().enumerate() {
            let path = local_file(store, &tile.path, work, i).await?;
            list.push_str(&format!("file '{}'\n", escape(&path)));
        }
        let list_path = work.join("list.txt");
        tokio::fs::write(&list_path, list)
            .await
            .map_err(|e| e.to_string())?;
        let out = work.join("sheet.jpg");
        let rows = count.div_ceil(COLUMNS);
        let cols = if rows > 1 { COLUMNS } else { count };
        let graph = format!("{},tile={cols}x{rows}", fit_tile());
        let args: Vec<std::ffi::OsString> = [
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-f",
            "concat",
            "-safe",
            "0",
            "-i",
        ]
        .iter()
        .map(Into::into)
        .chain([list_path.into_os_string()])
        .chain(
            [
                "-vf",
                &graph,
                "-frames:v",
                "1",
                "-q:v",
                "5",
                "-f",
                "image2",
                "-y",
            ]
            .iter()
            .map(Into::into),
        )
        .chain([out.clone().into_os_string()])
        .collect();
        process::run("ffmpeg", &self.ffmpeg, &args, Duration::from_secs(30), 10)
            .await
            .map_err(|e| e.to_string())?;
        Ok(Bytes::from(
            tokio::fs::read(&out).await.map_err(|e| e.to_string())?,
        ))
    }
}

/// A thumbnail's file on this node: the data folder's copy, or fetched from the store.
async fn local_file(
    store: &MediaStore,
    rel: &str,
    work: &Path,
    i: usize,
) -> Result<PathBuf, String> {
    if let Some(p) = store.local_copy(rel).await {
        return Ok(p);
    }
    let remote = store.remote().ok_or_else(|| format!("{rel} is missing"))?;
    let to = work.join(format!("{i:03}.jpg"));
    remote.download(rel, &to).await.map_err(|e| e.to_string())?;
    Ok(to)
}

/// A path in ffmpeg's concat list (single quotes escaped).
fn escape(p: &Path) -> String {
    p.to_string_lossy().replace('\'', "'\\''")
}

/// The span of a replay: from its first listed segment, as long as it lists (read from the
/// data folder, or from the store).
pub(crate) async fn replay_span(store: &MediaStore, row: &repo::assets::AssetRow) -> Option<Span> {
    let text = match store.local_copy(&row.path).await {
        Some(p) => tokio::fs::read_to_string(p).await.ok()?,
        None => {
            let bytes = store.remote()?.read(&row.path).await.ok()?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
    };
    let entries = crate::media::m3u8::parse_replay(&text);
    let first = entries.first()?;
    Some(Span {
        stream_id: row.asset.stream_id,
        start: first.program_date_time,
        duration_s: entries.iter().map(|e| e.duration).sum(),
    })
}

/// The span of a recording file (from when it started, as long as it is).
pub(crate) fn recording_span(row: &repo::assets::AssetRow) -> Option<Span> {
    Some(Span {
        stream_id: row.asset.stream_id,
        start: row.asset.created_at,
        duration_s: row.asset.duration_ms? as f64 / 1000.0,
    })
}

/// The span of a shared clip.
pub(crate) fn clip_span(clip: &app::domain::clips::Clip) -> Span {
    Span {
        stream_id: clip.stream_id,
        start: clip.starts_at,
        duration_s: clip.duration_ms as f64 / 1000.0,
    }
}

/// Whether `file` names a storyboard file (the track or a sheet).
pub(crate) fn is_storyboard(file: &str) -> bool {
    file == VTT || parse_sheet(file).is_some()
}

/// Answers `storyboard.vtt` or one of its sheets for `span` (`None`: not found). The track
/// follows a live span (short caching); a sheet's URL always means the same picture.
pub(crate) async fn answer(
    db: &Db,
    store: &MediaStore,
    sheets: &Sheets,
    span: Option<Span>,
    file: &str,
    private: bool,
) -> axum::response::Response {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    let not_found = || (StatusCode::NOT_FOUND, "Not found.").into_response();
    let Some(span) = span else {
        return not_found();
    };
    let tiles = match tiles(db, span).await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot read a storyboard's thumbnails");
            return (StatusCode::INTERNAL_SERVER_ERROR, "Internal error.").into_response();
        }
    };
    let scope = if private { "private" } else { "public" };
    if file == VTT {
        return (
            [
                (header::CONTENT_TYPE, "text/vtt; charset=utf-8".to_string()),
                (header::CACHE_CONTROL, format!("{scope}, max-age=5")),
            ],
            vtt(&tiles, span),
        )
            .into_response();
    }
    let Some((sheet, count)) = parse_sheet(file) else {
        return not_found();
    };
    match sheets.sheet(store, &tiles, sheet, count).await {
        Ok(Some(bytes)) => (
            [
                (header::CONTENT_TYPE, "image/jpeg".to_string()),
                (
                    header::CACHE_CONTROL,
                    format!("{scope}, max-age=31536000, immutable"),
                ),
            ],
            bytes,
        )
            .into_response(),
        Ok(None) => not_found(),
        Err(e) => {
            tracing::warn!(error = %e, "cannot make a storyboard sheet");
            (StatusCode::SERVICE_UNAVAILABLE, "Try again.").into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tile(at_s: f64, id: i64) -> Tile {
        Tile {
            at_s,
            asset_id: id,
            path: String::new(),
        }
    }

    #[test]
    fn cues_cover_the_span_and_name_their_sheet() {
        let span = Span {
            stream_id: 1,
            start: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).expect("time"),
            duration_s: 25.0,
        };
        let text = vtt(&[tile(0.4, 1), tile(10.4, 2), tile(20.4, 3)], span);
        assert!(
            text.starts_with("WEBVTT\n\nNOTE start=2023-11-14T22:13:20.000Z\n"),
            "{text}"
        );
        assert!(
            text.contains("00:00:00.000 --> 00:00:10.400\nstoryboard-0-3.jpg#xywh=0,0,160,90"),
            "{text}"
        );
        assert!(
            text.contains("00:00:20.400 --> 00:00:25.000\nstoryboard-0-3.jpg#xywh=320,0,160,90"),
            "{text}"
        );
    }

    #[test]
    fn tiles_wrap_into_rows_and_sheets() {
        assert_eq!(place(0), (0, 0, 0));
        assert_eq!(place(11), (0, 160, 90));
        assert_eq!(place(100), (1, 0, 0));
        assert_eq!(sheet_len(250, 0), 100);
        assert_eq!(sheet_len(250, 2), 50);
        assert_eq!(sheet_len(250, 3), 0);
    }

    #[test]
    fn only_sheet_names_of_the_strict_form_are_read() {
        assert_eq!(parse_sheet("storyboard-0-3.jpg"), Some((0, 3)));
        assert_eq!(parse_sheet("storyboard-12-100.jpg"), Some((12, 100)));
        for bad in [
            "storyboard-0.jpg",
            "storyboard--3.jpg",
            "storyboard-0-3.png",
            "storyboard-a-3.jpg",
            "storyboard-0-3.jpg/x",
            "storyboard-1234567-1.jpg",
        ] {
            assert_eq!(parse_sheet(bad), None, "{bad}");
        }
    }
}
