//! Processing settings per stream and process, each row versioned, and their change history.

use crate::ssr::db::{DbRow, Exec};
use crate::{with_db, with_exec, with_tx};
use chrono::{DateTime, Utc};

use crate::domain::settings::{
    ProcessConfig, ProcessInput, ProcessKind, SettingsChange, Span, SpanInput, StreamProcessing,
    VersionedConfig,
};
use crate::ssr::db::{Db, Tx};

fn columns(config: &ProcessConfig) -> (bool, Option<i64>, Option<i64>, bool) {
    let (duration, entire) = match config.duration() {
        Some(Span::Seconds(s)) => (Some(i64::from(s)), false),
        Some(Span::EntireStream) => (None, true),
        None => (None, false),
    };
    (
        config.enabled(),
        config.interval().map(i64::from),
        duration,
        entire,
    )
}

fn map(r: &impl DbRow) -> Result<(i64, VersionedConfig), sqlx::Error> {
    let key: String = r.col("process")?;
    let kind = ProcessKind::from_key(&key)
        .ok_or_else(|| sqlx::Error::Decode(format!("unknown process {key}").into()))?;
    let duration: Option<i64> = r.col("duration_s")?;
    let entire: bool = r.col("entire_stream")?;
    let input = ProcessInput {
        enabled: r.col("enabled")?,
        interval: r.col("interval_s")?,
        duration: if entire {
            Some(SpanInput::EntireStream)
        } else {
            duration.map(SpanInput::Seconds)
        },
    };
    // Re-validate on read so a hand-edited database cannot feed the pipeline bad values.
    let config = ProcessConfig::validate(kind, &input).map_err(|errors| {
        sqlx::Error::Decode(format!("stored settings out of range: {errors:?}").into())
    })?;
    Ok((
        r.col("stream_id")?,
        VersionedConfig {
            config,
            version: r.col("version")?,
        },
    ))
}

/// Stores the first settings of a stream's process.
pub async fn insert(
    tx: &mut Tx,
    stream_id: i64,
    config: &ProcessConfig,
    user_id: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    let (enabled, interval, duration, entire) = columns(config);
    with_tx!(tx, |conn| {
        sqlx::query(
        "INSERT INTO processing_settings
           (stream_id, process, enabled, interval_s, duration_s, entire_stream, version, updated_at, updated_by)
         VALUES ($1, $2, $3, $4, $5, $6, 1, $7, $8)",
    )
    .bind(stream_id)
    .bind(config.kind().key())
    .bind(enabled)
    .bind(interval)
    .bind(duration)
    .bind(entire)
    .bind(now)
    .bind(user_id)
    .execute(conn)
    .await.map(|r| r.rows_affected())?
    });
    Ok(())
}

/// Settings of every stream of a group, streams in position order.
pub async fn for_group<'a>(
    exec: impl Into<Exec<'a>>,
    group_id: i64,
) -> Result<Vec<StreamProcessing>, sqlx::Error> {
    let rows = with_exec!(exec.into(), |conn| {
        sqlx::query(
        "SELECT p.stream_id, p.process, p.enabled, p.interval_s, p.duration_s, p.entire_stream, p.version
         FROM processing_settings p JOIN streams s ON s.id = p.stream_id
         WHERE s.group_id = $1 ORDER BY s.position, p.process",
    )
    .bind(group_id)
    .fetch_all(conn)
    .await?
    .iter()
    .map(map)
    .collect::<Result<Vec<_>, _>>()?
    });
    let mut out: Vec<StreamProcessing> = Vec::new();
    for (stream_id, versioned) in rows {
        match out.last_mut() {
            Some(last) if last.stream_id == stream_id => last.processes.push(versioned),
            _ => out.push(StreamProcessing {
                stream_id,
                processes: vec![versioned],
            }),
        }
    }
    for s in &mut out {
        s.processes.sort_by_key(|p| p.config.kind());
    }
    Ok(out)
}

/// The current settings of one process, inside a write transaction.
pub async fn get(
    tx: &mut Tx,
    stream_id: i64,
    kind: ProcessKind,
) -> Result<Option<VersionedConfig>, sqlx::Error> {
    with_tx!(tx, |conn| sqlx::query(
        "SELECT stream_id, process, enabled, interval_s, duration_s, entire_stream, version
         FROM processing_settings WHERE stream_id = $1 AND process = $2",
    )
    .bind(stream_id)
    .bind(kind.key())
    .fetch_optional(conn)
    .await?
    .map(|r| map(&r).map(|(_, v)| v))
    .transpose())
}

/// Replaces a process's settings if its version is still `expected_version`; returns
/// whether it was (a `false` means someone else saved first).
pub async fn update(
    tx: &mut Tx,
    stream_id: i64,
    config: &ProcessConfig,
    expected_version: i64,
    user_id: i64,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let (enabled, interval, duration, entire) = columns(config);
    let done = with_tx!(tx, |conn| {
        sqlx::query(
        "UPDATE processing_settings
         SET enabled = $1, interval_s = $2, duration_s = $3, entire_stream = $4, version = version + 1,
             updated_at = $5, updated_by = $6
         WHERE stream_id = $7 AND process = $8 AND version = $9",
    )
    .bind(enabled)
    .bind(interval)
    .bind(duration)
    .bind(entire)
    .bind(now)
    .bind(user_id)
    .bind(stream_id)
    .bind(config.kind().key())
    .bind(expected_version)
    .execute(conn)
    .await?
    .rows_affected()
    });
    Ok(done == 1)
}

/// Appends one entry to the change history.
#[allow(clippy::too_many_arguments)]
pub async fn record_change(
    tx: &mut Tx,
    stream_id: i64,
    kind: ProcessKind,
    field: &str,
    old_value: &str,
    new_value: &str,
    user_id: i64,
    user_email: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_tx!(tx, |conn| {
        sqlx::query(
        "INSERT INTO settings_changes
           (stream_id, process, field, old_value, new_value, changed_by, changed_by_email, changed_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(stream_id)
    .bind(kind.key())
    .bind(field)
    .bind(old_value)
    .bind(new_value)
    .bind(user_id)
    .bind(user_email)
    .bind(now)
    .execute(conn)
    .await.map(|r| r.rows_affected())?
    });
    Ok(())
}

/// The latest changes of a group's streams, newest first.
pub async fn history(
    db: &Db,
    group_id: i64,
    limit: i64,
) -> Result<Vec<SettingsChange>, sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "SELECT c.stream_id, s.name AS stream_name, c.process, c.field, c.old_value, c.new_value,
                c.changed_by_email, c.changed_at
         FROM settings_changes c JOIN streams s ON s.id = c.stream_id
         WHERE s.group_id = $1 ORDER BY c.changed_at DESC, c.id DESC LIMIT $2",
    )
    .bind(group_id)
    .bind(limit)
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        let key: String = r.col("process")?;
        Ok(SettingsChange {
            stream_id: r.col("stream_id")?,
            stream_name: r.col("stream_name")?,
            process: ProcessKind::from_key(&key)
                .ok_or_else(|| sqlx::Error::Decode(format!("unknown process {key}").into()))?,
            field: r.col("field")?,
            old_value: r.col("old_value")?,
            new_value: r.col("new_value")?,
            changed_by: r.col("changed_by_email")?,
            changed_at: r.col("changed_at")?,
        })
    })
    .collect())
}
