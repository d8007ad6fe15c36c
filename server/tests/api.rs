//! The REST API over real HTTP against the real server: every route's success, its
//! validation boundaries, no key, a revoked key, a wrong role, another organisation's ids
//! (not found) and a missing package; then sessions, assets and clips of a real published
//! stream; then webhooks delivered to a real local receiver, signed, and retried.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use app::domain::integrations::{DeliveryStatus, EventKind, NewWebhook};
use app::domain::packages::Package;
use app::domain::roles::Role;
use app::domain::settings::SpanInput;
use app::ssr::auth::Caller;
use app::ssr::repo;
use app::ssr::services::integrations;
use common::{wait_for, Processes, TestApp, TestPublisher};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    fn new(app: &TestApp) -> Self {
        Self {
            base: format!("{}/api/v1", app.base),
            http: reqwest::Client::new(),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let text = res.text().await.expect("body");
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, json, headers)
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        let (s, v, _) = self
            .call(reqwest::Method::GET, path, Some(key), None, &[])
            .await;
        (s, v)
    }
    async fn send(&self, method: &str, path: &str, key: &str, body: Value) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let (s, v, _) = self.call(m, path, Some(key), Some(body), &[]).await;
        (s, v)
    }
}

/// Keys of every role for an organisation, weakest first.
async fn keys(app: &TestApp, callers: &[Caller]) -> Vec<String> {
    let owner = &callers[3];
    let mut out = Vec::new();
    for role in Role::ALL {
        let made =
            integrations::create_key(&app.running.state, owner, &format!("{role} key"), role)
                .await
                .expect("key");
        out.push(made.secret);
    }
    out
}

fn field(v: &Value) -> (&str, &str, &str) {
    let f = &v["error"]["fields"][0];
    (
        f["field"].as_str().unwrap_or(""),
        f["value"].as_str().unwrap_or(""),
        f["allowed"].as_str().unwrap_or(""),
    )
}

/// A server with three organisations and their keys: Acme (every package, a key per role),
/// Other (every package) and Basic (no live processing).
struct Fixture {
    app: TestApp,
    api: Api,
    acme: Vec<Caller>,
    viewer: String,
    editor: String,
    admin: String,
    owner: String,
    other_key: String,
    basic_key: String,
}

async fn fixture() -> Fixture {
    let app = TestApp::start().await;
    let api = Api::new(&app);
    let acme = app.organisation("Acme", &Package::ALL).await;
    let [viewer, editor, admin, owner] =
        <[String; 4]>::try_from(keys(&app, &acme).await).expect("four");
    let other = app.organisation("Other", &Package::ALL).await;
    let other_key = keys(&app, &other).await.remove(3);
    let basic = app.organisation("Basic", &[Package::Transcoding]).await;
    let basic_key = keys(&app, &basic).await.remove(3);
    Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    }
}

/// The new group's body: a 720p profile, thumbnails every 15 s, recording and a 10 min
/// replay on the ingest.
fn new_group() -> Value {
    let off = json!({ "enabled": false, "interval": 10, "duration": null });
    json!({
        "name": "Main stage",
        "profiles": ["720p"],
        "processing": [
            [ { "enabled": true, "interval": 15, "duration": null }, { "enabled": false, "interval": 30, "duration": { "seconds": 3 } }, { "enabled": true, "interval": null, "duration": "entire_stream" }, { "enabled": true, "interval": null, "duration": { "seconds": 600 } } ],
            [ off, { "enabled": false, "interval": 30, "duration": { "seconds": 3 } }, { "enabled": false, "interval": null, "duration": "entire_stream" }, { "enabled": false, "interval": null, "duration": { "seconds": 600 } } ]
        ]
    })
}

/// Creates [`new_group`] as the editor; returns (group, ingest stream, profile stream).
async fn made_group(f: &Fixture) -> (i64, i64, i64) {
    let (s, group) = f
        .api
        .send("POST", "/stream-groups", &f.editor, new_group())
        .await;
    assert_eq!(s, 201, "{group}");
    (
        group["id"].as_i64().expect("id"),
        group["streams"][0]["id"].as_i64().expect("ingest"),
        group["streams"][1]["id"].as_i64().expect("profile"),
    )
}

/// No key, a malformed or unknown one, a revoked one: 401; keys record their last use.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_checked_and_revoked_at_once() {
    let fixture_ref = fixture().await;
    let Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    } = &fixture_ref;
    let _ = (
        app, api, acme, admin, owner, other_key, basic_key, viewer, editor,
    );
    // No key, a malformed one, an unknown one: 401 with a JSON body.
    let (s, v, h) = api
        .call(reqwest::Method::GET, "/stream-groups", None, None, &[])
        .await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "unauthenticated");
    assert!(h.contains_key("www-authenticate"));
    assert_eq!(api.get("/stream-groups", "nonsense").await.0, 401);
    assert_eq!(
        api.get("/stream-groups", &format!("lpk_{}", "A".repeat(43)))
            .await
            .0,
        401
    );

    // Revoked keys stop at once; keys remember their last use.
    assert_eq!(api.get("/stream-groups", viewer).await.0, 200);
    let state = &app.running.state;
    let listed = integrations::overview(state, &acme[3]).await.expect("keys");
    let viewer_key = listed
        .api_keys
        .iter()
        .find(|k| k.role == Role::Viewer)
        .expect("viewer key");
    assert!(viewer_key.last_used_at.is_some());
    integrations::revoke_key(state, &acme[3], viewer_key.id)
        .await
        .expect("revoke");
    assert_eq!(api.get("/stream-groups", viewer).await.0, 401);
    let err = integrations::create_key(state, &acme[2], "too strong", Role::Owner)
        .await
        .expect_err("an admin cannot make an owner key");
    assert!(matches!(err, app::domain::AppError::Forbidden(_)));

    fixture_ref.app.running.stop().await.expect("stops");
}

/// Groups: create, read, rename, regenerate the key, delete, each with its role.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_groups_follow_roles_and_ranges() {
    let fixture_ref = fixture().await;
    let Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    } = &fixture_ref;
    let _ = (
        app, api, acme, admin, owner, other_key, basic_key, viewer, editor,
    );
    // Create a group with a profile and settings: viewers may not, editors may.
    let new_group = new_group();
    let (s, v) = api
        .send("POST", "/stream-groups", viewer, new_group.clone())
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("forbidden")));
    let (s, group) = api
        .send("POST", "/stream-groups", editor, new_group.clone())
        .await;
    assert_eq!(s, 201, "{group}");
    let gid = group["id"].as_i64().expect("id");
    let profile = group["streams"][1]["id"].as_i64().expect("profile");
    assert_eq!(group["streams"][1]["quality"], "720p");
    assert!(group["publish"]["stream_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("sk_")));
    let (s, v) = api.get(&format!("/stream-groups/{gid}"), viewer).await;
    assert_eq!(s, 200);
    assert!(
        v["publish"]["stream_key"].is_null(),
        "viewers do not see keys"
    );
    let (s, list) = api.get("/stream-groups", viewer).await;
    assert_eq!((s, list.as_array().map(Vec::len)), (200, Some(1)));
    let (s, v) = api.get(&format!("/streams/{profile}"), viewer).await;
    assert_eq!((s, v["name"].as_str()), (200, Some("Main stage 720p")));

    // A bad body is a 400 with a JSON error, not plain text.
    let (s, v, _) = api
        .call(
            reqwest::Method::POST,
            "/stream-groups",
            Some(editor),
            None,
            &[("content-type", "application/json")],
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_request")));
    let (s, v) = api
        .send("POST", "/stream-groups", editor, json!({ "name": 5 }))
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("bad_request")));
    let (s, _) = api.get("/stream-groups/abc", editor).await;
    assert_eq!(s, 400);

    // Rename: the name's range, the role.
    let (s, v) = api
        .send(
            "PATCH",
            &format!("/stream-groups/{gid}"),
            editor,
            json!({ "name": "  " }),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(field(&v).0, "name");
    assert_eq!(
        api.send(
            "PATCH",
            &format!("/stream-groups/{gid}"),
            viewer,
            json!({ "name": "X" })
        )
        .await
        .0,
        403
    );
    let (s, v) = api
        .send(
            "PATCH",
            &format!("/stream-groups/{gid}"),
            editor,
            json!({ "name": "Arena" }),
        )
        .await;
    assert_eq!(
        (s, v["streams"][1]["name"].as_str()),
        (200, Some("Arena 720p"))
    );

    // Regenerating the publish key needs an admin.
    assert_eq!(
        api.send(
            "POST",
            &format!("/stream-groups/{gid}/key"),
            editor,
            json!({})
        )
        .await
        .0,
        403
    );
    let (s, v) = api
        .send(
            "POST",
            &format!("/stream-groups/{gid}/key"),
            admin,
            json!({}),
        )
        .await;
    assert_eq!(s, 200);
    assert!(v["stream_key"]
        .as_str()
        .is_some_and(|k| k.starts_with("sk_")));

    // Delete: editors may; then it is gone.
    let (s, _, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/stream-groups/{gid}"),
            Some(editor),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 204);
    assert_eq!(
        api.get(&format!("/stream-groups/{gid}"), owner).await.0,
        404
    );

    fixture_ref.app.running.stop().await.expect("stops");
}

/// Settings: every range boundary named, versions and ETags, PATCH, sync, job states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processing_settings_check_every_range_version_and_role() {
    let fixture_ref = fixture().await;
    let Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    } = &fixture_ref;
    let _ = (
        app, api, acme, admin, owner, other_key, basic_key, viewer, editor,
    );
    let (gid, ingest, profile) = made_group(&fixture_ref).await;
    let _ = (gid, ingest, profile);
    // Settings: read with versions and an ETag.
    let (s, all) = api
        .get(&format!("/streams/{ingest}/processing"), viewer)
        .await;
    assert_eq!(s, 200);
    assert_eq!(all["processes"].as_array().map(Vec::len), Some(4));
    let (s, v, h) = api
        .call(
            reqwest::Method::GET,
            &format!("/streams/{ingest}/processing/thumbnail"),
            Some(viewer),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["config"]["interval"], 15);
    let version = v["version"].as_i64().expect("version");
    assert_eq!(
        h["etag"].to_str().ok(),
        Some(format!("\"{version}\"").as_str())
    );

    // Every boundary of the seeds' ranges, with the field, value and range named.
    let put = |process: &str, body: Value| {
        let path = format!("/streams/{ingest}/processing/{process}");
        let api = &api;
        let editor = editor.clone();
        async move { api.send("PUT", &path, &editor, body).await }
    };
    for (interval, ok) in [(9, false), (10, true), (3600, true), (3601, false)] {
        let (s, v) = put(
            "thumbnail",
            json!({ "enabled": true, "interval": interval, "duration": null }),
        )
        .await;
        if ok {
            assert_eq!(s, 200, "interval {interval}: {v}");
            assert_eq!(v["settings"]["config"]["interval"], interval);
            assert_eq!(v["apply"], "next_ingest");
        } else {
            assert_eq!(s, 422, "interval {interval}");
            assert_eq!(v["error"]["code"], "validation_failed");
            assert_eq!(
                field(&v),
                (
                    "thumbnail.interval",
                    interval.to_string().as_str(),
                    "10–3600 s"
                )
            );
        }
    }
    for (duration, ok) in [(0, false), (1, true), (60, true), (61, false)] {
        let (s, v) = put(
            "motion_clip",
            json!({ "enabled": true, "interval": 10, "duration": { "seconds": duration } }),
        )
        .await;
        assert_eq!(s == 200, ok, "clip duration {duration}: {v}");
        if !ok {
            assert_eq!(
                field(&v),
                (
                    "motion_clip.duration",
                    duration.to_string().as_str(),
                    "1–60 s"
                )
            );
        }
    }
    let (s, v) = put(
        "motion_clip",
        json!({ "enabled": true, "interval": 9, "duration": { "seconds": 3 } }),
    )
    .await;
    assert_eq!((s, field(&v).0), (422, "motion_clip.interval"));
    for (duration, ok) in [
        (json!({ "seconds": 0 }), false),
        (json!({ "seconds": 1 }), true),
        (json!({ "seconds": 86400 }), true),
        (json!({ "seconds": 86401 }), false),
        (json!("entire_stream"), true),
    ] {
        for process in ["recording", "replay"] {
            let (s, v) = put(
                process,
                json!({ "enabled": true, "interval": null, "duration": duration.clone() }),
            )
            .await;
            assert_eq!(s == 200, ok, "{process} {duration}: {v}");
            if !ok {
                assert_eq!(field(&v).0, format!("{process}.duration"));
            }
        }
    }
    let (s, v) = put(
        "motion_clip",
        json!({ "enabled": true, "interval": 10, "duration": "entire_stream" }),
    )
    .await;
    assert_eq!((s, field(&v).1), (422, "entire stream"));

    // Optimistic concurrency: a stale If-Match or version is refused with the current values.
    let (_, v) = api
        .get(&format!("/streams/{ingest}/processing/thumbnail"), viewer)
        .await;
    let current = v["version"].as_i64().expect("version");
    let path = format!("/streams/{ingest}/processing/thumbnail");
    let body = json!({ "enabled": true, "interval": 20, "duration": null });
    let stale = format!("\"{}\"", current - 1);
    let (s, v, _) = api
        .call(
            reqwest::Method::PUT,
            &path,
            Some(editor),
            Some(body.clone()),
            &[("if-match", stale.as_str())],
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")));
    assert!(v["error"]["current"]
        .as_array()
        .is_some_and(|c| !c.is_empty()));
    let (s, _) = api
        .send(
            "PUT",
            &format!("{path}?version={}", current - 1),
            editor,
            body.clone(),
        )
        .await;
    assert_eq!(s, 409);
    let fresh = format!("\"{current}\"");
    let (s, v, h) = api
        .call(
            reqwest::Method::PUT,
            &path,
            Some(editor),
            Some(body),
            &[("if-match", fresh.as_str())],
        )
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        h["etag"].to_str().ok(),
        Some(format!("\"{}\"", current + 1).as_str())
    );

    // PATCH changes only what it names; viewers may not.
    let (s, v) = api
        .send("PATCH", &path, editor, json!({ "interval": 30 }))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (
            v["settings"]["config"]["interval"].as_i64(),
            v["settings"]["config"]["enabled"].as_bool()
        ),
        (Some(30), Some(true))
    );
    assert_eq!(
        api.send("PATCH", &path, viewer, json!({ "interval": 40 }))
            .await
            .0,
        403
    );
    let (s, v) = api
        .send("PATCH", &path, editor, json!({ "interval": 3601 }))
        .await;
    assert_eq!((s, field(&v).0), (422, "thumbnail.interval"));

    // Sync across profiles.
    let (s, v) = api
        .send(
            "POST",
            &format!("/stream-groups/{gid}/processing/sync"),
            editor,
            json!({ "from_stream_id": ingest, "processes": ["thumbnail"] }),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (_, v) = api
        .get(&format!("/streams/{profile}/processing/thumbnail"), viewer)
        .await;
    assert_eq!(
        (
            v["config"]["interval"].as_i64(),
            v["config"]["enabled"].as_bool()
        ),
        (Some(30), Some(true))
    );

    // Job states.
    let (s, v) = api.get(&format!("/streams/{ingest}/jobs"), viewer).await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(4)));
    assert_eq!(v[0]["state"]["state"], "idle");

    fixture_ref.app.running.stop().await.expect("stops");
}

/// Sessions, assets and clips of a group that never went live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalog_answers_empty_and_checks_paging() {
    let fixture_ref = fixture().await;
    let Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    } = &fixture_ref;
    let _ = (
        app, api, acme, admin, owner, other_key, basic_key, viewer, editor,
    );
    let (gid, ingest, profile) = made_group(&fixture_ref).await;
    let _ = (gid, ingest, profile);
    // Sessions, assets, clips: empty but answered; paging is checked.
    let (s, v) = api.get(&format!("/sessions?group_id={gid}"), viewer).await;
    assert_eq!((s, v["items"].as_array().map(Vec::len)), (200, Some(0)));
    let (s, v) = api.get("/assets?limit=0", viewer).await;
    assert_eq!((s, field(&v).0), (422, "limit"));
    let (s, v) = api.get("/assets?cursor=zzz", viewer).await;
    assert_eq!((s, field(&v).0), (422, "cursor"));
    assert_eq!(api.get("/assets?kind=nonsense", viewer).await.0, 400);
    let (s, v) = api.get(&format!("/clips?stream_id={ingest}"), viewer).await;
    assert_eq!((s, v.as_array().map(Vec::len)), (200, Some(0)));
    assert_eq!(
        api.get(&format!("/streams/{ingest}/thumbnail.jpg"), viewer)
            .await
            .0,
        404
    );

    fixture_ref.app.running.stop().await.expect("stops");
}

/// Another organisation's ids are not found; without the package a clear 403.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_organisations_and_missing_packages_get_nothing() {
    let fixture_ref = fixture().await;
    let Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    } = &fixture_ref;
    let _ = (
        app, api, acme, admin, owner, other_key, basic_key, viewer, editor,
    );
    let (gid, ingest, profile) = made_group(&fixture_ref).await;
    let _ = (gid, ingest, profile);
    // Another organisation's ids read as not found, for reads and writes alike.
    let path = format!("/streams/{ingest}/processing/thumbnail");
    for path in [
        format!("/stream-groups/{gid}"),
        format!("/streams/{ingest}"),
        format!("/streams/{ingest}/processing"),
        format!("/streams/{ingest}/jobs"),
        format!("/clips?stream_id={ingest}"),
    ] {
        let (s, v) = api.get(&path, other_key).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{path}"
        );
    }
    assert_eq!(
        api.send(
            "PUT",
            &path,
            other_key,
            json!({ "enabled": false, "interval": 10, "duration": null })
        )
        .await
        .0,
        404
    );
    assert_eq!(
        api.send(
            "PATCH",
            &format!("/stream-groups/{gid}"),
            other_key,
            json!({ "name": "Mine" })
        )
        .await
        .0,
        404
    );
    let (s, v, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/stream-groups/{gid}"),
            Some(other_key),
            None,
            &[],
        )
        .await;
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("not_found")));

    // Without the live processing package: a clear 403 that says so.
    let (_, basic_group) = api
        .send(
            "POST",
            "/stream-groups",
            basic_key,
            json!({ "name": "Basic", "profiles": [], "processing": [] }),
        )
        .await;
    let basic_stream = basic_group["streams"][0]["id"].as_i64().expect("stream");
    for path in [
        format!("/streams/{basic_stream}/processing"),
        "/sessions".to_string(),
        "/assets".to_string(),
        format!("/streams/{basic_stream}/jobs"),
    ] {
        let (s, v) = api.get(&path, basic_key).await;
        assert_eq!(
            (s, v["error"]["code"].as_str()),
            (403, Some("package_required")),
            "{path}"
        );
        assert!(
            v["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("Upgrade needed")),
            "{v}"
        );
    }

    fixture_ref.app.running.stop().await.expect("stops");
}

/// The OpenAPI document and the reference page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_route() {
    let fixture_ref = fixture().await;
    let Fixture {
        app,
        api,
        acme,
        viewer,
        editor,
        admin,
        owner,
        other_key,
        basic_key,
    } = &fixture_ref;
    let _ = (
        app, api, acme, admin, owner, other_key, basic_key, viewer, editor,
    );
    // The document and the reference page are served, with every route in them.
    let doc: Value = reqwest::get(format!("{}/api/v1/openapi.json", app.base))
        .await
        .expect("doc")
        .json()
        .await
        .expect("json");
    assert!(doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")));
    let paths = doc["paths"].as_object().expect("paths");
    for p in [
        "/api/v1/stream-groups",
        "/api/v1/streams/{stream_id}/processing/{process}",
        "/api/v1/stream-groups/{group_id}/processing/sync",
        "/api/v1/sessions",
        "/api/v1/assets",
        "/api/v1/clips",
        "/api/v1/share-links/{link_id}/revoke",
        "/api/v1/streams/{stream_id}/jobs",
    ] {
        assert!(paths.contains_key(p), "{p} is documented");
    }
    let page = reqwest::get(format!("{}/api/docs/", app.base))
        .await
        .expect("docs");
    assert_eq!(page.status().as_u16(), 200);
    assert!(
        !page.text().await.expect("html").contains("cdn."),
        "no assets from elsewhere"
    );
    fixture_ref.app.running.stop().await.expect("stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_assets_and_clips_of_a_real_stream() {
    let app = TestApp::start().await;
    let api = Api::new(&app);
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                replay: Some(SpanInput::EntireStream),
                ..Processes::none()
            },
        )
        .await;
    let key = integrations::create_key(&app.running.state, &g.owner, "ci", Role::Editor)
        .await
        .expect("key")
        .secret;
    let stream = g.streams[0];
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 14, "640x360");
    wait_for("a live session", Duration::from_secs(15), || async {
        let (_, v) = api.get(&format!("/sessions?group_id={}", g.id), &key).await;
        v["items"].as_array().filter(|i| !i.is_empty()).map(|_| ())
    })
    .await;

    // A clip while live, from the replay: instant, with a share link.
    let replay = wait_for("the replay asset", Duration::from_secs(15), || async {
        let (_, v) = api
            .get(&format!("/assets?stream_id={stream}&kind=replay"), &key)
            .await;
        v["items"][0]["id"].as_i64()
    })
    .await;
    // A span inside the buffer, read from the replay playlist itself (not the wall clock).
    let row = repo::assets::get(&app.running.state.db, replay)
        .await
        .expect("row")
        .expect("replay");
    let entries = wait_for("5 s of replay", Duration::from_secs(15), || async {
        let text = std::fs::read_to_string(app.dir.path().join(&row.path)).ok()?;
        let entries = server::media::m3u8::parse_replay(&text);
        (entries.len() >= 5).then_some(entries)
    })
    .await;
    let now = entries[4].program_date_time;
    let (s, clip) = api
        .send("POST", "/clips", &key, json!({ "replay_id": replay, "title": "API clip", "from": entries[1].program_date_time, "to": now, "expiry": "day" }))
        .await;
    assert_eq!(s, 201, "{clip}");
    assert!(clip["share"]["path"]
        .as_str()
        .is_some_and(|p| p.starts_with("/s/")));
    let (s, v) = api
        .send(
            "POST",
            "/clips",
            &key,
            json!({ "replay_id": replay, "title": "", "from": now, "to": now }),
        )
        .await;
    assert_eq!(s, 400, "expiry is required: {v}");
    let (s, v) = api
        .send(
            "POST",
            "/clips",
            &key,
            json!({ "replay_id": replay, "title": "", "from": now, "to": now, "expiry": "never" }),
        )
        .await;
    assert_eq!(s, 422);
    let fields: Vec<&str> = v["error"]["fields"]
        .as_array()
        .expect("fields")
        .iter()
        .filter_map(|f| f["field"].as_str())
        .collect();
    assert_eq!(fields, ["title", "span"]);
    assert!(publisher.finish().await);

    // Sessions and assets with filters and cursors: the session has ended by now.
    wait_for("the session to end", Duration::from_secs(30), || async {
        let (_, v) = api.get(&format!("/sessions?group_id={}", g.id), &key).await;
        v["items"][0]["ended_at"].as_str().map(|_| ())
    })
    .await;
    let (s, first) = api
        .get(
            &format!("/assets?stream_id={stream}&kind=thumbnail&limit=1"),
            &key,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1));
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let (_, second) = api
        .get(
            &format!("/assets?stream_id={stream}&kind=thumbnail&limit=1&cursor={cursor}"),
            &key,
        )
        .await;
    assert_ne!(first["items"][0]["id"], second["items"][0]["id"]);
    let thumb = first["items"][0]["id"].as_i64().expect("id");
    let file = reqwest::Client::new()
        .get(format!("{}/api/v1/assets/{thumb}/file", app.base))
        .bearer_auth(&key)
        .send()
        .await
        .expect("file");
    assert_eq!(file.status().as_u16(), 200);
    let format = first["items"][0]["format"].as_str().expect("format");
    assert_eq!(
        file.headers()["content-type"].to_str().ok(),
        Some(format!("image/{format}").as_str())
    );
    let latest = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/streams/{stream}/thumbnail.jpg",
            app.base
        ))
        .bearer_auth(&key)
        .send()
        .await
        .expect("latest");
    assert_eq!(
        (
            latest.status().as_u16(),
            latest.headers()["content-type"].to_str().ok()
        ),
        (200, Some("image/jpeg"))
    );
    let far = (chrono::Utc::now() + chrono::Duration::days(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (_, none) = api
        .get(&format!("/assets?stream_id={stream}&from={far}"), &key)
        .await;
    assert_eq!(none["items"].as_array().map(Vec::len), Some(0));

    // Clips: listed, link revoked, deleted.
    let (_, list) = api.get(&format!("/clips?stream_id={stream}"), &key).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1));
    let link = clip["share"]["id"].as_i64().expect("link");
    let (s, _, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/share-links/{link}/revoke"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 204);
    let (s, _, _) = api
        .call(
            reqwest::Method::POST,
            &format!("/share-links/{link}/revoke"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 404, "already revoked");
    let clip_id = clip["id"].as_i64().expect("clip");
    let (s, _, _) = api
        .call(
            reqwest::Method::DELETE,
            &format!("/clips/{clip_id}"),
            Some(&key),
            None,
            &[],
        )
        .await;
    assert_eq!(s, 204);
    app.running.stop().await.expect("stops");
}

/// What the local receiver saw.
#[derive(Default)]
struct Received {
    calls: Vec<(axum::http::HeaderMap, String)>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_signed_retried_and_logged() {
    // A real receiver on loopback that fails the first call.
    let seen: Arc<Mutex<Received>> = Arc::default();
    let receiver = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
                let seen = seen.clone();
                async move {
                    let mut s = seen.lock().expect("lock");
                    s.calls.push((headers, body));
                    if s.calls.len() == 1 {
                        (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "try later")
                    } else {
                        (axum::http::StatusCode::OK, "ok")
                    }
                }
            }),
        )
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                replay: Some(SpanInput::Seconds(30)),
                ..Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    let made = integrations::create_webhook(
        state,
        &g.owner,
        &NewWebhook {
            url,
            events: vec![EventKind::SessionStarted, EventKind::SessionEnded],
        },
    )
    .await
    .expect("webhook");
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 3, "320x180");
    assert!(publisher.finish().await);

    // session.started: refused once, retried after the backoff, then delivered; then
    // session.ended.
    let calls = wait_for("three deliveries", Duration::from_secs(20), || async {
        let s = seen.lock().expect("lock");
        (s.calls.len() >= 3).then(|| s.calls.clone())
    })
    .await;
    let events: Vec<String> = calls
        .iter()
        .map(|(h, _)| h["x-lp-event"].to_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        events[..2],
        ["session.started", "session.started"],
        "{events:?}"
    );
    assert!(events.contains(&"session.ended".to_string()), "{events:?}");
    for (headers, body) in &calls {
        let ts = headers["x-lp-timestamp"].to_str().expect("timestamp");
        let mut mac = Hmac::<Sha256>::new_from_slice(made.secret.as_bytes()).expect("key");
        mac.update(format!("{ts}.{body}").as_bytes());
        let expected = format!("v1={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            headers["x-lp-signature"].to_str().ok(),
            Some(expected.as_str()),
            "signed"
        );
        let v: Value = serde_json::from_str(body).expect("JSON body");
        assert_eq!(v["data"]["group_id"], g.id);
        assert!(v["id"].as_str().is_some_and(|id| id.starts_with("evt_")));
    }

    // The delivery log says what happened.
    let log = repo::integrations::recent_deliveries(&state.db, made.webhook.id, 10)
        .await
        .expect("log");
    let started = log
        .iter()
        .find(|d| d.event == EventKind::SessionStarted)
        .expect("started");
    assert_eq!(
        (started.status, started.attempts),
        (DeliveryStatus::Delivered, 2)
    );
    assert!(started.last_error.is_none());
    app.running.stop().await.expect("stops");
}
