//! `/`: sends signed-in users to their streams, everyone else to the login page.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::components::auth_guard::use_session;

/// Redirects to `/streams` or `/login`.
#[component]
pub fn HomePage() -> impl IntoView {
    let session = use_session();
    view! {
        <Transition fallback=|| ()>
            {move || {
                session.get().map(|s| match s {
                    Ok(Some(_)) => view! { <Redirect path="/streams"/> }.into_any(),
                    _ => view! { <Redirect path="/login"/> }.into_any(),
                })
            }}
        </Transition>
    }
}
