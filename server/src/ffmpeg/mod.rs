//! ffmpeg as typed data: pure argv builders ([`args`]), the one wrapper that owns every child
//! process ([`process`]), and ffprobe ([`probe`]).

pub(crate) mod args;
pub(crate) mod probe;
pub(crate) mod process;

/// What can go wrong running ffmpeg.
#[derive(Debug, thiserror::Error)]
pub enum FfmpegError {
    #[error("could not start {program}: {source}")]
    Spawn {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{program} exited with {status}: {stderr}")]
    Failed {
        program: &'static str,
        status: String,
        stderr: String,
    },
    #[error("{program} took longer than {seconds} s")]
    Timeout { program: &'static str, seconds: u64 },
    #[error("cannot read {program} output: {0}", program = "ffprobe")]
    Parse(String),
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}
