//! Retention rules, what they make due for deletion, the deletion journal and the log.
//!
//! Deletion is two-phase: in one transaction the rows go, their files are written to
//! `pending_deletions` and the run is logged; then the files are removed and their journal
//! rows with them. A crash in between leaves journal rows that the next start finishes.

use crate::ssr::db::DbRow;
use crate::{with_db, with_tx};
use chrono::{DateTime, Utc};

use crate::domain::retention::{KeepRule, RetainedKind, RetentionRules};
use crate::ssr::db::{begin_write, Db};

/// The rules of an organisation (`group_id` 0: its defaults) or of one of its groups.
pub async fn rules(db: &Db, org_id: i64, group_id: i64) -> Result<RetentionRules, sqlx::Error> {
    let rows: Vec<(String, Option<i64>, Option<i64>)> = with_db!(db, |conn| sqlx::query_as(
        "SELECT kind, keep_days, keep_newest FROM retention_rules
         WHERE organisation_id = $1 AND group_id = $2",
    )
    .bind(org_id)
    .bind(group_id)
    .fetch_all(conn)
    .await?);
    let mut out = RetentionRules::default();
    for (key, days, newest) in rows {
        let Some(kind) = RetainedKind::from_key(&key) else {
            continue;
        };
        out.set(
            kind,
            Some(KeepRule {
                keep_days: days.and_then(|d| u32::try_from(d).ok()),
                keep_newest: newest.and_then(|n| u32::try_from(n).ok()),
            }),
        );
    }
    Ok(out)
}

/// Replaces the rules of an organisation's defaults (`group_id` 0) or of a group.
pub async fn set_rules(
    db: &Db,
    org_id: i64,
    group_id: i64,
    rules: &RetentionRules,
) -> Result<(), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    with_tx!(&mut tx, |conn| sqlx::query(
        "DELETE FROM retention_rules WHERE organisation_id = $1 AND group_id = $2"
    )
    .bind(org_id)
    .bind(group_id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    for kind in RetainedKind::ALL {
        if let Some(rule) = rules.get(kind) {
            with_tx!(&mut tx, |conn| {
                sqlx::query(
                "INSERT INTO retention_rules (organisation_id, group_id, kind, keep_days, keep_newest)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(org_id)
            .bind(group_id)
            .bind(kind.key())
            .bind(rule.keep_days.map(i64::from))
            .bind(rule.keep_newest.map(i64::from))
            .execute(conn)
            .await.map(|r| r.rows_affected())?
            });
        }
    }
    tx.commit().await
}

/// Every (organisation, group) that some rule applies to.
pub async fn groups_with_rules(db: &Db) -> Result<Vec<(i64, i64)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as(
        "SELECT g.organisation_id, g.id FROM stream_groups g
         WHERE EXISTS (SELECT 1 FROM retention_rules r
                       WHERE r.organisation_id = g.organisation_id AND r.group_id IN (0, g.id))
         ORDER BY g.id",
    )
    .fetch_all(conn)
    .await)
}

/// Something retention may delete: a row and the files it owns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    pub id: i64,
    /// Files and folders it owns, relative to the data folder.
    pub paths: Vec<String>,
    pub size_bytes: i64,
    /// `age` or `count`.
    pub reason: &'static str,
}

/// The moment before which a rule's age limit makes things due.
fn cutoff(rule: KeepRule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    rule.keep_days
        .map(|d| now - chrono::Duration::days(i64::from(d)))
}

/// Why a due row is due: its age, or else its rank beyond the newest kept.
fn reason(cutoff: Option<DateTime<Utc>>, created_at: DateTime<Utc>) -> &'static str {
    if cutoff.is_some_and(|c| created_at < c) {
        "age"
    } else {
        "count"
    }
}

/// Up to `limit` assets of `kind` (thumbnail, motion clip, recording or replay) of a group's
/// streams that `rule` makes due, oldest first. Never an asset of a live session's recording
/// or replay, nor a replay that an active share link opens.
pub async fn due_assets(
    db: &Db,
    group_id: i64,
    kind: RetainedKind,
    rule: KeepRule,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    let cutoff = cutoff(rule, now);
    with_db!(db, |conn| {
        sqlx::query(
        "SELECT id, path, size_bytes, created_at, rank FROM (
             SELECT a.id, a.path, a.size_bytes, a.created_at, a.session_id, a.stream_id,
                    ROW_NUMBER() OVER (PARTITION BY a.stream_id, a.format
                                       ORDER BY a.created_at DESC, a.id DESC) AS rank
             FROM assets a JOIN streams s ON s.id = a.stream_id
             WHERE s.group_id = $1 AND a.kind = $2
         ) AS ranked
         WHERE (($3 IS NOT NULL AND created_at < $4) OR ($5 IS NOT NULL AND rank > $6))
           AND ($7 NOT IN ('recording', 'replay') OR NOT EXISTS (
                 SELECT 1 FROM live_sessions l WHERE l.id = ranked.session_id AND l.ended_at IS NULL))
           AND NOT EXISTS (
                 SELECT 1 FROM share_links k JOIN assets sa ON sa.id = k.asset_id
                 WHERE (k.asset_id = ranked.id OR (k.whole_session = TRUE AND $10 = 'recording'
                        AND sa.session_id = ranked.session_id AND sa.stream_id = ranked.stream_id))
                 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $8))
         ORDER BY created_at, id
         LIMIT $9",
    )
    .bind(group_id)
    .bind(kind.key())
    .bind(cutoff)
    .bind(cutoff)
    .bind(rule.keep_newest.map(i64::from))
    .bind(rule.keep_newest.map(i64::from))
    .bind(kind.key())
    .bind(now)
    .bind(limit)
    .bind(kind.key())
    .fetch_all(conn)
    .await?
    .into_iter()
        .map(|r| {
            let path: String = r.col("path")?;
            let created_at: DateTime<Utc> = r.col("created_at")?;
            let mut paths = vec![path.clone()];
            if kind == RetainedKind::Replay {
                // The replay's segments live beside its playlist.
                if let Some((dir, _)) = path.rsplit_once('/') {
                    paths.push(format!("{dir}/segments"));
                }
            }
            Ok(Due {
                id: r.col("id")?,
                paths,
                size_bytes: r.col("size_bytes")?,
                reason: reason(cutoff, created_at),
            })
        })
        .collect()
    })
}

/// Up to `limit` shared clips of a group's streams that `rule` makes due, oldest first; never
/// one that an active share link still opens.
pub async fn due_clips(
    db: &Db,
    group_id: i64,
    rule: KeepRule,
    now: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Due>, sqlx::Error> {
    let cutoff = cutoff(rule, now);
    with_db!(db, |conn| sqlx::query(
        "SELECT id, dir, size, created_at FROM (
             SELECT c.id, c.dir, COALESCE(c.mp4_size, 0) AS size, c.created_at,
                    ROW_NUMBER() OVER (ORDER BY c.created_at DESC, c.id DESC) AS rank
             FROM clips c JOIN streams s ON s.id = c.stream_id
             WHERE s.group_id = $1
         ) AS ranked
         WHERE (($2 IS NOT NULL AND created_at < $3) OR ($4 IS NOT NULL AND rank > $5))
           AND NOT EXISTS (
                 SELECT 1 FROM share_links k WHERE k.clip_id = ranked.id
                 AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $6))
         ORDER BY created_at, id
         LIMIT $7",
    )
    .bind(group_id)
    .bind(cutoff)
    .bind(cutoff)
    .bind(rule.keep_newest.map(i64::from))
    .bind(rule.keep_newest.map(i64::from))
    .bind(now)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        let created_at: DateTime<Utc> = r.col("created_at")?;
        Ok(Due {
            id: r.col("id")?,
            paths: vec![r.col("dir")?],
            size_bytes: r.col("size")?,
            reason: reason(cutoff, created_at),
        })
    })
    .collect())
}

/// Removes the rows of `due` (assets, or clips for [`RetainedKind::Clip`]), journals their
/// files and logs the run, in one transaction. Each row is deleted only if it is still not
/// protected at that moment (a share link made since the query, a session gone live again):
/// such rows are skipped. Returns the journal (id, path) of the files and what was removed.
pub async fn remove_rows<'a>(
    db: &Db,
    org_id: i64,
    group_id: i64,
    kind: RetainedKind,
    due: &'a [Due],
    now: DateTime<Utc>,
) -> Result<(Vec<(i64, String)>, Vec<&'a Due>), sqlx::Error> {
    let mut tx = begin_write(db).await?;
    let delete = if kind == RetainedKind::Clip {
        "DELETE FROM clips WHERE id = $1 AND NOT EXISTS (
             SELECT 1 FROM share_links k WHERE k.clip_id = clips.id
             AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2))"
    } else {
        "DELETE FROM assets WHERE id = $1 AND NOT EXISTS (
             SELECT 1 FROM share_links k JOIN assets sa ON sa.id = k.asset_id
             WHERE (k.asset_id = assets.id OR (k.whole_session = TRUE AND assets.kind = 'recording'
                    AND sa.session_id = assets.session_id AND sa.stream_id = assets.stream_id))
             AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > $2))
           AND (kind NOT IN ('recording', 'replay') OR NOT EXISTS (
             SELECT 1 FROM live_sessions l WHERE l.id = assets.session_id AND l.ended_at IS NULL))"
    };
    let mut journal = Vec::new();
    let mut removed = Vec::new();
    for d in due {
        let gone = with_tx!(&mut tx, |conn| sqlx::query(delete)
            .bind(d.id)
            .bind(now)
            .execute(conn)
            .await?
            .rows_affected());
        if gone == 0 {
            continue;
        }
        removed.push(d);
        for p in &d.paths {
            let id = with_tx!(&mut tx, |conn| sqlx::query_scalar(
                "INSERT INTO pending_deletions (path, created_at) VALUES ($1, $2) RETURNING id"
            )
            .bind(p)
            .bind(now)
            .fetch_one(conn)
            .await?);
            journal.push((id, p.clone()));
        }
    }
    for reason in ["age", "count"] {
        let of: Vec<&&Due> = removed.iter().filter(|d| d.reason == reason).collect();
        if of.is_empty() {
            continue;
        }
        with_tx!(&mut tx, |conn| sqlx::query(
            "INSERT INTO retention_log (organisation_id, group_id, kind, items, bytes, reason, at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org_id)
        .bind(group_id)
        .bind(kind.key())
        .bind(of.len() as i64)
        .bind(of.iter().map(|d| d.size_bytes).sum::<i64>())
        .bind(reason)
        .bind(now)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?);
    }
    tx.commit().await?;
    Ok((journal, removed))
}

/// Files whose rows are gone, oldest first.
pub async fn pending(db: &Db, limit: i64) -> Result<Vec<(i64, String)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_as(
        "SELECT id, path FROM pending_deletions ORDER BY id LIMIT $1"
    )
    .bind(limit)
    .fetch_all(conn)
    .await)
}

/// Journaled files are gone: one transaction for the lot.
pub async fn done(db: &Db, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let mut tx = begin_write(db).await?;
    for id in ids {
        with_tx!(&mut tx, |conn| sqlx::query(
            "DELETE FROM pending_deletions WHERE id = $1"
        )
        .bind(id)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())?);
    }
    tx.commit().await
}

/// One line of what retention removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    pub kind: String,
    pub items: i64,
    pub bytes: i64,
    pub reason: String,
    pub at: DateTime<Utc>,
}

/// The newest `limit` runs' lines of a group.
pub async fn log_of_group(
    db: &Db,
    group_id: i64,
    limit: i64,
) -> Result<Vec<LogEntry>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT kind, items, bytes, reason, at FROM retention_log WHERE group_id = $1
         ORDER BY id DESC LIMIT $2",
    )
    .bind(group_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok(LogEntry {
            kind: r.col("kind")?,
            items: r.col("items")?,
            bytes: r.col("bytes")?,
            reason: r.col("reason")?,
            at: r.col("at")?,
        })
    })
    .collect())
}

/// The newest `limit` lines of the removal log across organisations, with the
/// organisation's name and the group.
pub async fn recent_all(db: &Db, limit: i64) -> Result<Vec<(String, i64, LogEntry)>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT o.name AS org, l.group_id, l.kind, l.items, l.bytes, l.reason, l.at
         FROM retention_log l JOIN organisations o ON o.id = l.organisation_id
         ORDER BY l.id DESC LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        Ok((
            r.col("org")?,
            r.col("group_id")?,
            LogEntry {
                kind: r.col("kind")?,
                items: r.col("items")?,
                bytes: r.col("bytes")?,
                reason: r.col("reason")?,
                at: r.col("at")?,
            },
        ))
    })
    .collect())
}
