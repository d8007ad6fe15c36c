//! Services and repositories against a real SQLite file through the migrations: accounts,
//! sessions, stream groups and keys, processing settings with conflicts and history, roles,
//! packages, and concurrent writers.

use std::sync::Arc;

use app::domain::jobs::ApplyMode;
use app::domain::packages::Package;
use app::domain::roles::Role;
use app::domain::settings::{ProcessChange, ProcessConfig, ProcessInput, ProcessKind, SpanInput};
use app::domain::streams::NewStreamGroup;
use app::domain::AppError;
use app::ssr::auth::Caller;
use app::ssr::clock::Clock;
use app::ssr::services::{accounts, processing, streams};
use app::ssr::{repo, testing, tokens, AppState};

fn group(profiles: &[&str]) -> NewStreamGroup {
    NewStreamGroup {
        name: "Main stage".into(),
        profiles: profiles.iter().map(|s| s.to_string()).collect(),
        processing: vec![],
    }
}

fn thumbnail(stream_id: i64, version: i64, interval: i64) -> ProcessChange {
    ProcessChange {
        stream_id,
        kind: ProcessKind::Thumbnail,
        version,
        input: ProcessInput {
            enabled: true,
            interval: Some(interval),
            duration: None,
        },
    }
}

async fn setup(packages: &[Package]) -> (tempfile::TempDir, AppState, Vec<Caller>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _) = testing::state(dir.path()).await;
    let callers = testing::organisation(&state, "Acme", packages).await;
    (dir, state, callers)
}

#[tokio::test]
async fn sign_up_creates_an_owner_with_default_packages_and_a_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _) = testing::state(dir.path()).await;
    let input = accounts::SignUp {
        organisation_name: "Casino Royale".into(),
        display_name: "Vesper".into(),
        email: "Vesper@Example.com".into(),
        password: "long enough password".into(),
    };
    let token = accounts::sign_up(&state, input.clone())
        .await
        .expect("signs up");
    let caller = repo::sessions::find(&state.db, &tokens::hash_token(&token), state.clock.now())
        .await
        .expect("query")
        .expect("session resolves");
    assert_eq!(caller.role, Role::Owner);
    assert_eq!(caller.email, "vesper@example.com");
    let packages = repo::orgs::enabled_packages(&state.db, caller.organisation_id)
        .await
        .expect("query");
    assert_eq!(
        packages,
        vec![Package::Transcoding],
        "live processing must be granted by the operator"
    );
    // The same e-mail cannot sign up twice.
    let again = accounts::sign_up(&state, input)
        .await
        .expect_err("duplicate");
    assert_eq!(again.field_errors()[0].field, "email");
    // The stored hash is argon2id, not the password.
    let creds = repo::users::find_by_email(&state.db, "vesper@example.com")
        .await
        .expect("q")
        .expect("user");
    assert!(creds.password_hash.starts_with("$argon2id$"));
}

#[tokio::test]
async fn login_answers_the_same_for_unknown_users_and_wrong_passwords_and_is_rate_limited() {
    let (_dir, state, callers) = setup(&[]).await;
    let owner = &callers[3];
    let ok = accounts::log_in(&state, &owner.email, "password123".into(), "10.0.0.1").await;
    assert!(ok.is_ok());
    let wrong = accounts::log_in(&state, &owner.email, "nope".into(), "10.0.0.1")
        .await
        .expect_err("wrong");
    let unknown = accounts::log_in(&state, "who@acme.test", "nope".into(), "10.0.0.1")
        .await
        .expect_err("unknown");
    assert_eq!(wrong, unknown);
    // Per-account limit: 8 failures in the window, then refused even with the right password.
    for _ in 0..7 {
        let _ = accounts::log_in(&state, &owner.email, "nope".into(), "10.0.0.2").await;
    }
    let limited = accounts::log_in(&state, &owner.email, "password123".into(), "10.0.0.3").await;
    assert!(
        matches!(limited, Err(AppError::RateLimited { .. })),
        "{limited:?}"
    );
}

#[tokio::test]
async fn sessions_expire_and_log_out() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, clock) = testing::state(dir.path()).await;
    let callers = testing::organisation(&state, "Acme", &[]).await;
    let token = accounts::start_session(&state, callers[0].user_id, callers[0].organisation_id)
        .await
        .expect("session");
    let hash = tokens::hash_token(&token);
    assert!(repo::sessions::find(&state.db, &hash, clock.now())
        .await
        .expect("q")
        .is_some());
    clock.advance(chrono::Duration::days(15));
    assert!(
        repo::sessions::find(&state.db, &hash, clock.now())
            .await
            .expect("q")
            .is_none(),
        "expired after the TTL"
    );
    let token = accounts::start_session(&state, callers[0].user_id, callers[0].organisation_id)
        .await
        .expect("session");
    accounts::log_out(&state, &token).await.expect("logs out");
    assert!(
        repo::sessions::find(&state.db, &tokens::hash_token(&token), clock.now())
            .await
            .expect("q")
            .is_none()
    );
}

#[tokio::test]
async fn stream_groups_need_the_right_role_and_packages() {
    let (_dir, state, callers) = setup(&[Package::Transcoding]).await;
    let (viewer, editor) = (&callers[0], &callers[1]);
    let refused = streams::create_group(&state, viewer, &group(&[]))
        .await
        .expect_err("viewer");
    assert!(matches!(refused, AppError::Forbidden(_)));
    let id = streams::create_group(&state, editor, &group(&["720p", "1080p"]))
        .await
        .expect("editor creates");
    let detail = streams::group_detail(&state, editor, id, Some("example.com:3000"))
        .await
        .expect("detail");
    let qualities: Vec<_> = detail.streams.iter().map(|s| s.quality.as_str()).collect();
    assert_eq!(qualities, ["Source", "1080p", "720p"]);
    assert_eq!(detail.publish.server_url, "rtmp://example.com:1935/live");
    assert!(detail.publish.stream_key.is_some(), "editors see the key");
    let seen_by_viewer = streams::group_detail(&state, viewer, id, None)
        .await
        .expect("viewer reads");
    assert_eq!(seen_by_viewer.publish.stream_key, None, "viewers do not");

    // Enabling a process at creation needs the live processing package.
    let mut with_processing = group(&[]);
    let mut inputs = ProcessKind::ALL.map(|k| ProcessConfig::default_for(k).to_input());
    inputs[0].enabled = true;
    with_processing.processing = vec![inputs];
    let refused = streams::create_group(&state, editor, &with_processing)
        .await
        .expect_err("no package");
    assert_eq!(refused, AppError::PackageRequired(Package::LiveProcessing));

    // Another organisation's group reads as not found.
    let others = testing::organisation(&state, "Other", &[]).await;
    let hidden = streams::group_detail(&state, &others[3], id, None)
        .await
        .expect_err("other org");
    assert!(matches!(hidden, AppError::NotFound(_)));
}

#[tokio::test]
async fn profiles_need_the_transcoding_package() {
    let (_dir, state, callers) = setup(&[]).await;
    let refused = streams::create_group(&state, &callers[1], &group(&["720p"]))
        .await
        .expect_err("no package");
    assert_eq!(refused, AppError::PackageRequired(Package::Transcoding));
    assert!(
        streams::create_group(&state, &callers[1], &group(&[]))
            .await
            .is_ok(),
        "a single stream needs no package"
    );
}

#[tokio::test]
async fn regenerating_a_key_revokes_the_old_one_and_needs_an_admin() {
    let (_dir, state, callers) = setup(&[]).await;
    let id = streams::create_group(&state, &callers[1], &group(&[]))
        .await
        .expect("create");
    let old = streams::group_detail(&state, &callers[1], id, None)
        .await
        .expect("d")
        .publish
        .stream_key
        .expect("key");
    assert!(matches!(
        streams::regenerate_key(&state, &callers[1], id).await,
        Err(AppError::Forbidden(_))
    ));
    let new = streams::regenerate_key(&state, &callers[2], id)
        .await
        .expect("admin regenerates");
    assert_ne!(old, new);
    let old_owner = repo::streams::find_key(&state.db, &old)
        .await
        .expect("q")
        .expect("known");
    assert!(old_owner.revoked);
    let new_owner = repo::streams::find_key(&state.db, &new)
        .await
        .expect("q")
        .expect("known");
    assert!(!new_owner.revoked);
    assert_eq!(new_owner.group_id, id);
    assert!(repo::streams::find_key(&state.db, "sk_unknown")
        .await
        .expect("q")
        .is_none());
}

#[tokio::test]
async fn settings_are_validated_versioned_and_audited() {
    let (_dir, state, callers) = setup(&[Package::LiveProcessing, Package::Transcoding]).await;
    let (viewer, editor, admin) = (&callers[0], &callers[1], &callers[2]);
    let id = streams::create_group(&state, editor, &group(&["720p"]))
        .await
        .expect("create");
    let before = processing::get(&state, viewer, id)
        .await
        .expect("viewers read");
    assert_eq!(before.len(), 2);
    let ingest = before[0].stream_id;
    let v = before[0]
        .get(ProcessKind::Thumbnail)
        .expect("thumbnail")
        .version;

    // Viewers may not change anything.
    let refused = processing::update(&state, viewer, id, &[thumbnail(ingest, v, 20)])
        .await
        .expect_err("viewer");
    assert!(matches!(refused, AppError::Forbidden(_)));

    // Out of range: refused naming field, value and range; nothing saved.
    let invalid = processing::update(&state, editor, id, &[thumbnail(ingest, v, 3601)])
        .await
        .expect_err("range");
    let e = &invalid.field_errors()[0];
    assert_eq!(
        (
            e.field.as_str(),
            e.value.as_str(),
            e.allowed.as_str(),
            e.stream_id
        ),
        ("thumbnail.interval", "3601", "10–3600 s", Some(ingest))
    );
    assert_eq!(invalid.status(), 422);
    assert_eq!(
        processing::get(&state, editor, id).await.expect("get"),
        before
    );

    // A valid change bumps the version and is recorded.
    let saved = processing::update(&state, editor, id, &[thumbnail(ingest, v, 20)])
        .await
        .expect("saves");
    assert_eq!(saved.changed, 1);
    assert_eq!(saved.apply, ApplyMode::NextIngest, "nothing is live");
    let after = saved.settings[0]
        .get(ProcessKind::Thumbnail)
        .expect("thumbnail");
    assert_eq!(
        (
            after.version,
            after.config.interval(),
            after.config.enabled()
        ),
        (v + 1, Some(20), true)
    );

    // A second editor still holding the old version is refused with the current values.
    let stale = processing::update(&state, admin, id, &[thumbnail(ingest, v, 30)])
        .await
        .expect_err("stale");
    match &stale {
        AppError::Conflict { current, .. } => {
            assert_eq!(
                current[0]
                    .get(ProcessKind::Thumbnail)
                    .expect("t")
                    .config
                    .interval(),
                Some(20)
            );
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
    assert_eq!(stale.status(), 409);

    let history = processing::history(&state, viewer, id)
        .await
        .expect("history");
    let fields: Vec<_> = history
        .iter()
        .map(|h| {
            (
                h.field.as_str(),
                h.old_value.as_str(),
                h.new_value.as_str(),
                h.changed_by.as_str(),
            )
        })
        .collect();
    assert!(
        fields.contains(&("enabled", "false", "true", editor.email.as_str())),
        "{fields:?}"
    );
    assert!(
        fields.contains(&("interval", "10", "20", editor.email.as_str())),
        "{fields:?}"
    );
    assert_eq!(history.len(), 2);

    // A stream of another group cannot be smuggled into this one.
    let other = streams::create_group(&state, editor, &group(&[]))
        .await
        .expect("create");
    let other_stream = processing::get(&state, editor, other).await.expect("get")[0].stream_id;
    let smuggled = processing::update(&state, editor, id, &[thumbnail(other_stream, 1, 20)])
        .await
        .expect_err("other group");
    assert!(matches!(smuggled, AppError::NotFound(_)));
}

#[tokio::test]
async fn recording_entire_stream_round_trips_through_the_database() {
    let (_dir, state, callers) = setup(&[Package::LiveProcessing]).await;
    let id = streams::create_group(&state, &callers[1], &group(&[]))
        .await
        .expect("create");
    let s = &processing::get(&state, &callers[1], id).await.expect("get")[0];
    let rec = s.get(ProcessKind::Recording).expect("recording");
    let change = ProcessChange {
        stream_id: s.stream_id,
        kind: ProcessKind::Recording,
        version: rec.version,
        input: ProcessInput {
            enabled: true,
            interval: None,
            duration: Some(SpanInput::Seconds(1)),
        },
    };
    processing::update(&state, &callers[1], id, &[change])
        .await
        .expect("1 s is the minimum");
    let s = &processing::get(&state, &callers[1], id).await.expect("get")[0];
    let rec = s.get(ProcessKind::Recording).expect("recording");
    let change = ProcessChange {
        stream_id: s.stream_id,
        kind: ProcessKind::Recording,
        version: rec.version,
        input: ProcessInput {
            enabled: true,
            interval: None,
            duration: Some(SpanInput::EntireStream),
        },
    };
    processing::update(&state, &callers[1], id, &[change])
        .await
        .expect("entire stream");
    let s = &processing::get(&state, &callers[1], id).await.expect("get")[0];
    assert_eq!(
        s.get(ProcessKind::Recording).expect("r").config.duration(),
        Some(app::domain::settings::Span::EntireStream)
    );
}

#[tokio::test]
async fn live_processing_services_refuse_without_the_package() {
    let (_dir, state, callers) = setup(&[]).await;
    let id = streams::create_group(&state, &callers[1], &group(&[]))
        .await
        .expect("create");
    assert_eq!(
        processing::get(&state, &callers[3], id).await,
        Err(AppError::PackageRequired(Package::LiveProcessing))
    );
    assert_eq!(
        processing::history(&state, &callers[3], id).await,
        Err(AppError::PackageRequired(Package::LiveProcessing))
    );
    let refused = processing::update(&state, &callers[3], id, &[thumbnail(1, 1, 20)]).await;
    assert_eq!(
        refused,
        Err(AppError::PackageRequired(Package::LiveProcessing))
    );
}

#[tokio::test]
async fn members_are_managed_by_admins_and_the_last_owner_stays() {
    let (_dir, state, callers) = setup(&[]).await;
    let (editor, admin, owner) = (&callers[1], &callers[2], &callers[3]);
    assert!(matches!(
        accounts::add_member(&state, editor, "x@acme.test", "", Role::Viewer).await,
        Err(AppError::Forbidden(_))
    ));
    let password = accounts::add_member(&state, admin, "new@acme.test", "New", Role::Editor)
        .await
        .expect("adds");
    let password = password.expect("a new account gets a generated password");
    assert!(
        accounts::log_in(&state, "new@acme.test", password, "1.1.1.1")
            .await
            .is_ok()
    );
    assert!(
        matches!(
            accounts::add_member(&state, admin, "boss@acme.test", "", Role::Owner).await,
            Err(AppError::Forbidden(_))
        ),
        "admins cannot make owners"
    );
    assert!(matches!(
        accounts::remove_member(&state, admin, owner.user_id).await,
        Err(AppError::Forbidden(_))
    ));
    let last_owner = accounts::remove_member(&state, owner, owner.user_id)
        .await
        .expect_err("last owner");
    assert!(matches!(last_owner, AppError::BadRequest(_)));
    let overview = accounts::overview(&state, &callers[0])
        .await
        .expect("viewers see the overview");
    assert_eq!(overview.members.len(), 5);
    assert_eq!(overview.members[0].role, Role::Owner);
}

#[tokio::test]
async fn concurrent_writers_wait_instead_of_failing() {
    let (_dir, state, callers) = setup(&[Package::LiveProcessing, Package::Transcoding]).await;
    let editor = Arc::new(callers[1].clone());
    let id = streams::create_group(&state, &editor, &group(&["1080p", "720p", "480p", "360p"]))
        .await
        .expect("create");
    let settings = processing::get(&state, &editor, id).await.expect("get");
    let mut tasks = Vec::new();
    // Every stream's thumbnail changed by its own task, and more groups created meanwhile.
    for s in settings {
        let (state, editor) = (state.clone(), editor.clone());
        let v = s.get(ProcessKind::Thumbnail).expect("t").version;
        tasks.push(tokio::spawn(async move {
            processing::update(&state, &editor, id, &[thumbnail(s.stream_id, v, 42)])
                .await
                .map(|_| ())
        }));
    }
    for _ in 0..8 {
        let (state, editor) = (state.clone(), editor.clone());
        tasks.push(tokio::spawn(async move {
            streams::create_group(&state, &editor, &group(&["720p"]))
                .await
                .map(|_| ())
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("no 'database is locked'");
    }
    let settings = processing::get(&state, &editor, id).await.expect("get");
    assert!(settings
        .iter()
        .all(|s| s.get(ProcessKind::Thumbnail).expect("t").config.interval() == Some(42)));
}
