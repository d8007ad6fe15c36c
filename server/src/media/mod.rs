//! Media formats we read or write ourselves, without ffmpeg: FLV (what the ingest feeds
//! ffmpeg), fragmented MP4 boxes (recordings appended from HLS segments), HLS playlists, and
//! animated WebP headers.

pub use rtmp_ingest::flv;
pub use rtmp_ingest::mkv;
pub mod fmp4;
pub(crate) mod jpeg;
pub mod m3u8;
pub(crate) mod webp;
