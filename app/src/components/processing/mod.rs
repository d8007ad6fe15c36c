//! The pieces of the Live Processing tab: the three sections the seeds describe
//! (Thumbnails & Motion Clips, Live Replay, Recording), each with stream tabs, a header row
//! with Refresh and Edit, asset previews and a details table; the edit modal; the change
//! history. They all read one [`TabContext`] the tab page provides.

pub mod cells;
pub mod delivery;
pub mod edit_modal;
pub mod header;
pub mod history;
pub mod recording;
pub mod replay;
pub mod visual;

use leptos::prelude::*;

use crate::domain::overview::ProcessingOverview;
use crate::domain::settings::ProcessKind;
use crate::domain::streams::StreamInfo;

/// One section of the tab, and what its Edit button edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    /// Thumbnails and Motion Clips share a view.
    Visual,
    Replay,
    Recording,
}

impl Section {
    /// The processes the section shows and edits.
    pub fn kinds(self) -> Vec<ProcessKind> {
        match self {
            Section::Visual => vec![ProcessKind::Thumbnail, ProcessKind::MotionClip],
            Section::Replay => vec![ProcessKind::Replay],
            Section::Recording => vec![ProcessKind::Recording],
        }
    }

    /// The section's title.
    pub fn title(self) -> &'static str {
        match self {
            Section::Visual => "Thumbnails & Motion Clips",
            Section::Replay => "Live Replay",
            Section::Recording => "Recording",
        }
    }

    /// A stable id for anchors and test selectors.
    pub fn id(self) -> &'static str {
        match self {
            Section::Visual => "visual",
            Section::Replay => "replay",
            Section::Recording => "recording",
        }
    }
}

/// What every part of the tab shares.
#[derive(Clone, Copy)]
pub struct TabContext {
    pub group_id: i64,
    /// The newest data the server sent; kept while a refresh is under way so nothing blanks.
    pub data: Memo<Option<ProcessingOverview>>,
    /// Bumped to re-fetch (Refresh, the timer, a save).
    pub refresh: RwSignal<u64>,
    /// Whether a fetch is under way.
    pub loading: Signal<bool>,
    /// The section whose settings the modal edits, if open.
    pub editing: RwSignal<Option<Section>>,
    /// Whether the caller's role may edit settings.
    pub can_edit: bool,
    /// Whether the caller's role may make clips.
    pub can_clip: bool,
}

impl TabContext {
    /// Re-fetches the tab's data.
    pub fn reload(&self) {
        self.refresh.update(|n| *n += 1);
    }

    /// A derived view of the data (`None` until the first fetch).
    pub fn with<T>(&self, f: impl FnOnce(&ProcessingOverview) -> T) -> Option<T> {
        self.data.with(|d| d.as_ref().map(f))
    }
}

/// The tab's context, provided by the Live Processing page.
pub fn use_tab() -> TabContext {
    expect_context::<TabContext>()
}

/// The streams of the group (ingest first), as the tab shows them.
pub fn streams(ctx: &TabContext) -> Vec<StreamInfo> {
    // The layout is rebuilt when the streams change (the page watches that); not here.
    ctx.data
        .with_untracked(|d| d.as_ref().map(|o| o.streams.clone()))
        .unwrap_or_default()
}
