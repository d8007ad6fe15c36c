//! Test support shared by this crate's tests and the server's: a state on a fresh database
//! (through the real migrations) with a manual clock, and members of every role.
//!
//! The database is a fresh SQLite file, or with `LP_TEST_DATABASE=postgres` a fresh database
//! on the PostgreSQL server the tests share (`scripts/test-postgres.sh` starts it once), so
//! the same tests cover both engines.

use std::path::Path;
use std::sync::Arc;

use chrono::{TimeZone, Utc};

use super::auth::Caller;
use super::clock::ManualClock;
use super::db::{self, begin_write};
use super::pipeline::{NoPipeline, Pipeline};
use super::state::{AppConfig, AppState, Limits};
use super::{passwords, repo};
use crate::domain::packages::Package;
use crate::domain::roles::Role;

/// A state on `dir/test.db`, its clock stopped at 2026-01-01 00:00 UTC.
pub async fn state(dir: &Path) -> (AppState, Arc<ManualClock>) {
    state_with(dir, Arc::new(NoPipeline)).await
}

/// Like [`state`], with a pipeline of the caller's choosing.
pub async fn state_with(dir: &Path, pipeline: Arc<dyn Pipeline>) -> (AppState, Arc<ManualClock>) {
    let url = database_url(dir).await;
    let db = db::connect(&url).await.expect("test database opens");
    let start = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .expect("valid time");
    let clock = Arc::new(ManualClock::new(start));
    let state = AppState {
        db,
        config: Arc::new(AppConfig::default()),
        pipeline,
        clock: clock.clone(),
        limits: Arc::new(Limits::default()),
        lookups: Default::default(),
    };
    (state, clock)
}

/// The engine the tests run on: `LP_TEST_DATABASE` (`sqlite`, the default, or `postgres`).
pub fn engine() -> db::Engine {
    match std::env::var("LP_TEST_DATABASE").as_deref() {
        Ok("postgres") => db::Engine::Postgres,
        Ok("sqlite") | Err(_) => db::Engine::Sqlite,
        Ok(other) => panic!("LP_TEST_DATABASE={other}: expected sqlite or postgres"),
    }
}

/// A fresh, empty database on the engine under test: `dir/test.db`, or a new PostgreSQL
/// database.
pub async fn database_url(dir: &Path) -> String {
    match engine() {
        db::Engine::Sqlite => format!("sqlite://{}", dir.join("test.db").display()),
        db::Engine::Postgres => fresh_postgres().await,
    }
}

/// A new, empty database on the shared PostgreSQL test server (started if need be).
pub async fn fresh_postgres() -> String {
    use sqlx::Connection;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/test-postgres.sh");
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .output()
        .await
        .expect("scripts/test-postgres.sh runs");
    assert!(
        out.status.success(),
        "the PostgreSQL test server did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = String::from_utf8(out.stdout).expect("utf-8");
    let server = server.trim();
    let name = format!("t_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("the PostgreSQL test server answers");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .expect("create database");
    let base = server.trim_end_matches("/postgres");
    format!("{base}/{name}")
}

/// A state over an existing database (another process's file), with the system clock.
pub fn state_on(db: super::db::Db) -> AppState {
    AppState {
        db,
        config: Arc::new(AppConfig::default()),
        pipeline: Arc::new(NoPipeline),
        clock: Arc::new(super::clock::SystemClock),
        limits: Arc::new(Limits::default()),
        lookups: Default::default(),
    }
}

/// An organisation with the given packages and one member per role; returns the callers,
/// weakest first (viewer, editor, admin, owner). Every member's password is `password123`.
pub async fn organisation(state: &AppState, name: &str, packages: &[Package]) -> Vec<Caller> {
    let now = state.clock.now();
    let hash = passwords::hash("password123".into()).await.expect("hashes");
    let mut tx = begin_write(&state.db).await.expect("tx");
    let org = repo::orgs::create(&mut tx, name, now).await.expect("org");
    let mut callers = Vec::new();
    for role in Role::ALL {
        let email = format!("{}@{}.test", role.key(), org.slug);
        let id = repo::users::create(&mut tx, &email, role.label(), &hash, now)
            .await
            .expect("user");
        repo::users::upsert_membership(&mut tx, org.id, id, role, now)
            .await
            .expect("membership");
        callers.push(Caller {
            user_id: id,
            email,
            display_name: role.label().into(),
            organisation_id: org.id,
            organisation_name: org.name.clone(),
            role,
        });
    }
    for p in packages {
        repo::orgs::set_package(&mut tx, org.id, *p, true, now)
            .await
            .expect("package");
    }
    tx.commit().await.expect("commit");
    callers
}

/// The node tests open sessions as: the runner's default node id, so start-up repair of a
/// test's runner treats them as its own.
pub const NODE: &str = "node";

/// Opens a live session for a group as `node` (a running server's node keeps it open; see
/// also [`NODE`]), for tests that need a session row.
pub async fn open_session(
    db: &super::db::Db,
    group_id: i64,
    node: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> repo::live_sessions::Lease {
    match repo::live_sessions::begin(db, group_id, node, "test", now, now)
        .await
        .expect("begin a session")
    {
        repo::live_sessions::Begun::Started(lease) => lease,
        other => panic!("the group already has a session: {other:?}"),
    }
}

/// Ends a session opened by [`open_session`].
pub async fn close_session(
    db: &super::db::Db,
    lease: repo::live_sessions::Lease,
    node: &str,
    now: chrono::DateTime<chrono::Utc>,
) {
    assert!(
        repo::live_sessions::end(db, lease, node, "test", now)
            .await
            .expect("end the session"),
        "the session was open"
    );
}
