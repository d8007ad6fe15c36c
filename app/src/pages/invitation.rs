//! `/invite/:token`: an invitation to join an organisation. An existing account accepts by
//! signing in; a new one by choosing its name and password. No account is needed to open it.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

use crate::api::org::get_invitation;
use crate::components::errors::{action_error, ErrorBox};
use crate::domain::account::MIN_PASSWORD_CHARS;
use crate::domain::time::format_utc;
use crate::AuthActions;

/// The invitation page.
#[component]
pub fn InvitationPage() -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let accept = expect_context::<AuthActions>().accept;
    let info = Resource::new(token, get_invitation);
    view! {
        <Title text="Invitation"/>
        <section class="card narrow">
            <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                {move || info.get().map(|r| match r {
                    Err(e) => view! { <h1>"Invitation"</h1><ErrorBox error=e/> }.into_any(),
                    Ok(i) => {
                        let exists = i.account_exists;
                        view! {
                            <h1>{format!("Join {}", i.organisation_name)}</h1>
                            <p>{format!("You are invited as {} for {}. The link works until {} UTC.", i.role.label(), i.email, format_utc(&i.expires_at))}</p>
                            <ActionForm action=accept attr:novalidate=true>
                                <input type="hidden" name="token" value=token()/>
                                {if exists {
                                    view! {
                                        <p class="muted">"This address has an account: sign in to accept."</p>
                                        <input type="hidden" name="display_name" value=""/>
                                        <div class="field">
                                            <label for="inv-password">"Password"</label>
                                            <input id="inv-password" type="password" name="password" autocomplete="current-password" required/>
                                        </div>
                                    }.into_any()
                                } else {
                                    view! {
                                        <div class="field">
                                            <label for="inv-name">"Your name"</label>
                                            <input id="inv-name" name="display_name" autocomplete="name" required/>
                                        </div>
                                        <div class="field">
                                            <label for="inv-password">"Choose a password"</label>
                                            <input id="inv-password" type="password" name="password" autocomplete="new-password" required minlength=MIN_PASSWORD_CHARS/>
                                            <p class="muted small">{format!("At least {MIN_PASSWORD_CHARS} characters. Only you will know it.")}</p>
                                        </div>
                                    }.into_any()
                                }}
                                {action_error(move || accept.value().get())}
                                <button type="submit" class="primary" disabled=move || accept.pending().get()>"Accept and join"</button>
                            </ActionForm>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}
