//! `/account`: the signed-in user's password, their other sessions, and leaving the current
//! organisation.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::auth::{ChangePassword, SignOutOtherSessions};
use crate::api::org::LeaveOrganisation;
use crate::components::auth_guard::SignedIn;
use crate::components::errors::action_error;
use crate::domain::account::MIN_PASSWORD_CHARS;

/// The account page.
#[component]
pub fn AccountPage() -> impl IntoView {
    view! {
        <Title text="Account"/>
        <SignedIn children=move |session| {
            let change = ServerAction::<ChangePassword>::new();
            let others = ServerAction::<SignOutOtherSessions>::new();
            let leave = ServerAction::<LeaveOrganisation>::new();
            view! {
                <h1>"Account"</h1>
                <p class="muted">{format!("{} · {}", session.user.display_name, session.user.email)}</p>
                <section class="card" aria-labelledby="pw-title">
                    <h2 id="pw-title">"Change password"</h2>
                    <ActionForm action=change attr:novalidate=true>
                        <div class="field">
                            <label for="pw-current">"Current password"</label>
                            <input id="pw-current" type="password" name="current_password" autocomplete="current-password" required/>
                        </div>
                        <div class="field">
                            <label for="pw-new">"New password"</label>
                            <input id="pw-new" type="password" name="new_password" autocomplete="new-password" required minlength=MIN_PASSWORD_CHARS/>
                        </div>
                        {action_error(move || change.value().get())}
                        <button type="submit" class="primary">"Change password"</button>
                    </ActionForm>
                    {move || matches!(change.value().get(), Some(Ok(_))).then(|| view! {
                        <div class="notice-box" role="status">"Password changed; every other session of yours was signed out."</div>
                    })}
                </section>
                <section class="card" aria-labelledby="sessions-title">
                    <h2 id="sessions-title">"Sessions"</h2>
                    <ActionForm action=others>
                        <button type="submit" class="secondary">"Sign out every other session"</button>
                    </ActionForm>
                    {action_error(move || others.value().get())}
                    {move || others.value().get().and_then(Result::ok).map(|n| view! {
                        <div class="notice-box" role="status">{format!("{n} other session(s) signed out.")}</div>
                    })}
                </section>
                <section class="card" aria-labelledby="leave-title">
                    <h2 id="leave-title">{format!("Leave {}", session.user.organisation_name)}</h2>
                    <p class="muted small">"You lose access to its streams. The last owner cannot leave."</p>
                    <ActionForm action=leave>
                        <button type="submit" class="secondary danger">"Leave organisation"</button>
                    </ActionForm>
                    {action_error(move || leave.value().get())}
                </section>
            }
        }/>
    }
}
