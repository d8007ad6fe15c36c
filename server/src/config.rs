//! Command line and environment: every setting has a flag, an environment variable and an
//! embedded default, so `server` alone runs on a SQLite file in `./data`.

use clap::{Args, Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;

/// The Live Processing server: dashboard, RTMP ingest and media pipeline in one process.
#[derive(Debug, Parser)]
#[command(name = "server", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Settings shared by every subcommand.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Address of the dashboard (HTTP).
    #[arg(
        long,
        env = "LP_LISTEN",
        default_value = "127.0.0.1:3000",
        global = true
    )]
    pub listen: SocketAddr,
    /// Address of the RTMP ingest.
    #[arg(
        long,
        env = "LP_RTMP_LISTEN",
        default_value = "0.0.0.0:1935",
        global = true
    )]
    pub rtmp_listen: SocketAddr,
    /// Address of the SRT ingest (UDP), e.g. `0.0.0.0:9000`; no SRT when unset.
    #[arg(long, env = "LP_SRT_LISTEN", global = true)]
    pub srt_listen: Option<SocketAddr>,
    /// SRT receive latency in milliseconds: how long lost packets may take to be sent
    /// again (the larger of this and the publisher's setting is used). About 4 times the
    /// round trip to the publisher; 120 is libsrt's default.
    #[arg(long, env = "LP_SRT_LATENCY_MS", default_value_t = 200, global = true)]
    pub srt_latency_ms: u64,
    /// SRT server URL shown to broadcasters (e.g. srt://live.example.com:9000); by default
    /// it is built from the dashboard's host name and the SRT port.
    #[arg(long, env = "LP_SRT_PUBLIC_URL", global = true)]
    pub srt_public_url: Option<String>,
    /// Folder for the database and every media file; created on first run.
    #[arg(long, env = "LP_DATA_DIR", default_value = "./data", global = true)]
    pub data_dir: PathBuf,
    /// Database URL: `sqlite://…` (the default is `livepro.db` in the data folder) or
    /// `postgres://user:password@host:port/database`. Its value may hold a password, so
    /// `--help` does not show it.
    #[arg(long, env = "LP_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    /// Folder with the built site (wasm, JS, CSS, public files) made by cargo-leptos.
    #[arg(
        long,
        env = "LP_SITE_ROOT",
        default_value = "target/site",
        global = true
    )]
    pub site_root: PathBuf,
    /// RTMP server URL shown to broadcasters (e.g. rtmp://live.example.com/live); by default
    /// it is built from the dashboard's host name and the RTMP port.
    #[arg(long, env = "LP_RTMP_PUBLIC_URL", global = true)]
    pub rtmp_public_url: Option<String>,
    /// Mark cookies Secure (set this when the dashboard is served over HTTPS).
    #[arg(long, env = "LP_SECURE_COOKIES", global = true)]
    pub secure_cookies: bool,
    /// The ffmpeg binary.
    #[arg(long, env = "LP_FFMPEG", default_value = "ffmpeg", global = true)]
    pub ffmpeg: PathBuf,
    /// The ffprobe binary.
    #[arg(long, env = "LP_FFPROBE", default_value = "ffprobe", global = true)]
    pub ffprobe: PathBuf,
    /// x264 preset for transcoding profiles (ultrafast … medium): faster uses less CPU.
    #[arg(long, env = "LP_TRANSCODE_PRESET", default_value = "superfast", global = true,
          value_parser = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium"])]
    pub transcode_preset: String,
    /// Wait before the first webhook retry, in milliseconds; each next wait is 4 times longer
    /// (5 s, 20 s, 80 s, … by default), up to 6 attempts.
    #[arg(
        long,
        env = "LP_WEBHOOK_RETRY_MS",
        default_value_t = 5000,
        global = true
    )]
    pub webhook_retry_ms: u64,
    /// Internal hosts (names or addresses) webhooks may still be sent to; every other
    /// loopback, private, link-local or otherwise internal destination is refused.
    #[arg(
        long = "webhook-allow-host",
        env = "LP_WEBHOOK_ALLOW_HOSTS",
        value_delimiter = ',',
        global = true
    )]
    pub webhook_allow_hosts: Vec<String>,
    /// Reverse proxies (addresses or CIDR ranges) whose `X-Forwarded-For` names the client;
    /// from anyone else the header is ignored.
    #[arg(
        long = "trusted-proxy",
        env = "LP_TRUSTED_PROXIES",
        value_delimiter = ',',
        global = true
    )]
    pub trusted_proxies: Vec<String>,
    /// Turn off self-service sign-up (members then join by invitation only).
    #[arg(long, env = "LP_NO_SIGN_UP", global = true)]
    pub no_sign_up: bool,
    /// Most HTTP connections open at once (more wait in the listen queue).
    #[arg(
        long,
        env = "LP_HTTP_MAX_CONNECTIONS",
        default_value_t = 4096,
        global = true
    )]
    pub http_max_connections: usize,
    /// Seconds a client has to send a request's headers (also how long an idle keep-alive
    /// connection stays open).
    #[arg(
        long,
        env = "LP_HTTP_HEADER_TIMEOUT",
        default_value_t = 10,
        global = true
    )]
    pub http_header_timeout: u64,
    /// Below this much free space (MB) on the data folder's disk, optional work (thumbnails,
    /// motion clips, clip exports, saved spans) waits; recordings and replays go on.
    #[arg(
        long,
        env = "LP_MIN_FREE_DISK_MB",
        default_value_t = 1024,
        global = true
    )]
    pub min_free_disk_mb: u64,
    /// Serve Prometheus metrics at `http://ADDR/metrics` on this address of its own (off
    /// unless set; keep it private, or set a token).
    #[arg(long, env = "LP_METRICS_LISTEN", global = true)]
    pub metrics_listen: Option<SocketAddr>,
    /// The storage quota of organisations the operator gave none (`server org set-quota`),
    /// e.g. `50GB`; none by default.
    #[arg(long, env = "LP_DEFAULT_STORAGE_QUOTA", value_parser = parse_quota, global = true)]
    pub default_storage_quota: Option<u64>,
    /// What recordings do when an organisation's quota is used up: `keep` recording (and go
    /// over), or `stop` until space is freed or the quota raised.
    #[arg(
        long,
        env = "LP_QUOTA_RECORDINGS",
        value_enum,
        default_value_t = QuotaRecordings::Keep,
        global = true
    )]
    pub quota_recordings: QuotaRecordings,
    /// How often retention runs (ms).
    #[arg(
        long,
        env = "LP_RETENTION_EVERY_MS",
        default_value_t = 300_000,
        global = true,
        hide = true
    )]
    pub retention_every_ms: u64,
    /// How often storage use is measured (ms).
    #[arg(
        long,
        env = "LP_USAGE_INTERVAL_MS",
        default_value_t = 30_000,
        global = true,
        hide = true
    )]
    pub usage_interval_ms: u64,
    /// How log lines are written to stderr: `text` for people, `json` (one object a line,
    /// with the request id and the other span fields) for log shippers.
    #[arg(
        long,
        env = "LP_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true
    )]
    pub log_format: LogFormat,
    /// Require `Authorization: Bearer <token>` on the metrics address.
    #[arg(long, env = "LP_METRICS_TOKEN", global = true, hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// This node shares its database with other nodes (a cluster): an empty data folder
    /// joins as a new node instead of being refused as an unmounted one.
    #[arg(long, env = "LP_CLUSTER", global = true)]
    pub cluster: bool,
    /// How long a node's hold on a live stream (its lease) lasts without a heartbeat, in
    /// milliseconds; heartbeats come every third of it. After a node dies, its publishers'
    /// reconnects take their streams over on another node once this has passed.
    #[arg(long, env = "LP_LEASE_TTL_MS", default_value_t = 6000, global = true)]
    pub lease_ttl_ms: u64,
    /// With object storage: how often a recording being written sends its new bytes to the
    /// store, in milliseconds. A node that dies loses at most about this much of its open
    /// recordings (another node finishes them from what was sent); shorter means more requests.
    #[arg(long, env = "LP_CHECKPOINT_MS", default_value_t = 5000, global = true)]
    pub checkpoint_ms: u64,
    /// Seconds a live session waits for its publisher to come back after the connection
    /// dropped (no unpublish; every SRT end), for groups that set none: a reconnect within it
    /// continues the same session (replay with a discontinuity, a new recording piece).
    /// 0 ends sessions at once.
    #[arg(
        long,
        env = "LP_RECONNECT_GRACE_S",
        default_value_t = 10,
        global = true
    )]
    pub reconnect_grace_s: u64,
    /// The address space (MiB) each ffmpeg child may use: a stream crafted to make a decoder
    /// allocate without bound fails its job instead (0: no limit; a 1080p source with two
    /// transcoding profiles peaks near 700 MiB).
    #[arg(
        long,
        env = "LP_FFMPEG_MEMORY_LIMIT_MB",
        default_value_t = 4096,
        global = true
    )]
    pub ffmpeg_memory_limit_mb: u64,
    /// How long (ms) public media keeps a token's stream and an asset's row without asking
    /// the database again. A delivery switched off or a token rotated on this node stops at
    /// once; on another node of a cluster, within this time (0: ask every time).
    #[arg(
        long,
        env = "LP_PUBLIC_LOOKUP_TTL_MS",
        default_value_t = 1000,
        global = true
    )]
    pub public_lookup_ttl_ms: u64,
    /// How often (ms) a live session reads its organisation's packages again: a package
    /// switched off (`server org disable-package`, from another process) stops the processes
    /// it pays for within this time, and one switched on starts them.
    #[arg(
        long,
        env = "LP_PACKAGE_CHECK_MS",
        default_value_t = 10_000,
        global = true
    )]
    pub package_check_ms: u64,
    /// This node's dashboard URL as other nodes and operators reach it (listed on the status
    /// page); by default its listen address.
    #[arg(long, env = "LP_NODE_URL", global = true)]
    pub node_url: Option<String>,
    /// Where finished media goes besides the data folder: `local` (only the data folder), or
    /// `s3://bucket[/prefix]` (S3-compatible object storage; every node serves from it).
    #[arg(long, env = "LP_STORAGE", default_value = "local", value_parser = parse_storage, global = true)]
    pub storage: Storage,
    /// The S3 endpoint (e.g. `http://127.0.0.1:9000` for a local server); AWS by default.
    #[arg(long, env = "LP_S3_ENDPOINT", global = true)]
    pub s3_endpoint: Option<String>,
    /// The S3 region.
    #[arg(long, env = "LP_S3_REGION", default_value = "us-east-1", global = true)]
    pub s3_region: String,
    /// The S3 access key id (else `AWS_ACCESS_KEY_ID`).
    #[arg(
        long,
        env = "LP_S3_ACCESS_KEY_ID",
        global = true,
        hide_env_values = true
    )]
    pub s3_access_key_id: Option<String>,
    /// The S3 secret access key (else `AWS_SECRET_ACCESS_KEY`).
    #[arg(
        long,
        env = "LP_S3_SECRET_ACCESS_KEY",
        global = true,
        hide_env_values = true
    )]
    pub s3_secret_access_key: Option<String>,
}

/// Where finished media is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// The data folder only.
    Local,
    /// The data folder while live, and S3-compatible object storage.
    S3(crate::remote::S3Location),
}

fn parse_storage(text: &str) -> Result<Storage, String> {
    if text == "local" {
        Ok(Storage::Local)
    } else {
        crate::remote::parse_location(text).map(Storage::S3)
    }
}

/// What recordings do at 100 % of the quota.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum QuotaRecordings {
    Keep,
    Stop,
}

fn parse_quota(text: &str) -> Result<u64, String> {
    app::domain::jobs::parse_size(text)
        .ok_or_else(|| format!("{text:?} is not a size (e.g. 500MB, 50GB, 2TiB)"))
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The database URL to open.
    pub fn database_url(&self) -> String {
        self.database_url
            .clone()
            .unwrap_or_else(|| format!("sqlite://{}", self.data_dir.join("livepro.db").display()))
    }

    /// Defaults with the given data folder and ephemeral ports (for tests).
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            listen: ([127, 0, 0, 1], 0).into(),
            rtmp_listen: ([127, 0, 0, 1], 0).into(),
            srt_listen: None,
            srt_latency_ms: 120,
            srt_public_url: None,
            data_dir,
            database_url: None,
            site_root: PathBuf::from("target/site"),
            rtmp_public_url: None,
            secure_cookies: false,
            ffmpeg: PathBuf::from("ffmpeg"),
            ffprobe: PathBuf::from("ffprobe"),
            transcode_preset: "ultrafast".into(),
            webhook_retry_ms: 300,
            // Tests run their webhook receivers on loopback.
            webhook_allow_hosts: vec!["127.0.0.1".into()],
            trusted_proxies: Vec::new(),
            no_sign_up: false,
            http_max_connections: 4096,
            http_header_timeout: 10,
            min_free_disk_mb: 100,
            metrics_listen: None,
            metrics_token: None,
            log_format: LogFormat::Text,
            default_storage_quota: None,
            quota_recordings: QuotaRecordings::Keep,
            usage_interval_ms: 30_000,
            retention_every_ms: 300_000,
            cluster: false,
            lease_ttl_ms: 6000,
            // Tests that are not about reconnects see a dropped publisher's session end at once.
            reconnect_grace_s: 0,
            ffmpeg_memory_limit_mb: 4096,
            public_lookup_ttl_ms: 1000,
            package_check_ms: 10_000,
            checkpoint_ms: 5000,
            node_url: None,
            storage: Storage::Local,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_access_key_id: None,
            s3_secret_access_key: None,
        }
    }
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Run,
    /// Seed a demo organisation, user and stream group, print how to use them, and run with
    /// a built-in test publisher feeding the group.
    Demo {
        /// Do not start the built-in test publisher (publish with OBS instead).
        #[arg(long)]
        no_publisher: bool,
    },
    /// Instance operator commands for organisations.
    Org {
        #[command(subcommand)]
        command: OrgCommand,
    },
    /// Instance operator commands for accounts.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// List what start-up repair moved to the quarantine (under the data folder).
    Quarantine,
}

/// Account administration.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Give an account a new random password (printed once) and end all its sessions.
    ResetPassword { email: String },
    /// Let an account see the server's status page (/status): the machine, every live
    /// session, recent failures, retention runs.
    MakeAdmin { email: String },
    /// Take the status page away from an account.
    RemoveAdmin { email: String },
}

/// Organisation administration.
#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// List organisations with their enabled packages.
    List,
    /// Enable a package (live_processing, transcoding) for an organisation (slug or id).
    EnablePackage { org: String, package: String },
    /// Disable a package for an organisation.
    DisablePackage { org: String, package: String },
    /// Set an organisation's storage quota (`500MB`, `50GB`, …), or `none` for the server's
    /// default.
    SetQuota { org: String, quota: String },
    /// Make an API key for an organisation (as its first owner) and print it once.
    CreateApiKey {
        org: String,
        name: String,
        /// viewer, editor, admin or owner.
        #[arg(long, default_value = "editor")]
        role: String,
    },
}
