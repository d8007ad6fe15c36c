//! `/login`: e-mail and password.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Redirect, A};

use crate::components::auth_guard::use_session;
use crate::components::errors::action_error;
use crate::AuthActions;

/// The login form (works without JavaScript too).
#[component]
pub fn LoginPage() -> impl IntoView {
    let login = expect_context::<AuthActions>().login;
    let session = use_session();
    view! {
        <Title text="Log in"/>
        <Transition fallback=|| ()>
            {move || matches!(session.get(), Some(Ok(Some(_)))).then(|| view! { <Redirect path="/streams"/> })}
        </Transition>
        <section class="card narrow">
            <h1>"Log in"</h1>
            <ActionForm action=login attr:novalidate=true>
                <div class="field">
                    <label for="login-email">"E-mail"</label>
                    <input id="login-email" type="email" name="email" autocomplete="username" required/>
                </div>
                <div class="field">
                    <label for="login-password">"Password"</label>
                    <input id="login-password" type="password" name="password" autocomplete="current-password" required/>
                </div>
                {action_error(move || login.value().get())}
                <button type="submit" class="primary" disabled=move || login.pending().get()>"Log in"</button>
            </ActionForm>
            <p class="muted">"New here? " <A href="/signup">"Create an organisation"</A></p>
        </section>
    }
}
