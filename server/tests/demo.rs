//! `server demo` seeding: idempotent across restarts on one data folder.

mod common;

use app::ssr::services::accounts;
use app::ssr::{passwords, repo};
use common::TestApp;
use server::demo;

#[tokio::test]
async fn demo_seed_is_idempotent_and_its_password_works() {
    let app = TestApp::start().await;
    let state = &app.running.state;
    let first = demo::seed(state, app.dir.path()).await.expect("seeds");
    assert_eq!(first.email, "demo@example.com");
    assert!(first.stream_key.starts_with("sk_"));
    let group = app::ssr::repo::streams::streams_of(&state.db, first.group_id)
        .await
        .expect("streams");
    let qualities: Vec<_> = group.iter().map(|s| s.quality.as_str()).collect();
    assert_eq!(qualities, ["Source", "1080p", "720p", "360p"]);
    assert!(
        accounts::log_in(state, &first.email, first.password.clone(), "t")
            .await
            .is_ok()
    );

    // Again: same group, same key, same password (still valid).
    let second = demo::seed(state, app.dir.path())
        .await
        .expect("seeds again");
    assert_eq!(
        (second.group_id, &second.stream_key, &second.password),
        (first.group_id, &first.stream_key, &first.password)
    );

    // Someone changed the password: the old one is not printed again; a new one is set.
    let user = repo::users::find_by_email(&state.db, "demo@example.com")
        .await
        .expect("q")
        .expect("user");
    repo::users::set_password(
        &state.db,
        user.id,
        &passwords::hash("changed by hand!".into())
            .await
            .expect("hash"),
    )
    .await
    .expect("set");
    let third = demo::seed(state, app.dir.path())
        .await
        .expect("seeds a third time");
    assert_ne!(third.password, first.password);
    assert!(
        accounts::log_in(state, &third.email, third.password.clone(), "t")
            .await
            .is_ok()
    );

    let banner = demo::banner(
        "http://127.0.0.1:3000",
        &third,
        &server::config::Config::for_tests(app.dir.path().into()),
        Some(([0, 0, 0, 0], 9000).into()),
        Some(([127, 0, 0, 1], 9464).into()),
    );
    let lines: Vec<_> = banner.lines().collect();
    assert_eq!(lines[0], "Dashboard: http://127.0.0.1:3000");
    assert_eq!(lines[1], "Login:     demo@example.com");
    assert_eq!(lines[2], format!("Password:  {}", third.password));
    assert!(
        lines[3].starts_with("Publish:   rtmp://127.0.0.1:")
            && lines[3].ends_with(&format!("/live/{}", third.stream_key))
    );
    assert_eq!(
        lines[4],
        format!(
            "SRT:       srt://127.0.0.1:9000?streamid={}",
            third.stream_key
        )
    );
    assert_eq!(lines[5], "Metrics:   http://127.0.0.1:9464/metrics");
}
