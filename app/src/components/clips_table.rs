//! The clips of a stream: title, source session, duration, created, the share link with a
//! copy button, the MP4 download, and Revoke / Delete for roles that manage clips.

use leptos::prelude::*;

use crate::api::clips::{delete_clip, list_clips, revoke_share_link};
use crate::components::copy_button::CopyButton;
use crate::components::errors::ErrorBox;
use crate::components::fetched::fetch_in_browser;
use crate::domain::clips::{Clip, Mp4State};
use crate::domain::time::format_utc;
use crate::domain::AppError;

/// The clips list; `reload` re-fetches it (after a new clip, or with the page's refresh).
#[component]
pub fn ClipsTable(
    #[prop(into)] stream_id: Signal<i64>,
    #[prop(into)] reload: Signal<u64>,
    can_manage: bool,
) -> impl IntoView {
    let changed = RwSignal::new(0u64);
    let clips = fetch_in_browser(
        move || {
            reload.track();
            changed.track();
            stream_id.get()
        },
        list_clips,
    )
    .value;
    // While an MP4 is being made, look again shortly.
    Effect::new(move |_| {
        let pending = clips.with(
            |r| matches!(r, Some(Ok(list)) if list.iter().any(|c| c.mp4 == Mp4State::Pending)),
        );
        #[cfg(feature = "hydrate")]
        if pending {
            leptos::task::spawn_local(async move {
                gloo_timers::future::TimeoutFuture::new(1500).await;
                let _ = changed.try_update(|n| *n += 1);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = pending;
    });
    let action_error = RwSignal::new(None::<AppError>);
    let confirm_delete = RwSignal::new(None::<i64>);
    let revoke = move |link_id: i64| {
        leptos::task::spawn_local(async move {
            match revoke_share_link(link_id).await {
                Ok(()) => action_error.set(None),
                Err(e) => action_error.set(Some(e)),
            }
            changed.update(|n| *n += 1);
        });
    };
    let delete = move |clip_id: i64| {
        leptos::task::spawn_local(async move {
            match delete_clip(clip_id).await {
                Ok(()) => action_error.set(None),
                Err(e) => action_error.set(Some(e)),
            }
            confirm_delete.set(None);
            changed.update(|n| *n += 1);
        });
    };
    let row = move |c: Clip, now: chrono::DateTime<chrono::Utc>| {
        let id = c.id;
        let link = c.share.clone();
        let link_cell = match &link {
            Some(l) if l.is_active(now) => {
                let path = l.path.clone();
                view! {
                    <a class="share-link" href=path.clone() target="_blank" rel="noopener">{path.clone()}</a>
                    " " <CopyButton text=path label=format!("Copy share link of {}", c.title)/>
                    <p class="muted small">{match l.expires_at {
                        Some(e) => format!("Expires {}", format_utc(&e)),
                        None => "Never expires".into(),
                    }}</p>
                }
                .into_any()
            }
            Some(l) if l.revoked_at.is_some() => {
                view! { <span class="badge failed">"Revoked"</span> }.into_any()
            }
            Some(_) => view! { <span class="badge idle">"Expired"</span> }.into_any(),
            None => view! { <span class="muted">"—"</span> }.into_any(),
        };
        let active_link = link.filter(|l| l.is_active(now)).map(|l| l.id);
        view! {
            <tr data-clip=id>
                <td><strong class="clip-title">{c.title.clone()}</strong></td>
                <td>{c.session_started_at.map(|t| format_utc(&t)).unwrap_or_else(|| "—".into())}</td>
                <td class="num">{format!("{:.1} s", c.duration_ms as f64 / 1000.0)}</td>
                <td>{format_utc(&c.created_at)} <p class="muted small">{c.created_by.clone()}</p></td>
                <td class="url">{link_cell}</td>
                <td>{match c.mp4 {
                    Mp4State::Ready => view! { <a class="button secondary small download-mp4" href=c.mp4_url.clone() download=format!("clip-{id}.mp4")>"⤓ MP4"</a> }.into_any(),
                    Mp4State::Pending => view! { <span class="muted small">"Preparing…"</span> }.into_any(),
                    Mp4State::Failed => view! { <span class="badge failed">"Failed"</span> }.into_any(),
                }}</td>
                {can_manage.then(|| view! {
                    <td class="clip-actions">
                        {active_link.map(|link_id| view! {
                            <button type="button" class="secondary small revoke" on:click=move |_| revoke(link_id)>"Revoke link"</button>
                        })}
                        <Show when=move || confirm_delete.get() == Some(id) fallback=move || view! {
                            <button type="button" class="link danger" on:click=move |_| confirm_delete.set(Some(id))>"Delete"</button>
                        }>
                            <button type="button" class="danger small" on:click=move |_| delete(id)>"Delete clip"</button>
                            <button type="button" class="link" on:click=move |_| confirm_delete.set(None)>"Keep"</button>
                        </Show>
                    </td>
                })}
            </tr>
        }
    };
    view! {
        <div class="table-scroll clips">
            <div class="clips-error">{move || action_error.get().map(|e| view! { <ErrorBox error=e/> })}</div>
            <div class="clips-body">{move || match clips.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="muted">{if can_manage { "No clips yet: use Clip & Share on a replay." } else { "No clips yet." }}</p>
                }.into_any(),
                Some(Ok(list)) => {
                    let now = chrono::Utc::now();
                    view! {
                        <table class="details" data-list="clips">
                            <thead><tr>
                                <th>"Title"</th><th>"Source session (UTC)"</th><th>"Duration"</th><th>"Created (UTC)"</th><th>"Share link"</th><th>"Download"</th>
                                {can_manage.then(|| view! { <th><span class="sr-only">"Actions"</span></th> })}
                            </tr></thead>
                            <tbody>{list.into_iter().map(|c| row(c, now)).collect_view()}</tbody>
                        </table>
                    }.into_any()
                }
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            }}</div>
        </div>
    }
    .into_any()
}
