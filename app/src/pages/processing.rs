//! `/streams/:id/processing`, the Live Processing tab: fetches the group's overview (in the
//! browser, see [`crate::components::fetched`]), again on Refresh and every few seconds while
//! the page is visible (gloo-timers), and lays out the three sections, the edit modal and
//! the change history.

use leptos::prelude::*;

use crate::api::processing::get_processing_overview;
use crate::components::errors::ErrorBox;
use crate::components::fetched::{fetch_in_browser, Fetched};
use crate::components::processing::delivery::DeliverySection;
use crate::components::processing::edit_modal::EditModal;
use crate::components::processing::history::ChangeHistory;
use crate::components::processing::recording::RecordingSection;
use crate::components::processing::replay::ReplaySection;
use crate::components::processing::visual::VisualSection;
use crate::components::processing::{Section, TabContext};
use crate::components::retention::{RetentionCard, RetentionScope};
use crate::components::status::LiveBadge;
use crate::domain::account::SessionInfo;
use crate::domain::jobs::{QuotaLevel, QuotaStatus};
use crate::domain::overview::ProcessingOverview;
use crate::domain::roles::Permission;
use crate::domain::time::format_utc;
use crate::domain::AppError;

/// How often the tab re-fetches while visible.
pub const REFRESH_MS: u32 = 5_000;

/// The tab's content for a group the caller may see (the package check is done by the
/// caller of this component, and again by the server).
#[component]
pub fn LiveProcessing(
    group_id: Memo<Option<i64>>,
    session: SessionInfo,
    /// Bumped to re-fetch; shared with the page so its header follows too.
    refresh: RwSignal<u64>,
) -> impl IntoView {
    let overview = fetch_in_browser(
        move || (group_id.get(), refresh.get()),
        |(id, _)| async move {
            match id {
                Some(id) => get_processing_overview(id).await,
                None => Err(AppError::NotFound("Stream group".into())),
            }
        },
    );
    start_timed_refresh(refresh);
    let role = session.user.role;
    view! {
        {move || group_id.get().map(|group_id| view! {
            <Body overview refresh group_id can_edit=role.can(Permission::EditProcessing) can_clip=role.can(Permission::ManageClips)/>
        })}
    }
}

/// Re-fetches every [`REFRESH_MS`] while the page is visible; stops with the tab.
fn start_timed_refresh(refresh: RwSignal<u64>) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(REFRESH_MS).await;
            let visible = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
            if !visible {
                continue;
            }
            // The signal is gone once the tab is left: stop.
            if refresh.try_update(|n| *n += 1).is_none() {
                break;
            }
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = refresh;
}

#[component]
fn Body(
    overview: Fetched<ProcessingOverview>,
    refresh: RwSignal<u64>,
    group_id: i64,
    can_edit: bool,
    can_clip: bool,
) -> impl IntoView {
    // The newest good data; a failed refresh keeps what was shown and says why.
    let data =
        Memo::new(
            move |prev: Option<&Option<ProcessingOverview>>| match overview.value.get() {
                Some(Ok(o)) => Some(o),
                _ => prev.cloned().flatten(),
            },
        );
    let error = Memo::new(move |_| overview.value.get().and_then(Result::err));
    // The sections are laid out once per group shape (its streams, and which sections
    // show); refreshes update them in place.
    let shape = Memo::new(move |_| {
        data.with(|d| {
            d.as_ref().map(|o| {
                (
                    o.group_id,
                    o.streams.iter().map(|s| s.id).collect::<Vec<_>>(),
                    shown_sections(o),
                )
            })
        })
    });
    let shows = move |section: Section| {
        shape.with(|s| {
            s.as_ref()
                .is_some_and(|(_, _, shown)| shown.contains(&section))
        })
    };
    let ctx = TabContext {
        group_id,
        data,
        refresh,
        loading: overview.pending.read_only().into(),
        editing: RwSignal::new(None),
        can_edit,
        can_clip,
    };
    provide_context(ctx);
    view! {
        {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        {move || (shape.get().is_none() && error.get().is_none()).then(|| view! { <p class="muted">"Loading…"</p> })}
        {move || shape.get().map(|_| view! {
            <div class="lp-status">
                {move || data.get().map(|o| view! {
                    <LiveBadge status=o.status/>
                    <span class="muted small updated">{format!("Updated {}", format_utc(&o.fetched_at))}</span>
                })}
            </div>
            {move || data.get().filter(|o| o.storage.low).map(|o| view! {
                <div class="notice-box warning" role="alert" id="storage-low">
                    {format!(
                        "The server's disk is almost full ({} MB free): thumbnails, motion clips, clip downloads and saved spans are paused; recordings and replays go on. Work resumes by itself when space returns.",
                        o.storage.free_bytes / 1_000_000
                    )}
                </div>
            })}
            {move || data.get().and_then(|o| quota_notice(&o.storage.quota))}
            {move || shows(Section::Visual).then(|| view! { <VisualSection/> })}
            {move || shows(Section::Replay).then(|| view! { <ReplaySection/> })}
            {move || shows(Section::Recording).then(|| view! { <RecordingSection/> })}
            {move || shape.get().map(|(_, _, shown)| view! { <NotEnabled shown can_edit/> })}
            <DeliverySection/>
            <RetentionCard scope=RetentionScope::Group(group_id) can_edit/>
            <ChangeHistory/>
        })}
        <EditModal/>
    }
}

/// The sections the tab shows: a process enabled on some stream of the group ("displays all
/// enabled live processes"), or one switched off that still has files to show.
fn shown_sections(o: &ProcessingOverview) -> Vec<Section> {
    let has_files = |section: Section| {
        o.assets.iter().any(|a| match section {
            Section::Visual => !a.thumbnails.is_empty() || !a.motion_clips.is_empty(),
            Section::Replay => !a.replays.is_empty(),
            Section::Recording => !a.recordings.is_empty(),
        })
    };
    [Section::Visual, Section::Replay, Section::Recording]
        .into_iter()
        .filter(|s| o.any_enabled(&s.kinds()) || has_files(*s))
        .collect()
}

/// The processes not shown, with a way to enable each (editors) instead of a blank page.
#[component]
fn NotEnabled(shown: Vec<Section>, can_edit: bool) -> impl IntoView {
    let ctx = expect_context::<TabContext>();
    let missing: Vec<Section> = [Section::Visual, Section::Replay, Section::Recording]
        .into_iter()
        .filter(|s| !shown.contains(s))
        .collect();
    (!missing.is_empty()).then(|| {
        let names = missing.iter().map(|s| s.title()).collect::<Vec<_>>().join(", ");
        let intro = if shown.is_empty() {
            "No live process is enabled on any stream of this group yet."
        } else {
            "Not enabled on any stream of this group:"
        };
        view! {
            <section class="card lp-section" id="not-enabled" aria-labelledby="not-enabled-title">
                <h2 id="not-enabled-title">"Other live processes"</h2>
                <p>{intro} " " <strong class="missing">{names}</strong></p>
                {if can_edit {
                    view! {
                        <p class="actions left">
                            {missing.into_iter().map(|s| view! {
                                <button type="button" class="secondary enable-section" data-section=s.id()
                                    on:click=move |_| ctx.editing.set(Some(s))>
                                    {format!("Enable {}…", s.title())}
                                </button>
                            }).collect_view()}
                        </p>
                    }.into_any()
                } else {
                    view! { <p class="muted">"An editor or admin of the organisation can switch them on."</p> }.into_any()
                }}
            </section>
        }
    })
}

/// The banner at 90 % and at 100 % of the organisation's storage quota.
fn quota_notice(q: &QuotaStatus) -> Option<impl IntoView> {
    let (class, text) = match q.level {
        QuotaLevel::Ok => return None,
        QuotaLevel::Warning => (
            "notice-box warning",
            format!(
                "The organisation uses {} % of its storage quota ({} of {}). At 100 % new thumbnails, motion clips, clips and saved spans stop until space is freed (retention, deleting clips) or the quota is raised.",
                q.percent().unwrap_or(0),
                megabytes(q.used_bytes),
                megabytes(q.quota_bytes.unwrap_or(0)),
            ),
        ),
        QuotaLevel::Full => (
            "notice-box error",
            format!(
                "The organisation's storage quota is used up ({} of {}): new thumbnails, motion clips, clips and saved spans are paused until space is freed (retention, deleting clips) or the operator raises the quota.",
                megabytes(q.used_bytes),
                megabytes(q.quota_bytes.unwrap_or(0)),
            ),
        ),
    };
    Some(
        view! { <div class=class role="alert" id="quota-notice" data-level=format!("{:?}", q.level).to_lowercase()>{text}</div> },
    )
}

/// Bytes as megabytes for people.
pub fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}
