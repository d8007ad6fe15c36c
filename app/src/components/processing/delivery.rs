//! Public delivery: per stream, whether websites may embed its newest thumbnail and motion
//! clip and its live replay without an account, the public URLs to copy, and (for editors)
//! the switch and the token rotation that stops every old URL at once.

use leptos::prelude::*;

use super::{streams, use_tab};
use crate::api::processing::{rotate_public_token, set_group_public_delivery, set_public_delivery};
use crate::components::copy_button::CopyButton;
use crate::components::errors::ErrorBox;
use crate::domain::delivery::PublicUrls;
use crate::domain::AppError;

/// What an editor asked for.
#[derive(Clone, Copy)]
enum Change {
    Public(i64, bool),
    Rotate(i64),
    /// Every stream of the group.
    Group(bool),
}

/// The Public delivery card of the tab.
#[component]
pub fn DeliverySection() -> impl IntoView {
    let ctx = use_tab();
    let list = streams(&ctx);
    let group_id = ctx.group_id;
    let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
    let all_public = Memo::new(move |_| {
        ids.iter()
            .all(|id| ctx.with(|o| o.public_urls(*id)).flatten().is_some())
    });
    let change = Action::new(move |c: &Change| {
        let c = *c;
        async move {
            let r = match c {
                Change::Public(id, public) => set_public_delivery(id, public).await.map(|_| ()),
                Change::Rotate(id) => rotate_public_token(id).await.map(|_| ()),
                Change::Group(public) => set_group_public_delivery(group_id, public)
                    .await
                    .map(|_| ()),
            };
            ctx.reload();
            r
        }
    });
    let error = Memo::new(move |_| change.value().get().and_then(Result::<(), AppError>::err));
    view! {
        <section class="card lp-section" id="delivery" aria-labelledby="delivery-title">
            <h2 id="delivery-title">"Public delivery"</h2>
            <p class="muted small">
                "Off: thumbnails, motion clips and the replay are for members only. On: anyone with a stream's public URLs can embed them on a website (" <code>"<img>"</code> ", " <code>"<video>"</code> ", hls.js). Rotating the link stops every old URL at once."
            </p>
            {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
            {ctx.can_edit.then(|| view! {
                <p class="group-delivery">
                    <button type="button" class="secondary small group-public"
                        disabled=move || change.pending().get() || all_public.get()
                        on:click=move |_| { change.dispatch(Change::Group(true)); }>
                        "Make every stream public"
                    </button>
                    " "
                    <button type="button" class="secondary small group-private"
                        disabled=move || change.pending().get()
                        on:click=move |_| { change.dispatch(Change::Group(false)); }>
                        "Make every stream private"
                    </button>
                </p>
            })}
            <div class="table-scroll">
                <table class="details" data-table="delivery">
                    <thead><tr><th>"Stream Name"</th><th>"Quality"</th><th>"Public"</th><th>"URLs"</th>{ctx.can_edit.then(|| view! { <th>"Actions"</th> })}</tr></thead>
                    <tbody>
                        {list.into_iter().map(|s| {
                            let id = s.id;
                            let urls = Memo::new(move |_| ctx.with(|o| o.public_urls(id)).flatten());
                            view! {
                                <tr data-stream=id>
                                    <td>{s.name.clone()}</td>
                                    <td>{s.quality.clone()}</td>
                                    <td class="public-state">{move || if urls.with(Option::is_some) { "On" } else { "Off" }}</td>
                                    <td class="public-urls">{move || urls.get().map(url_list)}</td>
                                    {ctx.can_edit.then(|| view! {
                                        <td class="delivery-actions">
                                            <button type="button" class="secondary small toggle-public"
                                                disabled=move || change.pending().get()
                                                on:click=move |_| { change.dispatch(Change::Public(id, urls.with_untracked(Option::is_none))); }>
                                                {move || if urls.with(Option::is_some) { "Make private" } else { "Make public" }}
                                            </button>
                                            <Show when=move || urls.with(Option::is_some)>
                                                <button type="button" class="secondary small rotate-public"
                                                    disabled=move || change.pending().get()
                                                    on:click=move |_| { change.dispatch(Change::Rotate(id)); }>
                                                    "Rotate link"
                                                </button>
                                            </Show>
                                        </td>
                                    })}
                                </tr>
                            }
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        </section>
    }
}

fn url_list(u: PublicUrls) -> impl IntoView {
    let rows = [
        ("Thumbnail (JPEG)", "thumbnail", u.thumbnail_url),
        ("Thumbnail (WebP)", "thumbnail-webp", u.thumbnail_webp_url),
        ("Motion clip (MP4)", "motion", u.motion_clip_url),
        ("Motion clip (WebP)", "motion-webp", u.motion_clip_webp_url),
        ("Live replay (HLS)", "replay", u.replay_url),
    ];
    view! {
        <ul class="public-url-list">
            {rows.into_iter().map(|(label, key, url)| view! {
                <li data-url=key>
                    <span class="muted small">{label} ": "</span>
                    <a href=url.clone() class="url">{url.clone()}</a>
                    " " <CopyButton text=url label=format!("Copy the {label} URL")/>
                </li>
            }).collect_view()}
        </ul>
    }
}
