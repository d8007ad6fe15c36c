//! Packages an organisation can have enabled. The instance operator grants them (server
//! CLI); the dashboard shows them in the organisation's Enabled Packages section.

use serde::{Deserialize, Serialize};

/// A feature package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Package {
    /// Thumbnails, motion clips, recording and replay.
    LiveProcessing,
    /// Transcoding profiles (renditions) in a stream group.
    Transcoding,
}

impl Package {
    /// Every package, in display order.
    pub const ALL: [Package; 2] = [Package::LiveProcessing, Package::Transcoding];

    /// Stable key (`live_processing`), used in the database, the CLI and the API.
    pub fn key(self) -> &'static str {
        match self {
            Package::LiveProcessing => "live_processing",
            Package::Transcoding => "transcoding",
        }
    }

    /// Parses [`Package::key`].
    pub fn from_key(key: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.key() == key)
    }

    /// Human name.
    pub fn label(self) -> &'static str {
        match self {
            Package::LiveProcessing => "Live Processing",
            Package::Transcoding => "Transcoding",
        }
    }

    /// One line on what it gives.
    pub fn description(self) -> &'static str {
        match self {
            Package::LiveProcessing => {
                "Thumbnails, motion clips, recordings and instant replay made while you are live."
            }
            Package::Transcoding => {
                "Extra renditions (transcoding profiles) for every stream group."
            }
        }
    }
}

/// Whether a package is on for an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageState {
    pub package: Package,
    pub enabled: bool,
}
