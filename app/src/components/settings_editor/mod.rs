//! The live processing settings editor: one tab per stream of the group, the process
//! toggles and numeric settings with their units and allowed ranges, errors next to each
//! field, and "Sync settings across profiles". Used by the stream creation form and by the
//! Live Processing tab's edit modal. The state and its rules live in [`model`].

pub mod model;

use leptos::prelude::*;

use crate::domain::settings::{ProcessKind, Rule};
use crate::domain::streams::StreamRole;
use crate::domain::FieldError;
use model::{EditorModel, ProcessDraft};

/// Edits the settings of `kinds` for every stream in `model`.
#[component]
pub fn SettingsEditor(
    model: RwSignal<EditorModel>,
    /// The processes this editor shows (a section of the Live Processing tab, or all four).
    kinds: Vec<ProcessKind>,
    /// Errors the server sent back, shown next to their fields like local ones.
    #[prop(into)]
    server_errors: Signal<Vec<FieldError>>,
) -> impl IntoView {
    let selected = RwSignal::new(0usize);
    let notice = RwSignal::new(None::<String>);
    let kinds = StoredValue::new(kinds);
    let stream_count = move || model.with(|m| m.streams.len());
    let has_profiles =
        move || model.with(|m| m.streams.iter().any(|s| s.role == StreamRole::Profile));
    let tab_has_error =
        move |i: usize| model.with(|m| m.errors(&kinds.get_value()).iter().any(|(s, _)| *s == i));
    let sync = move |_| {
        let from = selected.get_untracked();
        let n = model
            .try_update(|m| m.sync_from(from, &kinds.get_value()))
            .unwrap_or(0);
        let name = model.with_untracked(|m| {
            m.streams
                .get(from)
                .map(|s| s.quality.clone())
                .unwrap_or_default()
        });
        notice.set(Some(if n == 0 {
            format!("Every profile already has the {name} settings.")
        } else {
            format!(
                "Copied the {name} settings to {n} profile{}. Not saved yet.",
                if n == 1 { "" } else { "s" }
            )
        }));
    };

    view! {
        <div class="settings-editor">
            <Show when=move || { stream_count() > 1 }>
                <div class="tabs" role="tablist" aria-label="Streams">
                    {move || {
                        model
                            .with(|m| {
                                m.streams
                                    .iter()
                                    .enumerate()
                                    .map(|(i, s)| (i, s.quality.clone(), s.name.clone()))
                                    .collect::<Vec<_>>()
                            })
                            .into_iter()
                            .map(|(i, quality, name)| {
                                view! {
                                    <button
                                        type="button"
                                        role="tab"
                                        class="tab"
                                        class:active=move || selected.get() == i
                                        aria-selected=move || (selected.get() == i).to_string()
                                        title=name
                                        on:click=move |_| selected.set(i)
                                    >
                                        {quality}
                                        <span class="tab-error" class:hidden=move || !tab_has_error(i) aria-label="has errors">
                                            " ●"
                                        </span>
                                    </button>
                                }
                            })
                            .collect_view()
                    }}
                </div>
            </Show>
            {move || {
                let index = selected.get().min(stream_count().saturating_sub(1));
                let name = model.with(|m| m.streams.get(index).map(|s| s.name.clone()).unwrap_or_default());
                view! {
                    <p class="editing-stream">"Stream: " <strong>{name}</strong></p>
                    {kinds
                        .get_value()
                        .into_iter()
                        .map(|kind| view! { <ProcessFields model index kind server_errors/> })
                        .collect_view()}
                }
            }}
            <Show when=has_profiles>
                <div class="sync-row">
                    <button type="button" class="secondary" on:click=sync>
                        "Sync settings across profiles"
                    </button>
                    <span class="notice" role="status">{move || notice.get()}</span>
                </div>
            </Show>
        </div>
    }
}

/// The inputs of one process of one stream.
#[component]
fn ProcessFields(
    model: RwSignal<EditorModel>,
    index: usize,
    kind: ProcessKind,
    server_errors: Signal<Vec<FieldError>>,
) -> impl IntoView {
    let draft = move || {
        model.with(|m| {
            m.streams
                .get(index)
                .map(|s| s.process(kind).clone())
                .unwrap_or_else(|| ProcessDraft {
                    enabled: false,
                    interval: String::new(),
                    duration: String::new(),
                    entire_stream: false,
                })
        })
    };
    let edit = move |f: Box<dyn Fn(&mut ProcessDraft)>| {
        model.update(|m| {
            if let Some(s) = m.streams.get_mut(index) {
                f(s.process_mut(kind));
            }
        })
    };
    let id = format!("s{index}-{}", kind.key());
    let enabled_id = format!("{id}-enabled");
    view! {
        <fieldset class="process" data-process=kind.key()>
            <legend>{kind.label()}</legend>
            <label class="toggle" for=enabled_id.clone()>
                <input
                    type="checkbox"
                    id=enabled_id.clone()
                    prop:checked=move || draft().enabled
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        edit(Box::new(move |d| d.enabled = on));
                    }
                />
                <span>{format!("{} enabled", kind.label())}</span>
            </label>
            {kind.interval_rule().map(|rule| {
                view! {
                    <SecondsField
                        model index kind rule server_errors
                        id=format!("{id}-interval")
                        value=Signal::derive(move || draft().interval)
                        disabled=Signal::derive(|| false)
                        on_input=Callback::new(move |v: String| edit(Box::new(move |d| d.interval = v.clone())))
                    />
                }
            })}
            {kind.duration_rule().map(|rule| {
                let entire_id = format!("{id}-entire");
                view! {
                    <SecondsField
                        model index kind rule server_errors
                        id=format!("{id}-duration")
                        value=Signal::derive(move || draft().duration)
                        disabled=Signal::derive(move || rule.allows_entire_stream && draft().entire_stream)
                        on_input=Callback::new(move |v: String| edit(Box::new(move |d| d.duration = v.clone())))
                    />
                    {rule.allows_entire_stream.then(|| view! {
                        <label class="toggle entire" for=entire_id.clone()>
                            <input
                                type="checkbox"
                                id=entire_id.clone()
                                prop:checked=move || draft().entire_stream
                                on:change=move |ev| {
                                    let on = event_target_checked(&ev);
                                    edit(Box::new(move |d| d.entire_stream = on));
                                }
                            />
                            <span>"Entire stream"</span>
                        </label>
                    })}
                }
            })}
        </fieldset>
    }
}

/// A seconds input with its label, unit, allowed range and error.
#[component]
fn SecondsField(
    model: RwSignal<EditorModel>,
    index: usize,
    kind: ProcessKind,
    rule: &'static Rule,
    server_errors: Signal<Vec<FieldError>>,
    id: String,
    value: Signal<String>,
    disabled: Signal<bool>,
    on_input: Callback<String>,
) -> impl IntoView {
    let error = Signal::derive(move || {
        if disabled.get() {
            return None;
        }
        model
            .with(|m| m.error_for(index, kind, rule.field))
            .or_else(|| {
                let stream_id =
                    model.with(|m| m.streams.get(index).map(|s| s.stream_id).unwrap_or(0));
                let indexed = format!("streams[{index}].{}", rule.field);
                server_errors.get().into_iter().find(|e| {
                    (e.field == rule.field && e.stream_id == Some(stream_id) && stream_id != 0)
                        || e.field == indexed
                })
            })
    });
    let error_id = format!("{id}-error");
    let hint = format!("{} ({})", rule.label, rule.allowed());
    let short_label = rule
        .label
        .split_whitespace()
        .last()
        .unwrap_or(rule.label)
        .to_string();
    let short_label = format!("{}{}", short_label[..1].to_uppercase(), &short_label[1..]);
    view! {
        <div class="field" class:invalid=move || error.get().is_some()>
            <label for=id.clone()>{format!("{short_label} (s)")}</label>
            <div class="input-row">
                <input
                    id=id.clone()
                    type="number"
                    inputmode="numeric"
                    min=rule.min
                    max=rule.max
                    step="1"
                    prop:value=move || value.get()
                    prop:disabled=move || disabled.get()
                    aria-invalid=move || error.get().is_some().to_string()
                    aria-describedby=error_id.clone()
                    title=hint
                    on:input=move |ev| on_input.run(event_target_value(&ev))
                />
                <span class="range">{rule.allowed()}</span>
            </div>
            <crate::components::errors::FieldMessage error id=error_id/>
        </div>
    }
}
