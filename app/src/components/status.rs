//! Small status badges: live/idle, enabled/upgrade needed.

use leptos::prelude::*;

use crate::domain::streams::LiveStatus;
use crate::domain::time::format_utc;

/// "Live since …" or "Idle".
#[component]
pub fn LiveBadge(status: LiveStatus) -> impl IntoView {
    match status {
        LiveStatus::Live { since, .. } => view! {
            <span class="badge live" title=format!("Live since {}", format_utc(&since))>"● Live"</span>
        }
        .into_any(),
        LiveStatus::Idle => view! { <span class="badge idle">"Idle"</span> }.into_any(),
    }
}
