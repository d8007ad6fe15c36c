//! The database: embedded SQLite (the default) or PostgreSQL (a cluster's shared state),
//! chosen by the URL's scheme. Every repository writes its SQL once, with `$1, $2, …`
//! placeholders that both engines take, and runs it through [`with_db!`] or [`with_tx!`],
//! which compile the same statement once per engine. What differs between the engines is here
//! and in the two migration folders, nothing else:
//!
//! - SQLite runs in WAL mode with a busy timeout and foreign keys on; a write transaction
//!   begins IMMEDIATE, so writers queue on the busy timeout instead of failing on upgrade.
//! - PostgreSQL's write transaction takes one transaction-scoped advisory lock first, so
//!   writers are serialised exactly as SQLite's are: every check-then-write in the services
//!   (limits, last owner, one open session per group) keeps the meaning it has on SQLite,
//!   with no retry loop for serialisation failures. Reads never take it.

use std::str::FromStr;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Decode, Postgres, Row, Sqlite, Type};

/// The schema for each engine, embedded in the binary.
pub static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations");
pub static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations-postgres");

/// The advisory lock key every PostgreSQL write transaction takes ("livepro" in ASCII).
const WRITE_LOCK: i64 = 0x006c_6976_6570_726f;

/// The pool every repository takes.
#[derive(Debug, Clone)]
pub enum Db {
    Sqlite(sqlx::SqlitePool),
    Postgres(sqlx::PgPool),
}

/// A write transaction (see [`begin_write`]).
#[derive(Debug)]
pub enum Tx {
    Sqlite(sqlx::Transaction<'static, Sqlite>),
    Postgres(sqlx::Transaction<'static, Postgres>),
}

/// Which engine a [`Db`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Db {
    pub fn engine(&self) -> Engine {
        match self {
            Db::Sqlite(_) => Engine::Sqlite,
            Db::Postgres(_) => Engine::Postgres,
        }
    }

    /// Connections open now.
    pub fn size(&self) -> u32 {
        match self {
            Db::Sqlite(p) => p.size(),
            Db::Postgres(p) => p.size(),
        }
    }

    /// Open connections not in use.
    pub fn num_idle(&self) -> usize {
        match self {
            Db::Sqlite(p) => p.num_idle(),
            Db::Postgres(p) => p.num_idle(),
        }
    }

    /// The most connections the pool opens.
    pub fn max_connections(&self) -> u32 {
        match self {
            Db::Sqlite(p) => p.options().get_max_connections(),
            Db::Postgres(p) => p.options().get_max_connections(),
        }
    }

    /// Closes every connection (waits for those in use).
    pub async fn close(&self) {
        match self {
            Db::Sqlite(p) => p.close().await,
            Db::Postgres(p) => p.close().await,
        }
    }

    /// The SQLite pool, for tests and tools that inspect the embedded file directly.
    pub fn as_sqlite(&self) -> Option<&sqlx::SqlitePool> {
        match self {
            Db::Sqlite(p) => Some(p),
            Db::Postgres(_) => None,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.commit().await,
            Tx::Postgres(t) => t.commit().await,
        }
    }

    pub async fn rollback(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(t) => t.rollback().await,
            Tx::Postgres(t) => t.rollback().await,
        }
    }
}

/// Opens the database at `url` and applies pending migrations: `sqlite://…` (created if
/// missing) or `postgres://…` (the database must exist; its schema is created).
pub async fn connect(url: &str) -> Result<Db, sqlx::Error> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        POSTGRES_MIGRATOR.run(&pool).await?;
        return Ok(Db::Postgres(pool));
    }
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
    SQLITE_MIGRATOR.run(&pool).await?;
    Ok(Db::Sqlite(pool))
}

/// Begins a write transaction that holds the engine's write lock from its first statement.
pub async fn begin_write(db: &Db) -> Result<Tx, sqlx::Error> {
    match db {
        Db::Sqlite(p) => Ok(Tx::Sqlite(p.begin_with("BEGIN IMMEDIATE").await?)),
        Db::Postgres(p) => {
            let mut tx = p.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
            Ok(Tx::Postgres(tx))
        }
    }
}

/// Tells every node that `channel` has work (PostgreSQL `NOTIFY`, sent when the writing
/// transaction commits; a no-op on SQLite, where one process does all the work).
pub async fn notify(db: &Db, channel: &str, payload: &str) -> Result<(), sqlx::Error> {
    if let Db::Postgres(p) = db {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel)
            .bind(payload)
            .execute(p)
            .await?;
    }
    Ok(())
}

/// Wakes whoever waits on [`Wakeups::next`] each time a node [`notify`]s one of `channels`
/// (PostgreSQL `LISTEN`, on a connection of its own that reconnects by itself). `None` on
/// SQLite: nothing else writes there.
pub async fn listen(db: &Db, channels: &[&str]) -> Result<Option<Wakeups>, sqlx::Error> {
    let Db::Postgres(p) = db else {
        return Ok(None);
    };
    let mut listener = sqlx::postgres::PgListener::connect_with(p).await?;
    listener.listen_all(channels.iter().copied()).await?;
    Ok(Some(Wakeups(listener)))
}

/// Notifications of work from other nodes (see [`listen`]).
pub struct Wakeups(sqlx::postgres::PgListener);

impl Wakeups {
    /// Waits for the next notification; answers its channel and payload.
    pub async fn next(&mut self) -> Result<(String, String), sqlx::Error> {
        let n = self.0.recv().await?;
        Ok((n.channel().to_string(), n.payload().to_string()))
    }
}

/// A column type both engines decode.
pub trait Column:
    for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

impl<T> Column for T where
    T: for<'r> Decode<'r, Sqlite> + Type<Sqlite> + for<'r> Decode<'r, Postgres> + Type<Postgres>
{
}

/// A result row of either engine, read by column name.
pub trait DbRow {
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error>;

    /// A non-negative integer column read into a `u32` (PostgreSQL has no unsigned types).
    fn col_u32(&self, name: &str) -> Result<Option<u32>, sqlx::Error> {
        let v: Option<i64> = self.col(name)?;
        v.map(|v| {
            u32::try_from(v)
                .map_err(|_| sqlx::Error::Decode(format!("{name} out of range: {v}").into()))
        })
        .transpose()
    }
}

impl DbRow for SqliteRow {
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

impl DbRow for PgRow {
    fn col<T: Column>(&self, name: &str) -> Result<T, sqlx::Error> {
        self.try_get(name)
    }
}

/// Either a pool or an open write transaction, for reads that run in both.
#[derive(Debug)]
pub enum Exec<'a> {
    Db(&'a Db),
    Tx(&'a mut Tx),
}

impl<'a> From<&'a Db> for Exec<'a> {
    fn from(db: &'a Db) -> Self {
        Exec::Db(db)
    }
}

impl<'a> From<&'a mut Tx> for Exec<'a> {
    fn from(tx: &'a mut Tx) -> Self {
        Exec::Tx(tx)
    }
}

/// Runs `$body` with `$c` bound to the engine's pool (`&Db` in).
#[macro_export]
macro_rules! with_db {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::ssr::db::Db::Sqlite($c) => $body,
            $crate::ssr::db::Db::Postgres($c) => $body,
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection (`&mut Tx` in).
#[macro_export]
macro_rules! with_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::ssr::db::Tx::Sqlite(t) => {
                let $c = &mut **t;
                $body
            }
            $crate::ssr::db::Tx::Postgres(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to a pool or a transaction's connection (an [`Exec`] in).
#[macro_export]
macro_rules! with_exec {
    ($exec:expr, |$c:ident| $body:expr) => {
        match $exec {
            $crate::ssr::db::Exec::Db(db) => $crate::with_db!(db, |$c| $body),
            $crate::ssr::db::Exec::Tx(tx) => $crate::with_tx!(tx, |$c| $body),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_write_lock_key_spells_livepro() {
        assert_eq!(WRITE_LOCK.to_be_bytes()[1..], *b"livepro");
    }
}
