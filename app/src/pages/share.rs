//! `/s/:token`: the public page of a share link, for viewers without an account. It plays
//! the clip (or the shared live replay), shows its title and date, and carries Open Graph
//! and Twitter tags so the link previews in chat apps. Wrong, expired and revoked tokens all
//! get the same plain not-found page. Rendered with `SsrMode::Async`, so the tags are in
//! the head a crawler reads.

use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::hooks::use_params_map;

use crate::api::clips::get_public_share;
use crate::components::copy_button::CopyButton;
use crate::components::player::{FilePlayer, HlsPlayer, PlayerHandle};
use crate::domain::clips::{PublicShare, SharePart};
use crate::domain::time::{format_duration_s, format_utc};
use crate::domain::AppError;

/// The share page.
#[component]
pub fn SharePage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let share = Resource::new(token, get_public_share);
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || share.get().map(|r| match r {
                Ok(s) => view! { <Shared s/> }.into_any(),
                Err(AppError::RateLimited { retry_after_s }) => view! {
                    <Title text="Slow down"/>
                    <section class="card narrow share-missing"><h1>"Too many requests"</h1><p>{format!("Try again in {retry_after_s} s.")}</p></section>
                }.into_any(),
                Err(_) => view! { <Missing/> }.into_any(),
            })}
        </Suspense>
    }
}

#[component]
fn Shared(s: PublicShare) -> impl IntoView {
    let handle = PlayerHandle::new();
    let recording = !s.parts.is_empty();
    let what = match (s.is_live, s.duration_ms) {
        (true, _) => "Live replay".to_string(),
        (false, Some(ms)) if recording => {
            format!("Recording · {}", format_duration_s((ms + 500) / 1000))
        }
        (false, Some(ms)) => format!("Clip · {}", format_duration_s((ms + 500) / 1000)),
        (false, None) => "Replay".to_string(),
    };
    let embed = format!(
        "<iframe src=\"{}\" width=\"640\" height=\"480\" style=\"border:0;max-width:100%\" allow=\"autoplay; fullscreen; picture-in-picture\" allowfullscreen title=\"{}\"></iframe>",
        s.page_url,
        s.title.replace('"', "&quot;").replace('<', "&lt;")
    );
    let description = format!("{what} · {}", format_utc(&s.date));
    view! {
        <Title text=s.title.clone()/>
        <Meta name="description" content=description.clone()/>
        <Meta property="og:type" content="video.other"/>
        <Meta property="og:title" content=s.title.clone()/>
        <Meta property="og:description" content=description.clone()/>
        <Meta property="og:url" content=s.page_url.clone()/>
        {s.image_url.clone().map(|img| view! {
            <Meta property="og:image" content=img.clone()/>
            <Meta name="twitter:image" content=img/>
        })}
        <Meta name="twitter:card" content="summary_large_image"/>
        <Meta name="twitter:title" content=s.title.clone()/>
        <Meta name="twitter:description" content=description.clone()/>
        <Meta name="robots" content="noindex"/>
        <article class="card share-page">
            <h1 class="share-title">{s.title.clone()}</h1>
            <p class="muted">
                {if s.is_live { view! { <span class="badge live">"● Live"</span> " " }.into_any() } else { ().into_any() }}
                {description}
            </p>
            {if recording {
                view! { <Parts parts=s.parts.clone() poster=s.image_url.clone()/> }.into_any()
            } else {
                view! { <HlsPlayer src=s.playlist_url.clone() live=s.is_live handle poster=s.image_url.clone() autoplay=true storyboard=Some(s.storyboard_url.clone())/> }.into_any()
            }}
            {s.mp4_url.map(|u| view! {
                <p class="actions left"><a class="button secondary" href=u download=if recording { "recording.mp4" } else { "clip.mp4" }>"⤓ Download MP4"</a></p>
            })}
            <details class="embed">
                <summary>"Embed on a website"</summary>
                <p class="muted small">"Paste this where the video should appear:"</p>
                <code class="secret embed-code">{embed.clone()}</code>
                " " <CopyButton text=embed label="Copy the embed code"/>
            </details>
        </article>
    }
}

/// A shared recording: its files played in turn (the next starts when one ends), each with
/// seek-bar previews; a list to jump to a part.
#[component]
fn Parts(parts: Vec<SharePart>, poster: Option<String>) -> impl IntoView {
    let current = RwSignal::new(0usize);
    let count = parts.len();
    let list = parts.clone();
    view! {
        {move || {
            let i = current.get();
            let p = parts[i.min(count - 1)].clone();
            let next = (i + 1 < count).then_some(i + 1);
            let autoplay = i != 0;
            let poster = if i == 0 { poster.clone() } else { None };
            view! {
                <FilePlayer
                    src=p.url
                    storyboard=Some(p.storyboard_url)
                    poster=poster
                    autoplay=autoplay
                    on_ended=Callback::new(move |()| {
                        if let Some(n) = next {
                            current.set(n);
                        }
                    })
                />
            }
        }}
        {(count > 1).then(|| view! {
            <ol class="parts" aria-label="Parts">
                {list.into_iter().enumerate().map(|(i, p)| view! {
                    <li>
                        <button type="button" class="secondary small part"
                            class:current=move || current.get() == i
                            on:click=move |_| current.set(i)>
                            {format!("Part {} · {}{}", i + 1, format_utc(&p.started_at),
                                p.duration_ms.map(|ms| format!(" · {}", format_duration_s((ms + 500) / 1000))).unwrap_or_default())}
                        </button>
                    </li>
                }).collect_view()}
            </ol>
        })}
    }
}

/// The same answer for every token that opens nothing.
#[component]
fn Missing() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(r) = use_context::<leptos_axum::ResponseOptions>() {
        r.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <Meta name="robots" content="noindex"/>
        <section class="card narrow share-missing">
            <h1>"Not found"</h1>
            <p>"There is nothing at this link."</p>
        </section>
    }
}
