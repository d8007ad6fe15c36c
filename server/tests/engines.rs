//! The repositories on both engines: the same scenario runs on a fresh SQLite file and on a
//! fresh PostgreSQL database (the shared test server, started if need be), checks what each
//! statement answers, and the two transcripts must be identical. It covers what differs
//! between the engines: ids from `RETURNING`, unsigned and boolean columns, times compared
//! and ordered, optional filters bound as NULL, window functions, `LIMIT … OFFSET`,
//! `ON CONFLICT`, case-insensitive e-mail, unique violations, cascades and the trigger, and
//! writers serialised by `begin_write` (two racing check-then-insert transactions).

use std::sync::Arc;

use app::domain::assets::{AssetKind, Integrity};
use app::domain::integrations::EventKind;
use app::domain::packages::Package;
use app::domain::retention::{KeepRule, RetainedKind, RetentionRules};
use app::domain::roles::Role;
use app::domain::streams::{LiveStatus, StreamRole};
use app::ssr::db::{self, begin_write, Db, Engine};
use app::ssr::repo::live_sessions::Begun;
use app::ssr::repo::{self, assets::NewAsset, clips::NewClipRow, streams::NewStream};
use app::ssr::testing;
use chrono::{DateTime, Duration, TimeZone, Utc};

async fn open(engine: Engine, dir: &std::path::Path) -> Db {
    let url = match engine {
        Engine::Sqlite => format!("sqlite://{}", dir.join("e.db").display()),
        Engine::Postgres => testing::fresh_postgres().await,
    };
    let db = db::connect(&url).await.expect("connect");
    assert_eq!(db.engine(), engine);
    db
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0)
        .single()
        .expect("time")
}

/// Runs every check on `db`; returns what was read, line by line.
async fn scenario(db: &Db) -> Vec<String> {
    let mut log = Vec::new();
    let now = t0();

    // Organisations (slug collisions), users (e-mail found whatever its case), memberships
    // (ON CONFLICT … DO UPDATE), packages (ON CONFLICT … DO NOTHING).
    let mut tx = begin_write(db).await.expect("tx");
    let a = repo::orgs::create(&mut tx, "Acme Live", now)
        .await
        .expect("org");
    let b = repo::orgs::create(&mut tx, "Acme Live", now)
        .await
        .expect("org");
    let user = repo::users::create(&mut tx, "ann@acme.test", "Ann", "hash", now)
        .await
        .expect("user");
    repo::users::upsert_membership(&mut tx, a.id, user, Role::Viewer, now)
        .await
        .expect("member");
    repo::users::upsert_membership(&mut tx, a.id, user, Role::Owner, now)
        .await
        .expect("member again");
    for _ in 0..2 {
        repo::orgs::set_package(&mut tx, a.id, Package::LiveProcessing, true, now)
            .await
            .expect("package");
    }
    tx.commit().await.expect("commit");
    log.push(format!("orgs {} {} {} {}", a.id, a.slug, b.id, b.slug));
    let found = repo::users::find_by_email(db, "ANN@Acme.test")
        .await
        .expect("find")
        .map(|c| (c.id, c.email));
    log.push(format!("user {user} found {found:?}"));
    log.push(format!(
        "role {:?} owners {:?} packages {:?}",
        repo::users::role_in(db, a.id, user).await.expect("role"),
        {
            let mut tx = begin_write(db).await.expect("tx");
            let n = repo::users::count_owners(&mut tx, a.id)
                .await
                .expect("owners");
            tx.rollback().await.expect("rollback");
            n
        },
        repo::orgs::enabled_packages(db, a.id)
            .await
            .expect("packages"),
    ));
    log.push(format!(
        "admin {} {}",
        repo::users::set_server_admin(db, "Ann@acme.test", true)
            .await
            .expect("admin"),
        repo::users::is_server_admin(db, user)
            .await
            .expect("is admin")
    ));
    log.push(format!(
        "quota {} {:?}",
        repo::orgs::set_quota(db, a.id, Some(5_000_000_000))
            .await
            .expect("quota"),
        repo::orgs::quotas(db).await.expect("quotas")
    ));

    // A group with an ingest (no size) and a 720p profile (unsigned columns), and keys.
    let mut tx = begin_write(db).await.expect("tx");
    let group = repo::streams::create_group(&mut tx, a.id, "Main", user, now)
        .await
        .expect("group");
    let ingest = repo::streams::create_stream(
        &mut tx,
        group,
        &NewStream {
            role: StreamRole::Ingest,
            position: 0,
            name: "Main".into(),
            quality: "source".into(),
            width: None,
            height: None,
            video_kbps: None,
        },
        now,
    )
    .await
    .expect("ingest");
    let profile = repo::streams::create_stream(
        &mut tx,
        group,
        &NewStream {
            role: StreamRole::Profile,
            position: 1,
            name: "Main 720p".into(),
            quality: "720p".into(),
            width: Some(1280),
            height: Some(720),
            video_kbps: Some(3_000),
        },
        now,
    )
    .await
    .expect("profile");
    repo::streams::replace_key(&mut tx, ingest, "sk_first", now)
        .await
        .expect("key");
    repo::streams::replace_key(&mut tx, ingest, "sk_second", now)
        .await
        .expect("key again");
    assert!(repo::streams::rename_group(&mut tx, a.id, group, "Stage")
        .await
        .expect("rename"));
    tx.commit().await.expect("commit");
    let streams = repo::streams::streams_of(db, group).await.expect("streams");
    log.push(format!(
        "streams {:?}",
        streams
            .iter()
            .map(|s| (s.id, s.name.clone(), s.width, s.height, s.video_kbps))
            .collect::<Vec<_>>()
    ));
    log.push(format!(
        "keys {:?} {:?} {:?}",
        repo::streams::find_key(db, "sk_first")
            .await
            .expect("find key"),
        repo::streams::find_key(db, "sk_second")
            .await
            .expect("find key"),
        repo::streams::active_key(db, ingest).await.expect("active")
    ));

    // Live sessions through leases: node A opens the group's session; node B is refused
    // while A's heartbeat is fresh; the unique index refuses a second open row.
    let ttl = Duration::seconds(6);
    let Begun::Started(lease) =
        repo::live_sessions::begin(db, group, "node-a", "127.0.0.1:5000", now, now - ttl)
            .await
            .expect("begin")
    else {
        panic!("a new session");
    };
    let session = lease.session_id;
    let held = repo::live_sessions::begin(db, group, "node-b", "127.0.0.1:5001", now, now - ttl)
        .await
        .expect("begin");
    assert!(
        matches!(&held, Begun::Held { node_id: Some(n), .. } if n == "node-a"),
        "{held:?}"
    );
    let mut raw = begin_write(db).await.expect("tx");
    let second = app::with_tx!(&mut raw, |conn| sqlx::query(
        "INSERT INTO live_sessions (group_id, started_at, node_id) VALUES ($1, $2, 'x')"
    )
    .bind(group)
    .bind(now)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()));
    raw.rollback().await.expect("rollback");
    let unique = matches!(&second, Err(sqlx::Error::Database(d)) if d.is_unique_violation());
    log.push(format!(
        "session {session} epoch {} second held {held:?} unique {unique} status {:?}",
        lease.epoch,
        repo::live_sessions::status(db, group)
            .await
            .expect("status")
    ));
    assert!(matches!(
        repo::live_sessions::status(db, group).await.expect("status"),
        LiveStatus::Live { since, .. } if since == now
    ));

    // Assets: ids, unsigned sizes, optional filters, order by time, LIMIT … OFFSET.
    let mut ids = Vec::new();
    for i in 0..6i64 {
        let kind = if i % 2 == 0 {
            AssetKind::Thumbnail
        } else {
            AssetKind::MotionClip
        };
        let id = repo::assets::insert(
            db,
            &NewAsset {
                organisation_id: a.id,
                stream_id: profile,
                session_id: Some(session),
                kind,
                format: if i % 2 == 0 { "jpg" } else { "mp4" },
                path: format!("media/o{}/a{i}", a.id),
                size_bytes: 1_000 * (i + 1),
                duration_ms: (i % 2 == 1).then_some(3_000),
                width: Some(1280),
                height: Some(720),
                integrity: (i == 5).then_some(Integrity::Repaired),
                created_at: now + Duration::seconds(10 * i),
            },
        )
        .await
        .expect("asset");
        ids.push(id);
    }
    let page = |kind: Option<AssetKind>, from: Option<DateTime<Utc>>, before: Option<i64>| {
        repo::assets::page(db, a.id, Some(profile), None, kind, from, None, before, 10)
    };
    let ids_of = |rows: Vec<repo::assets::AssetRow>| -> Vec<i64> {
        rows.iter().map(|r| r.asset.id).collect()
    };
    log.push(format!("asset ids {ids:?}"));
    log.push(format!(
        "page all {:?} thumbs {:?} from+20s {:?} before {:?}",
        ids_of(page(None, None, None).await.expect("page")),
        ids_of(
            page(Some(AssetKind::Thumbnail), None, None)
                .await
                .expect("page")
        ),
        ids_of(
            page(None, Some(now + Duration::seconds(20)), None)
                .await
                .expect("page")
        ),
        ids_of(page(None, None, Some(ids[3])).await.expect("page")),
    ));
    let latest = repo::assets::latest(db, profile, AssetKind::MotionClip, "mp4")
        .await
        .expect("latest")
        .expect("some");
    log.push(format!(
        "latest {} {:?} {:?} {:?} {}",
        latest.asset.id,
        latest.asset.width,
        latest.asset.integrity,
        latest.asset.duration_ms,
        latest.asset.created_at
    ));
    log.push(format!(
        "beyond newest 1 {:?}",
        ids_of(
            repo::assets::beyond_newest(db, profile, AssetKind::Thumbnail, 1)
                .await
                .expect("beyond")
        )
    ));
    log.push(format!(
        "with sessions {:?}",
        repo::assets::list_with_sessions(db, profile, AssetKind::Thumbnail, 2)
            .await
            .expect("with sessions")
            .iter()
            .map(|r| (r.row.asset.id, r.session_started_at, r.session_ended_at))
            .collect::<Vec<_>>()
    ));

    // A replay asset with a clip and share links: the newest link comes with the clip, a
    // token finds it, a revoked link stays revoked.
    let replay = repo::assets::insert(
        db,
        &NewAsset {
            organisation_id: a.id,
            stream_id: ingest,
            session_id: Some(session),
            kind: AssetKind::Replay,
            format: "m3u8",
            path: format!("media/o{}/replay.m3u8", a.id),
            size_bytes: 0,
            duration_ms: None,
            width: None,
            height: None,
            integrity: None,
            created_at: now,
        },
    )
    .await
    .expect("replay");
    let mut tx = begin_write(db).await.expect("tx");
    let clip = repo::clips::insert(
        &mut tx,
        &NewClipRow {
            organisation_id: a.id,
            stream_id: ingest,
            session_id: Some(session),
            replay_asset_id: replay,
            title: "Goal".into(),
            starts_at: now + Duration::seconds(5),
            duration_ms: 8_000,
            dir: format!("media/o{}/clips/1", a.id),
            created_by: user,
            created_by_email: "ann@acme.test".into(),
            created_at: now,
            expires_at: Some(now + Duration::days(1)),
        },
    )
    .await
    .expect("clip");
    let first = repo::clips::insert_link(
        &mut tx,
        a.id,
        "tok_one",
        Some(clip),
        None,
        false,
        "Goal",
        user,
        now,
        None,
    )
    .await
    .expect("link");
    let newest = repo::clips::insert_link(
        &mut tx,
        a.id,
        "tok_two",
        Some(clip),
        None,
        false,
        "Goal!",
        user,
        now,
        Some(now + Duration::hours(1)),
    )
    .await
    .expect("link");
    repo::clips::insert_link(
        &mut tx,
        a.id,
        "tok_live",
        None,
        Some(replay),
        false,
        "Live",
        user,
        now,
        None,
    )
    .await
    .expect("replay link");
    tx.commit().await.expect("commit");
    repo::clips::set_files(
        db,
        clip,
        app::domain::clips::Mp4State::Ready,
        Some(4_096),
        true,
    )
    .await
    .expect("files");
    let got = repo::clips::get(db, a.id, clip)
        .await
        .expect("clip")
        .expect("some");
    log.push(format!(
        "clip {} poster {:?} mp4 {:?} share {:?} first {first} newest {newest}",
        got.clip.id,
        got.clip.poster_url,
        got.clip.mp4,
        got.clip
            .share
            .as_ref()
            .map(|s| (s.id, s.title.clone(), s.expires_at)),
    ));
    assert!(repo::clips::revoke_link(db, a.id, first, now)
        .await
        .expect("revoke"));
    assert!(!repo::clips::revoke_link(db, a.id, first, now)
        .await
        .expect("revoke again"));
    for token in ["tok_one", "tok_two", "tok_live", "nope"] {
        let found = repo::clips::find_by_token(db, token).await.expect("find");
        log.push(format!(
            "token {token}: {:?}",
            found.map(|f| (
                f.link.revoked_at.is_some(),
                match f.target {
                    repo::clips::ShareTarget::Clip(c) => format!("clip {}", c.clip.id),
                    repo::clips::ShareTarget::Replay {
                        asset_id,
                        session_started_at,
                        ..
                    } => format!("replay {asset_id} {session_started_at}"),
                    repo::clips::ShareTarget::Recording(pieces) => {
                        format!(
                            "recording {:?}",
                            pieces.iter().map(|p| p.asset_id).collect::<Vec<_>>()
                        )
                    }
                }
            ))
        ));
    }
    log.push(format!(
        "expired at +2d {:?}",
        repo::clips::delete_expired(db, now + Duration::days(2))
            .await
            .expect("expire")
    ));

    // Webhooks: events matched by name, the per-organisation window, a claim taken once.
    let hook = repo::integrations::insert_webhook(
        db,
        a.id,
        "http://127.0.0.1:9/hook",
        &[EventKind::SessionStarted, EventKind::SessionEnded],
        "secret",
        user,
        now,
    )
    .await
    .expect("hook");
    let queued = repo::integrations::enqueue(db, a.id, EventKind::SessionEnded, "{}", now)
        .await
        .expect("enqueue");
    let none = repo::integrations::enqueue(db, b.id, EventKind::SessionEnded, "{}", now)
        .await
        .expect("enqueue other");
    let due = repo::integrations::due_candidates(db, now, 5, 10)
        .await
        .expect("due");
    let ids: Vec<i64> = due.iter().map(|c| c.id).collect();
    let claimed = repo::integrations::claim(db, &ids, now, Duration::seconds(30))
        .await
        .expect("claim");
    let again = repo::integrations::claim(db, &ids, now, Duration::seconds(30))
        .await
        .expect("claim again");
    log.push(format!(
        "hook {hook} queued {queued}/{none} due {due:?} claimed {:?} again {}",
        claimed
            .iter()
            .map(|d| (d.id, d.url.clone(), d.attempts))
            .collect::<Vec<_>>(),
        again.len()
    ));
    repo::integrations::record_attempt(db, ids[0], Ok(204), now, None)
        .await
        .expect("attempt");
    log.push(format!(
        "deliveries {:?} pending {}",
        repo::integrations::recent_deliveries(db, hook, 5)
            .await
            .expect("recent")
            .iter()
            .map(|d| (d.id, d.status, d.attempts, d.last_status))
            .collect::<Vec<_>>(),
        repo::integrations::count_pending_deliveries(db)
            .await
            .expect("pending")
    ));

    // Retention: rules per group, what they make due (never the live session's replay, never
    // a shared one), and the trigger that drops a deleted group's rules.
    let mut rules = RetentionRules::default();
    rules.set(
        RetainedKind::Thumbnail,
        Some(KeepRule {
            keep_days: Some(1),
            keep_newest: Some(1),
        }),
    );
    rules.set(
        RetainedKind::Replay,
        Some(KeepRule {
            keep_days: Some(1),
            keep_newest: None,
        }),
    );
    repo::retention::set_rules(db, a.id, group, &rules)
        .await
        .expect("rules");
    let later = now + Duration::days(3);
    let due_thumbs = repo::retention::due_assets(
        db,
        group,
        RetainedKind::Thumbnail,
        KeepRule {
            keep_days: None,
            keep_newest: Some(1),
        },
        later,
        100,
    )
    .await
    .expect("due");
    let due_replay = repo::retention::due_assets(
        db,
        group,
        RetainedKind::Replay,
        KeepRule {
            keep_days: Some(1),
            keep_newest: None,
        },
        later,
        100,
    )
    .await
    .expect("due replay");
    log.push(format!(
        "rules {:?} due thumbs {:?} due replay while live {:?}",
        repo::retention::groups_with_rules(db)
            .await
            .expect("groups"),
        due_thumbs
            .iter()
            .map(|d| (d.id, d.reason))
            .collect::<Vec<_>>(),
        due_replay.len()
    ));
    let (journal, removed) =
        repo::retention::remove_rows(db, a.id, group, RetainedKind::Thumbnail, &due_thumbs, later)
            .await
            .expect("remove");
    log.push(format!(
        "removed {} journal {:?} log {:?}",
        removed.len(),
        journal.iter().map(|(_, p)| p.clone()).collect::<Vec<_>>(),
        repo::retention::log_of_group(db, group, 5)
            .await
            .expect("log")
            .iter()
            .map(|l| (l.kind.clone(), l.items, l.bytes, l.reason.clone()))
            .collect::<Vec<_>>()
    ));
    repo::retention::done(db, &journal.iter().map(|(id, _)| *id).collect::<Vec<_>>())
        .await
        .expect("done");

    // Ending the session, sessions of the page API, then deleting the group: its streams,
    // assets and rules go with it.
    // Node A stops beating; 10 s on, node B takes the same session over one epoch on. A's
    // heartbeat no longer holds it, A can register nothing more, and cannot end it.
    let later = now + Duration::seconds(10);
    let taken =
        repo::live_sessions::begin(db, group, "node-b", "127.0.0.1:5002", later, later - ttl)
            .await
            .expect("take over");
    let Begun::TookOver { lease: b_lease, .. } = &taken else {
        panic!("a takeover: {taken:?}");
    };
    let b_lease = *b_lease;
    let a_holds = repo::live_sessions::heartbeat(db, "node-a", later)
        .await
        .expect("beat");
    let b_holds = repo::live_sessions::heartbeat(db, "node-b", later)
        .await
        .expect("beat");
    let thumbnail = |path: &str| NewAsset {
        organisation_id: a.id,
        stream_id: profile,
        session_id: Some(session),
        kind: AssetKind::Thumbnail,
        format: "jpg",
        path: path.into(),
        size_bytes: 1,
        duration_ms: None,
        width: None,
        height: None,
        integrity: None,
        created_at: later,
    };
    let late = thumbnail("media/late-from-a.jpg");
    let fenced = repo::assets::insert_fenced(db, &late, lease, "node-a")
        .await
        .expect("fenced insert");
    let a_ends = repo::live_sessions::end(db, lease, "node-a", "stale", later)
        .await
        .expect("end");
    let by_b = repo::assets::insert_fenced(db, &thumbnail("media/from-b.jpg"), b_lease, "node-b")
        .await
        .expect("insert by the holder");
    log.push(format!(
        "taken {taken:?} a holds {a_holds:?} b holds {b_holds:?} a's late file {fenced:?} a ends {a_ends} b's file registered {}",
        by_b.is_some()
    ));
    assert_eq!(b_lease.session_id, session, "the same session continues");
    assert_eq!(b_lease.epoch, 2);
    assert!(a_holds.is_empty() && b_holds == vec![b_lease]);
    assert_eq!(fenced, None, "a stale epoch writes nothing");
    assert!(!a_ends && by_b.is_some());
    // Another node's session without a heartbeat for long is an orphan; one's own is not.
    let orphans =
        repo::live_sessions::end_orphaned(db, "node-b", later + Duration::minutes(2), "x", later)
            .await
            .expect("orphans");
    assert!(
        orphans.is_empty(),
        "node B's own session is not an orphan to it"
    );
    assert!(repo::live_sessions::end(
        db,
        b_lease,
        "node-b",
        "publisher left",
        now + Duration::minutes(5)
    )
    .await
    .expect("end"));
    log.push(format!(
        "sessions {:?}",
        repo::live_sessions::page(db, a.id, Some(group), None, None, None, 10)
            .await
            .expect("sessions")
            .iter()
            .map(|s| (s.id, s.ended_at, s.end_reason.clone()))
            .collect::<Vec<_>>()
    ));
    // Work one node does for all (retention, housekeeping): claimed by one node at a time,
    // renewed by its holder, taken over by another once it ran out, given up at a stop.
    let claim = |node: &'static str, at: DateTime<Utc>| async move {
        repo::claims::claim(db, "retention", node, at, at + Duration::minutes(10))
            .await
            .expect("claim")
    };
    let claims = [
        claim("node-a", now).await,
        claim("node-b", now + Duration::minutes(1)).await,
        claim("node-a", now + Duration::minutes(5)).await,
        claim("node-b", now + Duration::minutes(14)).await,
        claim("node-b", now + Duration::minutes(16)).await,
        claim("node-a", now + Duration::minutes(17)).await,
    ];
    repo::claims::release(db, "retention", "node-a")
        .await
        .expect("release");
    let kept = claim("node-a", now + Duration::minutes(18)).await;
    repo::claims::release(db, "retention", "node-b")
        .await
        .expect("release");
    let freed = claim("node-a", now + Duration::minutes(18)).await;
    log.push(format!("claims {claims:?} kept {kept} freed {freed}"));
    assert_eq!(
        claims,
        [true, false, true, false, true, false],
        "one holder; renewals keep it; another node takes it only once it ran out"
    );
    assert!(!kept, "only the holder's release frees it");
    assert!(freed, "a released claim is taken at once");
    assert!(repo::streams::delete_group(db, a.id, group)
        .await
        .expect("delete"));
    log.push(format!(
        "after delete: paths {} rules {:?}",
        repo::assets::all_paths(db).await.expect("paths").len(),
        repo::retention::groups_with_rules(db)
            .await
            .expect("groups")
    ));
    log
}

/// Two writers each count an organisation's owners and add one if there is none: with the
/// write lock held from the first statement, exactly one adds.
async fn race(db: &Db) -> i64 {
    let mut tx = begin_write(db).await.expect("tx");
    let org = repo::orgs::create(&mut tx, "Race", t0())
        .await
        .expect("org");
    tx.commit().await.expect("commit");
    let db = Arc::new(db.clone());
    let mut tasks = Vec::new();
    for i in 0..2 {
        let db = db.clone();
        tasks.push(tokio::spawn(async move {
            let mut tx = begin_write(&db).await.expect("tx");
            let existing = repo::users::count_owners(&mut tx, org.id)
                .await
                .expect("count");
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if existing == 0 {
                let user = repo::users::create(&mut tx, &format!("r{i}@race.test"), "R", "h", t0())
                    .await
                    .expect("user");
                repo::users::upsert_membership(&mut tx, org.id, user, Role::Owner, t0())
                    .await
                    .expect("owner");
            }
            tx.commit().await.expect("commit");
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    let mut tx = begin_write(&db).await.expect("tx");
    let owners = repo::users::count_owners(&mut tx, org.id)
        .await
        .expect("owners");
    tx.rollback().await.expect("rollback");
    owners
}

/// Two nodes race for a new stream group's lease, ten times, starting together: each time
/// exactly one starts the session and the other is told another node holds it.
async fn lease_race(db: &Db) -> (usize, usize) {
    let mut tx = begin_write(db).await.expect("tx");
    let org = repo::orgs::create(&mut tx, "Lease race", t0())
        .await
        .expect("org");
    let user = repo::users::create(&mut tx, "lease@race.test", "L", "h", t0())
        .await
        .expect("user");
    tx.commit().await.expect("commit");
    let db = Arc::new(db.clone());
    let (mut started, mut held) = (0, 0);
    for round in 0..10 {
        let mut tx = begin_write(&db).await.expect("tx");
        let group = repo::streams::create_group(&mut tx, org.id, &format!("G{round}"), user, t0())
            .await
            .expect("group");
        tx.commit().await.expect("commit");
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = ["node-a", "node-b"]
            .into_iter()
            .map(|node| {
                let (db, barrier) = (db.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    repo::live_sessions::begin(
                        &db,
                        group,
                        node,
                        "x",
                        t0(),
                        t0() - Duration::seconds(6),
                    )
                    .await
                    .expect("begin")
                })
            })
            .collect();
        for t in tasks {
            match t.await.expect("task") {
                Begun::Started(_) => started += 1,
                Begun::Held { .. } => held += 1,
                other => panic!("a new group cannot be taken over: {other:?}"),
            }
        }
    }
    (started, held)
}

#[tokio::test]
async fn both_engines_answer_every_statement_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = open(Engine::Sqlite, dir.path()).await;
    let postgres = open(Engine::Postgres, dir.path()).await;
    let on_sqlite = scenario(&sqlite).await;
    let on_postgres = scenario(&postgres).await;
    for (s, p) in on_sqlite.iter().zip(&on_postgres) {
        assert_eq!(s, p, "the engines differ");
    }
    assert_eq!(on_sqlite.len(), on_postgres.len());
    for line in &on_sqlite {
        println!("{line}");
    }
    assert_eq!(race(&sqlite).await, 1, "SQLite: one owner after the race");
    assert_eq!(
        race(&postgres).await,
        1,
        "PostgreSQL: one owner after the race"
    );
    assert_eq!(
        lease_race(&sqlite).await,
        (10, 10),
        "SQLite: one lease per race"
    );
    assert_eq!(
        lease_race(&postgres).await,
        (10, 10),
        "PostgreSQL: one lease per race"
    );
}

/// Work queued on one node wakes the others: on PostgreSQL a notification reaches a second
/// pool's listener (as on another node) at once, and again after its connection is cut (the
/// listener reconnects); SQLite has no listener (one process does all the work).
#[tokio::test]
async fn work_queued_on_one_node_wakes_the_others_on_postgresql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = open(Engine::Sqlite, dir.path()).await;
    assert!(db::listen(&sqlite, &["work"])
        .await
        .expect("listen")
        .is_none());
    db::notify(&sqlite, "work", "").await.expect("a no-op");

    let url = testing::fresh_postgres().await;
    let (node_a, node_b) = (
        db::connect(&url).await.expect("a"),
        db::connect(&url).await.expect("b"),
    );
    let mut wakeups = db::listen(&node_b, &["work"])
        .await
        .expect("listen")
        .expect("a listener on PostgreSQL");
    let started = std::time::Instant::now();
    db::notify(&node_a, "work", "group 7")
        .await
        .expect("notify");
    let channel = tokio::time::timeout(std::time::Duration::from_secs(5), wakeups.next())
        .await
        .expect("woken in time")
        .expect("a notification");
    assert_eq!(channel, ("work".to_string(), "group 7".to_string()));
    println!("engines: woken across pools in {:?}", started.elapsed());
    // Every other connection of node B's database role is cut, the listener's included.
    let Db::Postgres(pool) = &node_a else {
        unreachable!()
    };
    let cut: i64 = sqlx::query_scalar(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity
         WHERE datname = current_database() AND pid <> pg_backend_pid() AND query ILIKE 'LISTEN%'",
    )
    .fetch_one(pool)
    .await
    .expect("terminate");
    assert!(cut >= 1, "the listener's connection was found and cut");
    let again = async {
        // The listener reconnects on its next wait; notifications sent meanwhile are lost
        // (the dispatcher's poll covers them), so notify until one arrives.
        loop {
            db::notify(&node_a, "work", "group 7")
                .await
                .expect("notify");
            if let Ok(got) =
                tokio::time::timeout(std::time::Duration::from_millis(300), wakeups.next()).await
            {
                if got.is_ok() {
                    return;
                }
            }
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(10), again)
        .await
        .expect("woken again after the connection was cut");
}
