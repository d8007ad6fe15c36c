//! The edit modal of a section: the settings editor for every stream of the group, saved
//! only on Confirm. Cancel, Escape or a click outside discard. An invalid value blocks
//! Confirm; the server validates again and its field errors show the same way. A stale save
//! is refused with the current values. After a save it says whether the change reached the
//! live stream at once or applies at the next ingest.

use leptos::html::Dialog;
use leptos::prelude::*;

use super::use_tab;
use crate::api::processing::update_processing;
use crate::components::errors::ErrorBox;
use crate::components::settings_editor::model::EditorModel;
use crate::components::settings_editor::SettingsEditor;
use crate::domain::jobs::ApplyMode;
use crate::domain::settings::{ProcessChange, StreamProcessing};
use crate::domain::{AppError, FieldError};

/// The modal; opens when the tab's `editing` is set.
#[component]
pub fn EditModal() -> impl IntoView {
    let ctx = use_tab();
    let dialog = NodeRef::<Dialog>::new();
    let model = RwSignal::new(EditorModel::new(Vec::new()));
    let server_errors = RwSignal::new(Vec::<FieldError>::new());
    let failure = RwSignal::new(None::<AppError>);
    let applied = RwSignal::new(None::<ApplyMode>);
    let group_id = ctx.group_id;
    let save = Action::new(move |changes: &Vec<ProcessChange>| {
        let changes = changes.clone();
        async move { update_processing(group_id, changes).await }
    });

    // The editor starts from the settings as they are now.
    let reset_to = move |settings: &[StreamProcessing]| {
        let streams = ctx.with(|o| o.streams.clone()).unwrap_or_default();
        model.set(EditorModel::from_saved(&streams, settings));
    };

    // Open and close the <dialog> as `editing` says.
    Effect::new(move |_| {
        let open = ctx.editing.get();
        let Some(el) = dialog.get() else {
            return;
        };
        match open {
            Some(_) if !el.open() => {
                let settings = ctx
                    .data
                    .with_untracked(|d| d.as_ref().map(|o| o.settings.clone()).unwrap_or_default());
                reset_to(&settings);
                server_errors.set(Vec::new());
                failure.set(None);
                applied.set(None);
                let _ = el.show_modal();
            }
            None if el.open() => el.close(),
            _ => {}
        }
    });

    Effect::new(move |_| {
        let Some(result) = save.value().get() else {
            return;
        };
        match result {
            Ok(outcome) => {
                reset_to(&outcome.settings);
                server_errors.set(Vec::new());
                failure.set(None);
                applied.set(Some(outcome.apply));
                ctx.reload();
            }
            Err(AppError::Conflict { message, current }) => {
                reset_to(&current);
                server_errors.set(Vec::new());
                applied.set(None);
                failure.set(Some(AppError::Conflict { message, current }));
            }
            Err(e) => {
                server_errors.set(e.field_errors().to_vec());
                applied.set(None);
                failure.set(Some(e));
            }
        }
    });

    let kinds = move || ctx.editing.get().map(|s| s.kinds()).unwrap_or_default();
    let invalid = move || model.with(|m| !m.errors(&kinds()).is_empty());
    let dirty = move || model.with(|m| m.is_dirty());
    let confirm = move |_| {
        applied.set(None);
        failure.set(None);
        match model.with_untracked(|m| m.changes(&kinds())) {
            Ok(changes) if changes.is_empty() => {}
            Ok(changes) => {
                save.dispatch(changes);
            }
            Err(errors) => server_errors.set(errors),
        }
    };
    let close = move || ctx.editing.set(None);

    view! {
        <dialog
            node_ref=dialog
            class="modal"
            aria-labelledby="edit-title"
            on:cancel=move |_: web_sys::Event| close()
            on:close=move |_: web_sys::Event| close()
            // A click on the dialog itself (not its content) is a click on the backdrop.
            on:click=move |ev: leptos::ev::MouseEvent| if ev.target() == ev.current_target() { close() }
            on:keydown=move |ev: leptos::ev::KeyboardEvent| keep_focus_inside(&ev)
        >
            <div class="modal-body">
                <div class="modal-head">
                    <h2 id="edit-title">{move || ctx.editing.get().map(|s| format!("Edit {}", s.title()))}</h2>
                    <button type="button" class="icon-button" aria-label="Close without saving" on:click=move |_| close()>"✕"</button>
                </div>
                <p class="muted small">"Nothing is saved until you click Confirm. With the stream live, saved changes apply at once, without a reconnect."</p>
                {move || ctx.editing.get().map(|s| view! {
                    <SettingsEditor model kinds=s.kinds() server_errors/>
                })}
                {move || failure.get().map(|e| view! { <ErrorBox error=e/> })}
                {move || applied.get().map(|mode| view! {
                    <p class="notice-box saved" role="status">{match mode {
                        ApplyMode::AppliedLive => "Saved. The stream is live: the change was applied now, without a reconnect.",
                        ApplyMode::NextIngest => "Saved. The stream is not live: the change applies when the next ingest starts.",
                    }}</p>
                })}
                <div class="actions">
                    <Show when=invalid>
                        <span class="field-error blocking">"Correct the marked values to confirm."</span>
                    </Show>
                    <button type="button" class="secondary" on:click=move |_| close()>
                        {move || if applied.get().is_some() { "Close" } else { "Cancel" }}
                    </button>
                    <button
                        type="button"
                        class="primary"
                        disabled=move || invalid() || !dirty() || save.pending().get()
                        on:click=confirm
                    >
                        {move || if save.pending().get() { "Saving…" } else { "Confirm" }}
                    </button>
                </div>
            </div>
        </dialog>
    }
    .into_any()
}

/// Tab from the last control goes to the first, Shift+Tab from the first to the last, so
/// focus never leaves the open modal (the page behind is inert, but the browser's own UI
/// would otherwise take it).
fn keep_focus_inside(ev: &leptos::ev::KeyboardEvent) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if ev.key() != "Tab" {
            return;
        }
        let Some(dialog) = ev
            .current_target()
            .and_then(|t| t.dyn_into::<web_sys::Element>().ok())
        else {
            return;
        };
        let Ok(list) = dialog.query_selector_all(
            "button:not([disabled]), input:not([disabled]), select:not([disabled]), a[href], [tabindex=\"0\"]",
        ) else {
            return;
        };
        let items: Vec<web_sys::HtmlElement> = (0..list.length())
            .filter_map(|i| list.item(i))
            .filter_map(|n| n.dyn_into::<web_sys::HtmlElement>().ok())
            .filter(|e| e.offset_parent().is_some())
            .collect();
        let (Some(first), Some(last)) = (items.first(), items.last()) else {
            return;
        };
        let active = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.active_element());
        let at = |e: &web_sys::HtmlElement| {
            active.as_ref() == Some(e.unchecked_ref::<web_sys::Element>())
        };
        if ev.shift_key() && at(first) {
            ev.prevent_default();
            let _ = last.focus();
        } else if !ev.shift_key() && at(last) {
            ev.prevent_default();
            let _ = first.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = ev;
}
