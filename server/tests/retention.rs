//! Retention with the injected clock: exactly the due assets go, files and rows together,
//! oldest first; live sessions' recordings and replays, replays behind an active share link
//! and clips whose link still works stay; each run is logged; a stop between the rows and the
//! files is finished at the next start; the rules are validated like every setting.

mod common;

use std::path::Path;
use std::sync::Arc;

use app::domain::assets::AssetKind;
use app::domain::retention::{KeepRule, RetentionRules};
use app::domain::AppError;
use app::ssr::clock::ManualClock;
use app::ssr::repo::{self, assets::NewAsset};
use app::ssr::services;
use app::ssr::testing;
use app::ssr::AppState;
use chrono::{DateTime, Duration, Utc};
use common::{Processes, TestApp};
use server::media_store::MediaStore;

fn keep(days: Option<u32>, newest: Option<u32>) -> Option<KeepRule> {
    Some(KeepRule {
        keep_days: days,
        keep_newest: newest,
    })
}

/// Writes `bytes` at `rel` under the data folder.
fn put(dir: &Path, rel: &str, bytes: &[u8]) -> String {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("parent")).expect("dir");
    std::fs::write(&path, bytes).expect("write");
    rel.to_string()
}

struct Fixture {
    app: TestApp,
    owner: app::ssr::auth::Caller,
    org: i64,
    user: i64,
    group: i64,
    stream: i64,
    t0: DateTime<Utc>,
}

impl Fixture {
    async fn new() -> Self {
        let app = TestApp::start().await;
        let g = app.group(&[], &Processes::none()).await;
        Self {
            org: g.owner.organisation_id,
            user: g.owner.user_id,
            group: g.id,
            stream: g.streams[0],
            owner: g.owner.clone(),
            app,
            t0: Utc::now(),
        }
    }

    fn state(&self) -> &AppState {
        &self.app.running.state
    }

    /// A session that started `days_ago` and ended a minute later (or is still live).
    async fn session(&self, days_ago: i64, live: bool) -> i64 {
        let at = self.t0 - Duration::days(days_ago);
        let node = self.app.running.node_id();
        let lease = testing::open_session(&self.state().db, self.group, node, at).await;
        if !live {
            testing::close_session(&self.state().db, lease, node, at + Duration::minutes(1)).await;
        }
        lease.session_id
    }

    /// An asset made `age` before t0, with its file.
    async fn asset(
        &self,
        session: i64,
        kind: AssetKind,
        format: &'static str,
        rel: &str,
        age: Duration,
    ) -> (i64, String) {
        let path = put(self.app.dir.path(), rel, b"media bytes");
        let id = repo::assets::insert(
            &self.state().db,
            &NewAsset {
                organisation_id: self.org,
                stream_id: self.stream,
                session_id: Some(session),
                kind,
                format,
                path: path.clone(),
                size_bytes: 11,
                duration_ms: None,
                width: None,
                height: None,
                integrity: None,
                created_at: self.t0 - age,
            },
        )
        .await
        .expect("asset");
        (id, path)
    }

    /// A replay with its playlist and a segment beside it.
    async fn replay(&self, session: i64, days_ago: i64) -> (i64, String) {
        let dir = format!(
            "media/o{}/g{}/s{session}/st{}",
            self.org, self.group, self.stream
        );
        put(
            self.app.dir.path(),
            &format!("{dir}/segments/r1/seg_000001.m4s"),
            b"segment",
        );
        self.asset(
            session,
            AssetKind::Replay,
            "hls",
            &format!("{dir}/replay.m3u8"),
            Duration::days(days_ago),
        )
        .await
    }

    /// A share link to a clip or a replay, expiring at `expires_at`.
    async fn link(
        &self,
        clip: Option<i64>,
        replay: Option<i64>,
        expires_at: Option<DateTime<Utc>>,
    ) {
        self.link_to(clip, replay, false, expires_at).await;
    }

    /// A share link; `whole_session` shares every recording file of the asset's session.
    async fn link_to(
        &self,
        clip: Option<i64>,
        replay: Option<i64>,
        whole_session: bool,
        expires_at: Option<DateTime<Utc>>,
    ) {
        let mut tx = app::ssr::db::begin_write(&self.state().db)
            .await
            .expect("tx");
        repo::clips::insert_link(
            &mut tx,
            self.org,
            &app::ssr::tokens::new_share_token(),
            clip,
            replay,
            whole_session,
            "link",
            self.user,
            self.t0 - Duration::days(60),
            expires_at,
        )
        .await
        .expect("link");
        tx.commit().await.expect("commit");
    }

    /// A shared clip made `days_ago`, with its folder.
    async fn clip(&self, replay: i64, days_ago: i64, name: &str) -> (i64, String) {
        let dir = format!("media/o{}/clips/{name}", self.org);
        put(self.app.dir.path(), &format!("{dir}/clip.m3u8"), b"#EXTM3U");
        let mut tx = app::ssr::db::begin_write(&self.state().db)
            .await
            .expect("tx");
        let id = repo::clips::insert(
            &mut tx,
            &repo::clips::NewClipRow {
                organisation_id: self.org,
                stream_id: self.stream,
                session_id: None,
                replay_asset_id: replay,
                title: name.into(),
                starts_at: self.t0,
                duration_ms: 1000,
                dir: dir.clone(),
                created_by: self.user,
                created_by_email: "o@example.com".into(),
                created_at: self.t0 - Duration::days(days_ago),
                expires_at: None,
            },
        )
        .await
        .expect("clip");
        tx.commit().await.expect("commit");
        (id, dir)
    }

    /// The state with the clock at `t0 + later`.
    fn at(&self, later: Duration) -> AppState {
        AppState {
            clock: Arc::new(ManualClock::new(self.t0 + later)),
            ..self.state().clone()
        }
    }

    fn exists(&self, rel: &str) -> bool {
        self.app.dir.path().join(rel).exists()
    }

    async fn asset_row(&self, id: i64) -> bool {
        repo::assets::get(&self.state().db, id)
            .await
            .expect("q")
            .is_some()
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        app::with_db!(&self.state().db, |conn| sqlx::query_scalar(
            sqlx::AssertSqlSafe(sql)
        )
        .fetch_one(conn)
        .await)
        .expect("count")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_exactly_what_is_due_files_and_rows_together() {
    let f = Fixture::new().await;
    let old = f.session(59, false).await;
    let recent = f.session(2, false).await;
    let shared_session = f.session(58, false).await;
    // One live session per group: made last.
    let live = f.session(45, true).await;
    let base = format!("media/o{}/g{}", f.org, f.group);

    // Ten thumbnails an hour apart: the group keeps the newest 3.
    let mut thumbs = Vec::new();
    for i in 0..10 {
        thumbs.push(
            f.asset(
                recent,
                AssetKind::Thumbnail,
                "jpeg",
                &format!("{base}/s{recent}/st{}/thumbnails/t{i:010}.jpg", f.stream),
                Duration::hours(10 - i),
            )
            .await,
        );
    }
    // Recordings kept 30 days by the organisation's default; the live session's stays.
    let rec_old = f
        .asset(
            old,
            AssetKind::Recording,
            "mp4",
            &format!("{base}/s{old}/r.mp4"),
            Duration::days(59),
        )
        .await;
    let rec_recent = f
        .asset(
            recent,
            AssetKind::Recording,
            "mp4",
            &format!("{base}/s{recent}/r.mp4"),
            Duration::days(2),
        )
        .await;
    let rec_live = f
        .asset(
            live,
            AssetKind::Recording,
            "mp4",
            &format!("{base}/s{live}/r.mp4"),
            Duration::days(40),
        )
        .await;
    // Motion clips have no rule: kept forever.
    let motion = f
        .asset(
            old,
            AssetKind::MotionClip,
            "mp4",
            &format!("{base}/s{old}/c.mp4"),
            Duration::days(59),
        )
        .await;
    // Replays kept 7 days; one is shared until t0 + 5 days; the live one stays.
    let replay_old = f.replay(old, 59).await;
    let replay_shared = f.replay(shared_session, 58).await;
    f.link(None, Some(replay_shared.0), Some(f.t0 + Duration::days(5)))
        .await;
    let replay_live = f.replay(live, 40).await;
    // Shared clips kept 7 days: one's link has expired, the other's never does.
    let clip_unshared = f.clip(replay_old.0, 50, "unshared").await;
    f.link(Some(clip_unshared.0), None, Some(f.t0 - Duration::days(1)))
        .await;
    let clip_shared = f.clip(replay_old.0, 50, "shared").await;
    f.link(Some(clip_shared.0), None, None).await;

    let caller = f.owner.clone();
    services::retention::set_defaults(
        f.state(),
        &caller,
        &RetentionRules {
            recording: keep(Some(30), None),
            ..RetentionRules::default()
        },
    )
    .await
    .expect("defaults");
    services::retention::set_group(
        f.state(),
        &caller,
        f.group,
        &RetentionRules {
            thumbnail: keep(None, Some(3)),
            replay: keep(Some(7), None),
            clip: keep(Some(7), None),
            ..RetentionRules::default()
        },
    )
    .await
    .expect("group rules");

    let store = MediaStore::new(f.app.dir.path());
    let report = server::retention::run_once(&f.at(Duration::zero()), &store)
        .await
        .expect("runs");
    assert_eq!(report.items, 7 + 1 + 1 + 1, "{report:?}");

    for (i, (id, path)) in thumbs.iter().enumerate() {
        let kept = i >= 7;
        assert_eq!(f.asset_row(*id).await, kept, "thumbnail {i} row");
        assert_eq!(f.exists(path), kept, "thumbnail {i} file");
    }
    for ((id, path), kept, what) in [
        (&rec_old, false, "the 59-day-old recording"),
        (&rec_recent, true, "the 2-day-old recording"),
        (&rec_live, true, "the live session's recording"),
        (&motion, true, "a motion clip (no rule)"),
        (&replay_old, false, "the old replay"),
        (&replay_shared, true, "the shared replay"),
        (&replay_live, true, "the live replay"),
    ] {
        assert_eq!(f.asset_row(*id).await, kept, "{what}: row");
        assert_eq!(f.exists(path), kept, "{what}: file");
    }
    let segments_of = |replay: &str| replay.replace("replay.m3u8", "segments");
    assert!(
        !f.exists(&segments_of(&replay_old.1)),
        "the old replay's segments went with it"
    );
    assert!(f.exists(&segments_of(&replay_shared.1)));
    assert!(f.exists(&segments_of(&replay_live.1)));
    assert!(
        !f.exists(&clip_unshared.1),
        "the unshared clip's folder is gone"
    );
    assert!(f.exists(&clip_shared.1), "a clip whose link works stays");
    assert!(repo::clips::get(&f.state().db, f.org, clip_unshared.0)
        .await
        .expect("q")
        .is_none());
    assert!(repo::clips::get(&f.state().db, f.org, clip_shared.0)
        .await
        .expect("q")
        .is_some());
    assert_eq!(
        f.count("pending_deletions").await,
        0,
        "the journal is empty"
    );

    // The log says what went, how much and why.
    let log = repo::retention::log_of_group(&f.state().db, f.group, 10)
        .await
        .expect("log");
    let line = |kind: &str| {
        log.iter()
            .find(|l| l.kind == kind)
            .map(|l| (l.items, l.bytes, l.reason.clone()))
    };
    assert_eq!(line("thumbnail"), Some((7, 77, "count".into())));
    assert_eq!(line("recording"), Some((1, 11, "age".into())));
    assert_eq!(line("replay"), Some((1, 11, "age".into())));
    assert_eq!(line("clip"), Some((1, 0, "age".into())));

    // Ten days later the shared replay's link has expired: it goes too, nothing else does.
    let again = server::retention::run_once(&f.at(Duration::days(10)), &store)
        .await
        .expect("runs");
    assert_eq!(again.items, 1, "{again:?}");
    assert!(!f.asset_row(replay_shared.0).await);
    assert!(!f.exists(&replay_shared.1));
    assert!(f.asset_row(rec_recent.0).await, "12 days old, kept 30");
    assert!(f.asset_row(rec_live.0).await, "still live");

    let TestApp { running, .. } = f.app;
    running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stop_between_rows_and_files_is_finished_at_the_next_start() {
    let f = Fixture::new().await;
    let old = f.session(30, false).await;
    let (id, path) = f
        .asset(
            old,
            AssetKind::Recording,
            "mp4",
            &format!("media/o{}/g{}/s{old}/r.mp4", f.org, f.group),
            Duration::days(30),
        )
        .await;
    let due = repo::retention::due_assets(
        &f.state().db,
        f.group,
        app::domain::retention::RetainedKind::Recording,
        KeepRule {
            keep_days: Some(7),
            keep_newest: None,
        },
        f.t0,
        10,
    )
    .await
    .expect("due");
    assert_eq!(due.len(), 1);
    // The rows go and the files are journaled; then the server stops before removing them.
    repo::retention::remove_rows(
        &f.state().db,
        f.org,
        f.group,
        app::domain::retention::RetainedKind::Recording,
        &due,
        f.t0,
    )
    .await
    .expect("rows");
    assert!(!f.asset_row(id).await);
    assert!(f.exists(&path), "the file is still there");
    let TestApp {
        running,
        dir,
        database_url,
        ..
    } = f.app;
    running.stop().await.expect("stops");

    let mut config = server::config::Config::for_tests(dir.path().into());
    config.database_url = database_url;
    let again = server::start(config).await.expect("starts");
    assert!(!dir.path().join(&path).exists(), "finished at start-up");
    let pending: i64 = app::with_db!(&again.state.db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM pending_deletions"
    )
    .fetch_one(conn)
    .await)
    .expect("q");
    assert_eq!(pending, 0);
    let quarantined: i64 = app::with_db!(&again.state.db, |conn| sqlx::query_scalar(
        "SELECT COUNT(*) FROM quarantine"
    )
    .fetch_one(conn)
    .await)
    .expect("q");
    assert_eq!(quarantined, 0, "a journaled file is garbage, not an orphan");
    again.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_are_validated_and_follow_roles() {
    let app = TestApp::start().await;
    let callers = app.organisation("Rules", &[]).await;
    let (viewer, editor, admin) = (&callers[0], &callers[1], &callers[2]);
    let state = &app.running.state;
    let group = services::streams::create_group(
        state,
        editor,
        &app::domain::streams::NewStreamGroup {
            name: "Rules".into(),
            profiles: vec![],
            processing: vec![Processes::none().inputs()],
        },
    )
    .await
    .expect("group");
    let bad = RetentionRules {
        recording: keep(Some(0), Some(200_000)),
        ..RetentionRules::default()
    };
    let Err(AppError::Validation(errors)) =
        services::retention::set_group(state, editor, group, &bad).await
    else {
        panic!("invalid rules are refused");
    };
    let named: Vec<_> = errors
        .iter()
        .map(|e| (e.field.as_str(), e.value.as_str(), e.allowed.as_str()))
        .collect();
    assert_eq!(
        named,
        [
            ("recording.keep_days", "0", "1–3650 days"),
            ("recording.keep_newest", "200000", "1–100000")
        ]
    );
    let good = RetentionRules {
        recording: keep(Some(30), None),
        ..RetentionRules::default()
    };
    assert!(matches!(
        services::retention::set_group(state, viewer, group, &good).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(matches!(
        services::retention::set_defaults(state, editor, &good).await,
        Err(AppError::Forbidden(_))
    ));
    services::retention::set_defaults(state, admin, &good)
        .await
        .expect("admins set defaults");
    let shown = services::retention::set_group(
        state,
        editor,
        group,
        &RetentionRules {
            thumbnail: Some(KeepRule::FOREVER),
            ..RetentionRules::default()
        },
    )
    .await
    .expect("editors set a group's rules");
    assert_eq!(shown.rules.thumbnail, Some(KeepRule::FOREVER));
    assert_eq!(shown.defaults.recording, keep(Some(30), None));
    let other = app.organisation("Elsewhere", &[]).await;
    assert!(matches!(
        services::retention::of_group(state, &other[3], group).await,
        Err(AppError::NotFound(_))
    ));
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_made_after_the_query_still_protects_its_replay() {
    let f = Fixture::new().await;
    let old = f.session(30, false).await;
    let (replay, path) = f.replay(old, 30).await;
    let rule = KeepRule {
        keep_days: Some(7),
        keep_newest: None,
    };
    let due = repo::retention::due_assets(
        &f.state().db,
        f.group,
        app::domain::retention::RetainedKind::Replay,
        rule,
        f.t0,
        10,
    )
    .await
    .expect("due");
    assert_eq!(due.len(), 1, "due before anyone shares it");
    // Someone shares it between the query and the deletion.
    f.link(None, Some(replay), None).await;
    let (journal, removed) = repo::retention::remove_rows(
        &f.state().db,
        f.org,
        f.group,
        app::domain::retention::RetainedKind::Replay,
        &due,
        f.t0,
    )
    .await
    .expect("rows");
    assert!(removed.is_empty() && journal.is_empty());
    assert!(
        f.asset_row(replay).await && f.exists(&path),
        "kept, files and row"
    );
    let TestApp { running, .. } = f.app;
    running.stop().await.expect("stops");
}

/// Shared recordings outlive their rule while the link works: a link to one file keeps that
/// file (its session's other files go), a link to the whole session keeps every file of it;
/// once the links expire, they all go.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_recordings_stay_while_their_links_work() {
    let f = Fixture::new().await;
    let one = f.session(50, false).await;
    let whole = f.session(49, false).await;
    let base = format!("media/o{}/g{}", f.org, f.group);
    let fx = &f;
    let piece = |session: i64, n: u32| {
        let rel = format!("{base}/s{session}/st{}/recordings/r{n}.mp4", fx.stream);
        async move {
            fx.asset(
                session,
                AssetKind::Recording,
                "mp4",
                &rel,
                Duration::days(50),
            )
            .await
        }
    };
    let (one_a, one_b) = (piece(one, 1).await, piece(one, 2).await);
    let (whole_a, whole_b) = (piece(whole, 1).await, piece(whole, 2).await);
    let until = Some(f.t0 + Duration::days(5));
    f.link_to(None, Some(one_a.0), false, until).await;
    f.link_to(None, Some(whole_b.0), true, until).await;
    services::retention::set_defaults(
        f.state(),
        &f.owner.clone(),
        &RetentionRules {
            recording: keep(Some(30), None),
            ..RetentionRules::default()
        },
    )
    .await
    .expect("defaults");

    let store = MediaStore::new(f.app.dir.path());
    let report = server::retention::run_once(&f.at(Duration::zero()), &store)
        .await
        .expect("runs");
    assert_eq!(report.items, 1, "{report:?}");
    for ((id, path), kept, what) in [
        (&one_a, true, "the shared file"),
        (&one_b, false, "the other file of its session"),
        (&whole_a, true, "a file of a shared session"),
        (&whole_b, true, "the file the session link was made from"),
    ] {
        assert_eq!(f.asset_row(*id).await, kept, "{what}: row");
        assert_eq!(f.exists(path), kept, "{what}: file");
    }

    // The links expire: every file goes.
    let again = server::retention::run_once(&f.at(Duration::days(10)), &store)
        .await
        .expect("runs");
    assert_eq!(again.items, 3, "{again:?}");
    for (id, path) in [&one_a, &whole_a, &whole_b] {
        assert!(!f.asset_row(*id).await);
        assert!(!f.exists(path));
    }
    let TestApp { running, .. } = f.app;
    running.stop().await.expect("stops");
}
