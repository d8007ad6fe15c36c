//! The hydrate entry: the browser half of the app. Everything lives in `app`.

// Hydrating Leptos views nests deep types; a clean build needs more than the default 128.
#![recursion_limit = "512"]

/// Called by the generated JS once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
