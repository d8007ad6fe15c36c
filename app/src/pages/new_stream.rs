//! `/streams/new`: create a stream group, with transcoding profiles and the live processing
//! settings of every stream chosen up front (the same editor as the Live Processing tab).

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use crate::api::streams::create_stream_group;
use crate::components::auth_guard::SignedIn;
use crate::components::errors::{ErrorBox, FieldMessage};
use crate::components::settings_editor::model::{EditorModel, StreamDraft};
use crate::components::settings_editor::SettingsEditor;
use crate::domain::account::SessionInfo;
use crate::domain::packages::Package;
use crate::domain::settings::ProcessKind;
use crate::domain::streams::{NewStreamGroup, StreamRole, PROFILE_PRESETS, SOURCE_QUALITY};
use crate::domain::{AppError, FieldError};

/// The stream creation page.
#[component]
pub fn NewStreamPage() -> impl IntoView {
    view! {
        <Title text="New stream"/>
        <SignedIn children=move |session| view! { <NewStreamForm session/> }/>
    }
}

#[component]
fn NewStreamForm(session: SessionInfo) -> impl IntoView {
    let can_transcode = session.has(Package::Transcoding);
    let can_process = session.has(Package::LiveProcessing);
    let name = RwSignal::new(String::new());
    let transcoding = RwSignal::new(false);
    let picked = RwSignal::new(vec![
        "1080p".to_string(),
        "720p".to_string(),
        "360p".to_string(),
    ]);
    let model = RwSignal::new(EditorModel::new(vec![StreamDraft::new(
        String::new(),
        SOURCE_QUALITY.into(),
        StreamRole::Ingest,
    )]));
    let errors = RwSignal::new(Vec::<FieldError>::new());

    let profiles = move || {
        if transcoding.get() {
            let picked = picked.get();
            PROFILE_PRESETS
                .iter()
                .filter(|p| picked.iter().any(|q| q == p.quality))
                .map(|p| p.quality.to_string())
                .collect()
        } else {
            Vec::new()
        }
    };
    Effect::new(move |_| {
        let n = name.get();
        let mut streams = vec![(n.clone(), SOURCE_QUALITY.to_string(), StreamRole::Ingest)];
        streams.extend(
            profiles()
                .into_iter()
                .map(|q| (format!("{n} {q}"), q, StreamRole::Profile)),
        );
        model.update(|m| m.reshape(streams));
    });

    let create = Action::new(|group: &NewStreamGroup| {
        let group = group.clone();
        async move { create_stream_group(group).await }
    });
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(id)) = create.value().get() {
            navigate(&format!("/streams/{id}"), Default::default());
        }
    });
    let server_error = move || match create.value().get() {
        Some(Err(AppError::Validation(_))) | Some(Ok(_)) | None => None,
        Some(Err(e)) => Some(e),
    };
    Effect::new(move |_| {
        if let Some(Err(AppError::Validation(list))) = create.value().get() {
            errors.set(list);
        }
    });

    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let processing = if can_process {
            match model.with_untracked(|m| m.inputs()) {
                Ok(p) => p,
                Err(e) => {
                    errors.set(e);
                    return;
                }
            }
        } else {
            Vec::new()
        };
        let group = NewStreamGroup {
            name: name.get_untracked(),
            profiles: profiles(),
            processing,
        };
        match group.validate() {
            Ok(_) => {
                errors.set(Vec::new());
                create.dispatch(group);
            }
            Err(e) => errors.set(e),
        }
    };
    let name_error = Signal::derive(move || errors.get().into_iter().find(|e| e.field == "name"));
    let profile_error =
        Signal::derive(move || errors.get().into_iter().find(|e| e.field == "profiles"));

    view! {
        <div class="page-head"><h1>"New stream"</h1></div>
        <form class="card" on:submit=submit novalidate>
            <div class="field" class:invalid=move || name_error.get().is_some()>
                <label for="ns-name">"Name"</label>
                <input id="ns-name" required maxlength="80" placeholder="e.g. Main stage"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                    aria-describedby="ns-name-error"/>
                <FieldMessage error=name_error id="ns-name-error".to_string()/>
            </div>
            <fieldset class="transcoding">
                <legend>"Transcoding"</legend>
                {if can_transcode {
                    view! {
                        <label class="toggle" for="ns-transcoding">
                            <input id="ns-transcoding" type="checkbox" prop:checked=move || transcoding.get()
                                on:change=move |ev| transcoding.set(event_target_checked(&ev))/>
                            <span>"Transcoding (make a stream group with extra renditions)"</span>
                        </label>
                        <Show when=move || transcoding.get()>
                            <div class="profiles" role="group" aria-label="Transcoding profiles">
                                {PROFILE_PRESETS.into_iter().map(|p| {
                                    let q = p.quality.to_string();
                                    let id = format!("ns-profile-{}", p.quality);
                                    let q2 = q.clone();
                                    view! {
                                        <label class="toggle" for=id.clone()>
                                            <input id=id.clone() type="checkbox"
                                                prop:checked=move || picked.get().contains(&q)
                                                on:change=move |ev| {
                                                    let on = event_target_checked(&ev);
                                                    let q = q2.clone();
                                                    picked.update(|v| { v.retain(|x| *x != q); if on { v.push(q); } });
                                                }/>
                                            <span>{format!("{} · {}×{} · {} kbps", p.quality, p.width, p.height, p.video_kbps)}</span>
                                        </label>
                                    }
                                }).collect_view()}
                            </div>
                        </Show>
                        <FieldMessage error=profile_error id="ns-profiles-error".to_string()/>
                    }.into_any()
                } else {
                    view! { <p class="muted">"Transcoding is not enabled for your organisation: " <span class="badge upgrade">"Upgrade needed"</span></p> }.into_any()
                }}
            </fieldset>
            <fieldset class="processing">
                <legend>"Live Processing"</legend>
                {if can_process {
                    view! {
                        <p class="muted">"Choose what is made while you are live. You can change it later in the stream's Live Processing tab."</p>
                        <SettingsEditor model kinds=ProcessKind::ALL.to_vec() server_errors=Signal::derive(move || errors.get())/>
                    }.into_any()
                } else {
                    view! {
                        <p class="muted">"Thumbnails, motion clips, recording and replay need the Live Processing package: "
                            <span class="badge upgrade">"Upgrade needed"</span> " " <A href="/organisation">"See Enabled Packages"</A></p>
                    }.into_any()
                }}
            </fieldset>
            {move || server_error().map(|e| view! { <ErrorBox error=e/> })}
            <div class="actions">
                <A href="/streams" attr:class="button secondary">"Cancel"</A>
                <button type="submit" class="primary" disabled=move || create.pending().get()>"Create stream"</button>
            </div>
        </form>
    }
}
