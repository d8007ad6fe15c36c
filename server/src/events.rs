//! What the pipeline announces (to webhooks, and to whoever else listens).

use app::domain::settings::ProcessKind;

/// Something the pipeline did, announced to webhooks. Sent on a broadcast channel: nobody
/// listening, or a listener that lags, never holds the pipeline up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipelineEvent {
    /// A file was registered (or a replay closed).
    AssetCreated {
        asset_id: i64,
    },
    SessionStarted {
        organisation_id: i64,
        group_id: i64,
        session_id: i64,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// This node took the session over from a node whose lease expired.
    SessionTakenOver {
        organisation_id: i64,
        group_id: i64,
        session_id: i64,
        epoch: i64,
        /// The publisher came back within the reconnect grace (on the same node); else the
        /// session's node stopped answering and this node took it over.
        reconnect: bool,
        at: chrono::DateTime<chrono::Utc>,
    },
    SessionEnded {
        organisation_id: i64,
        group_id: i64,
        session_id: i64,
        reason: String,
        at: chrono::DateTime<chrono::Utc>,
    },
    /// A process kept failing and was given up.
    JobFailed {
        organisation_id: i64,
        stream_id: i64,
        process: ProcessKind,
        reason: String,
    },
    ClipCreated {
        clip_id: i64,
    },
    /// An organisation's storage crossed a level of its quota (either way).
    StorageQuota {
        organisation_id: i64,
        status: app::domain::jobs::QuotaStatus,
    },
}
