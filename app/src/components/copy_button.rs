//! A button that copies a text to the clipboard and says so.

use leptos::prelude::*;

/// Copies `text` on click; shows "Copied" for a moment. A site path (`/s/…`) is copied as
/// the full URL of this server.
#[component]
pub fn CopyButton(
    #[prop(into)] text: Signal<String>,
    #[prop(into)] label: String,
) -> impl IntoView {
    let copied = RwSignal::new(false);
    let on_click = move |_| {
        let value = text.get_untracked();
        #[cfg(feature = "hydrate")]
        {
            leptos::task::spawn_local(async move {
                let ok = write_clipboard(&value).await;
                copied.set(ok);
                gloo_timers::future::TimeoutFuture::new(2000).await;
                copied.set(false);
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = value;
    };
    view! {
        <button type="button" class="secondary small copy" on:click=on_click aria-label=label.clone()>
            {move || if copied.get() { "Copied ✓" } else { "Copy" }}
        </button>
    }
}

#[cfg(feature = "hydrate")]
async fn write_clipboard(text: &str) -> bool {
    let Some(window) = web_sys::window() else {
        return false;
    };
    let full = match window.location().origin() {
        Ok(origin) if text.starts_with('/') => format!("{origin}{text}"),
        _ => text.to_string(),
    };
    let promise = window.navigator().clipboard().write_text(&full);
    wasm_bindgen_futures::JsFuture::from(promise).await.is_ok()
}
