//! What goes wrong in the media pipeline, typed: callers can tell a refusal (the span is not
//! in the buffer) from a failed ffmpeg, a file that cannot be written, a database error or a
//! full disk. Members see [`JobError::public`] (job states, API answers), which names no
//! server path; the details go to the log.

use std::path::PathBuf;

use app::ssr::pipeline::MediaError;

use crate::ffmpeg::FfmpegError;
use crate::media::fmp4::Malformed;

/// A pipeline operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// It cannot be done as asked (the caller can change the request).
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Ffmpeg(#[from] FfmpegError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Media(#[from] Malformed),
    /// A file came out unusable.
    #[error("{0}")]
    Invalid(&'static str),
    #[error("the server's disk is almost full")]
    DiskFull,
}

impl JobError {
    /// Wraps an I/O error with the file it concerns: `.map_err(JobError::io(&path))`.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> JobError {
        let path = path.into();
        move |source| JobError::Io { path, source }
    }

    /// A refusal with a reason the caller can act on.
    pub fn refused(reason: impl Into<String>) -> Self {
        JobError::Refused(reason.into())
    }

    /// What a member may read: the kind of failure, with no server path in it.
    pub fn public(&self) -> String {
        match self {
            JobError::Refused(r) => r.clone(),
            JobError::Ffmpeg(e) => redact_paths(&e.to_string()),
            JobError::Io { source, .. } => {
                format!("a file could not be written or read ({source})")
            }
            JobError::Db(_) => "the database is unavailable".into(),
            JobError::Media(e) => e.to_string(),
            JobError::Invalid(what) => (*what).into(),
            JobError::DiskFull => "the server's disk is almost full".into(),
        }
    }

    /// The client-safe error of the pipeline's boundary; internal failures are logged with a
    /// reference the answer carries.
    pub fn into_media(self) -> MediaError {
        match self {
            JobError::Refused(r) => MediaError::Refused(r),
            JobError::DiskFull => MediaError::DiskFull,
            e => {
                let reference = format!("{:08x}", rand::random::<u32>());
                tracing::error!(error.reference = %reference, error = %e, "media operation failed");
                MediaError::Internal(reference)
            }
        }
    }
}

/// `text` with every absolute path reduced to its file name (ffmpeg's messages name the
/// files it writes).
pub fn redact_paths(text: &str) -> String {
    text.split(' ')
        .map(|word| {
            let trimmed = word.trim_start_matches(['\'', '"', '(']);
            match trimmed.strip_prefix('/') {
                Some(rest) if rest.contains('/') => {
                    let name = trimmed.rsplit('/').next().unwrap_or("");
                    format!("{}…/{name}", &word[..word.len() - trimmed.len()])
                }
                _ => word.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_messages_name_no_server_paths() {
        assert_eq!(
            redact_paths("Error opening output '/data/media/o1/g2/x.jpg.part': No space left"),
            "Error opening output '…/x.jpg.part': No space left"
        );
        assert_eq!(
            redact_paths("exit code 1 (bad input)"),
            "exit code 1 (bad input)"
        );
        let io = JobError::io("/data/media/o1/secret/x.mp4")(std::io::Error::other("disk"));
        assert!(!io.public().contains("/data"), "{}", io.public());
        assert!(io.to_string().contains("/data"), "the log keeps the path");
    }

    #[test]
    fn refusals_cross_the_boundary_and_failures_become_references() {
        assert_eq!(
            JobError::refused("the span left the buffer").into_media(),
            MediaError::Refused("the span left the buffer".into())
        );
        assert_eq!(JobError::DiskFull.into_media(), MediaError::DiskFull);
        assert!(matches!(
            JobError::Invalid("thumbnail is not a JPEG").into_media(),
            MediaError::Internal(r) if r.len() == 8
        ));
    }
}
