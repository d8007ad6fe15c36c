//! `make bench-db`: what PostgreSQL costs against SQLite for the dashboard's busiest read, the
//! Live Processing tab (`services::processing::overview`: the group's streams, their
//! settings and the newest assets of every kind for each stream), on a group of 4 streams
//! (ingest + 3 profiles) with 10,000 assets. The same seed goes into a fresh SQLite file and
//! a fresh database on the PostgreSQL test server (`scripts/test-postgres.sh`, on loopback);
//! each engine answers 20 warm-up calls, then 300 timed ones. p50 and p99 per engine and
//! their ratio; the last line is machine-readable.

use std::time::Instant;

use app::domain::assets::AssetKind;
use app::domain::packages::Package;
use app::domain::settings::{ProcessConfig, ProcessKind};
use app::domain::streams::NewStreamGroup;
use app::ssr::db::{self, Engine};
use app::ssr::repo::assets::NewAsset;
use app::ssr::{services, testing};

type Error = Box<dyn std::error::Error + Send + Sync>;

const ASSETS: usize = 10_000;
const CALLS: usize = 300;

/// p50 and p99 of the tab's load in milliseconds on one engine.
async fn measure(engine: Engine, dir: &std::path::Path) -> Result<(f64, f64), Error> {
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.join("bench.db").display()),
        Engine::Postgres => testing::fresh_postgres().await,
    };
    let pool = db::connect(&url).await?;
    let state = testing::state_on(pool.clone());
    let owner = testing::organisation(&state, "Bench", &Package::ALL)
        .await
        .remove(3);
    let group = services::streams::create_group(
        &state,
        &owner,
        &NewStreamGroup {
            name: "Bench".into(),
            profiles: vec!["720p".into(), "480p".into(), "360p".into()],
            processing: vec![ProcessKind::ALL.map(|k| ProcessConfig::default_for(k).to_input()); 4],
        },
    )
    .await?;
    let streams = app::ssr::repo::streams::streams_of(&pool, group).await?;
    let kinds = [
        (AssetKind::Thumbnail, "jpeg"),
        (AssetKind::Thumbnail, "webp"),
        (AssetKind::MotionClip, "mp4"),
        (AssetKind::MotionClip, "webp"),
        (AssetKind::Recording, "mp4"),
    ];
    let now = chrono::Utc::now();
    let mut tx = db::begin_write(&pool).await?;
    for i in 0..ASSETS {
        let stream = &streams[i % streams.len()];
        let (kind, format) = kinds[(i / streams.len()) % kinds.len()];
        app::ssr::repo::assets::insert(
            &mut tx,
            &NewAsset {
                organisation_id: owner.organisation_id,
                stream_id: stream.id,
                session_id: None,
                kind,
                format,
                path: format!("media/bench/{i}.{format}"),
                size_bytes: 50_000,
                duration_ms: None,
                width: Some(1280),
                height: Some(720),
                integrity: None,
                created_at: now - chrono::Duration::seconds((ASSETS - i) as i64),
            },
        )
        .await?;
    }
    tx.commit().await?;
    for _ in 0..20 {
        services::processing::overview(&state, &owner, group).await?;
    }
    let mut times = Vec::with_capacity(CALLS);
    for _ in 0..CALLS {
        let t = Instant::now();
        let o = services::processing::overview(&state, &owner, group).await?;
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        std::hint::black_box(o);
    }
    times.sort_by(f64::total_cmp);
    pool.close().await;
    Ok((times[CALLS / 2], times[CALLS * 99 / 100]))
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let (s50, s99) = measure(Engine::Sqlite, dir.path()).await?;
    println!(
        "sqlite:   Live Processing tab data, {ASSETS} assets: p50 {s50:.2} ms, p99 {s99:.2} ms"
    );
    let (p50, p99) = measure(Engine::Postgres, dir.path()).await?;
    println!("postgres: Live Processing tab data, {ASSETS} assets: p50 {p50:.2} ms, p99 {p99:.2} ms (loopback)");
    println!(
        "bench-db: sqlite_p50_ms={s50:.2} sqlite_p99_ms={s99:.2} postgres_p50_ms={p50:.2} postgres_p99_ms={p99:.2} postgres_vs_sqlite={:.2}x",
        p50 / s50
    );
    Ok(())
}
