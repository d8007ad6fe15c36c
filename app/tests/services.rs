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
    let token = accounts::sign_up(&state, input.clone(), "10.0.0.1")
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
    let again = accounts::sign_up(&state, input, "10.0.0.1")
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
async fn login_answers_the_same_for_unknown_users_and_wrong_passwords_and_slows_per_address() {
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
    // An attacker's failures slow down that attacker's address for that account…
    for _ in 0..5 {
        let _ = accounts::log_in(&state, &owner.email, "nope".into(), "10.0.0.2").await;
    }
    let limited = accounts::log_in(&state, &owner.email, "password123".into(), "10.0.0.2").await;
    assert!(
        matches!(limited, Err(AppError::RateLimited { .. })),
        "{limited:?}"
    );
    // …but never lock the real user out from their own address.
    assert!(
        accounts::log_in(&state, &owner.email, "password123".into(), "10.0.0.3")
            .await
            .is_ok(),
        "the account is not locked"
    );
    // Garbage instead of an e-mail is a wrong login, and it still counts for the address.
    let junk = "x".repeat(100_000);
    assert_eq!(
        accounts::log_in(&state, &junk, "nope".into(), "10.0.0.4").await,
        Err(accounts::bad_credentials())
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
async fn members_are_invited_roles_change_and_the_last_owner_stays() {
    let (_dir, state, callers) = setup(&[]).await;
    let (viewer, editor, admin, owner) = (&callers[0], &callers[1], &callers[2], &callers[3]);
    assert!(matches!(
        accounts::invite_member(&state, editor, "x@acme.test", Role::Viewer).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(
        matches!(
            accounts::invite_member(&state, admin, "boss@acme.test", Role::Owner).await,
            Err(AppError::Forbidden(_))
        ),
        "admins cannot make owners"
    );
    let already = accounts::invite_member(&state, admin, &viewer.email, Role::Editor)
        .await
        .expect_err("already a member");
    assert_eq!(already.field_errors()[0].field, "email");
    // A new account chooses its own password when accepting.
    let inv = accounts::invite_member(&state, admin, "new@acme.test", Role::Editor)
        .await
        .expect("invites");
    let token = inv.path.trim_start_matches("/invite/").to_string();
    let info = accounts::invitation_info(&state, &token, "1.1.1.1")
        .await
        .expect("info");
    assert!(!info.account_exists);
    assert_eq!(info.role, Role::Editor);
    let session =
        accounts::accept_invitation(&state, &token, "New", "chosen by me!".into(), "1.1.1.1")
            .await
            .expect("accepts");
    let new = repo::sessions::find(&state.db, &tokens::hash_token(&session), state.clock.now())
        .await
        .expect("q")
        .expect("signed in");
    assert_eq!(
        (new.organisation_id, new.role),
        (admin.organisation_id, Role::Editor)
    );
    assert!(
        accounts::accept_invitation(&state, &token, "Again", "chosen by me!".into(), "1.1.1.1")
            .await
            .is_err(),
        "an invitation works once"
    );
    // Roles change through set_member_role, never leaving the organisation without an owner.
    accounts::set_member_role(&state, admin, new.user_id, Role::Viewer)
        .await
        .expect("admin demotes an editor");
    assert!(matches!(
        accounts::set_member_role(&state, admin, owner.user_id, Role::Viewer).await,
        Err(AppError::Forbidden(_))
    ));
    assert!(
        matches!(
            accounts::set_member_role(&state, owner, owner.user_id, Role::Viewer).await,
            Err(AppError::BadRequest(_))
        ),
        "the last owner cannot be demoted"
    );
    assert!(
        matches!(
            accounts::leave_organisation(&state, owner).await,
            Err(AppError::BadRequest(_))
        ),
        "the last owner cannot leave"
    );
    assert!(matches!(
        accounts::remove_member(&state, admin, owner.user_id).await,
        Err(AppError::Forbidden(_))
    ));
    let last_owner = accounts::remove_member(&state, owner, owner.user_id)
        .await
        .expect_err("last owner");
    assert!(matches!(last_owner, AppError::BadRequest(_)));
    let overview = accounts::overview(&state, viewer)
        .await
        .expect("viewers see the overview");
    assert_eq!(overview.members.len(), 5);
    assert_eq!(overview.members[0].role, Role::Owner);
    // Revoked invitations stop at once.
    let inv = accounts::invite_member(&state, admin, "later@acme.test", Role::Viewer)
        .await
        .expect("invites");
    accounts::revoke_invitation(&state, admin, inv.invitation.id)
        .await
        .expect("revokes");
    let token = inv.path.trim_start_matches("/invite/");
    assert!(matches!(
        accounts::invitation_info(&state, token, "1.1.1.1").await,
        Err(AppError::NotFound(_))
    ));
}

/// The takeover the security review found: an attacker who once invited (or created) an
/// address can no longer act as that account in another organisation.
#[tokio::test]
async fn an_account_cannot_be_taken_over_across_organisations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _) = testing::state(dir.path()).await;
    let evil = testing::organisation(&state, "Evil", &[]).await;
    let victim_org = testing::organisation(&state, "Victim", &[]).await;
    let (eve, victim_admin) = (&evil[3], &victim_org[3]);
    // Eve invites the victim's new hire to her organisation and accepts it herself.
    let inv = accounts::invite_member(&state, eve, "new.hire@victim.test", Role::Viewer)
        .await
        .expect("invites");
    let eve_token = inv.path.trim_start_matches("/invite/").to_string();
    accounts::accept_invitation(
        &state,
        &eve_token,
        "Squat",
        "eve's password!".into(),
        "6.6.6.6",
    )
    .await
    .expect("Eve squats the address");
    // The victim's admin invites the same address: no password is shown to anyone, and the
    // account does not join the victim's organisation until someone accepts that invitation.
    let victim_inv =
        accounts::invite_member(&state, victim_admin, "new.hire@victim.test", Role::Admin)
            .await
            .expect("invites");
    let hire = repo::users::find_by_email(&state.db, "new.hire@victim.test")
        .await
        .expect("q")
        .expect("the squatted account");
    assert_eq!(
        repo::users::role_in(&state.db, victim_admin.organisation_id, hire.id)
            .await
            .expect("q"),
        None,
        "inviting an existing account does not add it"
    );
    // Eve, who knows the password but not the victim's link, lands only in her own
    // organisation when she logs in.
    let s = accounts::log_in(
        &state,
        "new.hire@victim.test",
        "eve's password!".into(),
        "6.6.6.6",
    )
    .await
    .expect("logs in");
    let caller = repo::sessions::find(&state.db, &tokens::hash_token(&s), state.clock.now())
        .await
        .expect("q")
        .expect("session");
    assert_eq!(caller.organisation_id, eve.organisation_id);
    assert!(
        accounts::switch_organisation(&state, &s, victim_admin.organisation_id)
            .await
            .is_err(),
        "she cannot switch into an organisation the account is not a member of"
    );
    // Whoever holds the victim's link still needs the account's password to accept.
    let link = victim_inv.path.trim_start_matches("/invite/").to_string();
    assert!(
        accounts::invitation_info(&state, &link, "2.2.2.2")
            .await
            .expect("info")
            .account_exists
    );
    assert_eq!(
        accounts::accept_invitation(&state, &link, "", "a guess at it".into(), "2.2.2.2").await,
        Err(accounts::bad_credentials())
    );
}

#[tokio::test]
async fn passwords_change_sessions_end_and_the_operator_can_reset() {
    let (_dir, state, callers) = setup(&[]).await;
    let owner = &callers[3];
    let a = accounts::log_in(&state, &owner.email, "password123".into(), "10.0.0.1")
        .await
        .expect("a");
    let b = accounts::log_in(&state, &owner.email, "password123".into(), "10.0.0.1")
        .await
        .expect("b");
    let wrong = accounts::change_password(
        &state,
        owner,
        &a,
        "not it at all".into(),
        "a new one here".into(),
        "10.0.0.1",
    )
    .await
    .expect_err("the current password is checked");
    assert_eq!(wrong.field_errors()[0].field, "current_password");
    let ended = accounts::change_password(
        &state,
        owner,
        &a,
        "password123".into(),
        "a new one here".into(),
        "10.0.0.1",
    )
    .await
    .expect("changes");
    assert_eq!(ended, 1, "the other session ended");
    let find = |t: String| {
        let state = state.clone();
        async move {
            repo::sessions::find(&state.db, &tokens::hash_token(&t), state.clock.now())
                .await
                .expect("q")
        }
    };
    assert!(find(a.clone()).await.is_some(), "this session stays");
    assert!(find(b).await.is_none());
    assert!(
        accounts::log_in(&state, &owner.email, "a new one here".into(), "10.0.0.1")
            .await
            .is_ok()
    );
    // The operator's reset: a new password, every session ended.
    let password = accounts::reset_password(&state, &owner.email)
        .await
        .expect("resets");
    assert!(find(a).await.is_none());
    assert!(accounts::log_in(&state, &owner.email, password, "10.0.0.1")
        .await
        .is_ok());
}

#[tokio::test]
async fn a_user_in_two_organisations_picks_one_and_api_keys_follow_their_maker() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (state, _) = testing::state(dir.path()).await;
    let acme = testing::organisation(&state, "Acme", &[]).await;
    let other = testing::organisation(&state, "Other", &[]).await;
    // Acme's admin joins Other by accepting an invitation with their own password.
    let inv = accounts::invite_member(&state, &other[3], &acme[2].email, Role::Editor)
        .await
        .expect("invites");
    let token = inv.path.trim_start_matches("/invite/").to_string();
    let s = accounts::accept_invitation(&state, &token, "", "password123".into(), "10.0.0.1")
        .await
        .expect("accepts with the account's password");
    let memberships = accounts::memberships(&state, &acme[2]).await.expect("list");
    assert_eq!(memberships.len(), 2);
    accounts::switch_organisation(&state, &s, acme[2].organisation_id)
        .await
        .expect("switches");
    let caller = repo::sessions::find(&state.db, &tokens::hash_token(&s), state.clock.now())
        .await
        .expect("q")
        .expect("session");
    assert_eq!(
        (caller.organisation_id, caller.role),
        (acme[2].organisation_id, Role::Admin)
    );
    // An admin key made by Acme's admin acts as an admin…
    let key = app::ssr::services::integrations::create_key(&state, &acme[2], "ci", Role::Admin)
        .await
        .expect("key");
    let as_key = app::ssr::services::integrations::authenticate(&state, &key.secret)
        .await
        .expect("works");
    assert_eq!(as_key.role, Role::Admin);
    // …as a viewer once its maker is demoted…
    accounts::set_member_role(&state, &acme[3], acme[2].user_id, Role::Viewer)
        .await
        .expect("demotes");
    let as_key = app::ssr::services::integrations::authenticate(&state, &key.secret)
        .await
        .expect("still works");
    assert_eq!(as_key.role, Role::Viewer);
    // …and not at all once they are removed.
    accounts::remove_member(&state, &acme[3], acme[2].user_id)
        .await
        .expect("removes");
    assert_eq!(
        app::ssr::services::integrations::authenticate(&state, &key.secret).await,
        Err(AppError::Unauthenticated)
    );
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

/// Public media keeps a token's stream for a moment (`ssr::lookups`): switched off on the
/// node that answers, a token stops at once; on another node sharing the database (a second
/// state with its own kept lookups), within the time to live and not later.
#[tokio::test]
async fn a_public_token_switched_off_stops_at_once_here_and_within_its_time_to_live_elsewhere() {
    use app::ssr::lookups::{Lookups, DEFAULT_TTL};
    use app::ssr::services::delivery;
    use std::time::{Duration, Instant};

    let (_dir, here, callers) = setup(&Package::ALL).await;
    let editor = &callers[1];
    let elsewhere = AppState {
        lookups: Arc::new(Lookups::default()),
        ..here.clone()
    };
    let group_id = streams::create_group(&here, &callers[3], &group(&[]))
        .await
        .expect("group");
    let stream = repo::streams::streams_of(&here.db, group_id)
        .await
        .expect("streams")[0]
        .id;
    let on = delivery::set_public(&here, editor, stream, true)
        .await
        .expect("on");
    let token = on
        .urls()
        .expect("urls")
        .thumbnail_url
        .split('/')
        .nth_back(1)
        .expect("token")
        .to_string();
    let find = |state: &AppState, client: &'static str| {
        let (state, token) = (state.clone(), token.clone());
        async move {
            delivery::find_public(&state, &token, client)
                .await
                .expect("asks")
        }
    };
    for state in [&here, &elsewhere] {
        assert_eq!(find(state, "10.0.0.9").await, Some(stream));
    }
    let off = Instant::now();
    delivery::set_public(&here, editor, stream, false)
        .await
        .expect("off");
    assert_eq!(
        find(&here, "10.0.0.9").await,
        None,
        "the node that switched it off forgets the token at once"
    );
    // The other node still believes its kept answer, but not past the time to live.
    let kept = find(&elsewhere, "10.0.0.10").await;
    assert!(
        kept == Some(stream) || off.elapsed() >= DEFAULT_TTL,
        "the other node answers from what it kept"
    );
    while find(&elsewhere, "10.0.0.10").await.is_some() {
        assert!(
            off.elapsed() < DEFAULT_TTL,
            "still open {:?} after it was switched off",
            off.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(off.elapsed() < DEFAULT_TTL + Duration::from_millis(500));
    // With no time to live, nothing is kept.
    let asking = AppState {
        lookups: Arc::new(Lookups::new(Duration::ZERO)),
        ..here.clone()
    };
    delivery::set_public(&here, editor, stream, true)
        .await
        .expect("on again");
    assert_eq!(find(&asking, "10.0.0.11").await, Some(stream));
    assert!(asking.lookups.tokens.is_empty());
}
