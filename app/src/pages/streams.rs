//! `/streams`: the organisation's stream groups.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::api::streams::list_stream_groups;
use crate::components::auth_guard::SignedIn;
use crate::components::errors::ErrorBox;
use crate::components::status::LiveBadge;
use crate::domain::roles::Permission;
use crate::domain::time::format_utc;

/// The list of stream groups.
#[component]
pub fn StreamsPage() -> impl IntoView {
    view! {
        <Title text="Streams"/>
        <SignedIn children=move |session| {
            let groups = Resource::new(|| (), |_| list_stream_groups());
            let can_create = session.user.role.can(Permission::EditStreams);
            view! {
                <div class="page-head">
                    <h1>"Streams"</h1>
                    {can_create.then(|| view! { <A href="/streams/new" attr:class="button primary">"New stream"</A> })}
                </div>
                <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || groups.get().map(|r| match r {
                        Ok(list) if list.is_empty() => view! {
                            <section class="card empty">
                                <p>"No streams yet."</p>
                                {can_create.then(|| view! { <A href="/streams/new" attr:class="button primary">"Create your first stream"</A> })}
                            </section>
                        }.into_any(),
                        Ok(list) => view! {
                            <div class="table-scroll"><table class="details streams-list">
                                <thead><tr><th>"Name"</th><th>"Status"</th><th>"Transcoding profiles"</th><th>"Created (UTC)"</th></tr></thead>
                                <tbody>
                                    {list.into_iter().map(|g| view! {
                                        <tr>
                                            <td><A href=format!("/streams/{}", g.id)>{g.name}</A></td>
                                            <td><LiveBadge status=g.status/></td>
                                            <td>{if g.profiles.is_empty() { "—".to_string() } else { g.profiles.join(", ") }}</td>
                                            <td>{format_utc(&g.created_at)}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any(),
                        Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                    })}
                </Transition>
            }
        }/>
    }
}
