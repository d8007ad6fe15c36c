//! `make bench-retention`: the time and I/O of a retention run over 100,000 assets. One
//! stream group with 100,000 thumbnails (rows and 1 KiB files, made over ten days) keeps the
//! newest 1,000: the run removes 99,000 rows and files in batches. Measured: wall time, the
//! process's bytes read and written (`/proc/self/io`, storage and syscalls), and that exactly
//! the due assets went (rows and files counted afterwards).
//!
//! The last line is machine-readable.

use std::time::Instant;

use app::domain::assets::AssetKind;
use app::domain::packages::Package;
use app::domain::retention::{KeepRule, RetentionRules};
use app::domain::settings::{ProcessConfig, ProcessKind};
use app::domain::streams::NewStreamGroup;
use app::ssr::repo::assets::NewAsset;
use app::ssr::{db, services, testing};
use server::media_store::MediaStore;

type Error = Box<dyn std::error::Error + Send + Sync>;

const ASSETS: usize = 100_000;
const KEEP: u32 = 1_000;

/// (read_bytes, write_bytes, rchar, wchar) of this process.
fn io() -> (u64, u64, u64, u64) {
    let text = std::fs::read_to_string("/proc/self/io").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (
        field("read_bytes:"),
        field("write_bytes:"),
        field("rchar:"),
        field("wchar:"),
    )
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let pool = db::connect(&format!(
        "sqlite://{}",
        dir.path().join("livepro.db").display()
    ))
    .await?;
    let state = testing::state_on(pool.clone());
    let owner = testing::organisation(&state, "Bench", &Package::ALL)
        .await
        .remove(3);
    let group = services::streams::create_group(
        &state,
        &owner,
        &NewStreamGroup {
            name: "Bench".into(),
            profiles: vec![],
            processing: vec![ProcessKind::ALL.map(|k| ProcessConfig::default_for(k).to_input())],
        },
    )
    .await?;
    let stream = app::ssr::repo::streams::streams_of(&pool, group).await?[0].id;

    // 100,000 thumbnails over ten days, with their files.
    let made = Instant::now();
    let now = chrono::Utc::now();
    let rel_dir = format!(
        "media/o{}/g{group}/s1/st{stream}/thumbnails",
        owner.organisation_id
    );
    std::fs::create_dir_all(dir.path().join(&rel_dir))?;
    let body = vec![0u8; 1024];
    let mut tx = db::begin_write(&pool).await?;
    for i in 0..ASSETS {
        let path = format!("{rel_dir}/t{i:010}.jpg");
        std::fs::write(dir.path().join(&path), &body)?;
        app::ssr::repo::assets::insert(
            &mut tx,
            &NewAsset {
                organisation_id: owner.organisation_id,
                stream_id: stream,
                session_id: None,
                kind: AssetKind::Thumbnail,
                format: "jpeg",
                path,
                size_bytes: 1024,
                duration_ms: None,
                width: Some(640),
                height: Some(360),
                integrity: None,
                created_at: now - chrono::Duration::seconds(((ASSETS - i) * 8) as i64),
            },
        )
        .await?;
        if i % 10_000 == 9_999 {
            tx.commit().await?;
            tx = db::begin_write(&pool).await?;
        }
    }
    tx.commit().await?;
    println!(
        "made {ASSETS} thumbnails (rows and 1 KiB files) in {:.1} s",
        made.elapsed().as_secs_f64()
    );

    services::retention::set_group(
        &state,
        &owner,
        group,
        &RetentionRules {
            thumbnail: Some(KeepRule {
                keep_days: None,
                keep_newest: Some(KEEP),
            }),
            ..RetentionRules::default()
        },
    )
    .await?;
    let store = MediaStore::new(dir.path());
    let before = io();
    let started = Instant::now();
    let report = server::retention::run_once(&state, &store).await?;
    let seconds = started.elapsed().as_secs_f64();
    let after = io();

    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM assets")
        .fetch_one(pool.as_sqlite().ok_or("sqlite")?)
        .await?;
    let files = std::fs::read_dir(dir.path().join(&rel_dir))?.count();
    let removed = report.items;
    let expected = (ASSETS as u32 - KEEP) as u64;
    let mb = |b: u64| b as f64 / 1e6;
    println!(
        "retention run: removed {removed} of {ASSETS} ({} files) in {seconds:.2} s \
         ({:.0} assets/s); storage read {:.1} MB, written {:.1} MB; syscalls read {:.1} MB, \
         wrote {:.1} MB; left {rows} rows and {files} files",
        report.files,
        removed as f64 / seconds,
        mb(after.0 - before.0),
        mb(after.1 - before.1),
        mb(after.2 - before.2),
        mb(after.3 - before.3),
    );
    let exact = removed == expected && rows == i64::from(KEEP) && files == KEEP as usize;
    println!(
        "bench-retention: assets={ASSETS} removed={removed} exact={exact} seconds={seconds:.2} \
         read_mb={:.1} write_mb={:.1}",
        mb(after.0 - before.0),
        mb(after.1 - before.1)
    );
    if !exact {
        return Err(format!("expected {expected} removed and {KEEP} left").into());
    }
    Ok(())
}
