//! Shows its children only to a signed-in user; everyone else is sent to the login page.

use leptos::prelude::*;
use leptos_router::components::Redirect;

use crate::components::errors::ErrorBox;
use crate::domain::account::SessionInfo;
use crate::domain::AppError;
use crate::SessionResource;

/// The session resource the app provides.
pub fn use_session() -> SessionResource {
    expect_context::<SessionResource>()
}

/// Renders `children` with the session once it is known; redirects to `/login` when there
/// is none.
#[component]
pub fn SignedIn<F, V>(children: F) -> impl IntoView
where
    F: Fn(SessionInfo) -> V + Send + Sync + 'static,
    V: IntoView + 'static,
{
    let session = use_session();
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                session
                    .get()
                    .map(|s| match s {
                        Ok(Some(info)) => children(info).into_any(),
                        Ok(None) | Err(AppError::Unauthenticated) => {
                            view! { <Redirect path="/login"/> }.into_any()
                        }
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    })
            }}
        </Transition>
    }
}
