//! Nodes: the servers sharing this database, one per data folder. Each registers itself at
//! start, refreshes its heartbeat while it runs and marks its clean stop.

use crate::ssr::db::DbRow;
use crate::with_db;
use chrono::{DateTime, Utc};

use crate::domain::status::NodeStatus;
use crate::ssr::db::Db;

/// Whether this database knows a node.
pub async fn exists(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    Ok(with_db!(db, |conn| sqlx::query(
        "SELECT 1 FROM nodes WHERE id = $1"
    )
    .bind(id)
    .fetch_optional(conn)
    .await?
    .is_some()))
}

/// How many nodes this database has known.
pub async fn count(db: &Db) -> Result<i64, sqlx::Error> {
    with_db!(db, |conn| sqlx::query_scalar("SELECT COUNT(*) FROM nodes")
        .fetch_one(conn)
        .await)
}

/// Registers a new node (its data folder's first start with this database).
pub async fn register(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "INSERT INTO nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $3)"
    )
    .bind(id)
    .bind(now)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// What a starting node tells the others.
#[derive(Debug, Clone)]
pub struct Announce<'a> {
    pub id: &'a str,
    pub http_url: &'a str,
    pub rtmp_url: &'a str,
    pub version: &'a str,
    pub cpus: Option<u32>,
    pub now: DateTime<Utc>,
}

/// A node started: its addresses and version, and a fresh heartbeat.
pub async fn announce(db: &Db, a: &Announce<'_>) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "UPDATE nodes SET http_url = $1, rtmp_url = $2, version = $3, cpus = $4, started_at = $5,
                heartbeat_at = $6, stopped_at = NULL, live_sessions = 0
         WHERE id = $7"
    )
    .bind(a.http_url)
    .bind(a.rtmp_url)
    .bind(a.version)
    .bind(a.cpus.map(i64::from))
    .bind(a.now)
    .bind(a.now)
    .bind(a.id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// A node's heartbeat with its load.
pub async fn heartbeat(
    db: &Db,
    id: &str,
    live_sessions: i64,
    load_1m: Option<f64>,
    jobs: &str,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query(
        "UPDATE nodes SET heartbeat_at = $1, live_sessions = $2, load_1m = $3, jobs = $4 WHERE id = $5"
    )
    .bind(now)
    .bind(live_sessions)
    .bind(load_1m)
    .bind(jobs)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?
    });
    Ok(())
}

/// The job states other nodes published with a heartbeat since `since` (JSON, as written).
pub async fn jobs_of_others(
    db: &Db,
    id: &str,
    since: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    with_db!(db, |conn| {
        sqlx::query_scalar(
        "SELECT jobs FROM nodes WHERE id <> $1 AND heartbeat_at >= $2 AND stopped_at IS NULL AND jobs IS NOT NULL"
    )
    .bind(id)
    .bind(since)
    .fetch_all(conn)
    .await
    })
}

/// A node stopped cleanly.
pub async fn stopped(db: &Db, id: &str, now: DateTime<Utc>) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "UPDATE nodes SET stopped_at = $1, live_sessions = 0, jobs = NULL WHERE id = $2"
    )
    .bind(now)
    .bind(id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected())?);
    Ok(())
}

/// Every node, newest heartbeat first, with the groups each owns; alive when its heartbeat
/// is after `alive_after` and it has not stopped.
pub async fn all(db: &Db, alive_after: DateTime<Utc>) -> Result<Vec<NodeStatus>, sqlx::Error> {
    let owned: Vec<(String, String, String)> = with_db!(db, |conn| sqlx::query_as(
        "SELECT l.node_id, o.name, g.name FROM live_sessions l
         JOIN stream_groups g ON g.id = l.group_id
         JOIN organisations o ON o.id = g.organisation_id
         WHERE l.ended_at IS NULL AND l.node_id IS NOT NULL ORDER BY o.name, g.name",
    )
    .fetch_all(conn)
    .await?);
    let mut nodes: Vec<NodeStatus> = with_db!(db, |conn| sqlx::query(
        "SELECT * FROM nodes ORDER BY heartbeat_at DESC, id"
    )
    .fetch_all(conn)
    .await?
    .into_iter()
    .map(|r| {
        let heartbeat_at: DateTime<Utc> = r.col("heartbeat_at")?;
        let stopped_at: Option<DateTime<Utc>> = r.col("stopped_at")?;
        Ok::<_, sqlx::Error>(NodeStatus {
            id: r.col("id")?,
            http_url: r.col("http_url")?,
            rtmp_url: r.col("rtmp_url")?,
            version: r.col("version")?,
            started_at: r.col("started_at")?,
            alive: stopped_at.is_none() && heartbeat_at > alive_after,
            heartbeat_at,
            stopped_at,
            live_sessions: r.col("live_sessions")?,
            load_1m: r.col("load_1m")?,
            cpus: r.col_u32("cpus")?,
            owns: Vec::new(),
        })
    })
    .collect::<Result<_, _>>()?);
    for (node, org, group) in owned {
        if let Some(n) = nodes.iter_mut().find(|n| n.id == node) {
            n.owns.push(format!("{org} / {group}"));
        }
    }
    Ok(nodes)
}
