//! The server's status page (server admins only): the machine, every live session with its
//! job states, recent failures with their reasons, and retention runs, across organisations.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::jobs::{JobStatus, StorageStatus};
use super::retention::RetainedKind;
use super::settings::ProcessKind;

/// The machine as the server sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MachineStatus {
    /// CPU busy over a short sample, 0–100 (all cores).
    pub cpu_percent: f64,
    pub cores: u32,
    pub memory_used_bytes: u64,
    pub memory_total_bytes: u64,
    /// The server process's resident memory.
    pub server_rss_bytes: u64,
    /// ffmpeg and ffprobe processes running now.
    pub ffmpeg_children: u64,
    /// The data folder's disk.
    pub disk: StorageStatus,
}

/// A job that restarted or failed, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFailure {
    pub at: DateTime<Utc>,
    pub stream_id: i64,
    pub process: ProcessKind,
    /// `restarting` or `failed`.
    pub outcome: String,
    pub reason: String,
}

/// A live session on the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveSessionRow {
    pub organisation: String,
    pub group_id: i64,
    pub group: String,
    pub started_at: DateTime<Utc>,
    /// The node holding the session's lease.
    pub node: Option<String>,
    /// Each stream of the group (ingest first) with its job states.
    pub streams: Vec<LiveStream>,
}

/// One stream of a live session and its jobs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveStream {
    pub name: String,
    pub jobs: Vec<JobStatus>,
}

/// A retention run on the status page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionRow {
    pub at: DateTime<Utc>,
    pub organisation: String,
    pub group_id: i64,
    pub kind: RetainedKind,
    pub items: i64,
    pub bytes: i64,
    pub reason: String,
}

/// Everything the status page shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerStatus {
    pub version: String,
    /// The node answering.
    pub node_id: String,
    /// Every node sharing the database.
    pub nodes: Vec<NodeStatus>,
    pub machine: MachineStatus,
    pub live: Vec<LiveSessionRow>,
    pub failures: Vec<JobFailure>,
    pub retention: Vec<RetentionRow>,
    pub fetched_at: DateTime<Utc>,
}

/// A server sharing the database (one per data folder), as its heartbeats show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub id: String,
    /// Where its dashboard and publishers reach it (as it announced them).
    pub http_url: Option<String>,
    pub rtmp_url: Option<String>,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub heartbeat_at: DateTime<Utc>,
    /// Set when it stopped cleanly.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Its heartbeat is recent (it holds its leases).
    pub alive: bool,
    pub live_sessions: i64,
    /// The machine's 1-minute load average and its cores, when known.
    pub load_1m: Option<f64>,
    pub cpus: Option<u32>,
    /// The stream groups it owns now: "organisation / group".
    pub owns: Vec<String>,
}
