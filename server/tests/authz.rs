//! Every server function over real HTTP, as anonymous, viewer, editor, admin and owner: who
//! may call it, who is refused (401/403), other organisations' data looking like not-found,
//! missing packages, and the same-origin check.

mod common;

use app::domain::packages::Package;
use app::domain::roles::Role;
use app::domain::settings::ProcessKind;
use app::domain::streams::NewStreamGroup;
use app::domain::AppError;
use app::ssr::services::{processing, streams};
use common::TestApp;
use serde_json::json;

/// What one call is expected to do for a role.
fn expect(role: Option<Role>, min: Option<Role>) -> u16 {
    match (role, min) {
        (None, Some(_)) => 401,
        (Some(r), Some(m)) if r < m => 403,
        _ => 200,
    }
}

fn group_json(name: &str) -> serde_json::Value {
    json!({ "group": { "name": name, "profiles": ["720p"], "processing": [] } })
}

#[tokio::test]
async fn every_server_function_checks_the_role() {
    let app = TestApp::start().await;
    let callers = app
        .organisation("Acme", &[Package::LiveProcessing, Package::Transcoding])
        .await;
    let owner = &callers[3];
    let state = &app.running.state;
    let group = streams::create_group(
        state,
        owner,
        &NewStreamGroup {
            name: "Stage".into(),
            profiles: vec!["720p".into()],
            processing: vec![],
        },
    )
    .await
    .expect("group");
    let mut clients = vec![(None, app.client())];
    for c in &callers {
        clients.push((Some(c.role), app.signed_in(&c.email).await));
    }

    for (role, client) in &clients {
        let who = format!("{role:?}");
        // Reads: any member.
        for (name, form) in [
            ("get_organisation", vec![]),
            ("list_stream_groups", vec![]),
            ("get_stream_group", vec![("id", group.to_string())]),
            ("get_processing", vec![("group_id", group.to_string())]),
            (
                "get_processing_overview",
                vec![("group_id", group.to_string())],
            ),
            ("processing_history", vec![("group_id", group.to_string())]),
        ] {
            let res = app.call_form(client, name, &form).await;
            assert_eq!(
                res.status().as_u16(),
                expect(*role, Some(Role::Viewer)),
                "{name} as {who}"
            );
        }

        // Admins and up: API keys and webhooks.
        let res = app.call_form(client, "get_integrations", &[]).await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Admin)),
            "get_integrations as {who}"
        );
        let res = app
            .call_form(
                client,
                "create_api_key",
                &[("name", "k".to_string()), ("role", "viewer".to_string())],
            )
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Admin)),
            "create_api_key as {who}"
        );
        let res = app
            .call_json(client, "create_webhook", json!({ "webhook": { "url": "http://127.0.0.1:9/hook", "events": ["clip.created"] } }))
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Admin)),
            "create_webhook as {who}"
        );

        // Editors and up: create and delete groups, change settings.
        let res = app
            .call_json(client, "create_stream_group", group_json("New"))
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Editor)),
            "create_stream_group as {who}"
        );
        let doomed = streams::create_group(
            state,
            owner,
            &NewStreamGroup {
                name: "Doomed".into(),
                profiles: vec![],
                processing: vec![],
            },
        )
        .await
        .expect("group");
        let res = app
            .call_form(client, "delete_stream_group", &[("id", doomed.to_string())])
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Editor)),
            "delete_stream_group as {who}"
        );

        let current = processing::get(state, owner, group)
            .await
            .expect("settings");
        let stream = &current[1];
        let t = stream.get(ProcessKind::Thumbnail).expect("thumbnail");
        let mut input = t.config.to_input();
        input.enabled = !input.enabled;
        let body = json!({ "group_id": group, "changes": [{ "stream_id": stream.stream_id, "kind": "thumbnail", "version": t.version, "input": input }] });
        let res = app.call_json(client, "update_processing", body).await;
        let status = res.status().as_u16();
        assert_eq!(
            status,
            expect(*role, Some(Role::Editor)),
            "update_processing as {who}"
        );
        if status == 403 {
            let err: AppError = res.json().await.expect("error body");
            assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
            let after = processing::get(state, owner, group)
                .await
                .expect("settings");
            assert_eq!(after, current, "a refused edit changes nothing");
        }

        // Admins and up: keys and members.
        let res = app
            .call_form(
                client,
                "regenerate_stream_key",
                &[("id", group.to_string())],
            )
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Admin)),
            "regenerate_stream_key as {who}"
        );
        let email = format!(
            "added-{}@acme.test",
            role.map(|r| r.key()).unwrap_or("anon")
        );
        let res = app
            .call_form(
                client,
                "invite_member",
                &[("email", email.clone()), ("role", "viewer".into())],
            )
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Admin)),
            "invite_member as {who}"
        );
        for (name, form) in [
            ("list_invitations", vec![]),
            (
                "set_member_role",
                vec![
                    ("user_id", callers[0].user_id.to_string()),
                    ("role", "viewer".to_string()),
                ],
            ),
        ] {
            let res = app.call_form(client, name, &form).await;
            assert_eq!(
                res.status().as_u16(),
                expect(*role, Some(Role::Admin)),
                "{name} as {who}"
            );
        }
        // A member to remove, made directly in the database.
        let target = {
            let mut tx = app::ssr::db::begin_write(&state.db).await.expect("tx");
            let id =
                app::ssr::repo::users::create(&mut tx, &email, "Added", "x", state.clock.now())
                    .await
                    .expect("user");
            app::ssr::repo::users::upsert_membership(
                &mut tx,
                owner.organisation_id,
                id,
                Role::Viewer,
                state.clock.now(),
            )
            .await
            .expect("member");
            tx.commit().await.expect("commit");
            id
        };
        let res = app
            .call_form(client, "remove_member", &[("user_id", target.to_string())])
            .await;
        assert_eq!(
            res.status().as_u16(),
            expect(*role, Some(Role::Admin)),
            "remove_member as {who}"
        );

        // Anyone: who am I, log out.
        let res = app.call_form(client, "current_session", &[]).await;
        assert_eq!(res.status().as_u16(), 200, "current_session as {who}");
        let session: serde_json::Value = res.json().await.expect("json");
        assert_eq!(
            session.is_null(),
            role.is_none(),
            "current_session as {who}"
        );
    }

    // Viewers never receive the stream key.
    let viewer = &clients[1].1;
    let detail: serde_json::Value = app
        .call_form(viewer, "get_stream_group", &[("id", group.to_string())])
        .await
        .json()
        .await
        .expect("json");
    assert!(detail["publish"]["stream_key"].is_null());
    let editor = &clients[2].1;
    let detail: serde_json::Value = app
        .call_form(editor, "get_stream_group", &[("id", group.to_string())])
        .await
        .json()
        .await
        .expect("json");
    assert!(detail["publish"]["stream_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("sk_")));

    // Logging out ends the session.
    let res = app.call_form(editor, "logout", &[]).await;
    assert!(res.status().is_success());
    assert_eq!(
        app.call_form(editor, "list_stream_groups", &[])
            .await
            .status()
            .as_u16(),
        401
    );
}

#[tokio::test]
async fn other_organisations_and_missing_packages() {
    let app = TestApp::start().await;
    let acme = app.organisation("Acme", &[Package::LiveProcessing]).await;
    let other = app.organisation("Other", &[]).await;
    let group = streams::create_group(
        &app.running.state,
        &acme[3],
        &NewStreamGroup {
            name: "Stage".into(),
            profiles: vec![],
            processing: vec![],
        },
    )
    .await
    .expect("group");
    let outsider = app.signed_in(&other[3].email).await;
    for name in [
        "get_stream_group",
        "delete_stream_group",
        "regenerate_stream_key",
    ] {
        let res = app
            .call_form(&outsider, name, &[("id", group.to_string())])
            .await;
        assert_eq!(
            res.status().as_u16(),
            404,
            "{name} on another organisation's group"
        );
    }
    // Their own group, without the live processing package: a clear refusal.
    let own = streams::create_group(
        &app.running.state,
        &other[3],
        &NewStreamGroup {
            name: "Mine".into(),
            profiles: vec![],
            processing: vec![],
        },
    )
    .await
    .expect("group");
    for name in [
        "get_processing",
        "get_processing_overview",
        "processing_history",
    ] {
        let res = app
            .call_form(&outsider, name, &[("group_id", own.to_string())])
            .await;
        assert_eq!(res.status().as_u16(), 403, "{name} without the package");
        let err: AppError = res.json().await.expect("error body");
        assert_eq!(err, AppError::PackageRequired(Package::LiveProcessing));
        assert!(err.to_string().contains("Upgrade needed"));
    }
    // Another organisation's group reads as not found, whatever the package.
    let acme_member = app.signed_in(&acme[0].email).await;
    let res = app
        .call_form(
            &acme_member,
            "get_processing_overview",
            &[("group_id", own.to_string())],
        )
        .await;
    assert_eq!(res.status().as_u16(), 404);
}

#[tokio::test]
async fn cross_site_requests_are_refused_and_cookies_are_http_only() {
    let app = TestApp::start().await;
    let callers = app.organisation("Acme", &[]).await;
    let client = app.client();
    let res = client
        .post(format!("{}/api/login", app.base))
        .form(&[
            ("email", callers[3].email.as_str()),
            ("password", "password123"),
        ])
        .send()
        .await
        .expect("login");
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    for (header, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let res = client
            .post(format!("{}/api/list_stream_groups", app.base))
            .header(header, value)
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 403, "{header}: {value}");
    }
    let host = app.base.trim_start_matches("http://").to_string();
    let res = client
        .post(format!("{}/api/list_stream_groups", app.base))
        .header("origin", format!("http://{host}"))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 200, "same origin passes");
}
