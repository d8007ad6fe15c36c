//! The Leptos app, shared by server-side rendering and the browser: domain rules, server
//! functions, pages and components. Server-only code lives in [`ssr`].

#![recursion_limit = "256"]

pub mod api;
pub mod components;
pub mod domain;
pub mod pages;
#[cfg(feature = "ssr")]
pub mod ssr;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{ParentRoute, Route, Router, Routes};
use leptos_router::{path, Lazy, SsrMode};

use api::auth::{current_session, Login, Logout, SignUp, SwitchOrganisation};
use api::org::AcceptInvitation;
use domain::account::SessionInfo;
use domain::AppError;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    ssr::headers::set_page_policy();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" href="/favicon.svg" type="image/svg+xml"/>
                <script src="/player.js"></script>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The signed-in session, loaded once per page and refreshed after login/logout.
pub type SessionResource = Resource<Result<Option<SessionInfo>, AppError>>;

/// The actions that change who is signed in; the session resource follows them.
#[derive(Clone, Copy)]
pub struct AuthActions {
    pub login: ServerAction<Login>,
    pub sign_up: ServerAction<SignUp>,
    pub logout: ServerAction<Logout>,
    pub accept: ServerAction<AcceptInvitation>,
    pub switch: ServerAction<SwitchOrganisation>,
}

/// The app: session, navigation and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let actions = AuthActions {
        login: ServerAction::new(),
        sign_up: ServerAction::new(),
        logout: ServerAction::new(),
        accept: ServerAction::new(),
        switch: ServerAction::new(),
    };
    let session: SessionResource = Resource::new(
        move || {
            (
                actions.login.version().get(),
                actions.sign_up.version().get(),
                actions.logout.version().get(),
                actions.accept.version().get(),
                actions.switch.version().get(),
            )
        },
        |_| current_session(),
    );
    provide_context(actions);
    provide_context(session);

    view! {
        <Stylesheet id="leptos" href="/pkg/livepro.css"/>
        <Title formatter=|t: String| if t.is_empty() { "Live Processing".to_string() } else { format!("{t} · Live Processing") }/>
        <Router>
            <components::nav::TopBar/>
            <main class="page">
                <Routes fallback=|| view! { <pages::not_found::NotFound/> }>
                    <Route path=path!("/") view=pages::home::HomePage/>
                    <Route path=path!("/login") view=pages::login::LoginPage/>
                    <Route path=path!("/signup") view=pages::signup::SignupPage/>
                    <Route path=path!("/organisation") view={Lazy::<pages::lazy::OrganisationRoute>::new()}/>
                    <Route path=path!("/account") view={Lazy::<pages::lazy::AccountRoute>::new()}/>
                    <Route path=path!("/status") view={Lazy::<pages::lazy::StatusRoute>::new()}/>
                    <Route path=path!("/invite/:token") view={Lazy::<pages::lazy::InvitationRoute>::new()}/>
                    <Route path=path!("/streams") view={Lazy::<pages::lazy::StreamsRoute>::new()}/>
                    <Route path=path!("/streams/new") view={Lazy::<pages::lazy::NewStreamRoute>::new()}/>
                    <Route path=path!("/s/:token") view={Lazy::<pages::lazy::ShareRoute>::new()} ssr=SsrMode::Async/>
                    <ParentRoute path=path!("/streams/:id") view=pages::stream::StreamPage>
                        <Route path=path!("") view={Lazy::<pages::lazy::OverviewRoute>::new()}/>
                        <Route path=path!("processing") view={Lazy::<pages::lazy::ProcessingRoute>::new()}/>
                        <Route path=path!("replay/:replay") view={Lazy::<pages::lazy::ReplayRoute>::new()}/>
                    </ParentRoute>
                </Routes>
            </main>
        </Router>
    }
}
