//! Reconnect grace for real: a real ffmpeg publisher killed with SIGKILL (its connection
//! drops without an unpublish) and started again. Within the group's grace the live session
//! goes on: one replay with a discontinuity that a share link made before the drop keeps
//! playing, every recording piece playable, `session.resumed` instead of an end and a start.
//! After the grace, two sessions.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use app::domain::clips::LinkExpiry;
use app::domain::integrations::{EventKind, NewWebhook};
use app::domain::settings::{ProcessKind, SpanInput};
use app::domain::streams::LiveStatus;
use app::ssr::repo;
use app::ssr::services::{clips, integrations, streams};
use common::{count_frames, probe_duration, wait_for, Processes, TestApp, TestPublisher};

fn processes() -> Processes {
    Processes {
        thumbnail: Some(10),
        clip: None,
        recording: Some(SpanInput::Seconds(3600)),
        replay: Some(SpanInput::Seconds(600)),
    }
}

async fn replay_text(app: &TestApp, stream: i64) -> String {
    let rows = repo::assets::list(&app.running.state.db, stream, ProcessKind::Replay, 10)
        .await
        .expect("replays");
    assert_eq!(rows.len(), 1, "one replay for the whole event");
    std::fs::read_to_string(app.dir.path().join(&rows[0].path)).expect("playlist")
}

fn events(got: &Mutex<Vec<serde_json::Value>>, kind: &str) -> Vec<serde_json::Value> {
    got.lock()
        .expect("lock")
        .iter()
        .filter(|v| v["type"] == kind)
        .cloned()
        .collect()
}

/// Kills a publisher the way a network failure looks to the server: no unpublish.
async fn drop_connection(mut publisher: TestPublisher) {
    publisher.child.start_kill().expect("kill");
    let _ = publisher.child.wait().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_back_within_the_grace_continues_the_same_session() {
    let app = TestApp::start().await;
    let state = &app.running.state;
    let g = app.group(&[], &processes()).await;
    let stream = g.streams[0];
    let org = g.owner.organisation_id;
    streams::set_reconnect_grace(state, &g.owner, g.id, Some(8))
        .await
        .expect("grace set");
    assert_eq!(
        streams::group_detail(state, &g.owner, g.id, None)
            .await
            .expect("detail")
            .reconnect_grace_s,
        8
    );
    let (hook, got) = common::webhook_receiver().await;
    integrations::create_webhook(
        state,
        &g.owner,
        &NewWebhook {
            url: hook,
            events: vec![
                EventKind::SessionStarted,
                EventKind::SessionResumed,
                EventKind::SessionEnded,
            ],
        },
    )
    .await
    .expect("webhook");

    let first = TestPublisher::start(&app.publish_url(&g.key), 60, "640x360");
    wait_for("three replay segments", Duration::from_secs(20), || async {
        let rows = repo::assets::list(&state.db, stream, ProcessKind::Replay, 10)
            .await
            .ok()?;
        let row = rows.first()?;
        let text = std::fs::read_to_string(app.dir.path().join(&row.path)).ok()?;
        (text.matches(".m4s").count() >= 3).then_some(())
    })
    .await;
    // A viewer's link to the live replay, made before the drop.
    let replay_id = repo::assets::list(&state.db, stream, ProcessKind::Replay, 1)
        .await
        .expect("replay")[0]
        .asset
        .id;
    let link = clips::share_replay(state, &g.owner, replay_id, "Live", LinkExpiry::Day)
        .await
        .expect("share");
    let anon = reqwest::Client::new();
    let shared = |path: &str| {
        let url = format!("{}{}/{path}", app.base, link.path);
        let anon = anon.clone();
        async move { anon.get(url).send().await.expect("request") }
    };
    assert_eq!(shared("replay.m3u8").await.status().as_u16(), 200);

    drop_connection(first).await;
    // During the grace: the session is still live and its replay is not ended, so players
    // keep polling it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(matches!(
        repo::live_sessions::status(&state.db, g.id)
            .await
            .expect("status"),
        LiveStatus::Live { .. }
    ));
    let during = shared("replay.m3u8").await.text().await.expect("text");
    assert!(!during.contains("#EXT-X-ENDLIST"), "kept open:\n{during}");
    let before_drop = during.matches(".m4s").count();

    let second = TestPublisher::start(&app.publish_url(&g.key), 12, "640x360");
    assert!(
        second.finish().await,
        "the second publish ran to the end (and unpublished)"
    );
    // Its unpublish ends the session at once, grace or not.
    wait_for("the session to end", Duration::from_secs(20), || async {
        matches!(
            repo::live_sessions::status(&state.db, g.id).await,
            Ok(LiveStatus::Idle)
        )
        .then_some(())
    })
    .await;
    tokio::time::timeout(Duration::from_secs(60), app.running.supervisor.wait_idle())
        .await
        .expect("work finishes");

    // One session, one replay: the first publish's segments, a discontinuity, the second's.
    let all = app.sessions(org, g.id).await;
    assert_eq!(all.len(), 1, "one session: {all:?}");
    assert_eq!(all[0].end_reason.as_deref(), Some("publisher left"));
    let text = replay_text(&app, stream).await;
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 1, "{text}");
    assert!(text.contains("#EXT-X-ENDLIST"));
    let after = text.matches(".m4s").count();
    assert!(
        after >= before_drop + 8,
        "{before_drop} segments before the drop, {after} in all"
    );
    // The link made before the drop plays the whole event, both epochs' segments included.
    let shared_text = shared("replay.m3u8").await.text().await.expect("text");
    assert!(shared_text.contains("#EXT-X-DISCONTINUITY"));
    for uri in shared_text
        .lines()
        .filter(|l| l.ends_with(".m4s"))
        .step_by(4)
    {
        assert_eq!(shared(uri).await.status().as_u16(), 200, "{uri}");
    }

    // Every recording piece plays; together they hold both publishes.
    let pieces = repo::assets::list(&state.db, stream, ProcessKind::Recording, 100)
        .await
        .expect("recordings");
    assert!(pieces.len() >= 2, "{} pieces", pieces.len());
    let mut total = 0.0;
    for p in &pieces {
        let path = app.dir.path().join(&p.path);
        assert!(count_frames(&path) > 0, "{} plays", p.path);
        total += probe_duration(&path);
    }
    assert!(total >= 12.0 + 3.0, "recorded {total} s");

    // Webhooks: started, resumed (a reconnect), ended; never a second start.
    wait_for(
        "the session's webhooks",
        Duration::from_secs(10),
        || async { (!events(&got, "session.ended").is_empty()).then_some(()) },
    )
    .await;
    assert_eq!(events(&got, "session.started").len(), 1);
    let resumed = events(&got, "session.resumed");
    assert_eq!(resumed.len(), 1);
    assert_eq!(resumed[0]["data"]["cause"], "publisher_reconnected");
    assert_eq!(resumed[0]["data"]["epoch"], 2);
    assert_eq!(events(&got, "session.ended").len(), 1);
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_back_after_the_grace_starts_a_new_session() {
    let app = TestApp::start().await;
    let state = &app.running.state;
    let g = app.group(&[], &processes()).await;
    let org = g.owner.organisation_id;
    streams::set_reconnect_grace(state, &g.owner, g.id, Some(2))
        .await
        .expect("grace set");
    assert!(
        streams::set_reconnect_grace(state, &g.owner, g.id, Some(301))
            .await
            .is_err()
    );

    let first = TestPublisher::start(&app.publish_url(&g.key), 60, "640x360");
    wait_for("the session", Duration::from_secs(15), || async {
        matches!(
            repo::live_sessions::status(&state.db, g.id).await,
            Ok(LiveStatus::Live { .. })
        )
        .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    drop_connection(first).await;
    // The grace runs out: the session ends with the drop's reason, its replay is closed.
    wait_for("the session to end", Duration::from_secs(15), || async {
        matches!(
            repo::live_sessions::status(&state.db, g.id).await,
            Ok(LiveStatus::Idle)
        )
        .then_some(())
    })
    .await;
    wait_for("the replay closed", Duration::from_secs(10), || async {
        replay_text(&app, g.streams[0])
            .await
            .contains("#EXT-X-ENDLIST")
            .then_some(())
    })
    .await;

    let second = TestPublisher::start(&app.publish_url(&g.key), 4, "640x360");
    assert!(second.finish().await);
    tokio::time::timeout(Duration::from_secs(60), app.running.supervisor.wait_idle())
        .await
        .expect("work finishes");
    let all = app.sessions(org, g.id).await;
    assert_eq!(all.len(), 2, "two sessions: {all:?}");
    assert!(all.iter().all(|s| s.ended_at.is_some()));
    app.running.stop().await.expect("stops");
}

/// A publisher that drops, comes back, and drops again before the first drop's grace would
/// have run out: each drop waits its own grace (the first drop's timer does not end the
/// second wait), and a third publish continues the same session once more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_drop_waits_its_own_grace() {
    let app = TestApp::start().await;
    let state = &app.running.state;
    let g = app
        .group(
            &[],
            &Processes {
                replay: Some(SpanInput::Seconds(600)),
                ..Processes::none()
            },
        )
        .await;
    let stream = g.streams[0];
    streams::set_reconnect_grace(state, &g.owner, g.id, Some(8))
        .await
        .expect("grace set");
    let live = || async {
        matches!(
            repo::live_sessions::status(&state.db, g.id).await,
            Ok(LiveStatus::Live { .. })
        )
    };
    let (db, dir) = (state.db.clone(), app.dir.path().to_path_buf());
    // The replay has at least two segments after its `breaks`-th discontinuity.
    let segments_after = move |breaks: usize| {
        let (db, dir) = (db.clone(), dir.clone());
        async move {
            let rows = repo::assets::list(&db, stream, ProcessKind::Replay, 10)
                .await
                .ok()?;
            let text = std::fs::read_to_string(dir.join(&rows.first()?.path)).ok()?;
            let tail = text.split("#EXT-X-DISCONTINUITY\n").nth(breaks)?;
            (tail.matches(".m4s").count() >= 2).then_some(())
        }
    };

    let first = TestPublisher::start(&app.publish_url(&g.key), 60, "320x180");
    wait_for(
        "the first publish's segments",
        Duration::from_secs(20),
        || segments_after(0),
    )
    .await;
    drop_connection(first).await;
    let first_drop = tokio::time::Instant::now();
    let second = TestPublisher::start(&app.publish_url(&g.key), 60, "320x180");
    wait_for(
        "the reconnect's segments",
        Duration::from_millis(5500),
        || segments_after(1),
    )
    .await;
    // The second drop 6 s after the first: the first drop's grace (8 s) ends during the
    // second wait, which lasts until 14 s.
    tokio::time::sleep_until(first_drop + Duration::from_secs(6)).await;
    drop_connection(second).await;
    // Past the first drop's grace, well within the second's: still waiting, still live.
    tokio::time::sleep_until(first_drop + Duration::from_millis(9000)).await;
    assert!(live().await, "the first drop's timer ended the second wait");
    let third = TestPublisher::start(&app.publish_url(&g.key), 4, "320x180");
    assert!(third.finish().await, "the third publish ran to its end");
    wait_for("the session to end", Duration::from_secs(20), || async {
        (!live().await).then_some(())
    })
    .await;
    assert_eq!(
        app.sessions(g.owner.organisation_id, g.id).await.len(),
        1,
        "one session across two drops"
    );
    tokio::time::timeout(Duration::from_secs(30), app.running.supervisor.wait_idle())
        .await
        .expect("work finishes");
    let text = replay_text(&app, stream).await;
    assert_eq!(text.matches("#EXT-X-DISCONTINUITY\n").count(), 2, "{text}");
    app.running.stop().await.expect("stops");
}
