//! Media in a real S3-compatible server (s3rver, started by `scripts/test-s3.sh`): a real
//! stream's thumbnails, motion clips and recording pieces are uploaded before their rows are
//! written; a file no longer in the data folder is served from the store (ranges, ETags);
//! retention deletes the objects with the rows; and an object uploaded just before a crash
//! whose row was never written is gone after the next start, its local file quarantined.

mod common;

use std::path::Path;
use std::time::Duration;

use app::domain::retention::{KeepRule, RetentionRules};
use app::domain::settings::{ProcessKind, SpanInput};
use app::ssr::repo::{self, assets::AssetRow};
use app::ssr::services;
use common::{Processes, TestApp, TestPublisher};
use server::config::{Config, Storage};
use server::media_store::RenditionKey;
use server::remote::{parse_location, Remote, S3Settings};

/// Points a test config at a fresh prefix of the test bucket.
fn use_s3(c: &mut Config, endpoint: &str, prefix: &str) {
    c.storage = Storage::S3(parse_location(&format!("s3://media/{prefix}")).expect("location"));
    c.s3_endpoint = Some(endpoint.to_string());
    c.s3_access_key_id = Some("S3RVER".into());
    c.s3_secret_access_key = Some("S3RVER".into());
}

fn remote(endpoint: &str, prefix: &str) -> Remote {
    Remote::connect(
        &parse_location(&format!("s3://media/{prefix}")).expect("location"),
        &S3Settings {
            endpoint: Some(endpoint.to_string()),
            region: "us-east-1".into(),
            access_key_id: Some("S3RVER".into()),
            secret_access_key: Some("S3RVER".into()),
        },
    )
    .expect("connects")
}

async fn rows(app: &TestApp) -> Vec<AssetRow> {
    let mut out = Vec::new();
    for (id, _) in repo::assets::all_paths(&app.running.state.db)
        .await
        .expect("rows")
    {
        if let Some(row) = repo::assets::get(&app.running.state.db, id)
            .await
            .expect("row")
        {
            out.push(row);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_media_goes_to_the_store_before_its_row_and_is_served_from_it() {
    let endpoint = common::s3_endpoint().await;
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let app = TestApp::start_with(|c| use_s3(c, &endpoint, &prefix)).await;
    let store = remote(&endpoint, &prefix);
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                clip: Some((10, 2)),
                recording: Some(SpanInput::Seconds(5)),
                replay: None,
            },
        )
        .await;
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 13, "640x360");
    assert!(publisher.finish().await, "the publisher ran");
    app.running.supervisor.wait_idle().await;

    // Every finished file is in the store, whole, and has left the data folder (which holds
    // only live work with object storage).
    let all = rows(&app).await;
    let count = |k: ProcessKind| all.iter().filter(|r| r.asset.kind == k).count();
    assert!(count(ProcessKind::Thumbnail) >= 2, "thumbnails: {all:?}");
    assert!(count(ProcessKind::MotionClip) >= 1, "motion clips: {all:?}");
    assert!(
        count(ProcessKind::Recording) >= 2,
        "recording pieces: {all:?}"
    );
    let mut bytes = 0;
    for r in &all {
        let object = store.read(&r.path).await.expect("its object");
        assert_eq!(object.len() as i64, r.asset.size_bytes, "{}", r.path);
        let magic: &[u8] = match r.asset.format.as_str() {
            "jpeg" => b"\xff\xd8\xff",
            "webp" => b"RIFF",
            _ => b"\0\0",
        };
        assert!(object.starts_with(magic), "{} is whole", r.path);
        assert!(
            !app.dir.path().join(&r.path).exists(),
            "{} left the data folder",
            r.path
        );
        bytes += object.len();
    }
    // Copies inside the store (how shared clips get their segments without moving bytes).
    let copied = format!("{}.copy", all[0].path);
    store.copy(&all[0].path, &copied).await.expect("copy");
    assert_eq!(
        store.read(&copied).await.expect("read").len() as i64,
        all[0].asset.size_bytes
    );
    store.delete(&copied).await.expect("delete");
    let media = app.running.supervisor.ctx().store.clone();
    let left = common::files_ending(&app.dir.path().join("media"), "");
    assert!(
        left.iter()
            .all(|p| p.to_string_lossy().contains("/segments/")
                || p.extension().is_some_and(|e| e == "m3u8")),
        "only the replay's files may stay: {left:?}"
    );
    println!(
        "object store: {} files, {bytes} bytes uploaded; {} files left in the data folder",
        all.len(),
        left.len()
    );

    // Storage use is what the store holds (every node measures the same), not the folder.
    server::runner::usage::measure(app.running.supervisor.ctx())
        .await
        .expect("measure");
    let used = app
        .running
        .supervisor
        .ctx()
        .usage
        .get(g.owner.organisation_id)
        .used_bytes;
    assert!(
        used >= bytes as u64,
        "usage {used} counts the {bytes} bytes in the store"
    );

    // A file only in the store (as on another node) is served from it: whole, a range, and
    // not again when unchanged.
    let recording = all
        .iter()
        .find(|r| r.asset.kind == ProcessKind::Recording)
        .expect("a recording");
    let original = store.read(&recording.path).await.expect("read").to_vec();
    let client = app.signed_in(&g.owner.email).await;
    let url = format!("{}/media/assets/{}.mp4", app.base, recording.asset.id);
    let whole = client.get(&url).send().await.expect("get");
    assert_eq!(whole.status(), 200);
    assert_eq!(whole.headers()["content-type"], "video/mp4");
    let etag = whole.headers()["etag"].clone();
    assert_eq!(
        whole.bytes().await.expect("body").as_ref(),
        original.as_slice()
    );
    let part = client
        .get(&url)
        .header("range", "bytes=100-199")
        .send()
        .await
        .expect("range");
    assert_eq!(part.status(), 206);
    assert_eq!(
        part.headers()["content-range"],
        format!("bytes 100-199/{}", original.len()).as_str()
    );
    assert_eq!(
        part.bytes().await.expect("body").as_ref(),
        &original[100..200]
    );
    let again = client
        .get(&url)
        .header("if-none-match", etag)
        .send()
        .await
        .expect("conditional");
    assert_eq!(again.status(), 304);
    let beyond = client
        .get(&url)
        .header("range", format!("bytes={}-", original.len() + 10))
        .send()
        .await
        .expect("range");
    assert_eq!(beyond.status(), 416);

    // Retention removes objects with their rows.
    let state = &app.running.state;
    services::retention::set_group(
        state,
        &g.owner,
        g.id,
        &RetentionRules {
            thumbnail: Some(KeepRule {
                keep_days: None,
                keep_newest: Some(1),
            }),
            ..RetentionRules::default()
        },
    )
    .await
    .expect("rules");
    let report = server::retention::run_once(state, &media)
        .await
        .expect("retention");
    assert!(report.items >= 1, "{report:?}");
    let left: Vec<String> = rows(&app).await.into_iter().map(|r| r.path).collect();
    for r in all
        .iter()
        .filter(|r| r.asset.kind == ProcessKind::Thumbnail)
    {
        let kept = left.contains(&r.path);
        assert_eq!(
            store.exists(&r.path).await.expect("head"),
            kept,
            "an object lives exactly as long as its row: {}",
            r.path
        );
    }
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_object_uploaded_before_a_crash_without_its_row_is_gone_after_the_next_start() {
    let endpoint = common::s3_endpoint().await;
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let store = remote(&endpoint, &prefix);
    let app = TestApp::start_with(|c| use_s3(c, &endpoint, &prefix)).await;
    let g = app.group(&[], &Processes::none()).await;
    let now = app.running.state.clock.now();
    let lease =
        app::ssr::testing::open_session(&app.running.state.db, g.id, app.running.node_id(), now)
            .await;
    let key = RenditionKey {
        organisation_id: g.owner.organisation_id,
        group_id: g.id,
        session_id: lease.session_id,
        stream_id: g.streams[0],
        epoch: 1,
    };
    let media = app.running.supervisor.ctx().store.clone();
    // The crash fell between the upload and the row.
    let thumb = media.thumbnail(key, 5_000, "jpg");
    std::fs::create_dir_all(thumb.parent().expect("parent")).expect("dir");
    std::fs::write(&thumb, b"\xff\xd8 a jpeg that never got its row").expect("write");
    let rel = media.relative(&thumb).expect("relative");
    store.upload(&thumb, &rel).await.expect("upload");
    assert!(store.exists(&rel).await.expect("head"));

    // A clip another node cut (its folder is not here) and is still finishing: not touched.
    let db = &app.running.state.db;
    let held = app.group(&[], &Processes::none()).await;
    let held_lease = app::ssr::testing::open_session(db, held.id, "another-node", now).await;
    let replay_id = repo::assets::insert(
        db,
        &repo::assets::NewAsset {
            organisation_id: g.owner.organisation_id,
            stream_id: g.streams[0],
            session_id: Some(lease.session_id),
            kind: ProcessKind::Replay,
            format: "m3u8",
            path: "media/elsewhere/replay.m3u8".into(),
            size_bytes: 0,
            duration_ms: None,
            width: None,
            height: None,
            integrity: None,
            created_at: now,
        },
    )
    .await
    .expect("replay row");
    let mut tx = app::ssr::db::begin_write(db).await.expect("tx");
    let clip_id = repo::clips::insert(
        &mut tx,
        &repo::clips::NewClipRow {
            organisation_id: g.owner.organisation_id,
            stream_id: g.streams[0],
            session_id: Some(lease.session_id),
            replay_asset_id: replay_id,
            title: "Cut elsewhere".into(),
            starts_at: now,
            duration_ms: 3000,
            dir: format!("media/o{}/clips/{:032x}", g.owner.organisation_id, 7),
            created_by: g.owner.user_id,
            created_by_email: g.owner.email.clone(),
            created_at: now,
            expires_at: None,
        },
    )
    .await
    .expect("clip row");
    tx.commit().await.expect("commit");

    // Replay playlists in the store that this node left open: the one of its own session
    // (ended at the next start) is closed there; the one of a session another node still
    // holds (it continues the playlist after a takeover) is left alone.
    let open_playlist =
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n";
    let mut playlists = Vec::new();
    for (group_id, session_id) in [(g.id, lease.session_id), (held.id, held_lease.session_id)] {
        let k = RenditionKey {
            group_id,
            session_id,
            ..key
        };
        let playlist = media.replay_playlist(k);
        std::fs::create_dir_all(playlist.parent().expect("parent")).expect("dir");
        std::fs::write(&playlist, open_playlist).expect("write");
        let rel = media.relative(&playlist).expect("relative");
        store.upload(&playlist, &rel).await.expect("upload");
        repo::assets::insert(
            db,
            &repo::assets::NewAsset {
                organisation_id: g.owner.organisation_id,
                stream_id: g.streams[0],
                session_id: Some(session_id),
                kind: ProcessKind::Replay,
                format: "m3u8",
                path: rel.clone(),
                size_bytes: 0,
                duration_ms: None,
                width: None,
                height: None,
                integrity: None,
                created_at: now,
            },
        )
        .await
        .expect("replay row");
        playlists.push(rel);
    }

    let database_url = app.database_url.clone();
    let dir = app.dir;
    app.running.stop().await.expect("stops");
    let mut config = Config::for_tests(dir.path().to_path_buf());
    config.database_url = database_url;
    use_s3(&mut config, &endpoint, &prefix);
    let again = server::start(config).await.expect("starts again");
    assert!(
        !store.exists(&rel).await.expect("head"),
        "the object without a row is removed"
    );
    assert!(!thumb.exists(), "the local file is moved aside");
    let text = |rel: String| {
        let store = &store;
        async move { String::from_utf8(store.read(&rel).await.expect("read").to_vec()).expect("utf-8") }
    };
    assert!(
        text(playlists[0].clone())
            .await
            .ends_with("#EXT-X-ENDLIST\n"),
        "this node's replay is closed in the store"
    );
    assert_eq!(
        text(playlists[1].clone()).await,
        open_playlist,
        "a replay another node continues is not touched"
    );
    let quarantined = quarantined_file(dir.path(), "t0000005000.jpg");
    assert!(quarantined, "the local file is kept in the quarantine");
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let clip = repo::clips::get_any(&again.state.db, clip_id)
        .await
        .expect("clip")
        .expect("exists");
    assert_eq!(
        clip.clip.mp4,
        app::domain::clips::Mp4State::Pending,
        "left to the node that cut it"
    );
    again.stop().await.expect("stops");
}

fn quarantined_file(dir: &Path, name: &str) -> bool {
    common::files_ending(&dir.join("quarantine"), name).len() == 1
}

/// A clip whose node died after cutting it but before finishing it (poster, MP4) is
/// finished by another node, from its files in the store, once the dead node's claim on it
/// has run out (here: a clip set back to that state; the node finds it by its heartbeat).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clip_whose_node_died_before_finishing_it_is_finished_by_another() {
    let endpoint = common::s3_endpoint().await;
    let prefix = format!("t{:016x}", rand::random::<u64>());
    let app = TestApp::start_with(|c| {
        use_s3(c, &endpoint, &prefix);
        c.lease_ttl_ms = 600;
    })
    .await;
    let store = remote(&endpoint, &prefix);
    let g = app
        .group(
            &[],
            &Processes {
                replay: Some(SpanInput::EntireStream),
                ..Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 14, "320x180");
    let replay_id = common::wait_for("the replay", Duration::from_secs(20), || async {
        rows(&app)
            .await
            .into_iter()
            .find(|r| r.asset.kind == ProcessKind::Replay)
            .map(|r| r.asset.id)
    })
    .await;
    tokio::time::sleep(Duration::from_secs(7)).await;
    let now = chrono::Utc::now();
    let clip = services::clips::create(
        state,
        &g.owner,
        &app::domain::clips::NewClip {
            replay_id,
            title: "Orphan".into(),
            from: now - chrono::Duration::seconds(5),
            to: now - chrono::Duration::seconds(2),
            expiry: app::domain::clips::LinkExpiry::Day,
        },
    )
    .await
    .expect("clip");
    let ready = || async {
        let row = repo::clips::get_any(&state.db, clip.id).await.ok()??;
        (row.clip.mp4 == app::domain::clips::Mp4State::Ready).then_some(row)
    };
    let row = common::wait_for("finished here", Duration::from_secs(20), ready).await;
    assert!(publisher.finish().await, "the publisher ran");

    // As if it had been cut on a node that died before finishing it.
    repo::clips::set_files(
        &state.db,
        clip.id,
        app::domain::clips::Mp4State::Pending,
        None,
        false,
    )
    .await
    .expect("pending again");
    std::fs::remove_dir_all(app.dir.path().join(&row.dir)).expect("no folder here");
    for name in ["clip.mp4", "poster.jpg", "poster.webp"] {
        store
            .delete(&format!("{}/{name}", row.dir))
            .await
            .expect("delete");
    }
    let started = std::time::Instant::now();
    let again = common::wait_for(
        "finished by the adopting node",
        Duration::from_secs(20),
        ready,
    )
    .await;
    println!(
        "object store: an orphaned clip finished from the store {:.1} s later",
        started.elapsed().as_secs_f64()
    );
    assert!(again.clip.poster_url.is_some(), "its poster made again");
    let mp4 = store
        .read(&format!("{}/clip.mp4", row.dir))
        .await
        .expect("the MP4 is in the store");
    let copy = app.dir.path().join("orphan.mp4");
    std::fs::write(&copy, &mp4).expect("write");
    assert!(common::probe_duration(&copy) >= 2.5, "the MP4 plays");
    app.running.stop().await.expect("stops");
}
