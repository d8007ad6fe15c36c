//! `server demo`: seeds a demo organisation (live processing and transcoding enabled), its
//! owner with a generated password, and a stream group with an ingest and three transcoding
//! profiles; prints one block a newcomer can act on; then runs the server. Idempotent: the
//! same data folder keeps its user, group and key, and the password is printed again only
//! while it is still the account's password (otherwise a new one is set).

use std::path::Path;

use app::domain::packages::Package;
use app::domain::roles::Role;
use app::domain::settings::{ProcessConfig, ProcessInput, ProcessKind, SpanInput};
use app::domain::streams::NewStreamGroup;
use app::ssr::auth::Caller;
use app::ssr::db::begin_write;
use app::ssr::{passwords, repo, services, tokens, AppState};

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::ffmpeg::args;
use crate::ffmpeg::process::Child;
use crate::{display_addr, BoxError};

/// The demo account's e-mail.
pub const DEMO_EMAIL: &str = "demo@example.com";
const DEMO_ORG: &str = "Demo";
const DEMO_GROUP: &str = "Demo stream";
const PASSWORD_FILE: &str = "demo-password";

/// What `make demo` prints.
#[derive(Debug, Clone)]
pub struct DemoSeed {
    pub email: String,
    pub password: String,
    pub group_id: i64,
    pub stream_key: String,
}

/// Creates (or finds) the demo organisation, user and stream group.
pub async fn seed(state: &AppState, data_dir: &Path) -> Result<DemoSeed, BoxError> {
    let now = state.clock.now();
    let org = match repo::orgs::find(&state.db, "demo").await? {
        Some(org) => org,
        None => {
            let mut tx = begin_write(&state.db).await?;
            let org = repo::orgs::create(&mut tx, DEMO_ORG, now).await?;
            tx.commit().await?;
            org
        }
    };
    for package in Package::ALL {
        repo::orgs::set_package(&state.db, org.id, package, true, now).await?;
    }
    let (user_id, password) = demo_user(state, org.id, data_dir).await?;
    let caller = Caller {
        user_id,
        email: DEMO_EMAIL.into(),
        display_name: "Demo".into(),
        organisation_id: org.id,
        organisation_name: org.name.clone(),
        role: Role::Owner,
    };
    let existing = repo::streams::list_groups(&state.db, org.id)
        .await?
        .into_iter()
        .find(|g| g.name == DEMO_GROUP);
    let group_id = match existing {
        Some(g) => g.id,
        None => services::streams::create_group(state, &caller, &demo_group()).await?,
    };
    let ingest = repo::streams::ingest_of(&state.db, group_id)
        .await?
        .ok_or("demo group has no ingest")?;
    let stream_key = repo::streams::active_key(&state.db, ingest)
        .await?
        .ok_or("demo ingest has no key")?;
    Ok(DemoSeed {
        email: DEMO_EMAIL.into(),
        password,
        group_id,
        stream_key,
    })
}

/// The demo user and a password that works now: the saved one if it still verifies,
/// otherwise a new one.
async fn demo_user(
    state: &AppState,
    org_id: i64,
    data_dir: &Path,
) -> Result<(i64, String), BoxError> {
    let file = data_dir.join(PASSWORD_FILE);
    let saved = tokio::fs::read_to_string(&file)
        .await
        .ok()
        .map(|s| s.trim().to_string());
    let now = state.clock.now();
    let user = repo::users::find_by_email(&state.db, DEMO_EMAIL).await?;
    if let (Some(u), Some(saved)) = (&user, &saved) {
        if passwords::verify(saved.clone(), u.password_hash.clone())
            .await
            .unwrap_or(false)
        {
            ensure_owner(state, org_id, u.id).await?;
            return Ok((u.id, saved.clone()));
        }
    }
    let password = tokens::new_password();
    let hash = passwords::hash(password.clone()).await?;
    let user_id = match user {
        Some(u) => {
            repo::users::set_password(&state.db, u.id, &hash).await?;
            repo::sessions::delete_for_user(&state.db, u.id).await?;
            u.id
        }
        None => {
            let mut tx = begin_write(&state.db).await?;
            let id = repo::users::create(&mut tx, DEMO_EMAIL, "Demo", &hash, now).await?;
            tx.commit().await?;
            id
        }
    };
    ensure_owner(state, org_id, user_id).await?;
    write_private(&file, &password).await?;
    Ok((user_id, password))
}

async fn ensure_owner(state: &AppState, org_id: i64, user_id: i64) -> Result<(), BoxError> {
    let mut tx = begin_write(&state.db).await?;
    repo::users::upsert_membership(&mut tx, org_id, user_id, Role::Owner, state.clock.now())
        .await?;
    tx.commit().await?;
    Ok(())
}

async fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    tokio::fs::write(path, text).await?;
    tokio::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).await
}

/// The demo group: an ingest and 1080p/720p/360p, every process on.
fn demo_group() -> NewStreamGroup {
    let settings = ProcessKind::ALL.map(|kind| {
        let input = match kind {
            ProcessKind::Thumbnail => ProcessInput {
                enabled: true,
                interval: Some(10),
                duration: None,
            },
            ProcessKind::MotionClip => ProcessInput {
                enabled: true,
                interval: Some(10),
                duration: Some(SpanInput::Seconds(3)),
            },
            ProcessKind::Recording => ProcessInput {
                enabled: true,
                interval: None,
                duration: Some(SpanInput::Seconds(300)),
            },
            ProcessKind::Replay => ProcessInput {
                enabled: true,
                interval: None,
                duration: Some(SpanInput::Seconds(300)),
            },
        };
        debug_assert!(ProcessConfig::validate(kind, &input).is_ok());
        input
    });
    NewStreamGroup {
        name: DEMO_GROUP.into(),
        profiles: vec!["1080p".into(), "720p".into(), "360p".into()],
        processing: vec![settings; 4],
    }
}

/// The block `make demo` prints (with the SRT URL and the metrics address when they are
/// served).
pub fn banner(
    dashboard: &str,
    seed: &DemoSeed,
    config: &Config,
    srt: Option<std::net::SocketAddr>,
    metrics: Option<std::net::SocketAddr>,
) -> String {
    let mut block = format!(
        "Dashboard: {dashboard}\nLogin:     {}\nPassword:  {}\nPublish:   rtmp://{}/live/{}\n",
        seed.email,
        seed.password,
        display_addr(config.rtmp_listen),
        seed.stream_key
    );
    if let Some(addr) = srt {
        block.push_str(&format!(
            "SRT:       srt://{}?streamid={}\n",
            display_addr(addr),
            seed.stream_key
        ));
    }
    if let Some(addr) = metrics {
        block.push_str(&format!("Metrics:   {}\n", crate::metrics::url(addr)));
    }
    block
}

/// A font for the demo's clock, if the machine has one.
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf";

/// Publishes a test pattern into the demo group until `stop`, restarting the publisher if it
/// ends (and picking up a regenerated key).
async fn publish(
    state: AppState,
    group_id: i64,
    rtmp: String,
    ffmpeg: std::path::PathBuf,
    stop: CancellationToken,
) {
    let font = Path::new(FONT).exists().then_some(Path::new(FONT));
    while !stop.is_cancelled() {
        let key = match repo::streams::ingest_of(&state.db, group_id).await {
            Ok(Some(ingest)) => repo::streams::active_key(&state.db, ingest)
                .await
                .ok()
                .flatten(),
            _ => None,
        };
        let Some(key) = key else { break };
        let args = args::test_publisher(&format!("{rtmp}/{key}"), font);
        match Child::spawn("ffmpeg", &ffmpeg, &args, false, 0) {
            Ok(mut child) => {
                tokio::select! {
                    _ = stop.cancelled() => {
                        child.signal(nix::sys::signal::Signal::SIGINT);
                        let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
                        break;
                    }
                    status = child.wait() => tracing::warn!("demo publisher ended ({status:?}): {}; restarting", child.stderr_tail()),
                }
            }
            Err(e) => tracing::error!("cannot start the demo publisher: {e}"),
        }
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = tokio::time::sleep(Duration::from_secs(3)) => {}
        }
    }
}

/// Seeds, starts the server and the demo publisher, prints the block, runs until stopped.
pub async fn run(config: Config, with_publisher: bool) -> Result<(), BoxError> {
    let running = crate::start(config.clone()).await?;
    let seed = seed(&running.state, &config.data_dir).await?;
    println!(
        "{}",
        banner(
            &running.dashboard_url(),
            &seed,
            &config,
            running.srt_addr(),
            running.metrics_addr
        )
    );
    let stop = CancellationToken::new();
    let publisher = with_publisher.then(|| {
        println!("A test publisher is streaming into the demo group (run with --no-publisher to use your own).");
        tokio::spawn(publish(running.state.clone(), seed.group_id, running.rtmp_url(), config.ffmpeg.clone(), stop.clone()))
    });
    crate::stop_signal().await;
    stop.cancel();
    if let Some(p) = publisher {
        let _ = p.await;
    }
    running.stop().await
}
