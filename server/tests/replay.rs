//! Replay clips and share links for real: a published lavfi stream, a clip cut through the
//! service, its files checked on disk (hard links, a closed playlist), its share link
//! fetched over HTTP without a cookie, the MP4 probed, the clip still playable after the
//! rolling window moved past it; revoked, expired and wrong tokens not found; a span saved
//! as a recording; roles and other organisations refused.

mod common;

use std::os::unix::fs::MetadataExt;
use std::time::Duration;

use app::domain::clips::{LinkExpiry, Mp4State, NewClip};
use app::domain::packages::Package;
use app::domain::settings::{ProcessKind, SpanInput};
use app::domain::AppError;
use app::ssr::repo;
use app::ssr::services::clips;
use chrono::Utc;
use common::{count_frames, probe_duration, wait_for, Processes, TestApp, TestPublisher};
use server::media::m3u8;

async fn replay_entries(app: &TestApp, stream: i64) -> Option<(i64, Vec<m3u8::Entry>)> {
    let rows = repo::assets::list(&app.running.state.db, stream, ProcessKind::Replay, 1)
        .await
        .ok()?;
    let row = rows.first()?;
    let text = std::fs::read_to_string(app.dir.path().join(&row.path)).ok()?;
    Some((row.asset.id, m3u8::parse_replay(&text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clips_are_instant_outlive_the_window_and_share_without_an_account() {
    let app = TestApp::start().await;
    let g = app
        .group(
            &[],
            &Processes {
                thumbnail: Some(10),
                replay: Some(SpanInput::Seconds(8)),
                ..Processes::none()
            },
        )
        .await;
    let stream = g.streams[0];
    let state = &app.running.state;
    let publisher = TestPublisher::start(&app.publish_url(&g.key), 26, "640x360");
    let (replay_id, entries) = wait_for("6 s of replay", Duration::from_secs(20), || async {
        replay_entries(&app, stream)
            .await
            .filter(|(_, e)| e.len() >= 6)
    })
    .await;

    // A 3 s clip from inside the second segment: cut outward at segment boundaries.
    let from = entries[1].program_date_time + chrono::Duration::milliseconds(200);
    let to = from + chrono::Duration::seconds(3);
    let input = |title: &str, expiry| NewClip {
        replay_id,
        title: title.into(),
        from,
        to,
        expiry,
    };
    // Instant (make bench-replay measures it): no re-encoding, links only.
    let clip = clips::create(state, &g.owner, &input("The goal", LinkExpiry::Week))
        .await
        .expect("clip");
    assert_eq!(clip.starts_at, entries[1].program_date_time);
    assert!(
        (3000..=5000).contains(&clip.duration_ms),
        "{} ms",
        clip.duration_ms
    );
    let row = repo::clips::get(&state.db, g.owner.organisation_id, clip.id)
        .await
        .expect("row")
        .expect("clip row");
    let dir = app.dir.path().join(&row.dir);
    let playlist = std::fs::read_to_string(dir.join("clip.m3u8")).expect("playlist");
    assert!(
        playlist.contains("#EXT-X-ENDLIST") && playlist.contains("#EXT-X-MAP:URI=\"init.mp4\"")
    );
    assert!(
        std::fs::metadata(dir.join("seg_000000.m4s"))
            .expect("segment")
            .nlink()
            >= 2,
        "segments are hard links to the replay's, not copies"
    );

    // The share link works for anyone, without a cookie.
    let token_path = clip.share.clone().expect("a share link").path;
    let anon = app.client();
    let page = anon
        .get(format!("{}{token_path}", app.base))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 200);
    let html = page.text().await.expect("html");
    assert!(html.contains("The goal"), "the title is on the page");
    assert!(
        html.contains("property=\"og:title\" content=\"The goal\""),
        "Open Graph tags in the head"
    );
    assert!(!html.contains(&g.key), "nothing else of the organisation");
    let get = |path: String| {
        let anon = anon.clone();
        let base = app.base.clone();
        async move {
            anon.get(format!("{base}{path}"))
                .send()
                .await
                .expect("request")
        }
    };
    let shared = get(format!("{token_path}/clip.m3u8")).await;
    assert_eq!(shared.status().as_u16(), 200);
    assert_eq!(
        shared.headers()["content-type"],
        "application/vnd.apple.mpegurl"
    );
    assert_eq!(
        get(format!("{token_path}/seg_000000.m4s"))
            .await
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        get(format!("{token_path}/../../media/x"))
            .await
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        get(format!("{token_path}/clip.frag.mp4"))
            .await
            .status()
            .as_u16(),
        404
    );

    // The MP4 download is made by stream copy and lasts the clip, within one GOP (1 s).
    let ready = wait_for("the MP4 download", Duration::from_secs(20), || async {
        repo::clips::get(&state.db, g.owner.organisation_id, clip.id)
            .await
            .ok()
            .flatten()
            .filter(|c| c.clip.mp4 != Mp4State::Pending)
    })
    .await;
    assert_eq!(ready.clip.mp4, Mp4State::Ready);
    assert!(ready.clip.poster_url.is_some());
    let owner = app.signed_in(&g.owner.email).await;
    let mp4 = owner
        .get(format!("{}{}", app.base, ready.clip.mp4_url))
        .send()
        .await
        .expect("mp4");
    assert_eq!(mp4.status().as_u16(), 200);
    let download = app.dir.path().join("download.mp4");
    std::fs::write(&download, mp4.bytes().await.expect("bytes")).expect("write");
    let d = probe_duration(&download);
    assert!(
        (d - clip.duration_ms as f64 / 1000.0).abs() <= 1.0,
        "MP4 lasts {d} s, clip {} ms",
        clip.duration_ms
    );
    assert_eq!(
        get(ready.clip.mp4_url.clone()).await.status().as_u16(),
        401,
        "members' URLs need a session"
    );

    // A span of the buffer kept as a recording.
    let saved = clips::save_span(state, &g.owner, replay_id, 4)
        .await
        .expect("saved");
    assert_eq!(saved.kind, ProcessKind::Recording);
    let saved_row = repo::assets::get(&state.db, saved.id)
        .await
        .expect("row")
        .expect("asset");
    let saved_d = probe_duration(&app.dir.path().join(&saved_row.path));
    assert!((3.0..=5.5).contains(&saved_d), "saved {saved_d} s");

    // The whole live replay can be shared too.
    let live_link = clips::share_replay(state, &g.owner, replay_id, "Live now", LinkExpiry::Day)
        .await
        .expect("share");
    let live_playlist = get(format!("{}/replay.m3u8", live_link.path)).await;
    assert_eq!(live_playlist.status().as_u16(), 200);
    let text = live_playlist.text().await.expect("text");
    let first_segment = text
        .lines()
        .find(|l| l.ends_with(".m4s"))
        .expect("a segment")
        .to_string();
    assert_eq!(
        get(format!("{}/{first_segment}", live_link.path))
            .await
            .status()
            .as_u16(),
        200
    );

    // Roles and organisations.
    let viewer = &app.organisation("Other", &Package::ALL).await;
    let err = clips::create(state, &viewer[3], &input("Theirs", LinkExpiry::Day))
        .await
        .expect_err("another organisation's replay");
    assert!(matches!(err, AppError::NotFound(_)), "{err:?}");
    let own_viewer = app::ssr::auth::Caller {
        role: app::domain::roles::Role::Viewer,
        ..g.owner.clone()
    };
    let err = clips::create(state, &own_viewer, &input("Mine", LinkExpiry::Day))
        .await
        .expect_err("viewers do not clip");
    assert!(matches!(err, AppError::Forbidden(_)), "{err:?}");
    // Viewers see the clips but not their public links (they could keep access after leaving).
    let seen = clips::list(state, &own_viewer, stream)
        .await
        .expect("viewers list clips");
    assert!(seen.iter().any(|c| c.id == clip.id), "the clip is listed");
    assert!(
        seen.iter().all(|c| c.share.is_none()),
        "no link for viewers"
    );
    let listed = clips::list(state, &g.owner, stream).await.expect("owner");
    assert!(listed.iter().any(|c| c.id == clip.id && c.share.is_some()));

    // The rolling window (8 s) moves past the clip; the clip still plays in full.
    assert!(publisher.finish().await);
    let (_, now_listed) = replay_entries(&app, stream).await.expect("replay");
    assert!(
        now_listed[0].program_date_time
            > clip.starts_at + chrono::Duration::milliseconds(clip.duration_ms),
        "the replay no longer lists the clip's segments"
    );
    assert_eq!(
        get(format!("{token_path}/seg_000001.m4s"))
            .await
            .status()
            .as_u16(),
        200
    );
    let mut parts = vec![dir.join("init.mp4")];
    parts.extend(common::files_ending(&dir, ".m4s"));
    let joined = format!(
        "concat:{}",
        parts
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join("|")
    );
    let frames = count_frames(std::path::Path::new(&joined));
    assert!(
        frames as f64 >= clip.duration_ms as f64 / 1000.0 * 30.0 - 2.0,
        "the clip decodes to the end: {frames} frames"
    );

    // Revoked, expired and wrong tokens: the same not-found.
    let late = clips::create(state, &g.owner, &input("Too late", LinkExpiry::Hour))
        .await
        .expect_err("the span left the buffer");
    assert!(matches!(late, AppError::BadRequest(_)), "{late:?}");
    let link_id = clip.share.as_ref().map(|l| l.id).expect("link");
    clips::revoke_link(state, &g.owner, link_id)
        .await
        .expect("revoke");
    assert_eq!(get(token_path.clone()).await.status().as_u16(), 404);
    assert_eq!(
        get(format!("{token_path}/clip.m3u8"))
            .await
            .status()
            .as_u16(),
        404
    );
    app::with_db!(&state.db, |conn| sqlx::query(
        "UPDATE share_links SET expires_at = $1 WHERE id = $2"
    )
    .bind(Utc::now() - chrono::Duration::seconds(1))
    .bind(live_link.id)
    .execute(conn)
    .await
    .map(|r| r.rows_affected()))
    .expect("expire");
    assert_eq!(
        get(format!("{}/replay.m3u8", live_link.path))
            .await
            .status()
            .as_u16(),
        404
    );
    let expired_page = get(live_link.path.clone()).await;
    assert_eq!(expired_page.status().as_u16(), 404);
    let wrong = get("/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()).await;
    assert_eq!(wrong.status().as_u16(), 404);
    let main = |html: String| {
        let start = html.find("<main").unwrap_or(0);
        let end = html.find("</main>").unwrap_or(html.len());
        html[start..end].to_string()
    };
    let expired_main = main(expired_page.text().await.expect("text"));
    assert!(expired_main.contains("Not found"), "{expired_main}");
    assert_eq!(
        expired_main,
        main(wrong.text().await.expect("text")),
        "expired and wrong tokens look the same"
    );

    // Deleting a clip removes its files.
    clips::delete(state, &g.owner, clip.id)
        .await
        .expect("delete");
    wait_for("the clip folder to go", Duration::from_secs(5), || async {
        (!dir.exists()).then_some(())
    })
    .await;

    // Guessing is slowed down: after 30 misses an address gets 429.
    let mut last = 0;
    for i in 0..40 {
        last = get(format!("/s/{i:0>32}/clip.m3u8"))
            .await
            .status()
            .as_u16();
    }
    assert_eq!(last, 429);
    app.running.stop().await.expect("stops");
}
