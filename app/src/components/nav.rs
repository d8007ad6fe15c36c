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
                            let current = info.user.organisation_id;
                            let picker = (info.memberships.len() > 1).then(|| view! {
                                <ActionForm action=actions.switch attr:class="org-picker">
                                    <label class="sr-only" for="org-picker">"Organisation"</label>
                                    <select id="org-picker" name="organisation_id">
                                        {info.memberships.iter().map(|m| view! {
                                            <option value=m.organisation_id selected=m.organisation_id == current>
                                                {format!("{} ({})", m.organisation_name, m.role.label())}
                                            </option>
                                        }).collect_view()}
                                    </select>
                                    <button type="submit" class="secondary small">"Switch"</button>
                                </ActionForm>
                            });
                            view! {
                                <nav class="mainnav" aria-label="Main">
                                    <A href="/streams">"Streams"</A>
                                    <A href="/organisation">"Organisation"</A>
                                    <A href="/account">"Account"</A>
                                </nav>
                                <div class="who">
                                    {picker}
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
