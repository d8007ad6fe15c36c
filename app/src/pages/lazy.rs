//! Routes whose code the browser loads only when one is first shown (`#[lazy_route]`, split
//! out of the hydrate wasm by `cargo leptos build --split`): a viewer on a share link downloads
//! the shell and the share page, not the dashboard; a broadcaster, the pages they open. The
//! sign-in pages and the shell stay in the main module. On the server these render as before.

use leptos::prelude::*;
use leptos_router::{lazy_route, LazyRoute};

/// The organisation's members, invitations, packages and integrations.
pub struct OrganisationRoute;

#[lazy_route]
impl LazyRoute for OrganisationRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::organisation::OrganisationPage/> }.into_any()
    }
}

/// The signed-in user's account.
pub struct AccountRoute;

#[lazy_route]
impl LazyRoute for AccountRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::account::AccountPage/> }.into_any()
    }
}

/// The server's status.
pub struct StatusRoute;

#[lazy_route]
impl LazyRoute for StatusRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::status::StatusPage/> }.into_any()
    }
}

/// An invitation being accepted.
pub struct InvitationRoute;

#[lazy_route]
impl LazyRoute for InvitationRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::invitation::InvitationPage/> }.into_any()
    }
}

/// The stream groups.
pub struct StreamsRoute;

#[lazy_route]
impl LazyRoute for StreamsRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::streams::StreamsPage/> }.into_any()
    }
}

/// A new stream group.
pub struct NewStreamRoute;

#[lazy_route]
impl LazyRoute for NewStreamRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::new_stream::NewStreamPage/> }.into_any()
    }
}

/// A share link's page, for viewers without an account.
pub struct ShareRoute;

#[lazy_route]
impl LazyRoute for ShareRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::share::SharePage/> }.into_any()
    }
}

/// A group's Overview tab.
pub struct OverviewRoute;

#[lazy_route]
impl LazyRoute for OverviewRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::stream::OverviewTab/> }.into_any()
    }
}

/// A group's Live Processing tab.
pub struct ProcessingRoute;

#[lazy_route]
impl LazyRoute for ProcessingRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::stream::ProcessingTab/> }.into_any()
    }
}

/// Rewatch and Clip & Share.
pub struct ReplayRoute;

#[lazy_route]
impl LazyRoute for ReplayRoute {
    fn data() -> Self {
        Self
    }

    fn view(this: Self) -> AnyView {
        let _ = this;
        view! { <super::replay::ReplayPage/> }.into_any()
    }
}
