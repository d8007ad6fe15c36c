//! Claims on work one node does for the whole cluster (retention runs, housekeeping): a row
//! per task naming the node that holds it until a time. The holder renews it each round;
//! another node takes it over only once it has run out, so a task runs on one node at a
//! time and moves to another within one claim when its node dies.

use chrono::{DateTime, Utc};

use crate::ssr::db::Db;
use crate::with_db;

/// Claims `task` for `node` until `until`, when nobody holds it, the claim ran out by `now`,
/// or `node` already holds it. Answers whether `node` holds it now.
pub async fn claim(
    db: &Db,
    task: &str,
    node: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let held: Option<String> = with_db!(db, |conn| sqlx::query_scalar(
        "INSERT INTO task_claims (name, node_id, until) VALUES ($1, $2, $3)
         ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, until = excluded.until
         WHERE task_claims.until <= $4 OR task_claims.node_id = excluded.node_id
         RETURNING node_id"
    )
    .bind(task)
    .bind(node)
    .bind(until)
    .bind(now)
    .fetch_optional(conn)
    .await?);
    Ok(held.as_deref() == Some(node))
}

/// Gives a claim up (a node stopping cleanly), so another node takes the task at once.
pub async fn release(db: &Db, task: &str, node: &str) -> Result<(), sqlx::Error> {
    with_db!(db, |conn| sqlx::query(
        "DELETE FROM task_claims WHERE name = $1 AND node_id = $2"
    )
    .bind(task)
    .bind(node)
    .execute(conn)
    .await
    .map(|_| ())?);
    Ok(())
}
