//! Replay beyond the live window: clips cut from a replay without re-encoding (and their
//! MP4 downloads and posters), and spans of the buffer saved as recordings. The rolling
//! replay itself is written by the runner (`runner::replay`).

pub mod clips;
pub mod saved;
pub mod select;
