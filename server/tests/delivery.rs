//! Delivery to viewers without an account, over real HTTP against the real server with a real
//! published stream: a stream's public URLs (off by default, editors only, CORS and caching
//! headers, "latest" that changes behind a stable URL, token rotation that stops old URLs at
//! once), and signed URLs (made by the API or by a backend with the README's scheme: every
//! segment plays; expired, altered, other-asset and revoked-key signatures get 403).

mod common;

use std::time::Duration;

use app::domain::roles::Role;
use app::domain::settings::SpanInput;
use app::ssr::services::integrations;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::{wait_for, Processes, TestApp, TestPublisher};
use hmac::{Hmac, KeyInit, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

struct Client {
    api: String,
    http: reqwest::Client,
}

impl Client {
    async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> (u16, Value) {
        let m = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self
            .http
            .request(m, format!("{}{path}", self.api))
            .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.expect("request");
        let status = res.status().as_u16();
        let text = res.text().await.expect("body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

/// A GET without any credentials, as a viewer's browser on another site makes it.
async fn fetch(url: &str, headers: &[(&str, &str)]) -> reqwest::Response {
    let mut req = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
        .expect("client")
        .get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("get")
}

fn header<'a>(r: &'a reqwest::Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

/// The media lines of a playlist, joined onto its URL.
fn segments_of(playlist_url: &str, text: &str) -> Vec<String> {
    let dir = &playlist_url[..playlist_url.rfind('/').expect("slash") + 1];
    let mut out = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("#EXT-X-MAP:URI=\"") {
            out.push(format!("{dir}{}", rest.trim_end_matches('"')));
        } else if !line.is_empty() && !line.starts_with('#') {
            out.push(format!("{dir}{line}"));
        }
    }
    out
}

fn sign(secret: &str, key_id: &str, expires: i64, target: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{key_id}/{expires}/{target}").as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_and_signed_urls_of_a_real_stream() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                clip: Some((10, 2)),
                // Pieces of 15 s: a session of several files.
                recording: Some(SpanInput::Seconds(15)),
                replay: Some(SpanInput::EntireStream),
            },
        )
        .await;
    let state = &app.running.state;
    let key_of = |role: Role| {
        let owner = g.owner.clone();
        async move {
            integrations::create_key(state, &owner, &format!("{role}"), role)
                .await
                .expect("key")
                .secret
        }
    };
    let (viewer, editor, admin) = (
        key_of(Role::Viewer).await,
        key_of(Role::Editor).await,
        key_of(Role::Admin).await,
    );
    let other = app
        .organisation("Other", &app::domain::packages::Package::ALL)
        .await;
    let other_key = integrations::create_key(state, &other[3], "other", Role::Owner)
        .await
        .expect("key")
        .secret;
    let c = Client {
        api: format!("{}/api/v1", app.base),
        http: reqwest::Client::new(),
    };
    let stream = g.streams[0];
    let path = format!("/streams/{stream}/delivery");

    // Off by default; viewers read it, only editors switch it; other organisations see nothing.
    let (s, d) = c.call("GET", &path, &viewer, None).await;
    assert_eq!((s, d["public"].as_bool()), (200, Some(false)), "{d}");
    assert!(d["thumbnail_url"].is_null(), "no URLs while off: {d}");
    let (s, _) = c
        .call("PUT", &path, &viewer, Some(json!({"public": true})))
        .await;
    assert_eq!(s, 403);
    let (s, _) = c.call("GET", &path, &other_key, None).await;
    assert_eq!(s, 404);
    let (s, d) = c
        .call("PUT", &path, &editor, Some(json!({"public": true})))
        .await;
    assert_eq!(s, 200, "{d}");
    let url = |d: &Value, k: &str| d[k].as_str().expect(k).to_string();
    let thumb_url = url(&d, "thumbnail_url");
    assert!(thumb_url.starts_with(&app.base), "absolute: {thumb_url}");
    let clip_url = url(&d, "motion_clip_url");
    let replay_url = url(&d, "replay_url");

    // Nothing published yet: not found (with CORS, so a page can tell).
    let r = fetch(&thumb_url, &[]).await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");

    let publisher = TestPublisher::start(&app.publish_url(&g.key), 30, "640x360");
    let first = wait_for("a public thumbnail", Duration::from_secs(20), || async {
        let r = fetch(&thumb_url, &[("origin", "http://elsewhere.example")]).await;
        (r.status() == StatusCode::OK).then_some(r)
    })
    .await;
    assert_eq!(header(&first, "content-type"), "image/jpeg");
    assert_eq!(header(&first, "access-control-allow-origin"), "*");
    assert_eq!(
        header(&first, "cross-origin-resource-policy"),
        "cross-origin"
    );
    assert_eq!(header(&first, "cache-control"), "public, max-age=5");
    let etag = header(&first, "etag").to_string();
    assert!(etag.starts_with('"'), "{etag}");
    // Unchanged: 304 without a body.
    let again = fetch(&thumb_url, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    // The same URL shows the next thumbnail once it exists (every 10 s).
    let newer = wait_for(
        "a newer thumbnail at the same URL",
        Duration::from_secs(20),
        || async {
            let r = fetch(&thumb_url, &[("if-none-match", &etag)]).await;
            (r.status() == StatusCode::OK).then(|| header(&r, "etag").to_string())
        },
    )
    .await;
    assert_ne!(newer, etag);
    let webp = fetch(&url(&d, "thumbnail_webp_url"), &[]).await;
    assert_eq!(header(&webp, "content-type"), "image/webp");

    // The motion clip, MP4 and WebP.
    let clip = wait_for("a public motion clip", Duration::from_secs(20), || async {
        let r = fetch(&clip_url, &[]).await;
        (r.status() == StatusCode::OK).then_some(r)
    })
    .await;
    assert_eq!(header(&clip, "content-type"), "video/mp4");
    let clip_webp = fetch(&url(&d, "motion_clip_webp_url"), &[]).await;
    assert_eq!(
        (clip_webp.status(), header(&clip_webp, "content-type")),
        (StatusCode::OK, "image/webp")
    );

    // The live replay: the stable URL leads to the session's playlist; every file it lists
    // plays, segments cached for good.
    let playlist = fetch(&replay_url, &[]).await;
    assert_eq!(playlist.status(), StatusCode::OK);
    let session_playlist = playlist.url().to_string();
    assert!(session_playlist.contains("/r"), "{session_playlist}");
    let text = playlist.text().await.expect("text");
    let files = segments_of(&session_playlist, &text);
    assert!(files.len() >= 3, "{text}");
    for f in &files {
        let r = fetch(f, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{f}");
        assert_eq!(
            header(&r, "cache-control"),
            "public, max-age=31536000, immutable"
        );
    }
    // A segment comes from memory once settled (`http::hot`): the same bytes, type and
    // caching as from disk, and a range request still gets its range.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let first = fetch(&files[1], &[]).await;
    let ctype = header(&first, "content-type").to_string();
    let whole = first.bytes().await.expect("segment");
    for _ in 0..3 {
        let again = fetch(&files[1], &[]).await;
        assert_eq!(header(&again, "content-type"), ctype);
        assert_eq!(
            header(&again, "cache-control"),
            "public, max-age=31536000, immutable"
        );
        assert!(again.bytes().await.expect("segment") == whole);
    }
    // A range request is answered from the file on disk: the same bytes.
    let part = fetch(&files[1], &[("range", "bytes=0-")]).await;
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert!(part.bytes().await.expect("range") == whole);
    // A segment gone from disk (the replay window moved on, retention) is not answered from
    // memory either: moved away, it is not found; back, it is served again.
    let name = files[1].rsplit('/').next().expect("segment name");
    let on_disk = common::files_ending(app.dir.path(), &format!("/{name}"));
    let [segment] = &on_disk[..] else {
        panic!("{name} once on disk: {on_disk:?}")
    };
    let away = segment.with_extension("away");
    std::fs::rename(segment, &away).expect("moved away");
    let gone = fetch(&files[1], &[]).await.status();
    std::fs::rename(&away, segment).expect("moved back");
    assert_eq!(gone, StatusCode::NOT_FOUND);
    assert!(fetch(&files[1], &[]).await.bytes().await.expect("segment") == whole);
    // A preflight from a player elsewhere.
    let pre = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, &files[0])
        .header("origin", "http://elsewhere.example")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "range")
        .send()
        .await
        .expect("preflight");
    assert_eq!(pre.status(), StatusCode::NO_CONTENT);
    assert_eq!(header(&pre, "access-control-allow-origin"), "*");

    // Rotating stops every old URL at once; the new ones work.
    let (s, rotated) = c
        .call("POST", &format!("{path}/rotate"), &editor, None)
        .await;
    assert_eq!(s, 200, "{rotated}");
    for old in [&thumb_url, &clip_url, &replay_url, &files[1]] {
        assert_eq!(
            fetch(old, &[]).await.status(),
            StatusCode::NOT_FOUND,
            "{old}"
        );
    }
    let new_thumb = url(&rotated, "thumbnail_url");
    assert_ne!(new_thumb, thumb_url);
    assert_eq!(fetch(&new_thumb, &[]).await.status(), StatusCode::OK);

    // Signed URLs from the API: the replay's playlist and every segment.
    let replay_id = wait_for("the replay asset", Duration::from_secs(5), || async {
        let (_, v) = c
            .call(
                "GET",
                &format!("/assets?stream_id={stream}&kind=replay"),
                &viewer,
                None,
            )
            .await;
        v["items"][0]["id"].as_i64()
    })
    .await;
    let (s, _) = c
        .call(
            "POST",
            &format!("/assets/{replay_id}/signed-url"),
            &viewer,
            Some(json!({"expires_in_s": 60})),
        )
        .await;
    assert_eq!(s, 403, "viewers cannot hand out access");
    let (s, v) = c
        .call(
            "POST",
            &format!("/assets/{replay_id}/signed-url"),
            &editor,
            Some(json!({"expires_in_s": 0})),
        )
        .await;
    assert_eq!(s, 422, "{v}");
    let (s, v) = c
        .call(
            "POST",
            &format!("/assets/{replay_id}/signed-url"),
            &other_key,
            Some(json!({"expires_in_s": 60})),
        )
        .await;
    assert_eq!(s, 404, "{v}");
    let (s, signed) = c
        .call(
            "POST",
            &format!("/assets/{replay_id}/signed-url"),
            &editor,
            Some(json!({"expires_in_s": 120})),
        )
        .await;
    assert_eq!(s, 200, "{signed}");
    let signed_url = url(&signed, "url");
    let r = fetch(&signed_url, &[]).await;
    assert_eq!(r.status(), StatusCode::OK, "{signed_url}");
    let files = segments_of(&signed_url, &r.text().await.expect("text"));
    assert!(files.len() >= 3);
    for f in &files {
        assert_eq!(fetch(f, &[]).await.status(), StatusCode::OK, "{f}");
    }
    // Altered: one character of the signature changed → 403 on the playlist and a segment.
    let parts: Vec<&str> = signed_url.split('/').collect();
    let sig_at = parts.iter().position(|p| *p == "v").expect("/v/") + 3;
    let altered = |u: &str| {
        let mut p: Vec<String> = u.split('/').map(str::to_string).collect();
        let s = &mut p[sig_at];
        let flipped = if s.starts_with('A') { "B" } else { "A" };
        s.replace_range(0..1, flipped);
        p.join("/")
    };
    for u in [signed_url.clone(), files[1].clone()] {
        assert_eq!(
            fetch(&altered(&u), &[]).await.status(),
            StatusCode::FORBIDDEN,
            "{u}"
        );
    }

    assert!(publisher.finish().await);
    // The session's recording files, oldest first (the session has ended).
    let pieces: Vec<i64> = wait_for("the recording files", Duration::from_secs(30), || async {
        let (_, v) = c
            .call(
                "GET",
                &format!("/sessions?group_id={}", g.id),
                &viewer,
                None,
            )
            .await;
        v["items"][0]["ended_at"].as_str()?;
        let (_, v) = c
            .call(
                "GET",
                &format!("/assets?stream_id={stream}&kind=recording"),
                &viewer,
                None,
            )
            .await;
        let mut ids: Vec<i64> = v["items"]
            .as_array()?
            .iter()
            .filter_map(|a| a["id"].as_i64())
            .collect();
        ids.reverse();
        (ids.len() >= 2).then_some(ids)
    })
    .await;
    let recording = pieces[0];

    // A recording shared like a clip: one file, or the whole session's files in order.
    let (s, v) = c
        .call(
            "POST",
            &format!("/assets/{recording}/share"),
            &viewer,
            Some(json!({"title": "Match", "expiry": "day"})),
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let (s, v) = c
        .call(
            "POST",
            &format!("/assets/{replay_id}/share"),
            &editor,
            Some(json!({"title": "Match", "expiry": "day"})),
        )
        .await;
    assert_eq!(s, 404, "only recordings: {v}");
    let (s, one) = c
        .call(
            "POST",
            &format!("/assets/{recording}/share"),
            &editor,
            Some(json!({"title": "Match", "expiry": "day"})),
        )
        .await;
    assert_eq!(s, 201, "{one}");
    let (s, whole) = c
        .call(
            "POST",
            &format!("/assets/{recording}/share"),
            &editor,
            Some(json!({"title": "Whole match", "expiry": "day", "whole_session": true})),
        )
        .await;
    assert_eq!(s, 201, "{whole}");
    let page = |v: &Value| format!("{}{}", app.base, v["path"].as_str().expect("path"));
    for n in 1..=pieces.len() {
        let part = fetch(
            &format!("{}/parts/{n}/recording.mp4", page(&whole)),
            &[("range", "bytes=0-99")],
        )
        .await;
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT, "part {n}");
        assert_eq!(header(&part, "content-type"), "video/mp4");
    }
    let beyond = pieces.len() + 1;
    for bad in [
        format!("{}/parts/{beyond}/recording.mp4", page(&whole)),
        format!("{}/parts/2/recording.mp4", page(&one)),
        format!("{}/parts/01/recording.mp4", page(&whole)),
    ] {
        assert_eq!(
            fetch(&bad, &[]).await.status(),
            StatusCode::NOT_FOUND,
            "{bad}"
        );
    }
    let html = fetch(&page(&whole), &[]).await;
    assert_eq!(html.status(), StatusCode::OK);
    assert!(
        !html.headers().contains_key("x-frame-options"),
        "share pages may be framed"
    );
    assert!(header(&html, "content-security-policy").contains("frame-ancestors *"));
    let text = html.text().await.expect("html");
    assert!(text.contains("&lt;iframe"), "the embed snippet");

    // A backend signing with its own key, as the README says.
    let (s, _) = c
        .call(
            "POST",
            "/signing-keys",
            &editor,
            Some(json!({"name": "web"})),
        )
        .await;
    assert_eq!(s, 403, "admins make signing keys");
    let (s, k) = c
        .call(
            "POST",
            "/signing-keys",
            &admin,
            Some(json!({"name": "web"})),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let (key_id, secret) = (url(&k, "key_id"), url(&k, "secret"));
    let now = chrono::Utc::now().timestamp();
    let own = |expires: i64, target: &str, file: &str| {
        format!(
            "{}/v/{key_id}/{expires}/{}/{target}/{file}",
            app.base,
            sign(&secret, &key_id, expires, target)
        )
    };
    let rec_file = format!("{recording}.mp4");
    let ok = fetch(
        &own(now + 60, &format!("a{recording}"), &rec_file),
        &[("range", "bytes=0-99")],
    )
    .await;
    assert_eq!(
        ok.status(),
        StatusCode::PARTIAL_CONTENT,
        "ranges for players"
    );
    assert_eq!(header(&ok, "content-type"), "video/mp4");
    // Expired.
    let expired = own(now - 1, &format!("a{recording}"), &rec_file);
    assert_eq!(fetch(&expired, &[]).await.status(), StatusCode::FORBIDDEN);
    // Another asset under this signature: the target is in the signed message.
    let sig = sign(&secret, &key_id, now + 60, &format!("a{recording}"));
    let cross = format!(
        "{}/v/{key_id}/{}/{sig}/a{replay_id}/replay.m3u8",
        app.base,
        now + 60
    );
    assert_eq!(fetch(&cross, &[]).await.status(), StatusCode::FORBIDDEN);
    let cross_seg = files[1].replacen(&format!("/a{replay_id}/"), &format!("/a{recording}/"), 1);
    assert_eq!(fetch(&cross_seg, &[]).await.status(), StatusCode::FORBIDDEN);
    // The replay signed by the backend plays too; revoking the key stops it at once.
    let mine = own(now + 60, &format!("a{replay_id}"), "replay.m3u8");
    assert_eq!(fetch(&mine, &[]).await.status(), StatusCode::OK);

    // Storyboards beside the replay and the recording: a cue per thumbnail, each naming a
    // region of a sprite sheet that holds it; a sheet name the track does not list is not
    // found (nobody makes the server tile anything else).
    for (target, listed) in [
        (format!("a{replay_id}"), "replay"),
        (format!("a{recording}"), "recording"),
    ] {
        let (_, v) = c
            .call(
                "GET",
                &format!("/assets?stream_id={stream}&kind={listed}"),
                &viewer,
                None,
            )
            .await;
        assert!(
            v["items"][0]["storyboard_url"]
                .as_str()
                .is_some_and(|u| u.ends_with("/storyboard.vtt")),
            "{v}"
        );
        let vtt_url = own(now + 60, &target, "storyboard.vtt");
        let r = fetch(&vtt_url, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{vtt_url}");
        assert!(header(&r, "content-type").starts_with("text/vtt"));
        let text = r.text().await.expect("vtt");
        assert!(text.starts_with("WEBVTT"), "{text}");
        let cues: Vec<&str> = text.lines().filter(|l| l.contains("#xywh=")).collect();
        assert!(
            cues.len() >= 2,
            "a tile every 10 s of a 30 s stream: {text}"
        );
        let (file, region) = cues[1].split_once("#xywh=").expect("region");
        assert_eq!(
            region, "160,0,160,90",
            "the second tile is right of the first"
        );
        let sheet_url = format!("{}{file}", &vtt_url[..vtt_url.rfind('/').expect("/") + 1]);
        let sheet = fetch(&sheet_url, &[]).await;
        assert_eq!(sheet.status(), StatusCode::OK, "{sheet_url}");
        assert_eq!(header(&sheet, "content-type"), "image/jpeg");
        let jpg = app.dir.path().join(format!("sheet-{listed}.jpg"));
        std::fs::write(&jpg, sheet.bytes().await.expect("bytes")).expect("write");
        let probe = std::process::Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=width,height",
                "-of",
                "csv=p=0",
            ])
            .arg(&jpg)
            .output()
            .expect("ffprobe");
        let size = String::from_utf8_lossy(&probe.stdout).trim().to_string();
        assert_eq!(
            size,
            format!("{},90", 160 * cues.len()),
            "one row of {} tiles",
            cues.len()
        );
        let wrong = sheet_url.replace(
            &format!("-{}.jpg", cues.len()),
            &format!("-{}.jpg", cues.len() + 1),
        );
        assert_eq!(
            fetch(&wrong, &[]).await.status(),
            StatusCode::NOT_FOUND,
            "{wrong}"
        );
    }
    let (s, keys) = c.call("GET", "/signing-keys", &admin, None).await;
    assert_eq!(s, 200);
    assert!(
        !keys.to_string().contains(&secret),
        "secrets are shown once"
    );
    let (s, _) = c
        .call("DELETE", &format!("/signing-keys/{key_id}"), &admin, None)
        .await;
    assert_eq!(s, 204);
    assert_eq!(fetch(&mine, &[]).await.status(), StatusCode::FORBIDDEN);

    // Switched off: the public URLs answer not found.
    let (s, _) = c
        .call("PUT", &path, &editor, Some(json!({"public": false})))
        .await;
    assert_eq!(s, 200);
    assert_eq!(fetch(&new_thumb, &[]).await.status(), StatusCode::NOT_FOUND);
    app.running.stop().await.expect("stops");
}

/// A stream whose thumbnails are off still gets seek-bar previews: the pipeline makes a small
/// keyframe tile every 10 s, the storyboards of its replay and recording use them, and they
/// are listed nowhere else (not as thumbnails in the API, no webhook-visible asset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storyboards_come_from_keyframe_tiles_when_thumbnails_are_off() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                recording: Some(SpanInput::EntireStream),
                replay: Some(SpanInput::EntireStream),
                ..Processes::none()
            },
        )
        .await;
    let state = &app.running.state;
    let key = integrations::create_key(state, &g.owner, "admin", Role::Admin)
        .await
        .expect("key")
        .secret;
    let c = Client {
        api: format!("{}/api/v1", app.base),
        http: reqwest::Client::new(),
    };
    let stream = g.streams[0];
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 25, "640x360");
    let (s, _) = c
        .call("POST", "/signing-keys", &key, Some(json!({"name": "site"})))
        .await;
    assert_eq!(s, 201);
    // The storyboard beside a signed URL of the newest asset of `kind`.
    let vtt_of = |kind: &'static str| {
        let c = &c;
        let key = &key;
        async move {
            let (_, v) = c
                .call(
                    "GET",
                    &format!("/assets?stream_id={stream}&kind={kind}"),
                    key,
                    None,
                )
                .await;
            v["items"][0]["storyboard_url"].as_str()?;
            let id = v["items"][0]["id"].as_i64()?;
            let (_, signed) = c
                .call(
                    "POST",
                    &format!("/assets/{id}/signed-url"),
                    key,
                    Some(json!({"expires_in_s": 600})),
                )
                .await;
            let u = signed["url"].as_str()?;
            Some(format!("{}storyboard.vtt", &u[..u.rfind('/')? + 1]))
        }
    };
    let url = wait_for(
        "the replay's storyboard",
        Duration::from_secs(30),
        || async { vtt_of("replay").await },
    )
    .await;
    let text = wait_for(
        "two tiles in the replay's track",
        Duration::from_secs(40),
        || async {
            let text = fetch(&url, &[]).await.text().await.ok()?;
            (text.lines().filter(|l| l.contains("#xywh=")).count() >= 2).then_some(text)
        },
    )
    .await;
    let cues: Vec<&str> = text.lines().filter(|l| l.contains("#xywh=")).collect();
    let (file, region) = cues[1].split_once("#xywh=").expect("region");
    assert_eq!(region, "160,0,160,90", "{text}");
    let sheet_url = format!("{}{file}", &url[..url.rfind('/').expect("/") + 1]);
    let sheet = fetch(&sheet_url, &[]).await;
    assert_eq!(sheet.status(), StatusCode::OK, "{sheet_url}");
    assert_eq!(header(&sheet, "content-type"), "image/jpeg");
    let jpg = app.dir.path().join("tiles-sheet.jpg");
    std::fs::write(&jpg, sheet.bytes().await.expect("bytes")).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "stream=width,height",
            "-of",
            "csv=p=0",
        ])
        .arg(&jpg)
        .output()
        .expect("ffprobe");
    let (w, h) = String::from_utf8_lossy(&probe.stdout)
        .trim()
        .split_once(',')
        .map(|(w, h)| (w.parse::<u32>().unwrap_or(0), h.to_string()))
        .expect("a size");
    assert_eq!(h, "90");
    assert!(w >= 320 && w % 160 == 0, "a row of tiles: {w}");

    // The recording (once the session ends) has the same kind of track.
    drop(publisher);
    let rec_vtt = wait_for(
        "the recording's storyboard",
        Duration::from_secs(30),
        || async { vtt_of("recording").await },
    )
    .await;
    let rec = fetch(&rec_vtt, &[]).await;
    let rec_text = rec.text().await.expect("vtt");
    assert!(
        rec_text.lines().filter(|l| l.contains("#xywh=")).count() >= 2,
        "{rec_text}"
    );

    // Tiles are not thumbnails: none listed, the tab's thumbnails stay empty.
    let (s, v) = c
        .call(
            "GET",
            &format!("/assets?stream_id={stream}&kind=thumbnail"),
            &key,
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(v["items"].as_array().map(Vec::len), Some(0), "{v}");
    let (_, all) = c
        .call("GET", &format!("/assets?stream_id={stream}"), &key, None)
        .await;
    assert!(!all.to_string().contains("\"tile\""), "{all}");
}

/// The group's switch: every stream of a group public (or private) in one call, each with its
/// own URLs; editors only, other organisations' groups not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_groups_streams_switch_together() {
    let app = TestApp::start().await;
    let g = app.group(&["360p"], &Processes::none()).await;
    let state = &app.running.state;
    let key_of = |role: Role| {
        let owner = g.owner.clone();
        async move {
            integrations::create_key(state, &owner, &format!("{role}"), role)
                .await
                .expect("key")
                .secret
        }
    };
    let (viewer, editor) = (key_of(Role::Viewer).await, key_of(Role::Editor).await);
    let other = app
        .organisation("Other", &app::domain::packages::Package::ALL)
        .await;
    let other_key = integrations::create_key(state, &other[3], "other", Role::Owner)
        .await
        .expect("key")
        .secret;
    let c = Client {
        api: format!("{}/api/v1", app.base),
        http: reqwest::Client::new(),
    };
    let path = format!("/groups/{}/delivery", g.id);
    let on = Some(json!({"public": true}));
    assert_eq!(c.call("PUT", &path, &viewer, on.clone()).await.0, 403);
    assert_eq!(c.call("PUT", &path, &other_key, on.clone()).await.0, 404);
    assert_eq!(c.call("GET", &path, &other_key, None).await.0, 404);
    let (s, d) = c.call("PUT", &path, &editor, on).await;
    assert_eq!(s, 200, "{d}");
    let streams = d["streams"].as_array().expect("streams");
    assert_eq!(streams.len(), 2, "the ingest and its profile: {d}");
    let ids: Vec<i64> = streams
        .iter()
        .filter_map(|s| s["stream_id"].as_i64())
        .collect();
    assert_eq!(ids, g.streams);
    assert!(streams.iter().all(|s| s["public"] == json!(true)), "{d}");
    let (a, b) = (
        streams[0]["thumbnail_url"].as_str().expect("url"),
        streams[1]["thumbnail_url"].as_str().expect("url"),
    );
    assert_ne!(a, b, "each stream has its own token");
    // Each stream reads as public on its own too; switching the group off closes them all.
    let (_, one) = c
        .call(
            "GET",
            &format!("/streams/{}/delivery", g.streams[1]),
            &viewer,
            None,
        )
        .await;
    assert_eq!(one["thumbnail_url"].as_str(), Some(b));
    let (s, d) = c
        .call("PUT", &path, &editor, Some(json!({"public": false})))
        .await;
    assert_eq!(s, 200);
    assert!(
        d["streams"]
            .as_array()
            .expect("streams")
            .iter()
            .all(|s| s["public"] == json!(false)),
        "{d}"
    );
    assert_eq!(fetch(b, &[]).await.status(), StatusCode::NOT_FOUND);
    let (_, d) = c.call("GET", &path, &viewer, None).await;
    assert!(d["streams"][0]["thumbnail_url"].is_null(), "{d}");
}
