//! What a publish is allowed to do: the key must be a known, current stream key (unknown and
//! revoked keys are refused and logged; an address that keeps trying wrong keys is slowed
//! down and then refused); a second publisher on a live key is refused; accepted media goes
//! to the supervisor with timestamps relative to the session's first tag.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use app::ssr::limiter::FailureLimiter;
use app::ssr::{repo, AppState};
use rtmp_rs::media::flv::{FlvTag, FlvTagType};
use rtmp_rs::protocol::message::{ConnectParams, PlayParams, PublishParams};
use rtmp_rs::server::handler::MediaDeliveryMode;
use rtmp_rs::session::{SessionContext, StreamContext};
use rtmp_rs::{AuthResult, RtmpHandler};
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use crate::media::flv::TagKind;
use crate::runner::gop::MediaTag;
use crate::runner::{BeginError, Publisher, Supervisor};

/// The only application name publishers use.
pub const APP: &str = "live";
/// Pause before answering a wrong key (slows guessing down).
const WRONG_KEY_DELAY: Duration = Duration::from_millis(750);

struct Conn {
    cut: CancellationToken,
    publisher: Option<Publisher>,
    first_ts: Option<u32>,
    dropped: u64,
    /// Media was dropped: skip video until the next keyframe.
    resync: bool,
    /// The client sent `connect`.
    connected: bool,
}

/// The RTMP handler: key checks and media hand-off.
pub struct IngestHandler {
    state: AppState,
    supervisor: Supervisor,
    wrong_keys: FailureLimiter,
    conns: Mutex<HashMap<u64, Conn>>,
}

impl IngestHandler {
    /// A handler that starts sessions on `supervisor`.
    pub fn new(state: AppState, supervisor: Supervisor) -> Self {
        Self {
            state,
            supervisor,
            wrong_keys: FailureLimiter::new(10, Duration::from_secs(60)),
            conns: Mutex::new(HashMap::new()),
        }
    }

    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A connection was accepted; `cut` closes it.
    pub fn connection_opened(&self, id: u64, cut: CancellationToken) {
        self.conns().insert(
            id,
            Conn {
                cut,
                publisher: None,
                first_ts: None,
                dropped: 0,
                resync: false,
                connected: false,
            },
        );
    }

    /// Whether the connection got as far as `connect`.
    pub fn has_connected(&self, id: u64) -> bool {
        self.conns().get(&id).is_some_and(|c| c.connected)
    }

    /// Whether the connection is publishing.
    pub fn is_publishing(&self, id: u64) -> bool {
        self.conns().get(&id).is_some_and(|c| c.publisher.is_some())
    }

    /// A connection closed, however it ended: its session (if any) ends.
    pub async fn connection_closed(&self, id: u64) {
        let conn = self.conns().remove(&id);
        if let Some(Conn {
            publisher: Some(p),
            cut,
            ..
        }) = conn
        {
            let reason = if cut.is_cancelled() {
                "disconnected by the server"
            } else {
                "publisher left"
            };
            let (group_id, session_id) = (p.group_id, p.session_id);
            drop(p);
            self.supervisor.end(group_id, session_id, reason).await;
        }
    }

    async fn refuse_key(&self, ctx: &SessionContext, key: &str, why: &str) -> AuthResult {
        let ip = ctx.peer_addr.ip().to_string();
        self.wrong_keys.fail(&ip, Instant::now());
        tracing::warn!(peer = %ctx.peer_addr, key.prefix = %key.chars().take(6).collect::<String>(), "publish refused: {why}");
        tokio::time::sleep(WRONG_KEY_DELAY).await;
        AuthResult::Reject(why.into())
    }
}

fn tag_kind(t: FlvTagType) -> TagKind {
    match t {
        FlvTagType::Audio => TagKind::Audio,
        FlvTagType::Video => TagKind::Video,
        FlvTagType::Script => TagKind::Script,
    }
}

impl RtmpHandler for IngestHandler {
    async fn on_connection(&self, ctx: &SessionContext) -> bool {
        let ip = ctx.peer_addr.ip().to_string();
        if self.wrong_keys.check(&ip, Instant::now()).is_err() {
            tracing::warn!(peer = %ctx.peer_addr, "rtmp connection refused: too many wrong keys");
            return false;
        }
        true
    }

    async fn on_connect(&self, ctx: &SessionContext, params: &ConnectParams) -> AuthResult {
        if let Some(c) = self.conns().get_mut(&ctx.session_id) {
            c.connected = true;
        }
        if params.app.trim_matches('/') == APP {
            AuthResult::Accept
        } else {
            AuthResult::Reject(format!(
                "unknown application {:?}; publish to rtmp://host/{APP}/<stream key>",
                params.app
            ))
        }
    }

    async fn on_publish(&self, ctx: &SessionContext, params: &PublishParams) -> AuthResult {
        let ip = ctx.peer_addr.ip().to_string();
        if let Err(wait) = self.wrong_keys.check(&ip, Instant::now()) {
            return AuthResult::Reject(format!(
                "too many wrong keys; try again in {} s",
                wait.as_secs().max(1)
            ));
        }
        // OBS may append a query string; the key is what comes before it.
        let key = params.stream_key.split('?').next().unwrap_or("").trim();
        let owner = match repo::streams::find_key(&self.state.db, key).await {
            Ok(Some(o)) => o,
            Ok(None) => return self.refuse_key(ctx, key, "unknown stream key").await,
            Err(e) => {
                tracing::error!("stream key lookup failed: {e}");
                return AuthResult::Reject("internal error".into());
            }
        };
        if owner.revoked {
            return self.refuse_key(ctx, key, "revoked stream key").await;
        }
        let Some(cut) = self.conns().get(&ctx.session_id).map(|c| c.cut.clone()) else {
            return AuthResult::Reject("connection closed".into());
        };
        match self
            .supervisor
            .begin(owner.group_id, &ctx.peer_addr.to_string(), cut)
            .await
        {
            Ok(publisher) => {
                self.wrong_keys.clear(&ip);
                if let Some(c) = self.conns().get_mut(&ctx.session_id) {
                    c.publisher = Some(publisher);
                }
                AuthResult::Accept
            }
            Err(BeginError::AlreadyLive) => {
                tracing::warn!(peer = %ctx.peer_addr, group.id = owner.group_id, "publish refused: already live");
                AuthResult::Reject("this stream is already live from another publisher".into())
            }
            Err(e) => {
                tracing::error!(group.id = owner.group_id, "cannot start session: {e}");
                AuthResult::Reject("cannot start the session".into())
            }
        }
    }

    async fn on_play(&self, _ctx: &SessionContext, _params: &PlayParams) -> AuthResult {
        AuthResult::Reject("this server takes publishers only".into())
    }

    async fn on_media_tag(&self, ctx: &StreamContext, tag: &FlvTag) -> bool {
        let mut conns = self.conns();
        let Some(conn) = conns.get_mut(&ctx.session.session_id) else {
            return false;
        };
        let Some(publisher) = &conn.publisher else {
            return false;
        };
        let first = *conn.first_ts.get_or_insert(tag.timestamp);
        let media = MediaTag {
            kind: tag_kind(tag.tag_type),
            timestamp_ms: tag.timestamp.wrapping_sub(first),
            body: tag.data.clone(),
        };
        if conn.resync && media.kind == TagKind::Video {
            if !media.is_keyframe() {
                return true;
            }
            conn.resync = false;
        }
        match publisher.tags.try_send(media) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                conn.resync = true;
                conn.dropped += 1;
                if conn.dropped % 100 == 1 {
                    tracing::warn!(
                        group.id = publisher.group_id,
                        dropped = conn.dropped,
                        "session is behind; dropping media"
                    );
                }
                true
            }
            Err(TrySendError::Closed(_)) => false,
        }
    }

    async fn on_disconnect(&self, _ctx: &SessionContext) {}

    fn media_delivery_mode(&self) -> MediaDeliveryMode {
        MediaDeliveryMode::RawFlv
    }
}
