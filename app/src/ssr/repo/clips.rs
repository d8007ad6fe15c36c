//! Clips and share links.

use crate::ssr::db::DbRow;
use crate::{with_db, with_tx};
use chrono::{DateTime, Utc};

use crate::domain::clips::{share_path, Clip, Mp4State, ShareLink};
use crate::ssr::db::{Db, Tx};

/// Columns of a new clip.
#[derive(Debug, Clone)]
pub struct NewClipRow {
    pub organisation_id: i64,
    pub stream_id: i64,
    pub session_id: Option<i64>,
    pub replay_asset_id: i64,
    pub title: String,
    pub starts_at: DateTime<Utc>,
    pub duration_ms: i64,
    pub dir: String,
    pub created_by: i64,
    pub created_by_email: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

/// A clip row with what serving it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClipRow {
    pub clip: Clip,
    pub organisation_id: i64,
    /// Its folder, relative to the data folder.
    pub dir: String,
}

/// What a share token opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShareTarget {
    Clip(Box<ClipRow>),
    /// A replay asset: its id, session, path relative to the data folder.
    Replay {
        asset_id: i64,
        path: String,
        session_started_at: DateTime<Utc>,
        session_ended_at: Option<DateTime<Utc>>,
        duration_ms: Option<i64>,
        stream_id: i64,
        /// The live session the replay belongs to (its poster comes from it, never from a
        /// later one).
        session_id: i64,
    },
    /// Recording files, oldest first (one, or every file of a session).
    Recording(Vec<RecordingPiece>),
}

/// A share link found by its token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundShare {
    pub link: ShareLink,
    pub organisation_id: i64,
    pub target: ShareTarget,
}

/// The members' URL of a clip's file.
pub fn clip_url(id: i64, file: &str) -> String {
    format!("/media/clips/{id}/{file}")
}

const CLIP_COLUMNS: &str = "c.id, c.organisation_id, c.stream_id, c.replay_asset_id, c.title, c.starts_at, c.duration_ms, c.dir, c.mp4_state, c.has_poster, c.created_by_email, c.created_at, c.expires_at, s.started_at AS session_started_at";

const LINK_COLUMNS: &str =
    "l.id AS link_id, l.token, l.title AS link_title, l.created_at AS link_created_at, l.expires_at AS link_expires_at, l.revoked_at AS link_revoked_at";

fn map_link(r: &impl DbRow) -> Result<Option<ShareLink>, sqlx::Error> {
    let id: Option<i64> = r.col("link_id")?;
    let Some(id) = id else {
        return Ok(None);
    };
    let token: String = r.col("token")?;
    Ok(Some(ShareLink {
        id,
        path: share_path(&token),
        title: r.col("link_title")?,
        created_at: r.col("link_created_at")?,
        expires_at: r.col("link_expires_at")?,
        revoked_at: r.col("link_revoked_at")?,
    }))
}

fn map_clip(r: &impl DbRow) -> Result<ClipRow, sqlx::Error> {
    let id: i64 = r.col("id")?;
    let state: String = r.col("mp4_state")?;
    let has_poster: bool = r.col("has_poster")?;
    Ok(ClipRow {
        clip: Clip {
            id,
            stream_id: r.col("stream_id")?,
            replay_id: r.col("replay_asset_id")?,
            title: r.col("title")?,
            session_started_at: r.col("session_started_at")?,
            starts_at: r.col("starts_at")?,
            duration_ms: r.col("duration_ms")?,
            created_at: r.col("created_at")?,
            created_by: r.col("created_by_email")?,
            expires_at: r.col("expires_at")?,
            mp4: Mp4State::from_key(&state).unwrap_or(Mp4State::Failed),
            playlist_url: clip_url(id, "clip.m3u8"),
            mp4_url: clip_url(id, "clip.mp4"),
            poster_url: has_poster.then(|| clip_url(id, "poster.jpg")),
            storyboard_url: clip_url(id, "storyboard.vtt"),
            share: None,
        },
        organisation_id: r.col("organisation_id")?,
        dir: r.col("dir")?,
    })
}

fn select_clips(filter: &str) -> String {
    // The newest link of each clip comes along.
    format!(
        "SELECT {CLIP_COLUMNS}, {LINK_COLUMNS} FROM clips c
         LEFT JOIN live_sessions s ON s.id = c.session_id
         LEFT JOIN share_links l ON l.id = (SELECT MAX(id) FROM share_links WHERE clip_id = c.id)
         WHERE {filter}"
    )
}

fn map_clip_with_link(r: impl DbRow) -> Result<ClipRow, sqlx::Error> {
    let mut row = map_clip(&r)?;
    row.clip.share = map_link(&r)?;
    Ok(row)
}

/// Inserts a clip; returns its id.
pub async fn insert(tx: &mut Tx, c: &NewClipRow) -> Result<i64, sqlx::Error> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO clips (organisation_id, stream_id, session_id, replay_asset_id, title, starts_at, duration_ms, dir, created_by, created_by_email, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING id",
    )
    .bind(c.organisation_id)
    .bind(c.stream_id)
    .bind(c.session_id)
    .bind(c.replay_asset_id)
    .bind(&c.title)
    .bind(c.starts_at)
    .bind(c.duration_ms)
    .bind(&c.dir)
    .bind(c.created_by)
    .bind(&c.created_by_email)
    .bind(c.created_at)
    .bind(c.expires_at)
    .fetch_one(conn)
    .await?
    }))
}

/// A share link for a clip or an asset (a replay or a recording; exactly one of them).
#[allow(clippy::too_many_arguments)]
pub async fn insert_link(
    tx: &mut Tx,
    organisation_id: i64,
    token: &str,
    clip_id: Option<i64>,
    asset_id: Option<i64>,
    whole_session: bool,
    title: &str,
    created_by: i64,
    now: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
) -> Result<i64, sqlx::Error> {
    Ok(with_tx!(tx, |conn| {
        sqlx::query_scalar(
        "INSERT INTO share_links (organisation_id, token, clip_id, asset_id, whole_session, title, created_by, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(organisation_id)
    .bind(token)
    .bind(clip_id)
    .bind(asset_id)
    .bind(whole_session)
    .bind(title)
    .bind(created_by)
    .bind(now)
    .bind(expires_at)
    .fetch_one(conn)
    .await?
    }))
}

/// How many clips an organisation keeps.
pub async fn count(db: &Db, org_id: i64) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM clips WHERE organisation_id = $1"
    )
    .bind(org_id)
    .fetch_one(conn)
    .await)
}

/// One clip of an organisation.
pub async fn get(db: &Db, org_id: i64, id: i64) -> Result<Option<ClipRow>, sqlx::Error> {
    let sql = select_clips("c.id = $1 AND c.organisation_id = $2");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(org_id)
        .fetch_optional(conn)
        .await?
        .map(map_clip_with_link)
        .transpose())
}

/// One clip whatever its organisation (for the pipeline's own events).
pub async fn get_any(db: &Db, id: i64) -> Result<Option<ClipRow>, sqlx::Error> {
    let sql = select_clips("c.id = $1");
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .map(map_clip_with_link)
        .transpose())
}

/// A stream's clips, newest first.
pub async fn for_stream(db: &Db, stream_id: i64, limit: i64) -> Result<Vec<ClipRow>, sqlx::Error> {
    let sql = format!(
        "{} ORDER BY c.created_at DESC, c.id DESC LIMIT $2",
        select_clips("c.stream_id = $1")
    );
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(stream_id)
        .bind(limit)
        .fetch_all(conn)
        .await?
        .into_iter()
        .map(map_clip_with_link)
        .collect())
}

/// Records the MP4 export's outcome and whether a poster exists.
pub async fn set_files(
    db: &Db,
    id: i64,
    mp4: Mp4State,
    mp4_size: Option<i64>,
    has_poster: bool,
) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "UPDATE clips SET mp4_state = $1, mp4_size = $2, has_poster = $3 WHERE id = $4"
    )
    .bind(mp4.key())
    .bind(mp4_size)
    .bind(has_poster)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Deletes a clip (its links go with it); returns its folder.
pub async fn delete(db: &Db, org_id: i64, id: i64) -> Result<Option<String>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "DELETE FROM clips WHERE id = $1 AND organisation_id = $2 RETURNING dir"
    )
    .bind(id)
    .bind(org_id)
    .fetch_optional(conn)
    .await)
}

/// Deletes clips expired at `now`; returns their folders.
pub async fn delete_expired(db: &Db, now: DateTime<Utc>) -> Result<Vec<String>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar(
        "DELETE FROM clips WHERE expires_at IS NOT NULL AND expires_at <= $1 RETURNING dir",
    )
    .bind(now)
    .fetch_all(conn)
    .await)
}

/// Deletes the clip stored in `dir` (its folder is gone).
pub async fn delete_by_dir(db: &Db, dir: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query("DELETE FROM clips WHERE dir = $1")
        .bind(dir)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?);
    Ok(())
}

/// Clips whose poster and MP4 were never finished (the server stopped first).
pub async fn unfinished(db: &Db) -> Result<Vec<(i64, String)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as(
        "SELECT id, dir FROM clips WHERE mp4_state = 'pending'"
    )
    .fetch_all(conn)
    .await)
}

/// Every clip folder (start-up reconciliation).
pub async fn all_dirs(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar("SELECT dir FROM clips")
        .fetch_all(conn)
        .await)
}

/// Revokes a link of the organisation; `false` if there is none (or it was revoked).
pub async fn revoke_link(
    db: &Db,
    org_id: i64,
    link_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| {
        sqlx::query(
        "UPDATE share_links SET revoked_at = $1 WHERE id = $2 AND organisation_id = $3 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(link_id)
    .bind(org_id)
    .execute(conn)
    .await?
    .rows_affected()
        == 1
    }))
}

/// The links made for a replay (live session shares), newest first.
pub async fn links_of_replay(db: &Db, replay_asset_id: i64) -> Result<Vec<ShareLink>, sqlx::Error> {
    let sql = format!(
        "SELECT {LINK_COLUMNS} FROM share_links l WHERE l.asset_id = $1 ORDER BY l.id DESC"
    );
    with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(replay_asset_id)
        .fetch_all(conn)
        .await?
        .iter()
        .filter_map(|r| map_link(r).transpose())
        .collect())
}

/// A recording file a link opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordingPiece {
    pub asset_id: i64,
    pub stream_id: i64,
    pub session_id: Option<i64>,
    /// Relative to the data folder.
    pub path: String,
    pub started_at: DateTime<Utc>,
    pub duration_ms: Option<i64>,
}

/// The recording files a link to `asset_id` opens, oldest first: that file, or with
/// `whole_session` every recording file of its stream and session. `None` when the asset is
/// not a recording of the organisation.
async fn recording_pieces(
    db: &Db,
    organisation_id: i64,
    asset_id: i64,
    whole_session: bool,
) -> Result<Option<Vec<RecordingPiece>>, sqlx::Error> {
    let Some(anchor) = super::assets::get(db, asset_id).await? else {
        return Ok(None);
    };
    if anchor.organisation_id != organisation_id
        || anchor.asset.kind != crate::domain::assets::AssetKind::Recording
    {
        return Ok(None);
    }
    let piece = |r: super::assets::AssetRow| RecordingPiece {
        asset_id: r.asset.id,
        stream_id: r.asset.stream_id,
        session_id: r.asset.session_id,
        path: r.path,
        started_at: r.asset.created_at,
        duration_ms: r.asset.duration_ms,
    };
    let rows = match (whole_session, anchor.asset.session_id) {
        (true, Some(session)) => {
            let mut rows = super::assets::of_session(
                db,
                anchor.asset.stream_id,
                session,
                crate::domain::assets::AssetKind::Recording,
            )
            .await?;
            rows.retain(|r| r.asset.format == "mp4");
            rows
        }
        _ => vec![anchor],
    };
    Ok(Some(rows.into_iter().map(piece).collect()))
}

/// A link by its token, active or not, with what it opens.
pub async fn find_by_token(db: &Db, token: &str) -> Result<Option<FoundShare>, sqlx::Error> {
    let sql = format!(
        "SELECT {LINK_COLUMNS}, l.organisation_id AS link_org, l.clip_id, l.asset_id AS link_asset, l.whole_session FROM share_links l WHERE l.token = $1"
    );
    let found = with_db!(db, |conn| sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(token)
        .fetch_optional(conn)
        .await?
        .map(|r| {
            Ok::<_, sqlx::Error>((
                map_link(&r)?,
                r.col::<i64>("link_org")?,
                r.col::<Option<i64>>("clip_id")?,
                r.col::<Option<i64>>("link_asset")?,
                r.col::<bool>("whole_session")?,
            ))
        })
        .transpose()?);
    let Some((Some(link), organisation_id, clip_id, replay_id, whole_session)) = found else {
        return Ok(None);
    };
    if let (None, Some(asset_id)) = (clip_id, replay_id) {
        if let Some(pieces) = recording_pieces(db, organisation_id, asset_id, whole_session).await?
        {
            return Ok(Some(FoundShare {
                link,
                organisation_id,
                target: ShareTarget::Recording(pieces),
            }));
        }
    }
    let target = match (clip_id, replay_id) {
        (Some(clip_id), _) => match get(db, organisation_id, clip_id).await? {
            Some(c) => ShareTarget::Clip(Box::new(c)),
            None => return Ok(None),
        },
        (None, Some(asset_id)) => {
            let replay = with_db!(db, |conn| {
                sqlx::query(
                "SELECT a.path, a.duration_ms, a.stream_id, a.session_id, s.started_at, s.ended_at FROM assets a JOIN live_sessions s ON s.id = a.session_id WHERE a.id = $1 AND a.organisation_id = $2 AND a.kind = 'replay'",
            )
            .bind(asset_id)
            .bind(organisation_id)
            .fetch_optional(conn)
            .await?
            .map(|r| {
                Ok::<_, sqlx::Error>(ShareTarget::Replay {
                    asset_id,
                    path: r.col("path")?,
                    session_started_at: r.col("started_at")?,
                    session_ended_at: r.col("ended_at")?,
                    duration_ms: r.col("duration_ms")?,
                    stream_id: r.col("stream_id")?,
                    session_id: r.col("session_id")?,
                })
            })
            .transpose()?
            });
            match replay {
                Some(target) => target,
                None => return Ok(None),
            }
        }
        (None, None) => return Ok(None),
    };
    Ok(Some(FoundShare {
        link,
        organisation_id,
        target,
    }))
}
