//! The change history of a group's settings: who changed which setting of which stream,
//! when, from what to what (the seeds' users answer to auditors).

use leptos::prelude::*;

use super::use_tab;
use crate::api::processing::processing_history;
use crate::components::errors::ErrorBox;
use crate::components::fetched::fetch_in_browser;
use crate::domain::time::format_utc;

/// The history, newest first; reloaded with the tab.
#[component]
pub fn ChangeHistory() -> impl IntoView {
    let ctx = use_tab();
    let group_id = ctx.group_id;
    // Fetched by the browser (an effect), and only while the section is open: it is not
    // part of the first paint, and a nested server-rendered resource would have to line up
    // with the page's own across server rendering's repeated walks.
    let open = RwSignal::new(false);
    let history = fetch_in_browser(
        move || {
            ctx.refresh.track();
            open.get()
        },
        move |open| async move {
            if open {
                processing_history(group_id).await
            } else {
                Ok(Vec::new())
            }
        },
    )
    .value;
    let value = |v: &str| {
        if v.is_empty() {
            "—".to_string()
        } else {
            v.to_string()
        }
    };
    view! {
        <section class="card lp-section" id="history" aria-labelledby="history-title">
            <details on:toggle=move |ev: web_sys::Event| {
                use wasm_bindgen::JsCast;
                let is_open = ev
                    .target()
                    .and_then(|t| t.dyn_into::<web_sys::HtmlDetailsElement>().ok())
                    .is_some_and(|d| d.open());
                open.set(is_open);
            }>
                <summary><h2 id="history-title">"Change history"</h2></summary>
                <div class="history-body">
                    {move || history.get().map(|r| match r {
                        Ok(list) if list.is_empty() => view! { <p class="muted">"No changes since the streams were created."</p> }.into_any(),
                        Ok(list) => view! {
                            <div class="table-scroll">
                                <table class="details history">
                                    <thead><tr><th>"When (UTC)"</th><th>"Who"</th><th>"Stream"</th><th>"Process"</th><th>"Setting"</th><th>"From"</th><th>"To"</th></tr></thead>
                                    <tbody>
                                        {list.into_iter().map(|c| view! {
                                            <tr>
                                                <td>{format_utc(&c.changed_at)}</td>
                                                <td>{c.changed_by}</td>
                                                <td>{c.stream_name}</td>
                                                <td>{c.process.label()}</td>
                                                <td>{c.field}</td>
                                                <td>{value(&c.old_value)}</td>
                                                <td>{value(&c.new_value)}</td>
                                            </tr>
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </div>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    })}
                </div>
            </details>
        </section>
    }
    .into_any()
}
