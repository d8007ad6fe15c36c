//! A small storage quota reached by a real stream: the API and the dashboard's data show it,
//! a `storage.quota` webhook announces each level, new thumbnails, motion clips, clips and
//! saved spans stop with a visible reason while recordings keep going (the default policy),
//! and work resumes when the operator raises the quota.

mod common;

use std::sync::Mutex;
use std::time::Duration;

use app::domain::integrations::{EventKind, NewWebhook};
use app::domain::jobs::{JobState, QuotaLevel};
use app::domain::settings::{ProcessKind, SpanInput};
use app::domain::AppError;
use app::ssr::repo;
use app::ssr::services::{self, integrations};
use common::{wait_for, Processes, TestApp, TestPublisher};

fn levels(got: &Mutex<Vec<serde_json::Value>>) -> Vec<String> {
    got.lock()
        .expect("lock")
        .iter()
        .filter(|v| v["type"] == "storage.quota")
        .filter_map(|v| v["data"]["level"].as_str().map(str::to_string))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_quota_stops_optional_work_and_a_larger_one_resumes_it() {
    let app = TestApp::start_with(|c| c.usage_interval_ms = 300).await;
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                clip: Some((10, 1)),
                recording: Some(SpanInput::EntireStream),
                replay: Some(SpanInput::Seconds(60)),
            },
        )
        .await;
    let state = &app.running.state;
    let org = g.owner.organisation_id;
    let stream = g.streams[0];
    let (url, got) = common::webhook_receiver().await;
    integrations::create_webhook(
        state,
        &g.owner,
        &NewWebhook {
            url,
            events: vec![EventKind::StorageQuota],
        },
    )
    .await
    .expect("webhook");
    // 1.5 MB: a 640x360 stream fills it within a few seconds.
    let quota = 1_500_000;
    repo::orgs::set_quota(&state.db, org, Some(quota))
        .await
        .expect("quota");

    let publisher = TestPublisher::start(&app.publish_url(&g.key), 60, "640x360");
    let storage = || state.pipeline.storage(org);
    wait_for("the quota used up", Duration::from_secs(40), || async {
        (storage().quota.level == QuotaLevel::Full).then_some(())
    })
    .await;
    let full = storage().quota;
    assert_eq!(full.quota_bytes, Some(quota as u64));
    assert!(full.used_bytes >= quota as u64);

    // Thumbnails and motion clips wait with the reason; recordings go on (policy: keep).
    let paused = |kind: ProcessKind| {
        matches!(
            state.pipeline.job_states(&[stream]).into_iter().find(|j| j.process == kind).map(|j| j.state),
            Some(JobState::Paused { reason }) if reason.contains("quota")
        )
    };
    wait_for(
        "thumbnails paused for the quota",
        Duration::from_secs(15),
        || async {
            (paused(ProcessKind::Thumbnail) && paused(ProcessKind::MotionClip)).then_some(())
        },
    )
    .await;
    let thumbs_when_full = repo::assets::list(&state.db, stream, ProcessKind::Thumbnail, 1000)
        .await
        .expect("thumbnails")
        .len();
    let overview = services::processing::overview(state, &g.owner, g.id)
        .await
        .expect("overview");
    assert_eq!(
        overview.storage.quota.level,
        QuotaLevel::Full,
        "the dashboard's data says so"
    );
    // New clips and saved spans are refused with a clear error.
    let replay = repo::assets::list(&state.db, stream, ProcessKind::Replay, 1)
        .await
        .expect("replay")
        .first()
        .map(|r| r.asset.id)
        .expect("a replay");
    let saved = services::clips::save_span(state, &g.owner, replay, 10).await;
    assert!(
        matches!(&saved, Err(AppError::LimitReached { what, .. }) if what.contains("storage")),
        "{saved:?}"
    );
    // The recording keeps growing.
    let recording_bytes = || {
        common::files_ending(app.dir.path(), ".mp4.part")
            .iter()
            .filter_map(|p| std::fs::metadata(p).ok())
            .map(|m| m.len())
            .sum::<u64>()
    };
    let before = recording_bytes();
    wait_for("the recording to grow", Duration::from_secs(10), || async {
        (recording_bytes() > before).then_some(())
    })
    .await;
    // The API says it too.
    let key = integrations::create_key(state, &g.owner, "usage", app::domain::roles::Role::Viewer)
        .await
        .expect("key")
        .secret;
    let usage: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/usage", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("usage")
        .json()
        .await
        .expect("json");
    assert_eq!(usage["quota"]["level"], "full", "{usage}");
    assert_eq!(usage["quota"]["quota_bytes"], quota);

    // The operator raises the quota: work resumes by itself.
    repo::orgs::set_quota(&state.db, org, Some(1_000_000_000))
        .await
        .expect("raise");
    wait_for(
        "a new thumbnail after the raise",
        Duration::from_secs(30),
        || async {
            let n = repo::assets::list(&state.db, stream, ProcessKind::Thumbnail, 1000)
                .await
                .ok()?
                .len();
            (storage().quota.level == QuotaLevel::Ok && n > thumbs_when_full).then_some(())
        },
    )
    .await;
    // Each change of level was announced: up to full (through warning, when a measurement
    // fell between 90 and 100 %), and back to ok.
    wait_for(
        "the webhooks of each level",
        Duration::from_secs(15),
        || async {
            let l = levels(&got);
            (l.iter().any(|x| x == "full") && l.last().map(String::as_str) == Some("ok"))
                .then_some(l)
        },
    )
    .await;
    drop(publisher);
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_sets_quotas_from_the_command_line() {
    let app = TestApp::start().await;
    let callers = app.organisation("Quota Co", &[]).await;
    let org = repo::orgs::get(&app.running.state.db, callers[3].organisation_id)
        .await
        .expect("q")
        .expect("org");
    let cli = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_server"))
            .args(["org", "set-quota"])
            .args(args)
            .arg("--data-dir")
            .arg(app.dir.path())
            .args(
                app.database_url
                    .iter()
                    .flat_map(|u| ["--database-url", u.as_str()]),
            )
            .output()
            .expect("cli runs")
    };
    let quota_of = || async {
        repo::orgs::quotas(&app.running.state.db)
            .await
            .expect("quotas")
            .into_iter()
            .find(|(id, _)| *id == org.id)
            .and_then(|(_, q)| q)
    };
    let set = cli(&[&org.slug, "2GB"]);
    assert!(set.status.success(), "{set:?}");
    assert_eq!(quota_of().await, Some(2_000_000_000));
    let bad = cli(&[&org.slug, "lots"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a size"));
    assert_eq!(
        quota_of().await,
        Some(2_000_000_000),
        "a bad size changes nothing"
    );
    let cleared = cli(&[&org.slug, "none"]);
    assert!(cleared.status.success(), "{cleared:?}");
    assert_eq!(quota_of().await, None);
    app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_stop_policy_recordings_pause_at_the_quota_too() {
    let app = TestApp::start_with(|c| {
        c.usage_interval_ms = 300;
        c.quota_recordings = server::config::QuotaRecordings::Stop;
        // The server-wide default quota applies to organisations without their own.
        c.default_storage_quota = Some(1_000_000);
    })
    .await;
    let g = app
        .group(
            &[],
            &Processes {
                recording: Some(SpanInput::EntireStream),
                replay: Some(SpanInput::Seconds(60)),
                ..Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    let org = g.owner.organisation_id;
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 40, "640x360");
    wait_for(
        "the default quota used up",
        Duration::from_secs(40),
        || async {
            let q = state.pipeline.storage(org).quota;
            (q.level == QuotaLevel::Full && q.quota_bytes == Some(1_000_000)).then_some(())
        },
    )
    .await;
    let state_of = |kind: ProcessKind| {
        state
            .pipeline
            .job_states(&[g.streams[0]])
            .into_iter()
            .find(|j| j.process == kind)
            .map(|j| j.state)
    };
    wait_for("the recording paused", Duration::from_secs(10), || async {
        matches!(state_of(ProcessKind::Recording), Some(JobState::Paused { reason }) if reason.contains("quota"))
            .then_some(())
    })
    .await;
    // The replay buffer goes on: it is what the live viewers watch.
    assert_eq!(state_of(ProcessKind::Replay), Some(JobState::Running));
    drop(publisher);
    app.running.stop().await.expect("stops");
}
