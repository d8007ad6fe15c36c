//! `/signup`: a new organisation and its owner.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::components::errors::action_error;
use crate::domain::account::MIN_PASSWORD_CHARS;
use crate::AuthActions;

/// The sign-up form.
#[component]
pub fn SignupPage() -> impl IntoView {
    let sign_up = expect_context::<AuthActions>().sign_up;
    view! {
        <Title text="Sign up"/>
        <section class="card narrow">
            <h1>"Create your organisation"</h1>
            <p class="muted">"You become its owner and can invite your team afterwards."</p>
            <ActionForm action=sign_up attr:novalidate=true>
                <div class="field">
                    <label for="su-org">"Organisation name"</label>
                    <input id="su-org" name="organisation_name" required maxlength="80"/>
                </div>
                <div class="field">
                    <label for="su-name">"Your name"</label>
                    <input id="su-name" name="display_name" autocomplete="name" required maxlength="80"/>
                </div>
                <div class="field">
                    <label for="su-email">"E-mail"</label>
                    <input id="su-email" type="email" name="email" autocomplete="username" required/>
                </div>
                <div class="field">
                    <label for="su-password">{format!("Password (at least {MIN_PASSWORD_CHARS} characters)")}</label>
                    <input id="su-password" type="password" name="password" autocomplete="new-password" required/>
                </div>
                {action_error(move || sign_up.value().get())}
                <button type="submit" class="primary" disabled=move || sign_up.pending().get()>"Create organisation"</button>
            </ActionForm>
            <p class="muted">"Already have an account? " <A href="/login">"Log in"</A></p>
        </section>
    }
}
