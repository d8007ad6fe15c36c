//! Start-up repair, branch by branch, on a real data folder and a real SQLite file, with
//! real fragmented MP4 made by ffmpeg: what is repaired, registered, removed (only proven
//! garbage), quarantined and reported, and that a database or disk error changes nothing.

use std::path::{Path, PathBuf};

use app::domain::settings::ProcessKind;
use app::domain::streams::NewStreamGroup;
use app::ssr::repo;
use app::ssr::repo::assets::NewAsset;
use app::ssr::services::streams;
use app::ssr::testing;
use server::media_store::{MediaStore, RenditionKey};
use server::runner::reconcile::{self, Report};
use server::runner::{PipelineEvent, RunnerConfig, RunnerCtx};

/// A fragmented MP4 of `seconds` made by ffmpeg (what recordings are).
fn fragmented_mp4(path: &Path, seconds: u32) {
    let ok = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
        ])
        .arg(format!("testsrc2=size=160x90:rate=10:duration={seconds}"))
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-g", "10"])
        .args([
            "-movflags",
            "frag_keyframe+empty_moov+default_base_moof",
            "-f",
            "mp4",
        ])
        .arg(path)
        .status()
        .expect("ffmpeg runs")
        .success();
    assert!(ok, "ffmpeg made {}", path.display());
}

fn files(root: &Path) -> Vec<PathBuf> {
    fn walk(d: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(d).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let mut v = Vec::new();
    walk(root, &mut v);
    v.sort();
    v
}

struct Fixture {
    dir: tempfile::TempDir,
    ctx: RunnerCtx,
    store: MediaStore,
    /// A live session left open by a crash, and a stream of its group.
    key: RenditionKey,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let (state, _) = testing::state(dir.path()).await;
    let callers = testing::organisation(&state, "Acme", &[]).await;
    let owner = &callers[3];
    let group = streams::create_group(
        &state,
        owner,
        &NewStreamGroup {
            name: "Stage".into(),
            profiles: vec![],
            processing: vec![],
        },
    )
    .await
    .expect("group");
    let stream = repo::streams::streams_of(&state.db, group)
        .await
        .expect("streams")[0]
        .id;
    let session = app::ssr::testing::open_session(
        &state.db,
        group,
        app::ssr::testing::NODE,
        state.clock.now(),
    )
    .await
    .session_id;
    let store = MediaStore::new(dir.path());
    let ctx = RunnerCtx::new(state, store.clone(), RunnerConfig::default());
    Fixture {
        key: RenditionKey {
            organisation_id: owner.organisation_id,
            group_id: group,
            session_id: session,
            stream_id: stream,
            epoch: 1,
        },
        dir,
        ctx,
        store,
    }
}

impl Fixture {
    fn write(&self, path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
        std::fs::write(path, bytes).expect("write");
    }

    async fn row(&self, path: &Path, kind: ProcessKind, format: &'static str) -> i64 {
        repo::assets::insert(
            &self.ctx.state.db,
            &NewAsset {
                organisation_id: self.key.organisation_id,
                stream_id: self.key.stream_id,
                session_id: Some(self.key.session_id),
                kind,
                format,
                path: self.store.relative(path).expect("inside"),
                size_bytes: 1,
                duration_ms: None,
                width: None,
                height: None,
                integrity: None,
                created_at: self.ctx.state.clock.now(),
            },
        )
        .await
        .expect("row")
    }

    async fn has_row(&self, path: &Path) -> bool {
        repo::assets::exists_path(&self.ctx.state.db, &self.store.relative(path).expect("rel"))
            .await
            .expect("query")
    }
}

fn playlist(segments: &[&str]) -> String {
    let mut t = String::from(
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n",
    );
    for s in segments {
        t.push_str("#EXT-X-MAP:URI=\"segments/r0/init.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-01-01T00:00:00.000Z\n#EXTINF:1.000,\n");
        t.push_str(s);
        t.push('\n');
    }
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_branch_repairs_registers_or_quarantines_and_only_garbage_is_removed() {
    let f = fixture().await;
    let k = f.key;
    let other_session = RenditionKey {
        session_id: 999,
        ..k
    };
    let rendition = f.store.rendition(k);
    let mut events = f.ctx.events.subscribe();

    // A recording cut off mid-fragment: whole fragments, then half of one.
    let good = f.dir.path().join("good.mp4");
    fragmented_mp4(&good, 3);
    let mut torn = std::fs::read(&good).expect("read");
    let whole_len = torn.len();
    torn.extend_from_slice(&[0, 0, 1, 0, b'm', b'o', b'o', b'f', 1, 2, 3]);
    let torn_part = rendition.join("recordings/recording-0001.mp4.part");
    f.write(&torn_part, &torn);
    // An empty one (garbage), and one without a single whole fragment (doubt).
    let empty_part = rendition.join("recordings/recording-0002.mp4.part");
    f.write(&empty_part, b"");
    let junk_part = rendition.join("recordings/recording-0003.mp4.part");
    f.write(&junk_part, b"not an mp4 at all, but someone's bytes");
    // An interrupted thumbnail write.
    let thumb_part = rendition.join("thumbnails/t0000001000.jpg.part");
    f.write(&thumb_part, b"half a jpeg");
    // A finished recording without a row (a crash between rename and row), and one that does
    // not play.
    let orphan = rendition.join("recordings/recording-0004.mp4");
    f.write(&orphan, &std::fs::read(&good).expect("read"));
    let orphan_junk = rendition.join("recordings/recording-0005.mp4");
    f.write(&orphan_junk, b"junk");
    // A thumbnail without a row.
    let thumb = rendition.join("thumbnails/t0000002000.jpg");
    f.write(&thumb, b"\xff\xd8 a jpeg");
    // An open replay playlist with its row; and one of this session without a row.
    let replay = f.store.replay_playlist(k);
    f.write(&replay, playlist(&["segments/r0/seg_0.m4s"]).as_bytes());
    f.write(&rendition.join("segments/r0/seg_0.m4s"), b"seg");
    f.row(&replay, ProcessKind::Replay, "m3u8").await;
    // A replay of a session the database does not know, with its segments.
    let stranger = f.store.replay_playlist(other_session);
    f.write(&stranger, playlist(&["segments/r0/seg_0.m4s"]).as_bytes());
    f.write(
        &f.store.segments(other_session, 0).join("seg_0.m4s"),
        b"seg",
    );
    // Segments of a session whose playlist was never written.
    let lone = RenditionKey {
        session_id: 998,
        ..k
    };
    f.write(&f.store.segments(lone, 0).join("seg_0.m4s"), b"seg");
    // A clip folder without its row; a clip row without its folder is only reported.
    let clip_dir = f.store.clip_dir(k.organisation_id, "abcdef");
    f.write(&clip_dir.join("clip.m3u8"), b"#EXTM3U\n");
    // An asset row whose file is gone: kept, reported.
    let gone = rendition.join("thumbnails/t0000003000.jpg");
    let gone_id = f.row(&gone, ProcessKind::Thumbnail, "jpeg").await;

    let report = reconcile::run(&f.ctx).await;
    println!("{report:?}");
    assert_eq!(
        report,
        Report {
            sessions_ended: 1,
            recordings_repaired: 1,
            playlists_closed: 1,
            replays_registered: 0,
            files_registered: 1,
            parts_removed: 2,
            quarantined: 7,
            rows_missing: 1,
            objects_removed: 0,
            skipped: vec![],
        }
    );
    // The torn recording: cut back to its whole fragments, renamed, registered, playable.
    let repaired = rendition.join("recordings/recording-0001.mp4");
    assert_eq!(
        std::fs::metadata(&repaired).expect("repaired").len() as usize,
        whole_len
    );
    assert!(f.has_row(&repaired).await);
    assert!(
        f.has_row(&orphan).await,
        "a recording without a row is registered"
    );
    // Only the interrupted writes are gone.
    assert!(!empty_part.exists() && !thumb_part.exists());
    // Everything in doubt is in the quarantine, path kept, recorded with its reason.
    let quarantined = repo::instance::quarantined_all(&f.ctx.state.db)
        .await
        .expect("list");
    let moved: Vec<&str> = quarantined
        .iter()
        .map(|(q, _)| q.original_path.as_str())
        .collect();
    for p in [
        &junk_part,
        &orphan_junk,
        &thumb,
        &stranger,
        &f.store.segments_root(other_session),
        &f.store.segments_root(lone),
        &clip_dir,
    ] {
        let rel = f.store.relative(p).expect("rel");
        assert!(
            moved.contains(&rel.as_str()),
            "{rel} quarantined: {moved:?}"
        );
        assert!(!p.exists(), "{rel} moved away");
    }
    for (q, at) in &quarantined {
        assert!(
            f.store.resolve(at).is_some_and(|p| p.exists()),
            "{} is at {at}",
            q.original_path
        );
        assert!(!q.reason.is_empty());
    }
    let org_view = repo::instance::quarantined_of(&f.ctx.state.db, k.organisation_id, 100)
        .await
        .expect("org view");
    assert_eq!(org_view.len(), 7);
    // The playlist is closed and its segment kept.
    let text = std::fs::read_to_string(&replay).expect("playlist");
    assert!(text.ends_with("#EXT-X-ENDLIST\n"));
    assert!(rendition.join("segments/r0/seg_0.m4s").exists());
    // The missing file's row is kept.
    assert!(repo::assets::get(&f.ctx.state.db, gone_id)
        .await
        .expect("q")
        .is_some());
    // The session that was left open is announced as ended.
    let mut ended = false;
    while let Ok(e) = events.try_recv() {
        ended |= matches!(e, PipelineEvent::SessionEnded { session_id, .. } if session_id == k.session_id);
    }
    assert!(ended, "session.ended for the session ended at start-up");
    // A second run finds nothing left to do but the missing file it reports again.
    let again = reconcile::run(&f.ctx).await;
    assert_eq!(
        again,
        Report {
            rows_missing: 1,
            ..Report::default()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_playlist_of_a_known_session_without_its_row_is_registered() {
    let f = fixture().await;
    let replay = f.store.replay_playlist(f.key);
    f.write(
        &replay,
        playlist(&["segments/r0/seg_0.m4s", "segments/r0/seg_1.m4s"]).as_bytes(),
    );
    let report = reconcile::run(&f.ctx).await;
    assert_eq!(
        (report.replays_registered, report.playlists_closed),
        (1, 1),
        "{report:?}"
    );
    let rows = repo::assets::list(&f.ctx.state.db, f.key.stream_id, ProcessKind::Replay, 10)
        .await
        .expect("rows");
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].asset.duration_ms, Some(2000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_error_changes_nothing() {
    let f = fixture().await;
    let rendition = f.store.rendition(f.key);
    let replay = f.store.replay_playlist(f.key);
    f.write(&replay, playlist(&["segments/r0/seg_0.m4s"]).as_bytes());
    f.write(&rendition.join("segments/r0/seg_0.m4s"), b"seg");
    f.write(
        &rendition.join("recordings/recording-0001.mp4.part"),
        b"junk",
    );
    f.write(&rendition.join("thumbnails/t1.jpg"), b"jpeg");
    f.write(&f.store.clip_dir(1, "abc").join("clip.m3u8"), b"x");
    let before: Vec<(PathBuf, Vec<u8>)> = files(f.dir.path())
        .into_iter()
        .filter(|p| p.starts_with(f.store.media_root()))
        .map(|p| {
            let b = std::fs::read(&p).expect("read");
            (p, b)
        })
        .collect();
    // The database goes away (a locked, unreadable or vanished database all look like this).
    f.ctx.state.db.close().await;
    let report = reconcile::run(&f.ctx).await;
    assert!(!report.skipped.is_empty(), "{report:?}");
    assert_eq!(
        report.quarantined + report.parts_removed + report.recordings_repaired,
        0
    );
    let after: Vec<(PathBuf, Vec<u8>)> = files(f.dir.path())
        .into_iter()
        .filter(|p| p.starts_with(f.store.media_root()))
        .map(|p| {
            let b = std::fs::read(&p).expect("read");
            (p, b)
        })
        .collect();
    assert_eq!(before, after, "not a byte changed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disk_error_keeps_the_playlist_and_its_segments() {
    let f = fixture().await;
    let rendition = f.store.rendition(f.key);
    let replay = f.store.replay_playlist(f.key);
    f.write(&replay, playlist(&["segments/r0/seg_0.m4s"]).as_bytes());
    f.write(&rendition.join("segments/r0/seg_0.m4s"), b"seg");
    f.row(&replay, ProcessKind::Replay, "m3u8").await;
    // Closing it means writing `replay.m3u8.part`: make that impossible (as a full disk or a
    // read-only folder would; the tests run as root, which ignores permissions).
    std::fs::create_dir_all(MediaStore::part(&replay)).expect("block the write");
    let report = reconcile::run(&f.ctx).await;
    assert_eq!(report.skipped.len(), 1, "{report:?}");
    assert!(report.skipped[0].contains("close"), "{report:?}");
    assert!(replay.exists(), "the playlist is kept");
    assert!(
        rendition.join("segments/r0/seg_0.m4s").exists(),
        "its segments are kept"
    );
    assert!(f.has_row(&replay).await);
}
