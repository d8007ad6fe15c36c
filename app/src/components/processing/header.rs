//! A section's header row (title, Refresh icon button, Edit button for roles that may edit)
//! and its stream tabs (one per stream of the group; none for a single stream).

use leptos::prelude::*;

use super::{use_tab, Section};
use crate::domain::streams::StreamInfo;

/// Title, Refresh and Edit.
#[component]
pub fn SectionHeader(section: Section) -> impl IntoView {
    let ctx = use_tab();
    let title = section.title();
    view! {
        <div class="section-head">
            <h2 id=format!("{}-title", section.id())>{title}</h2>
            <div class="section-actions">
                <button
                    type="button"
                    class="icon-button refresh"
                    aria-label=format!("Refresh {title}")
                    title="Refresh assets and data"
                    on:click=move |_| ctx.reload()
                >
                    <span class="refresh-icon" class:spinning=move || ctx.loading.get() aria-hidden="true">"⟳"</span>
                </button>
                {ctx.can_edit.then(|| view! {
                    <button
                        type="button"
                        class="secondary edit"
                        aria-label=format!("Edit {title} settings")
                        on:click=move |_| ctx.editing.set(Some(section))
                    >
                        "Edit"
                    </button>
                })}
            </div>
        </div>
    }
}

/// One tab per stream; arrow keys move between them. Renders nothing for one stream.
#[component]
pub fn StreamTabs(
    streams: Vec<StreamInfo>,
    selected: RwSignal<usize>,
    /// Distinguishes the tab lists of the sections.
    section: Section,
) -> impl IntoView {
    if streams.len() < 2 {
        return ().into_any();
    }
    let count = streams.len();
    let panel = format!("{}-panel", section.id());
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let next = match ev.key().as_str() {
            "ArrowRight" => (selected.get_untracked() + 1) % count,
            "ArrowLeft" => (selected.get_untracked() + count - 1) % count,
            "Home" => 0,
            "End" => count - 1,
            _ => return,
        };
        ev.prevent_default();
        selected.set(next);
        focus_tab(section, next);
    };
    view! {
        <div class="tabs stream-tabs" role="tablist" aria-label=format!("{} streams", section.title()) on:keydown=on_key>
            {streams.into_iter().enumerate().map(|(i, s)| {
                let panel = panel.clone();
                view! {
                    <button
                        type="button"
                        role="tab"
                        class="tab"
                        id=format!("{}-tab-{i}", section.id())
                        aria-controls=panel
                        aria-selected=move || (selected.get() == i).to_string()
                        tabindex=move || if selected.get() == i { "0" } else { "-1" }
                        title=s.name.clone()
                        on:click=move |_| selected.set(i)
                    >
                        {s.quality.clone()}
                    </button>
                }
            }).collect_view()}
        </div>
    }
    .into_any()
}

fn focus_tab(section: Section, index: usize) {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        if let Some(el) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.get_element_by_id(&format!("{}-tab-{index}", section.id())))
            .and_then(|e| e.dyn_into::<web_sys::HtmlElement>().ok())
        {
            let _ = el.focus();
        }
    }
    #[cfg(not(feature = "hydrate"))]
    let _ = (section, index);
}
