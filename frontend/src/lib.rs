//! The hydrate entry: the browser half of the app. Everything lives in `app`.

/// Called by the generated JS once the wasm module is loaded.
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
