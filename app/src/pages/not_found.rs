//! The page for unknown addresses.

use leptos::prelude::*;
use leptos_meta::Title;

/// "Not found", with a way back.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found"/>
        <section class="card narrow">
            <h1>"Not found"</h1>
            <p>"There is nothing at this address."</p>
            <p><a href="/">"Back to the dashboard"</a></p>
        </section>
    }
}
