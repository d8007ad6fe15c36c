//! The top bar: brand, navigation for signed-in users, who is signed in, logout.

use leptos::prelude::*;
use leptos_router::components::A;

use crate::components::auth_guard::use_session;
use crate::AuthActions;

/// The bar at the top of every page.
#[component]
pub fn TopBar() -> impl IntoView {
    let session = use_session();
    let actions = expect_context::<AuthActions>();
    view! {
        <header class="topbar">
            <A href="/" attr:class="brand" attr:aria-label="Live Processing home">
                <span class="logo" aria-hidden="true">"▶"</span>
                " Live Processing"
            </A>
            <Transition fallback=|| ()>
                {move || {
                    session
                        .get()
                        .and_then(|s| s.ok().flatten())
                        .map(|info| {
                            view! {
                                <nav class="mainnav" aria-label="Main">
                                    <A href="/streams">"Streams"</A>
                                    <A href="/organisation">"Organisation"</A>
                                </nav>
                                <div class="who">
                                    <span class="org">{info.user.organisation_name.clone()}</span>
                                    <span class="email">{info.user.email.clone()}</span>
                                    <span class="badge role">{info.user.role.label()}</span>
                                    <ActionForm action=actions.logout>
                                        <button type="submit" class="secondary small">"Log out"</button>
                                    </ActionForm>
                                </div>
                            }
                        })
                }}
            </Transition>
        </header>
    }
}
