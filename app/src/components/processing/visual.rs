//! Thumbnails & Motion Clips: one shared view that adapts to which of the two are on. For
//! the selected stream: the latest thumbnail, the latest motion clip playing muted in a loop,
//! and a history strip of each; then the two details tables with a row per stream.
//!
//! Everything reads the tab's data through fine-grained closures, so a refresh swaps image
//! sources and table text in place: no re-mount, no layout jump, a clip only reloads when a
//! newer one exists.

use leptos::prelude::*;

use super::cells::{span_text, ActiveCell};
use super::header::{SectionHeader, StreamTabs};
use super::{streams, use_tab, Section};
use crate::components::copy_button::CopyButton;
use crate::domain::overview::{latest_clip_url, latest_thumbnail_url, Preview};
use crate::domain::settings::ProcessKind;
use crate::domain::time::format_utc;

/// The shared Thumbnails & Motion Clips section.
#[component]
pub fn VisualSection() -> impl IntoView {
    let ctx = use_tab();
    let list = streams(&ctx);
    let selected = RwSignal::new(0usize);
    let stream_id = {
        let ids: Vec<i64> = list.iter().map(|s| s.id).collect();
        move || ids.get(selected.get()).copied().unwrap_or(0)
    };
    let stream_id = Memo::new(move |_| stream_id());
    let show_thumbs = Memo::new(move |_| {
        ctx.with(|o| {
            o.any_enabled(&[ProcessKind::Thumbnail])
                || !o.assets_of(stream_id.get()).thumbnails.is_empty()
        })
        .unwrap_or(false)
    });
    let show_clips = Memo::new(move |_| {
        ctx.with(|o| {
            o.any_enabled(&[ProcessKind::MotionClip])
                || !o.assets_of(stream_id.get()).motion_clips.is_empty()
        })
        .unwrap_or(false)
    });
    let thumbs = Memo::new(move |_| {
        ctx.with(|o| o.assets_of(stream_id.get()).thumbnails)
            .unwrap_or_default()
    });
    let clips = Memo::new(move |_| {
        ctx.with(|o| o.assets_of(stream_id.get()).motion_clips)
            .unwrap_or_default()
    });
    let name = Memo::new(move |_| {
        ctx.with(|o| {
            o.streams
                .iter()
                .find(|s| s.id == stream_id.get())
                .map(|s| s.name.clone())
                .unwrap_or_default()
        })
        .unwrap_or_default()
    });

    view! {
        <section class="card lp-section" id="visual" aria-labelledby="visual-title">
            <SectionHeader section=Section::Visual/>
            <StreamTabs streams=list section=Section::Visual selected/>
            <div id="visual-panel" role="tabpanel">
                <Show when=move || !show_thumbs.get() && !show_clips.get()>
                    <p class="muted">"Thumbnails and Motion Clips are off for every stream of this group. Use Edit to switch them on."</p>
                </Show>
                <div class="previews">
                    <Show when=move || show_thumbs.get()>
                        <LatestThumbnail thumbs name/>
                    </Show>
                    <Show when=move || show_clips.get()>
                        <LatestClip clips name/>
                    </Show>
                </div>
                <Show when=move || show_thumbs.get()>
                    <h3 class="strip-title">"Recent thumbnails"</h3>
                    <Strip items=thumbs kind=ProcessKind::Thumbnail/>
                </Show>
                <Show when=move || show_clips.get()>
                    <h3 class="strip-title">"Recent motion clips"</h3>
                    <Strip items=clips kind=ProcessKind::MotionClip/>
                </Show>
            </div>
            <ThumbnailTable/>
            <ClipTable/>
        </section>
    }
    .into_any()
}

/// The newest thumbnail of the selected stream, linked to its file. The `<img>` stays; only
/// its source changes, so the old picture shows until the new one has loaded.
#[component]
fn LatestThumbnail(thumbs: Memo<Vec<Preview>>, name: Memo<String>) -> impl IntoView {
    let latest = Memo::new(move |_| thumbs.with(|t| t.first().cloned()));
    let src = Memo::new(move |_| latest.with(|l| l.as_ref().map(|p| p.asset.url.clone())));
    view! {
        <figure class="preview thumb-preview">
            <Show
                when=move || src.with(Option::is_some)
                fallback=|| view! { <div class="media-box placeholder">"No thumbnail yet: the first one appears seconds after the stream goes live."</div> }
            >
                <a href=move || src.get() class="media-box" target="_blank" rel="noopener">
                    <img
                        class="latest-thumbnail"
                        src=move || src.get()
                        alt=move || format!("Latest thumbnail of {}", name.get())
                        width="1280"
                        height="720"
                    />
                </a>
            </Show>
            <figcaption>
                {move || latest.get().map(|p| view! {
                    "Latest thumbnail · " {format_utc(&p.asset.created_at)}
                    {p.asset.width.zip(p.asset.height).map(|(w, h)| format!(" · {w}×{h}"))}
                    {p.webp_url.map(|u| view! { " · " <a href=u>"WebP"</a> })}
                })}
            </figcaption>
        </figure>
    }
}

/// The newest motion clip, playing muted in a loop. The `<video>` element stays; only its
/// source changes, and only when a newer clip exists.
#[component]
fn LatestClip(clips: Memo<Vec<Preview>>, name: Memo<String>) -> impl IntoView {
    let latest = Memo::new(move |_| clips.with(|c| c.first().cloned()));
    let src = Memo::new(move |_| latest.with(|l| l.as_ref().map(|p| p.asset.url.clone())));
    view! {
        <figure class="preview clip-preview">
            <Show
                when=move || src.with(Option::is_some)
                fallback=|| view! { <div class="media-box placeholder">"No motion clip yet: the first one is cut once enough of the stream exists."</div> }
            >
                <div class="media-box">
                    <video
                        class="latest-clip"
                        src=move || src.get()
                        muted=true
                        prop:muted=true
                        autoplay=true
                        loop=true
                        playsinline=true
                        preload="auto"
                        aria-label=move || format!("Latest motion clip of {}", name.get())
                    ></video>
                </div>
            </Show>
            <figcaption>
                {move || latest.get().map(|p| view! {
                    "Latest motion clip · " {format_utc(&p.asset.created_at)}
                    {p.asset.duration_ms.map(|d| format!(" · {:.0} s", d as f64 / 1000.0))}
                    " · " <a href=p.asset.url.clone()>"MP4"</a>
                    {p.webp_url.map(|u| view! { " · " <a href=u>"WebP"</a> })}
                })}
            </figcaption>
        </figure>
    }
}

/// A row of small previews, newest first, each linking to its file. Keyed by asset, so a
/// refresh only adds the new ones.
#[component]
fn Strip(items: Memo<Vec<Preview>>, kind: ProcessKind) -> impl IntoView {
    view! {
        <ul class="strip" data-kind=kind.key()>
            <For each=move || items.get() key=|p| p.asset.id let:p>
                <li>
                    <a href=p.asset.url.clone() title=format_utc(&p.asset.created_at)>
                        {match (kind, p.webp_url.clone()) {
                            // The animated WebP of a clip moves in the strip, as a thumbnail would not.
                            (ProcessKind::MotionClip, Some(webp)) => view! { <img src=webp alt="" loading="lazy" width="160" height="90"/> }.into_any(),
                            (ProcessKind::MotionClip, None) => view! { <span class="strip-label">"Clip"</span> }.into_any(),
                            _ => view! { <img src=p.asset.url.clone() alt="" loading="lazy" width="160" height="90"/> }.into_any(),
                        }}
                        <span class="strip-time">{p.asset.created_at.format("%H:%M:%S").to_string()}</span>
                    </a>
                </li>
            </For>
            <Show when=move || items.with(Vec::is_empty)>
                <li class="muted small">"Nothing yet."</li>
            </Show>
        </ul>
    }
}

/// Thumbnails: (In-)Active, Stream Name, Quality, URL, Interval (s).
#[component]
fn ThumbnailTable() -> impl IntoView {
    let ctx = use_tab();
    view! {
        <h3>"Thumbnails"</h3>
        <div class="table-scroll">
            <table class="details" data-process="thumbnail">
                <thead><tr><th>"(In-)Active"</th><th>"Stream Name"</th><th>"Quality"</th><th>"URL"</th><th>"Interval (s)"</th></tr></thead>
                <tbody>
                    {move || ctx.with(|o| o.streams.iter().map(|s| {
                        let c = o.config(s.id, ProcessKind::Thumbnail);
                        let public = o.public_urls(s.id).map(|u| u.thumbnail_url);
                        let is_public = public.is_some();
                        let url = public.unwrap_or_else(|| latest_thumbnail_url(s.id, "jpg"));
                        view! {
                            <tr data-stream=s.id>
                                <ActiveCell enabled=c.enabled() job=o.job(s.id, ProcessKind::Thumbnail) live=o.is_live()/>
                                <td>{s.name.clone()}</td>
                                <td>{s.quality.clone()}</td>
                                <td class="url" data-public=is_public.to_string()>
                                    {is_public.then(|| view! { <span class="badge public">"Public"</span> " " })}
                                    <a href=url.clone()>{url.clone()}</a>
                                    " " <CopyButton text=url.clone() label="Copy the URL"/>
                                </td>
                                <td class="num">{c.interval().map(|i| i.to_string()).unwrap_or_default()}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </div>
    }
}

/// Motion Clips: (In-)Active, Stream Name, Quality, URL, Interval (s), Duration (s).
#[component]
fn ClipTable() -> impl IntoView {
    let ctx = use_tab();
    view! {
        <h3>"Motion Clips"</h3>
        <div class="table-scroll">
            <table class="details" data-process="motion_clip">
                <thead><tr><th>"(In-)Active"</th><th>"Stream Name"</th><th>"Quality"</th><th>"URL"</th><th>"Interval (s)"</th><th>"Duration (s)"</th></tr></thead>
                <tbody>
                    {move || ctx.with(|o| o.streams.iter().map(|s| {
                        let c = o.config(s.id, ProcessKind::MotionClip);
                        let public = o.public_urls(s.id).map(|u| u.motion_clip_url);
                        let is_public = public.is_some();
                        let url = public.unwrap_or_else(|| latest_clip_url(s.id, "mp4"));
                        view! {
                            <tr data-stream=s.id>
                                <ActiveCell enabled=c.enabled() job=o.job(s.id, ProcessKind::MotionClip) live=o.is_live()/>
                                <td>{s.name.clone()}</td>
                                <td>{s.quality.clone()}</td>
                                <td class="url" data-public=is_public.to_string()>
                                    {is_public.then(|| view! { <span class="badge public">"Public"</span> " " })}
                                    <a href=url.clone()>{url.clone()}</a>
                                    " " <CopyButton text=url.clone() label="Copy the URL"/>
                                </td>
                                <td class="num">{c.interval().map(|i| i.to_string()).unwrap_or_default()}</td>
                                <td class="num">{span_text(c.duration())}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </div>
    }
}
