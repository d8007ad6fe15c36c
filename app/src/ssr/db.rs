//! The database pool: SQLite in WAL mode with a busy timeout, foreign keys on, migrations
//! applied on connect. Write transactions begin IMMEDIATE so concurrent writers queue on
//! the busy timeout instead of failing with "database is locked" on upgrade.

use sqlx::migrate::Migrator;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::str::FromStr;
use std::time::Duration;

/// The pool every repository takes. A Postgres backend would be a sibling module.
pub type Db = sqlx::SqlitePool;
/// A write transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Sqlite>;

/// The schema, embedded in the binary.
pub static MIGRATOR: Migrator = sqlx::migrate!("./migrations");

/// Opens (creating if missing) the database at `url` and applies pending migrations.
pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(options)
        .await?;
    MIGRATOR.run(&pool).await?;
    Ok(pool)
}

/// Begins a write transaction that takes the write lock at once.
pub async fn begin_write(db: &Db) -> Result<Tx, sqlx::Error> {
    db.begin_with("BEGIN IMMEDIATE").await
}
