//! Live Replay: the details table ((In-)Active, Stream Name, Quality, Duration (s)) and, for
//! the selected stream, its sessions: Session Date (UTC), the HLS file, Rewatch and
//! Clip & Share.

use leptos::prelude::*;
use leptos_router::components::A;

use super::cells::DurationTable;
use super::header::{SectionHeader, StreamTabs};
use super::{streams, use_tab, Section};
use crate::components::clips_table::ClipsTable;
use crate::domain::settings::ProcessKind;
use crate::domain::time::{format_duration_s, format_utc};

/// Where Rewatch leads for a replay asset.
pub fn rewatch_href(group_id: i64, replay_id: i64) -> String {
    format!("/streams/{group_id}/replay/{replay_id}")
}

/// Where Clip & Share leads for a replay asset: the player with the clip panel open.
pub fn clip_href(group_id: i64, replay_id: i64) -> String {
    format!("/streams/{group_id}/replay/{replay_id}?clip=1")
}

/// The Live Replay section.
#[component]
pub fn ReplaySection() -> impl IntoView {
    let ctx = use_tab();
    let list = streams(&ctx);
    let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
    let selected = RwSignal::new(0usize);
    let stream_id = Memo::new(move |_| ids.get(selected.get()).copied().unwrap_or(0));
    let sessions = Memo::new(move |_| {
        ctx.with(|o| o.assets_of(stream_id.get()).replays)
            .unwrap_or_default()
    });
    let group_id = ctx.group_id;
    view! {
        <section class="card lp-section" id="replay" aria-labelledby="replay-title">
            <SectionHeader section=Section::Replay/>
            <StreamTabs streams=list section=Section::Replay selected/>
            <DurationTable process=ProcessKind::Replay active_heading="(In-)Active"/>
            <h3>"Assets"</h3>
            <div id="replay-panel" role="tabpanel" class="table-scroll">
                <table class="details assets" data-assets="replay">
                    <thead><tr><th>"Session Date (UTC)"</th><th>"HLS File"</th><th>"Rewatch"</th><th>"Clip & Share"</th></tr></thead>
                    <tbody>
                        <For each=move || sessions.get() key=|s| (s.asset.id, s.session_ended_at.is_some(), s.asset.duration_ms) let:s>
                            <tr data-asset=s.asset.id>
                                <td>
                                    {format_utc(&s.session_started_at)}
                                    {if s.is_live() {
                                        view! { " " <span class="badge live">"● Live"</span> }.into_any()
                                    } else {
                                        s.asset.duration_ms.map(|d| view! { <p class="muted small">{format!("Buffer {}", format_duration_s(d / 1000))}</p> }).into_any()
                                    }}
                                </td>
                                <td class="url"><a href=s.asset.url.clone()>{s.asset.url.clone()}</a></td>
                                <td><A href=rewatch_href(group_id, s.asset.id) attr:class="button secondary small rewatch">"▶ Rewatch"</A></td>
                                <td>{if ctx.can_clip {
                                    view! { <A href=clip_href(group_id, s.asset.id) attr:class="button secondary small clip-share">"✂ Clip & Share"</A> }.into_any()
                                } else {
                                    view! { <span class="muted small">"Editors and above"</span> }.into_any()
                                }}</td>
                            </tr>
                        </For>
                    </tbody>
                </table>
                <Show when=move || sessions.with(Vec::is_empty)>
                    <p class="muted">"No replay yet: with replay on, one appears for every live session."</p>
                </Show>
            </div>
            <h3>"Clips"</h3>
            <ClipsTable stream_id=Signal::derive(move || stream_id.get()) reload=ctx.refresh can_manage=ctx.can_clip/>
        </section>
    }
    .into_any()
}
