//! `/streams/:id/replay/:replay`: Rewatch and Clip & Share. The replay plays in the
//! browser (a live session from the live edge, with the whole buffer seekable; an ended one
//! on demand), the session's thumbnails sit on a timeline that seeks, and for roles that
//! manage clips: mark in and out (or take the last 30 s in one click), create a clip
//! instantly and copy its link; share the whole replay; save the last N minutes as a
//! recording. The stream's clips are listed below.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::{use_params_map, use_query_map};

use crate::api::clips::{create_clip, get_replay_view, save_replay_span, share_replay};
use crate::components::auth_guard::SignedIn;
use crate::components::clips_table::ClipsTable;
use crate::components::copy_button::CopyButton;
use crate::components::errors::ErrorBox;
use crate::components::fetched::fetch_in_browser;
use crate::components::player::{HlsPlayer, PlayerHandle};
use crate::domain::account::SessionInfo;
use crate::domain::clips::{LinkExpiry, NewClip, ReplayView, SAVE_MAX_S};
use crate::domain::roles::Permission;
use crate::domain::time::{format_duration_s, format_utc};
use crate::domain::AppError;

/// The Rewatch page of one replay session.
#[component]
pub fn ReplayPage() -> impl IntoView {
    view! { <SignedIn children=move |session| view! { <ReplayFrame session/> }/> }
}

#[component]
fn ReplayFrame(session: SessionInfo) -> impl IntoView {
    let params = use_params_map();
    let ids = Memo::new(move |_| {
        let p = params.read();
        let num = |k: &str| p.get(k).and_then(|s| s.parse::<i64>().ok());
        num("id").zip(num("replay"))
    });
    let view_data = fetch_in_browser(
        move || ids.get(),
        |ids| async move {
            match ids {
                Some((group, replay)) => get_replay_view(group, replay).await,
                None => Err(AppError::NotFound("Replay".into())),
            }
        },
    )
    .value;
    // Laid out once per replay: a re-fetch must not restart the player.
    let loaded = Memo::new(move |_| {
        view_data.with(|r| match r {
            Some(Ok(v)) => Some(Ok(v.replay.asset.id)),
            Some(Err(e)) => Some(Err(e.clone())),
            None => None,
        })
    });
    let can_clip = session.user.role.can(Permission::ManageClips);
    view! {
        {move || match loaded.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(_)) => match view_data.get_untracked() {
                Some(Ok(v)) => {
                    let group_id = ids.get_untracked().map(|(g, _)| g).unwrap_or(0);
                    view! { <ReplayBody v group_id can_clip/> }.into_any()
                }
                _ => ().into_any(),
            },
        }}
    }
}

/// `HH:MM:SS.s UTC` of a wall-clock millisecond time.
fn clock(ms: f64) -> String {
    let ms = ms as i64;
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| format!("{}.{} UTC", t.format("%H:%M:%S"), ms.rem_euclid(1000) / 100))
        .unwrap_or_default()
}

#[component]
fn ReplayBody(v: ReplayView, group_id: i64, can_clip: bool) -> impl IntoView {
    let query = use_query_map();
    let clip_open = query.with_untracked(|q| q.get("clip").is_some());
    let handle = PlayerHandle::new();
    let live = v.replay.is_live();
    let replay_id = v.replay.asset.id;
    let stream_id = v.replay.asset.stream_id;
    let clips_changed = RwSignal::new(0u64);
    let title = format!("Rewatch · {}", v.stream_name);
    let thumbs = v.thumbnails.clone();
    // One text node: adjacent dynamic texts would merge in the browser and break hydration.
    let mut summary = format!("Session {}", format_utc(&v.replay.session_started_at));
    if let Some(end) = v.replay.session_ended_at {
        summary.push_str(&format!(" – {}", format_utc(&end)));
    }
    if let Some(d) = v.replay.asset.duration_ms.filter(|_| !live) {
        summary.push_str(&format!(" · {}", format_duration_s(d / 1000)));
    }
    view! {
        <Title text=title.clone()/>
        <section class="card replay-player" aria-labelledby="player-title">
            <div class="section-head">
                <h2 id="player-title">{format!("Rewatch · {} ({})", v.stream_name, v.quality)}</h2>
                {if live {
                    view! { <span class="badge live">"● Live"</span> }.into_any()
                } else {
                    view! { <span class="badge idle">"Ended"</span> }.into_any()
                }}
            </div>
            <p class="muted small">
                <span>{summary}</span>
                " · "
                <A href=format!("/streams/{group_id}/processing")>"Back to Live Processing"</A>
            </p>
            <HlsPlayer src=v.replay.asset.url.clone() live handle autoplay=true storyboard=v.replay.asset.storyboard_url.clone()/>
            <div class="player-tools">
                <button type="button" class="secondary small" on:click=move |_| seek_by(handle, -10.0)>"− 10 s"</button>
                <button type="button" class="secondary small" on:click=move |_| seek_by(handle, 10.0)>"+ 10 s"</button>
            </div>
            {(!thumbs.is_empty()).then(|| view! {
                <h3 class="strip-title">"Timeline"</h3>
                <ul class="strip timeline">
                    {thumbs.into_iter().map(|t| {
                        let at = t.at.timestamp_millis() as f64;
                        view! {
                            <li>
                                <button type="button" class="thumb-seek" title=format!("Go to {}", format_utc(&t.at)) on:click=move |_| handle.seek_wall_ms(at)>
                                    <img src=t.url.clone() alt="" loading="lazy" width="160" height="90"/>
                                    <span class="strip-time">{t.at.format("%H:%M:%S").to_string()}</span>
                                </button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
            })}
        </section>
        {can_clip.then(|| view! {
            <ClipPanel handle replay_id stream_name=v.stream_name.clone() open=clip_open on_created=Callback::new(move |_| clips_changed.update(|n| *n += 1))/>
            <KeepPanel replay_id live group_name=v.group_name.clone()/>
        })}
        <section class="card" aria-labelledby="clips-title">
            <h2 id="clips-title">"Clips of this stream"</h2>
            <ClipsTable stream_id=Signal::derive(move || stream_id) reload=clips_changed can_manage=can_clip/>
        </section>
    }
    .into_any()
}

fn seek_by(handle: PlayerHandle, seconds: f64) {
    if let Some(now) = handle.wall_ms() {
        handle.seek_wall_ms(now + seconds * 1000.0);
    }
}

/// Mark in / Mark out at the frame on screen, fine-tune by seconds, title, expiry, create.
#[component]
fn ClipPanel(
    handle: PlayerHandle,
    replay_id: i64,
    stream_name: String,
    open: bool,
    on_created: Callback<()>,
) -> impl IntoView {
    let in_ms = RwSignal::new(None::<f64>);
    let out_ms = RwSignal::new(None::<f64>);
    let title = RwSignal::new(String::new());
    let expiry = RwSignal::new(LinkExpiry::Week);
    let hint = RwSignal::new(None::<String>);
    let create = Action::new(|clip: &NewClip| {
        let clip = clip.clone();
        async move { create_clip(clip).await }
    });
    Effect::new(move |_| {
        if let Some(Ok(_)) = create.value().get() {
            on_created.run(());
        }
    });
    let default_title = {
        let name = stream_name.clone();
        move |ms: f64| format!("{name} · {}", clock(ms).trim_end_matches(" UTC"))
    };
    let draft = move || -> Option<NewClip> {
        let (from, to) = (in_ms.get()?, out_ms.get()?);
        Some(NewClip {
            replay_id,
            title: title.get(),
            from: chrono::DateTime::from_timestamp_millis(from as i64)?,
            to: chrono::DateTime::from_timestamp_millis(to as i64)?,
            expiry: expiry.get(),
        })
    };
    let errors = move || {
        draft()
            .map(|d| d.validate().err().unwrap_or_default())
            .unwrap_or_default()
    };
    let mark = move |which: RwSignal<Option<f64>>| match handle.wall_ms() {
        Some(ms) => {
            which.set(Some(ms));
            hint.set(None);
        }
        None => hint.set(Some(
            "Start playback first: points are marked at the frame on screen.".into(),
        )),
    };
    let nudge = move |which: RwSignal<Option<f64>>, seconds: f64| {
        which.update(|v| {
            if let Some(ms) = v {
                *ms += seconds * 1000.0;
            }
        })
    };
    let submit = {
        let default_title = default_title.clone();
        move || {
            if title.get_untracked().trim().is_empty() {
                if let Some(ms) = in_ms.get_untracked() {
                    title.set(default_title(ms));
                }
            }
            if let Some(d) = draft() {
                if d.validate().is_ok() {
                    create.dispatch(d);
                }
            }
        }
    };
    let quick = {
        let submit = submit.clone();
        move |_| match handle.wall_ms() {
            Some(now) => {
                in_ms.set(Some(now - 30_000.0));
                out_ms.set(Some(now));
                title.set(String::new());
                hint.set(None);
                submit();
            }
            None => hint.set(Some(
                "Start playback first: the clip ends at the frame on screen.".into(),
            )),
        }
    };
    let point = move |label: &'static str, which: RwSignal<Option<f64>>| {
        view! {
            <div class="clip-point">
                <button type="button" class="secondary" on:click=move |_| mark(which)>{format!("Mark {label}")}</button>
                <button type="button" class="secondary small" aria-label=format!("{label} point 1 s earlier") on:click=move |_| nudge(which, -1.0)>"−1 s"</button>
                <button type="button" class="secondary small" aria-label=format!("{label} point 1 s later") on:click=move |_| nudge(which, 1.0)>"+1 s"</button>
                <span class="clip-time" data-point=label>{move || which.get().map(clock).unwrap_or_else(|| "not set".into())}</span>
            </div>
        }
    };
    view! {
        <section class="card clip-panel" class:highlight=open id="clip-panel" aria-labelledby="clip-title">
            <h2 id="clip-title">"✂ Clip & Share"</h2>
            <p class="muted small">"Clips are made instantly from the replay, without re-encoding, and cut at the nearest segment boundaries (about a second)."</p>
            <div class="actions left">
                <button type="button" class="primary quick-clip" on:click=quick disabled=move || create.pending().get()>"✂ Clip the last 30 s"</button>
            </div>
            <div class="clip-points">
                {point("in", in_ms)}
                {point("out", out_ms)}
                <p class="clip-length">{move || match (in_ms.get(), out_ms.get()) {
                    (Some(a), Some(b)) => format!("Length {:.1} s", (b - a) / 1000.0),
                    _ => "Mark both points, or take the last 30 s.".into(),
                }}</p>
            </div>
            <div class="inline-form">
                <div class="field">
                    <label for="clip-title-input">"Title"</label>
                    <input id="clip-title-input" maxlength="120" placeholder="e.g. Goal in the 89th minute"
                        prop:value=move || title.get() on:input=move |ev| title.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="clip-expiry">"Share link"</label>
                    <select id="clip-expiry" on:change=move |ev| if let Some(e) = LinkExpiry::from_key(&event_target_value(&ev)) { expiry.set(e) }>
                        {LinkExpiry::ALL.into_iter().map(|e| view! {
                            <option value=e.key() selected=e == LinkExpiry::Week>{e.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="button" class="primary create-clip"
                    disabled=move || in_ms.get().is_none() || out_ms.get().is_none() || create.pending().get()
                    on:click=move |_| submit()>
                    {move || if create.pending().get() { "Creating…" } else { "Create clip" }}
                </button>
            </div>
            {move || hint.get().map(|h| view! { <p class="field-error">{h}</p> })}
            <ul class="field-errors">
                {move || errors().into_iter().filter(|e| e.field != "title" || !title.get().is_empty()).map(|e| view! { <li class="field-error">{e.to_string()}</li> }).collect_view()}
            </ul>
            {move || create.value().get().map(|r| match r {
                Ok(clip) => {
                    let path = clip.share.as_ref().map(|s| s.path.clone()).unwrap_or_default();
                    view! {
                        <div class="notice-box created" role="status">
                            <p><strong>{format!("“{}” is ready", clip.title)}</strong> {format!(" · {:.1} s · share it with anyone:", clip.duration_ms as f64 / 1000.0)}</p>
                            <p class="share-row">
                                <a class="share-link" href=path.clone() target="_blank" rel="noopener">{path.clone()}</a>
                                " " <CopyButton text=path.clone() label="Copy share link"/>
                            </p>
                        </div>
                    }.into_any()
                }
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
        </section>
    }
}

/// Share the whole replay, and save the last N minutes of the buffer as a recording.
#[component]
fn KeepPanel(replay_id: i64, live: bool, group_name: String) -> impl IntoView {
    let seconds = RwSignal::new(300i64);
    let save = Action::new(move |s: &i64| {
        let s = *s;
        async move { save_replay_span(replay_id, s).await }
    });
    let share_expiry = RwSignal::new(LinkExpiry::Day);
    let share_title = RwSignal::new(format!("{group_name} · live replay"));
    let share = Action::new(move |(title, expiry): &(String, LinkExpiry)| {
        let (title, expiry) = (title.clone(), *expiry);
        async move { share_replay(replay_id, title, expiry).await }
    });
    view! {
        <section class="card keep-panel" aria-labelledby="keep-title">
            <h2 id="keep-title">"Keep and share this replay"</h2>
            <div class="inline-form">
                <div class="field">
                    <label for="save-seconds">"Save as a recording"</label>
                    <select id="save-seconds" on:change=move |ev| if let Ok(s) = event_target_value(&ev).parse() { seconds.set(s) }>
                        {[(60, "the last minute"), (120, "the last 2 minutes"), (300, "the last 5 minutes"), (600, "the last 10 minutes"), (1800, "the last 30 minutes"), (SAVE_MAX_S, "the whole buffer")]
                            .into_iter()
                            .map(|(s, label)| view! { <option value=s selected=s == 300>{label}</option> })
                            .collect_view()}
                    </select>
                </div>
                <button type="button" class="secondary save-span" disabled=move || save.pending().get() on:click=move |_| { save.dispatch(seconds.get_untracked()); }>
                    {move || if save.pending().get() { "Saving…" } else { "Save" }}
                </button>
            </div>
            <p class="muted small">{if live { "Copies that span of the live buffer into a permanent recording, even with recording off." } else { "Copies that span of the replay into a permanent recording." }}</p>
            {move || save.value().get().map(|r| match r {
                Ok(a) => view! {
                    <p class="notice-box saved-span" role="status">
                        {format!("Saved a recording of {}. ", a.duration_ms.map(|d| format_duration_s((d + 500) / 1000)).unwrap_or_default())}
                        <a href=a.url.clone() download="">"Download"</a>
                    </p>
                }.into_any(),
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
            <div class="inline-form">
                <div class="field">
                    <label for="share-title">"Share the whole replay as"</label>
                    <input id="share-title" maxlength="120" prop:value=move || share_title.get() on:input=move |ev| share_title.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="share-expiry">"Link"</label>
                    <select id="share-expiry" on:change=move |ev| if let Some(e) = LinkExpiry::from_key(&event_target_value(&ev)) { share_expiry.set(e) }>
                        {LinkExpiry::ALL.into_iter().map(|e| view! { <option value=e.key() selected=e == LinkExpiry::Day>{e.label()}</option> }).collect_view()}
                    </select>
                </div>
                <button type="button" class="secondary share-replay" disabled=move || share.pending().get()
                    on:click=move |_| { share.dispatch((share_title.get_untracked(), share_expiry.get_untracked())); }>"Share replay"</button>
            </div>
            {move || share.value().get().map(|r| match r {
                Ok(link) => view! {
                    <p class="notice-box" role="status">
                        <a class="share-link" href=link.path.clone() target="_blank" rel="noopener">{link.path.clone()}</a>
                        " " <CopyButton text=link.path.clone() label="Copy replay share link"/>
                    </p>
                }.into_any(),
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::clock;

    #[test]
    fn clock_shows_tenths_in_utc() {
        // 2026-12-01 19:47:59.250 UTC
        assert_eq!(clock(1_796_154_479_250.0), "19:47:59.2 UTC");
    }
}
