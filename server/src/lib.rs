//! The Live Processing server: one process with the dashboard (Leptos SSR and server
//! functions over axum), the RTMP ingest, and the ffmpeg job runner. `main` only parses the
//! command line; tests call [`start`] too.

pub mod cli;
pub mod clips;
pub mod config;
pub(crate) mod data_folder;
pub mod demo;
pub mod events;
pub mod ffmpeg;
pub(crate) mod http;
pub mod ingest;
pub mod machine;
pub mod media;
pub mod media_store;
pub mod metrics;
pub(crate) mod node;
pub mod remote;
pub mod retention;
pub mod runner;
pub(crate) mod storyboard;
pub(crate) mod tasks;
pub(crate) mod webhooks;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use app::ssr::clock::SystemClock;
use app::ssr::lookups::Lookups;
use app::ssr::outbound::OutboundPolicy;
use app::ssr::pipeline::NoPipeline;
use app::ssr::state::{AppConfig, Limits};
use app::ssr::{db, AppState};
use ingest::admission::AdmissionLimits;
use ingest::handler::IngestHandler;
use ingest::Ingest;
use leptos::config::LeptosOptions;
use media_store::MediaStore;
use runner::{RunnerConfig, RunnerCtx, Supervisor};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use config::Config;
use http::router::ServerState;

/// Any error at the top level.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Opens the data folder and the database (creating both on first run) and builds the state.
pub async fn open_state(config: &Config) -> Result<AppState, BoxError> {
    let srt_port = config.srt_listen.map(|a| a.port());
    open_state_with(config, config.rtmp_listen.port(), srt_port).await
}

async fn open_state_with(
    config: &Config,
    rtmp_port: u16,
    srt_port: Option<u16>,
) -> Result<AppState, BoxError> {
    tokio::fs::create_dir_all(&config.data_dir).await?;
    let db = db::connect(&config.database_url()).await?;
    let trusted_proxies = config
        .trusted_proxies
        .iter()
        .map(|s| s.parse())
        .collect::<Result<Vec<_>, app::ssr::net::BadNet>>()?;
    let app_config = AppConfig {
        rtmp_public_url: config.rtmp_public_url.clone(),
        rtmp_port,
        srt_port,
        srt_public_url: config.srt_public_url.clone(),
        reconnect_grace_s: i64::try_from(config.reconnect_grace_s).unwrap_or(i64::MAX),
        secure_cookies: config.secure_cookies,
        outbound: OutboundPolicy {
            allowed_hosts: config
                .webhook_allow_hosts
                .iter()
                .map(|h| h.trim().trim_end_matches('.').to_ascii_lowercase())
                .filter(|h| !h.is_empty())
                .collect(),
        },
        trusted_proxies,
        sign_up_open: !config.no_sign_up,
        ..AppConfig::default()
    };
    Ok(AppState {
        db,
        config: Arc::new(app_config),
        pipeline: Arc::new(NoPipeline),
        clock: Arc::new(SystemClock),
        limits: Arc::new(Limits::default()),
        lookups: Arc::new(Lookups::new(Duration::from_millis(
            config.public_lookup_ttl_ms,
        ))),
    })
}

/// A started server.
pub struct Running {
    /// Where the dashboard listens (the real port when 0 was asked for).
    pub http_addr: SocketAddr,
    /// Where the RTMP ingest listens.
    pub rtmp_addr: SocketAddr,
    /// The shared state (tests use its database).
    pub state: AppState,
    /// The job runner.
    pub supervisor: Supervisor,
    /// Where `/metrics` is served, when `--metrics-listen` is set.
    pub metrics_addr: Option<SocketAddr>,
    metrics_task: Option<JoinHandle<()>>,
    ingest: Ingest,
    srt: Option<ingest::srt::SrtIngest>,
    shutdown: CancellationToken,
    tasks: tasks::Tasks,
    task: JoinHandle<Result<(), std::io::Error>>,
    node: Arc<node::Node>,
    /// Holds the data folder's lock until the server is dropped.
    _folder: data_folder::DataFolder,
}

impl Running {
    /// The dashboard URL as a person would open it.
    pub fn dashboard_url(&self) -> String {
        format!("http://{}", display_addr(self.http_addr))
    }

    /// The base RTMP URL publishers use (`rtmp://127.0.0.1:1935/live`).
    pub fn rtmp_url(&self) -> String {
        format!(
            "rtmp://{}/{}",
            display_addr(self.rtmp_addr),
            ingest::handler::APP
        )
    }

    /// Where the SRT ingest listens, when it is on.
    pub fn srt_addr(&self) -> Option<SocketAddr> {
        self.srt.as_ref().map(|s| s.addr)
    }

    /// The base SRT URL publishers use (`srt://127.0.0.1:9000`), when SRT is on; the stream
    /// key goes in `?streamid=`.
    pub fn srt_url(&self) -> Option<String> {
        self.srt
            .as_ref()
            .map(|s| format!("srt://{}", display_addr(s.addr)))
    }

    /// The RTMP ingest's admission pools and counters.
    pub fn ingest_admission(&self) -> &ingest::admission::Admission {
        &self.ingest.admission
    }

    /// Stops in order: cut publishers, let every session finish its files, stop HTTP.
    pub async fn stop(self) -> Result<(), BoxError> {
        self.node.drain();
        self.ingest.stop().await;
        if let Some(srt) = &self.srt {
            srt.stop().await;
        }
        self.supervisor.shutdown(Duration::from_secs(30)).await;
        self.shutdown.cancel();
        self.tasks.wait(Duration::from_secs(15)).await;
        if let Some(t) = self.metrics_task {
            let _ = t.await;
        }
        self.task.await??;
        let now = self.state.clock.now();
        if let Err(e) = app::ssr::repo::nodes::stopped(&self.state.db, &self.node.id, now).await {
            tracing::warn!(error = %e, "cannot mark this node stopped");
        }
        Ok(())
    }

    /// This node's id (its data folder's).
    pub fn node_id(&self) -> &str {
        &self.node.id
    }
}

/// Binds the listeners, opens the state, reconciles the data folder and starts serving.
pub async fn start(config: Config) -> Result<Running, BoxError> {
    http::serve::raise_fd_limit();
    limit_ffmpeg_memory(config.ffmpeg_memory_limit_mb);
    let listener = TcpListener::bind(config.listen).await?;
    let http_addr = listener.local_addr()?;
    let rtmp_listener = TcpListener::bind(config.rtmp_listen).await?;
    let rtmp_addr = rtmp_listener.local_addr()?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    let srt_socket = match config.srt_listen {
        Some(addr) => Some(tokio::net::UdpSocket::bind(addr).await?),
        None => None,
    };
    let srt_port = match &srt_socket {
        Some(s) => Some(s.local_addr()?.port()),
        None => None,
    };
    let base = open_state_with(&config, rtmp_addr.port(), srt_port).await?;
    // One server per data folder, and the folder must be this database's.
    let folder = data_folder::open(&config.data_dir, &base.db, config.cluster).await?;
    tracing::info!(node.id = %folder.id, data_dir = %config.data_dir.display(), "data folder locked");
    let lease_ttl = Duration::from_millis(config.lease_ttl_ms.max(300));
    let base = AppState {
        config: Arc::new(AppConfig {
            node_id: folder.id.clone(),
            ..(*base.config).clone()
        }),
        ..base
    };
    let runner_config = RunnerConfig {
        ffmpeg: config.ffmpeg.clone(),
        ffprobe: config.ffprobe.clone(),
        x264_preset: config.transcode_preset.clone(),
        default_quota_bytes: config.default_storage_quota,
        quota_stops_recordings: config.quota_recordings == config::QuotaRecordings::Stop,
        usage_interval: Duration::from_millis(config.usage_interval_ms.max(100)),
        node_id: folder.id.clone(),
        lease_ttl,
        checkpoint_every: Duration::from_millis(config.checkpoint_ms.max(200)),
        reconnect_grace: Duration::from_secs(config.reconnect_grace_s),
        package_check: Duration::from_millis(config.package_check_ms.max(100)),
        ..RunnerConfig::default()
    };
    let remote = match &config.storage {
        config::Storage::Local => None,
        config::Storage::S3(location) => {
            let r = remote::Remote::connect(
                location,
                &remote::S3Settings {
                    endpoint: config.s3_endpoint.clone(),
                    region: config.s3_region.clone(),
                    access_key_id: config.s3_access_key_id.clone(),
                    secret_access_key: config.s3_secret_access_key.clone(),
                },
            )?;
            tracing::info!(storage = %r.url, "finished media goes to object storage");
            Some(r)
        }
    };
    let store = MediaStore::with_remote(&config.data_dir, remote);
    let ctx = Arc::new(RunnerCtx::new(base.clone(), store.clone(), runner_config));
    let shutdown = CancellationToken::new();
    let tasks = tasks::Tasks::new(shutdown.clone());
    // The webhook queue listens before repair runs: sessions it ends are announced.
    webhooks::spawn(
        &tasks,
        ctx.state.clone(),
        ctx.events.clone(),
        webhooks::RetryPolicy {
            first: Duration::from_millis(config.webhook_retry_ms.max(1)),
            attempts: 6,
            timeout: Duration::from_secs(10),
        },
        shutdown.clone(),
    );
    runner::reconcile::run(&ctx).await;
    {
        let (ctx, dir, stop) = (ctx.clone(), config.data_dir.clone(), shutdown.clone());
        let min_free = config.min_free_disk_mb.saturating_mul(1 << 20);
        tasks.spawn("disk watch", move || {
            runner::disk::watch(ctx.clone(), dir.clone(), min_free, stop.clone())
        });
    }
    {
        let (ctx, stop) = (ctx.clone(), shutdown.clone());
        tasks.spawn("storage usage", move || {
            runner::usage::watch(ctx.clone(), stop.clone())
        });
    }
    let supervisor = Supervisor::new(ctx.clone());
    let node = node::Node::new(folder.id.clone(), supervisor.clone(), lease_ttl);
    if let Ok(unfinished) = app::ssr::repo::clips::unfinished(&ctx.state.db).await {
        for (id, dir) in unfinished {
            // Only the node that cut a clip has its folder: another node sharing the database
            // leaves it to that one (which may be finishing it right now).
            let here = ctx.store.resolve(&dir).is_some_and(|d| d.is_dir());
            if here {
                supervisor.resume_clip(id, dir, None);
            }
        }
    }
    let state = AppState {
        pipeline: Arc::new(supervisor.clone()),
        ..base
    };
    let handler = Arc::new(IngestHandler::new(state.clone(), supervisor.clone()));
    let ingest = Ingest::serve(rtmp_listener, handler.clone(), AdmissionLimits::default())?;
    let srt = match srt_socket {
        Some(socket) => Some(
            ingest::srt::SrtIngest::serve(
                socket,
                handler,
                Duration::from_millis(config.srt_latency_ms),
            )
            .await?,
        ),
        None => None,
    };
    let leptos = LeptosOptions::builder()
        .output_name("livepro")
        .site_root(config.site_root.display().to_string())
        .site_pkg_dir("pkg")
        .site_addr(http_addr)
        .build();
    let handle = match metrics_listener {
        Some(_) => Some(metrics::install().ok_or("cannot install the metrics recorder")?),
        None => None,
    };
    let router = http::router(
        ServerState {
            leptos,
            app: state.clone(),
            store: store.clone(),
            node: node.clone(),
            sheets: Arc::new(storyboard::Sheets::new(
                config.ffmpeg.clone(),
                store.scratch_root(),
            )),
            site: Default::default(),
            hot: Default::default(),
        },
        handle.is_some(),
    );
    let (metrics_addr, metrics_task) = match (metrics_listener, handle) {
        (Some(listener), Some(handle)) => {
            let addr = listener.local_addr()?;
            let sources = metrics::Sources {
                handle,
                ctx: ctx.clone(),
                supervisor: supervisor.clone(),
                admission: ingest.admission.clone(),
                data_dir: config.data_dir.clone(),
                token: config.metrics_token.as_deref().map(Arc::from),
            };
            tracing::info!(metrics.addr = %addr, "metrics listening");
            let task = tokio::spawn(metrics::serve(listener, sources, shutdown.clone()));
            (Some(addr), Some(task))
        }
        _ => (None, None),
    };
    {
        let (state, store, stop) = (state.clone(), store.clone(), shutdown.clone());
        tasks.spawn("housekeeping", move || {
            housekeeping(state.clone(), store.clone(), stop.clone())
        });
    }
    {
        let (state, store, stop) = (state.clone(), store.clone(), shutdown.clone());
        let every = Duration::from_millis(config.retention_every_ms.max(100));
        tasks.spawn("retention", move || {
            retention::schedule(state.clone(), store.clone(), every, stop.clone())
        });
    }
    let limits = http::serve::HttpLimits {
        header_timeout: Duration::from_secs(config.http_header_timeout.max(1)),
        ..http::serve::HttpLimits::new(
            config.http_max_connections,
            state.config.trusted_proxies.clone(),
        )
    };
    let task = tokio::spawn(http::serve::serve(
        listener,
        router,
        limits,
        shutdown.clone(),
    ));
    tracing::info!(http.addr = %http_addr, "dashboard listening");
    let rtmp_url = match &config.rtmp_public_url {
        Some(u) => u.clone(),
        None => format!(
            "rtmp://{}/{}",
            display_addr(rtmp_addr),
            ingest::handler::APP
        ),
    };
    app::ssr::repo::nodes::announce(
        &state.db,
        &app::ssr::repo::nodes::Announce {
            id: &node.id,
            http_url: config
                .node_url
                .as_deref()
                .unwrap_or(&format!("http://{}", display_addr(http_addr))),
            rtmp_url: &rtmp_url,
            version: env!("CARGO_PKG_VERSION"),
            cpus: std::thread::available_parallelism()
                .ok()
                .and_then(|n| u32::try_from(n.get()).ok()),
            now: state.clock.now(),
        },
    )
    .await?;
    {
        let node_signals = node.clone();
        let (node, stop) = (node.clone(), shutdown.clone());
        tasks.spawn("node heartbeat", move || node.clone().run(stop.clone()));
        let (node, stop) = (node_signals, shutdown.clone());
        tasks.spawn("node signals", move || node.clone().listen(stop.clone()));
    }
    Ok(Running {
        http_addr,
        rtmp_addr,
        state,
        supervisor,
        metrics_addr,
        metrics_task,
        ingest,
        srt,
        shutdown,
        tasks,
        task,
        node,
        _folder: folder,
    })
}

/// Finished webhook deliveries are kept this long in the log.
const DELIVERY_LOG_DAYS: i64 = 14;

/// Every minute: removes expired login sessions, finished webhook deliveries older than
/// [`DELIVERY_LOG_DAYS`], and expired clips with their files.
async fn housekeeping(state: AppState, store: MediaStore, shutdown: CancellationToken) {
    const CLAIM: &str = "housekeeping";
    let node = state.config.node_id.clone();
    {
        let mut tick = tokio::time::interval(Duration::from_secs(60));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    let now = state.clock.now();
                    // One node of a cluster does it (the claim's holder, renewed each minute).
                    let until = now + chrono::Duration::seconds(150);
                    match app::ssr::repo::claims::claim(&state.db, CLAIM, &node, now, until).await {
                        Ok(true) => {}
                        Ok(false) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot claim housekeeping; it will try again");
                            continue;
                        }
                    }
                    if let Err(e) = app::ssr::repo::sessions::delete_expired(&state.db, now).await {
                        tracing::warn!("could not remove expired sessions: {e}");
                    }
                    let keep = now - chrono::Duration::days(DELIVERY_LOG_DAYS);
                    match app::ssr::repo::integrations::prune_deliveries(&state.db, keep).await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(deliveries = n, "pruned the webhook delivery log"),
                        Err(e) => tracing::warn!(error = %e, "could not prune webhook deliveries"),
                    }
                    match app::ssr::repo::clips::delete_expired(&state.db, now).await {
                        Ok(dirs) => {
                            for dir in dirs {
                                clips::cut::remove(&store, &dir).await;
                            }
                        }
                        Err(e) => tracing::warn!("could not remove expired clips: {e}"),
                    }
                }
            }
        }
    }
    let _ = app::ssr::repo::claims::release(&state.db, CLAIM, &node).await;
}

/// An address as a browser or encoder would dial it: `0.0.0.0` becomes `127.0.0.1`.
/// Applies `--ffmpeg-memory-limit-mb` when `prlimit` (util-linux) is there to apply it.
fn limit_ffmpeg_memory(mib: u64) {
    if mib == 0 {
        tracing::warn!("ffmpeg runs without a memory limit (--ffmpeg-memory-limit-mb 0)");
        ffmpeg::process::limit_memory(0);
        return;
    }
    let usable = std::process::Command::new("prlimit")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if usable {
        ffmpeg::process::limit_memory(mib.saturating_mul(1 << 20));
    } else {
        tracing::warn!("prlimit (util-linux) not found: ffmpeg runs without a memory limit");
        ffmpeg::process::limit_memory(0);
    }
}

pub fn display_addr(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("127.0.0.1:{}", addr.port())
    } else {
        addr.to_string()
    }
}

/// Resolves when the process is asked to stop (Ctrl-C or SIGTERM). A second signal after
/// that exits at once.
pub async fn stop_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = ctrl_c.await;
            return;
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term.recv() => {},
    }
    tracing::info!("stopping (send the signal again to exit at once)");
    tokio::spawn(async move {
        let again = tokio::signal::ctrl_c();
        tokio::select! {
            _ = again => {},
            _ = term.recv() => {},
        }
        std::process::exit(130);
    });
}

/// Runs until a stop signal, then shuts down gracefully.
pub async fn run(config: Config) -> Result<(), BoxError> {
    let running = start(config).await?;
    println!("Dashboard: {}", running.dashboard_url());
    println!("RTMP:      {}/<stream key>", running.rtmp_url());
    if let Some(url) = running.srt_url() {
        println!("SRT:       {url}?streamid=<stream key>");
    }
    if let Some(addr) = running.metrics_addr {
        println!("Metrics:   {}", metrics::url(addr));
    }
    stop_signal().await;
    running.stop().await
}
