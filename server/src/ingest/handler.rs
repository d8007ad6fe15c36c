//! What a publish is allowed to do: the key must be a known, current stream key (unknown and
//! revoked keys are refused and logged by prefix only; an address that keeps trying wrong
//! keys is slowed down and then refused); a second publisher on a live key is refused;
//! accepted media goes to the supervisor with timestamps relative to the session's first
//! tag.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use app::ssr::limiter::FailureLimiter;
use app::ssr::repo::streams::KeyOwner;
use app::ssr::{repo, AppState};
use rtmp_ingest::{Media, MediaKind, Refusal};
use tokio::sync::mpsc::error::TrySendError;
use tokio_util::sync::CancellationToken;

use crate::media::flv::TagKind;
use crate::runner::gop::MediaTag;
use crate::runner::{BeginError, Publisher, Supervisor};

/// The only application name publishers use.
pub(crate) const APP: &str = "live";
/// Pause before answering a wrong key (slows guessing down).
const WRONG_KEY_DELAY: Duration = Duration::from_millis(750);

/// Key checks and session start-up for the ingest.
pub(crate) struct IngestHandler {
    state: AppState,
    supervisor: Supervisor,
    wrong_keys: FailureLimiter,
}

/// A refused publish, as the publisher is told.
#[derive(Debug)]
pub(crate) struct Refused {
    pub(crate) why: Refusal,
    pub(crate) message: String,
}

impl IngestHandler {
    /// A handler that starts sessions on `supervisor`.
    pub(crate) fn new(state: AppState, supervisor: Supervisor) -> Self {
        Self {
            state,
            supervisor,
            wrong_keys: FailureLimiter::new(10, Duration::from_secs(60)),
        }
    }

    /// Whether an address has tried too many wrong keys lately.
    pub(crate) fn blocked(&self, ip: IpAddr) -> bool {
        self.wrong_keys
            .check(&ip.to_string(), Instant::now())
            .is_err()
    }

    /// Whether `connect` names our application; the refusal says how to publish.
    pub(crate) fn check_app(app: &str) -> Result<(), &'static str> {
        if app.trim_matches('/') == APP {
            Ok(())
        } else {
            Err("unknown application; publish to rtmp://host/live/<stream key>")
        }
    }

    /// Checks a stream key and starts the group's session. `cut` closes the connection when
    /// the supervisor ends the session from its side.
    pub(crate) async fn authorize(
        &self,
        stream_key: &str,
        peer: SocketAddr,
        cut: CancellationToken,
    ) -> Result<Publisher, Refused> {
        let owner = self.check_key(stream_key, peer).await?;
        self.begin(&owner, peer, cut).await
    }

    /// Whether `stream_key` is a current key (wrong keys are counted against the address and
    /// answered slowly); the key's owner when it is.
    pub(crate) async fn check_key(
        &self,
        stream_key: &str,
        peer: SocketAddr,
    ) -> Result<KeyOwner, Refused> {
        let ip = peer.ip().to_string();
        if let Err(wait) = self.wrong_keys.check(&ip, Instant::now()) {
            crate::metrics::publish_attempt("rate_limited");
            return Err(Refused {
                why: Refusal::Denied,
                message: format!(
                    "too many wrong keys; try again in {} s",
                    wait.as_secs().max(1)
                ),
            });
        }
        // OBS may append a query string; the key is what comes before it.
        let key = stream_key.split('?').next().unwrap_or("").trim();
        let owner = match repo::streams::find_key(&self.state.db, key).await {
            Ok(Some(o)) => o,
            Ok(None) => {
                crate::metrics::publish_attempt("unknown_key");
                return Err(self.refuse_key(peer, key, "unknown stream key").await);
            }
            Err(e) => {
                crate::metrics::publish_attempt("error");
                tracing::error!(error = %e, "stream key lookup failed");
                return Err(Refused {
                    why: Refusal::Denied,
                    message: "internal error".into(),
                });
            }
        };
        if owner.revoked {
            crate::metrics::publish_attempt("revoked_key");
            return Err(self.refuse_key(peer, key, "revoked stream key").await);
        }
        Ok(owner)
    }

    /// Starts the session of a checked key's group, unless it is live already.
    pub(crate) async fn begin(
        &self,
        owner: &KeyOwner,
        peer: SocketAddr,
        cut: CancellationToken,
    ) -> Result<Publisher, Refused> {
        let ip = peer.ip().to_string();
        match self
            .supervisor
            .begin(owner.group_id, &peer.to_string(), cut)
            .await
        {
            Ok(publisher) => {
                crate::metrics::publish_attempt("accepted");
                self.wrong_keys.clear(&ip);
                Ok(publisher)
            }
            Err(BeginError::AlreadyLive) => {
                crate::metrics::publish_attempt("already_live");
                tracing::warn!(peer = %peer, group.id = owner.group_id, "publish refused: already live");
                Err(Refused {
                    why: Refusal::Denied,
                    message: "this stream is already live from another publisher".into(),
                })
            }
            Err(e) => {
                crate::metrics::publish_attempt("error");
                tracing::error!(group.id = owner.group_id, error = %e, "cannot start session");
                Err(Refused {
                    why: Refusal::Denied,
                    message: "cannot start the session".into(),
                })
            }
        }
    }

    /// The publisher's connection closed, however it ended: its session ends with `reason`
    /// (in the session's row, the API and the `session.ended` webhook). When the connection
    /// `dropped` (it did not say it was done, and the server did not cut it), the session
    /// waits for the same key to publish again within the group's reconnect grace first.
    pub(crate) async fn ended(&self, publisher: Publisher, reason: &str, dropped: bool) {
        let (group_id, session_id) = (publisher.group_id, publisher.session_id);
        if dropped {
            // Decided before the media stops, so the replay is left open for the reconnect.
            self.supervisor.dropped(group_id, session_id, reason).await;
            drop(publisher);
        } else {
            drop(publisher);
            self.supervisor.end(group_id, session_id, reason).await;
        }
    }

    /// Whether the group is live from a publisher on this node (a refusal can then come
    /// before any media is accepted; another node's lease is found when the session begins).
    pub(crate) fn is_live_here(&self, group_id: i64) -> bool {
        self.supervisor.is_live(group_id)
    }

    /// A wrong secret other than the key (the SRT passphrase): counted like a wrong key.
    pub(crate) fn wrong_secret(&self, peer: SocketAddr) {
        self.wrong_keys.fail(&peer.ip().to_string(), Instant::now());
    }

    async fn refuse_key(&self, peer: SocketAddr, key: &str, why: &str) -> Refused {
        self.wrong_keys.fail(&peer.ip().to_string(), Instant::now());
        // Never the key itself: a prefix is enough to tell keys apart in a log.
        tracing::warn!(peer = %peer, key.prefix = %key.chars().take(6).collect::<String>(), "publish refused: {why}");
        tokio::time::sleep(WRONG_KEY_DELAY).await;
        Refused {
            why: Refusal::BadName,
            message: why.into(),
        }
    }
}

/// Why a publish of `what` (a codec or container the pipeline cannot take) ends, as the
/// session's end reason and the processes' failure say it.
pub(crate) fn unsupported_reason(what: &str) -> String {
    format!(
        "{} {what}; publish H.264, HEVC or AV1 video with AAC audio (in OBS: Output → Encoder x264, NVENC H.264 or an HEVC or AV1 encoder; Audio Encoder AAC)",
        app::domain::jobs::UNSUPPORTED_MEDIA
    )
}

/// Hands an accepted publisher's media to its session: timestamps made relative to the first
/// tag, and when the session falls behind, tags dropped until the next video keyframe.
pub(crate) struct MediaForwarder {
    publisher: Publisher,
    first_ts: Option<u32>,
    dropped: u64,
    /// Media was dropped: skip video until the next keyframe.
    resync: bool,
    /// The first video and audio tags' codecs were checked.
    video_checked: bool,
    audio_checked: bool,
}

/// What became of a tag.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Forwarded {
    /// Passed on (or dropped while the session catches up).
    Taken,
    /// The session no longer takes media.
    Closed,
    /// The publisher sends a codec the pipeline cannot process: the publish ends with this
    /// reason.
    Unsupported(String),
}

impl MediaForwarder {
    /// Forwards to `publisher`'s session.
    pub(crate) fn new(publisher: Publisher) -> Self {
        Self {
            publisher,
            first_ts: None,
            dropped: 0,
            resync: false,
            video_checked: false,
            audio_checked: false,
        }
    }

    /// Refuses a codec the pipeline cannot take, from the first tag of each kind: it takes
    /// H.264 (read by ffmpeg from FLV) and Enhanced RTMP's HEVC and AV1 (and AVC), which ffmpeg 5.1
    /// cannot read from FLV and gets in Matroska instead ([`crate::runner::gop::Feed`]), with
    /// AAC audio.
    fn check_codec(&mut self, media: &Media) -> Option<String> {
        let unsupported = match media.kind {
            MediaKind::Video if !self.video_checked => {
                self.video_checked = true;
                rtmp_ingest::flv::unsupported_video(&media.payload).map(|c| format!("{c} video"))
            }
            MediaKind::Audio if !self.audio_checked => {
                self.audio_checked = true;
                rtmp_ingest::flv::unsupported_audio(&media.payload).map(|c| format!("{c} audio"))
            }
            _ => None,
        }?;
        Some(unsupported_reason(&unsupported))
    }

    /// Passes one tag on.
    pub(crate) fn forward(&mut self, media: Media) -> Forwarded {
        if let Some(reason) = self.check_codec(&media) {
            tracing::warn!(
                group.id = self.publisher.group_id,
                session.id = self.publisher.session_id,
                reason,
                "publish ended: unsupported codec"
            );
            return Forwarded::Unsupported(reason);
        }
        let first = *self.first_ts.get_or_insert(media.timestamp);
        let tag = MediaTag {
            kind: match media.kind {
                MediaKind::Audio => TagKind::Audio,
                MediaKind::Video => TagKind::Video,
                MediaKind::Script => TagKind::Script,
            },
            // A tag stamped before the first one is stamped as the first (not 49 days on).
            timestamp_ms: media.timestamp.saturating_sub(first),
            body: media.payload,
        };
        if self.resync && tag.kind == TagKind::Video {
            if !tag.is_keyframe() {
                return Forwarded::Taken;
            }
            self.resync = false;
        }
        match self.publisher.tags.try_send(tag) {
            Ok(()) => Forwarded::Taken,
            Err(TrySendError::Full(_)) => {
                self.resync = true;
                self.dropped += 1;
                if self.dropped % 100 == 1 {
                    tracing::warn!(
                        group.id = self.publisher.group_id,
                        session.id = self.publisher.session_id,
                        dropped = self.dropped,
                        "session is behind; dropping media"
                    );
                }
                Forwarded::Taken
            }
            Err(TrySendError::Closed(_)) => Forwarded::Closed,
        }
    }

    /// The publisher, to end its session.
    pub(crate) fn into_publisher(self) -> Publisher {
        self.publisher
    }
}
