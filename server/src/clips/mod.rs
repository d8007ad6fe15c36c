//! Shared clips and saved spans: what is cut out of a replay to outlive its rolling window.
//! Clips are cut without re-encoding ([`cut`]: hard-linked segments under a VOD playlist,
//! then a poster and an MP4 download), spans are saved as recordings ([`saved`]), and
//! [`select`] decides which segments a span covers. The live replay playlist itself is
//! written by the runner (`runner::replay`); motion clips are a process of the runner
//! (`runner::motion_clips`), not these.

pub mod cut;
pub mod saved;
pub mod select;
