//! Recording: the details table (Active, Stream Name, Quality, Duration (s)) and, for the
//! selected stream, its files: Session Date (UTC) and the Recording File with play and
//! download, plus its length, size and integrity.

use leptos::prelude::*;

use super::cells::{size_text, DurationTable};
use super::header::{SectionHeader, StreamTabs};
use super::{streams, use_tab, Section};
use crate::api::clips::share_recording;
use crate::components::copy_button::CopyButton;
use crate::components::errors::ErrorBox;
use crate::domain::assets::Integrity;
use crate::domain::clips::LinkExpiry;
use crate::domain::settings::ProcessKind;
use crate::domain::time::{format_duration_s, format_utc};

/// The Recording section.
#[component]
pub fn RecordingSection() -> impl IntoView {
    let ctx = use_tab();
    let list = streams(&ctx);
    let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
    let selected = RwSignal::new(0usize);
    let stream_id = Memo::new(move |_| ids.get(selected.get()).copied().unwrap_or(0));
    let files = Memo::new(move |_| {
        ctx.with(|o| o.assets_of(stream_id.get()).recordings)
            .unwrap_or_default()
    });
    let recording_now = Memo::new(move |_| {
        ctx.with(|o| o.is_live() && o.config(stream_id.get(), ProcessKind::Recording).enabled())
            .unwrap_or(false)
    });
    // The file playing inline, if any; kept across refreshes.
    let playing = RwSignal::new(None::<i64>);
    // Share links made here: (asset, whole session) → the link's path, or why not.
    let share = Action::new(move |&(id, whole): &(i64, bool)| async move {
        let title = if whole {
            "Recorded session"
        } else {
            "Recording"
        };
        let r = share_recording(id, title.to_string(), LinkExpiry::Week, whole).await;
        (id, whole, r)
    });
    let shared = move |id: i64| {
        share.value().with(|v| match v {
            Some((a, whole, r)) if *a == id => Some((*whole, r.clone())),
            _ => None,
        })
    };
    let can_share = ctx.can_clip;
    view! {
        <section class="card lp-section" id="recording" aria-labelledby="recording-title">
            <SectionHeader section=Section::Recording/>
            <StreamTabs streams=list section=Section::Recording selected/>
            <DurationTable process=ProcessKind::Recording active_heading="Active"/>
            <h3>"Assets"</h3>
            <div id="recording-panel" role="tabpanel" class="table-scroll">
                <Show when=move || recording_now.get()>
                    <p class="recording-now">
                        <span class="badge live">"● Recording now"</span>
                        " The piece being written is listed here as soon as it closes (at its duration, or when the session ends)."
                    </p>
                </Show>
                <table class="details assets" data-assets="recording">
                    <thead><tr><th>"Session Date (UTC)"</th><th>"Recording File"</th><th>"Length"</th><th>"Size"</th><th>"Integrity"</th></tr></thead>
                    <tbody>
                        <For each=move || files.get() key=|f| f.asset.id let:f>
                            {
                                let id = f.asset.id;
                                let url = f.asset.url.clone();
                                let name = format!("recording-{}-{id}.mp4", f.session_started_at.format("%Y%m%d-%H%M%S"));
                                let session = f.asset.session_id;
                                let pieces = move || {
                                    files.with(|all| all.iter().filter(|g| session.is_some() && g.asset.session_id == session).count())
                                };
                                view! {
                                    <tr data-asset=id>
                                        <td>{format_utc(&f.session_started_at)}</td>
                                        <td class="file">
                                            <span class="file-name">{name.clone()}</span>
                                            <button
                                                type="button"
                                                class="secondary small play"
                                                aria-expanded=move || (playing.get() == Some(id)).to_string()
                                                on:click=move |_| playing.update(|p| *p = if *p == Some(id) { None } else { Some(id) })
                                            >
                                                {move || if playing.get() == Some(id) { "■ Close" } else { "▶ Play" }}
                                            </button>
                                            <a class="button secondary small" href=url.clone() download=name>"⤓ Download"</a>
                                            {can_share.then(|| view! {
                                                <button type="button" class="secondary small share-recording"
                                                    disabled=move || share.pending().get()
                                                    on:click=move |_| { share.dispatch((id, false)); }>"Share"</button>
                                                <Show when=move || { pieces() > 1 }>
                                                    <button type="button" class="secondary small share-session"
                                                        disabled=move || share.pending().get()
                                                        on:click=move |_| { share.dispatch((id, true)); }>"Share whole session"</button>
                                                </Show>
                                            })}
                                            {move || shared(id).map(|(whole, r)| match r {
                                                Ok(link) => view! {
                                                    <p class="shared-link small">
                                                        {if whole { "Session link (7 days): " } else { "Link (7 days): " }}
                                                        <a class="share-link" href=link.path.clone()>{link.path.clone()}</a>
                                                        " " <CopyButton text=link.path.clone() label="Copy share link"/>
                                                    </p>
                                                }.into_any(),
                                                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                                            })}
                                            <Show when=move || playing.get() == Some(id)>
                                                <video class="inline-player" src=url.clone() controls=true autoplay=true playsinline=true></video>
                                            </Show>
                                        </td>
                                        <td class="num">{f.asset.duration_ms.map(|d| format_duration_s((d + 500) / 1000)).unwrap_or_default()}</td>
                                        <td class="num">{size_text(f.asset.size_bytes)}</td>
                                        <td>{integrity_badge(f.asset.integrity)}</td>
                                    </tr>
                                }
                            }
                        </For>
                    </tbody>
                </table>
                <Show when=move || files.with(Vec::is_empty) && !recording_now.get()>
                    <p class="muted">"No recording yet: with recording on, files appear as the stream is recorded."</p>
                </Show>
            </div>
        </section>
    }
    .into_any()
}

fn integrity_badge(integrity: Option<Integrity>) -> impl IntoView {
    let (class, label, title) = match integrity {
        Some(Integrity::Ok) => ("ok", "OK", "Closed normally and probed whole."),
        Some(Integrity::Repaired) => (
            "restarting",
            "Repaired",
            "Left open by a crash; cut to its last whole fragment.",
        ),
        Some(Integrity::Partial) => (
            "failed",
            "Partial",
            "Shorter than what was written, or unreadable at the end.",
        ),
        None => ("idle", "Unknown", "Not probed."),
    };
    view! { <span class=format!("badge {class}") title=title>{label}</span> }
}
