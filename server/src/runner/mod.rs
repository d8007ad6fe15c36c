//! The job runner: one supervisor in the server owns every live session and, through them,
//! every ffmpeg child. Per session: a copy source for the ingest, a transcoder for the
//! profiles (decode once, encode each) while any profile needs it, and a worker per stream
//! that turns completed segments into recordings, replay, thumbnails and motion clips.
//!
//! ```text
//! RTMP tags ─► session ─► source (ffmpeg: copy) ───────► segments ─► rendition (ingest)
//!                     └─► source (ffmpeg: transcode) ─┬► segments ─► rendition (1080p)
//!                                                     └► segments ─► rendition (720p) …
//! ```
//!
//! Where things are: [`ctx`] (what the parts share), [`supervisor`] (sessions start and
//! end; the dashboard's port), [`session`], [`source`] and [`rendition`] (one live session's
//! parts), what a session's streams share ([`share`]: a group cuts a motion clip once), one
//! file per process kind ([`thumbnails`], [`motion_clips`], [`recording`],
//! [`replay`]), and start-up repair ([`reconcile`]).

pub(crate) mod backoff;
mod ctx;
pub mod disk;
pub mod error;
pub(crate) mod gop;
pub(crate) mod jobs;
pub mod leases;
pub(crate) mod motion_clips;
pub mod peers;
pub mod reconcile;
pub(crate) mod recording;
pub(crate) mod rendition;
pub(crate) mod replay;
pub(crate) mod schedule;
pub(crate) mod segment;
pub(crate) mod session;
pub(crate) mod share;
pub(crate) mod source;
mod supervisor;
pub(crate) mod thumbnails;
pub mod usage;

pub use crate::events::PipelineEvent;
pub use ctx::{register_asset, RunnerConfig, RunnerCtx, StreamSettings, Writer};
pub(crate) use recording::recover_checkpointed;
pub(crate) use replay::close_abandoned;
pub use supervisor::{BeginError, Publisher, Supervisor};
