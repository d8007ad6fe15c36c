//! The hydrate entry: the browser half of the app. Everything lives in `app`.

// Hydrating Leptos views nests deep types; a clean build needs more than the default 128.
#![recursion_limit = "512"]

/// Called by the generated JS once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    let Some(body) = leptos::prelude::document().body() else {
        return;
    };
    // Hydrated asynchronously: a lazy route (`app::pages::lazy`) loads its chunk first.
    wasm_bindgen_futures::spawn_local(async move {
        let owner = leptos::mount::hydrate_from_async(body.clone(), app::App).await;
        owner.forget();
        // The whole page, its lazy route included, is interactive now (end-to-end tests wait
        // for this mark).
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
