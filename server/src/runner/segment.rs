//! A segment as renditions keep it: where it is, which run wrote it, and when it plays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::JobError;
use crate::media::fmp4;

/// A completed segment of a rendition.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Segment {
    pub(crate) run: u32,
    pub(crate) path: PathBuf,
    pub(crate) init: PathBuf,
    /// Media time of its first frame, seconds since the session's first tag.
    pub(crate) start: f64,
    pub(crate) duration: f64,
    /// Wall-clock time of its first frame.
    pub(crate) wall: DateTime<Utc>,
}

impl Segment {
    /// Media time where it ends.
    pub(crate) fn end(&self) -> f64 {
        self.start + self.duration
    }
}

/// An init segment read once per run.
#[derive(Debug, Clone)]
pub(crate) struct InitInfo {
    pub(crate) bytes: Vec<u8>,
    pub(crate) timescales: HashMap<u32, u32>,
}

impl InitInfo {
    /// Reads and parses an init segment.
    pub(crate) async fn read(path: &Path) -> Result<Arc<Self>, JobError> {
        let bytes = tokio::fs::read(path).await.map_err(JobError::io(path))?;
        let timescales = fmp4::timescales(&bytes)?;
        Ok(Arc::new(Self { bytes, timescales }))
    }
}
