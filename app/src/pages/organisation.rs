//! `/organisation`: the organisation overview with its Enabled Packages, its members, and
//! (for admins) its API keys and webhooks.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::org::{get_organisation, AddMember, RemoveMember};
use crate::components::auth_guard::SignedIn;
use crate::components::errors::{action_error, ErrorBox};
use crate::components::integrations::IntegrationsSection;
use crate::domain::account::{OrganisationOverview, SessionInfo};
use crate::domain::roles::{Permission, Role};
use crate::domain::time::format_utc;

/// The organisation overview page.
#[component]
pub fn OrganisationPage() -> impl IntoView {
    view! {
        <Title text="Organisation"/>
        <SignedIn children=move |session| view! { <Overview session/> }/>
    }
}

#[component]
fn Overview(session: SessionInfo) -> impl IntoView {
    let add = ServerAction::<AddMember>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let overview = Resource::new(
        move || (add.version().get(), remove.version().get()),
        |_| get_organisation(),
    );
    let can_manage = session.user.role.can(Permission::ManageMembers);
    let my_role = session.user.role;
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || overview.get().map(|r| match r {
                Ok(o) => view! { <OverviewView o can_manage add remove/> }.into_any(),
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
        </Transition>
        {my_role.can(Permission::ManageIntegrations).then(|| view! { <IntegrationsSection my_role/> })}
    }
}

#[component]
fn OverviewView(
    o: OrganisationOverview,
    can_manage: bool,
    add: ServerAction<AddMember>,
    remove: ServerAction<RemoveMember>,
) -> impl IntoView {
    let slug = o.slug.clone();
    view! {
        <h1>{o.name.clone()}</h1>
        <p class="muted">{format!("Organisation “{}” · created {}", o.slug, format_utc(&o.created_at))}</p>
        <section class="card" id="enabled-packages" aria-labelledby="packages-title">
            <h2 id="packages-title">"Enabled Packages"</h2>
            <table class="details">
                <thead><tr><th>"Package"</th><th>"Status"</th></tr></thead>
                <tbody>
                    {o.packages.into_iter().map(|p| {
                        let key = p.package.key();
                        let hint = format!("Ask the operator of this server to run: server org enable-package {slug} {key}");
                        view! {
                            <tr data-package=key>
                                <td>
                                    <strong>{p.package.label()}</strong>
                                    <p class="muted small">{p.package.description()}</p>
                                </td>
                                <td class="package-state">
                                    {if p.enabled {
                                        view! { <span class="badge ok">"Enabled"</span> }.into_any()
                                    } else {
                                        view! {
                                            <span class="badge upgrade">"Upgrade needed"</span>
                                            <p class="muted small">{hint}</p>
                                        }.into_any()
                                    }}
                                </td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </section>
        <section class="card" aria-labelledby="members-title">
            <h2 id="members-title">"Members"</h2>
            <div class="table-scroll"><table class="details">
                <thead><tr><th>"Name"</th><th>"E-mail"</th><th>"Role"</th><th>"Member since (UTC)"</th>{can_manage.then(|| view! { <th><span class="sr-only">"Actions"</span></th> })}</tr></thead>
                <tbody>
                    {o.members.into_iter().map(|m| view! {
                        <tr>
                            <td>{m.display_name}</td>
                            <td>{m.email}</td>
                            <td><span class="badge role">{m.role.label()}</span></td>
                            <td>{format_utc(&m.since)}</td>
                            {can_manage.then(|| view! {
                                <td>
                                    <ActionForm action=remove>
                                        <input type="hidden" name="user_id" value=m.user_id/>
                                        <button type="submit" class="link danger">"Remove"</button>
                                    </ActionForm>
                                </td>
                            })}
                        </tr>
                    }).collect_view()}
                </tbody>
            </table></div>
            {action_error(move || remove.value().get())}
            {can_manage.then(|| view! { <AddMemberForm add/> })}
        </section>
    }
    .into_any()
}

#[component]
fn AddMemberForm(add: ServerAction<AddMember>) -> impl IntoView {
    view! {
        <h3>"Add a member"</h3>
        <ActionForm action=add attr:class="inline-form" attr:novalidate=true>
            <div class="field">
                <label for="am-email">"E-mail"</label>
                <input id="am-email" type="email" name="email" required/>
            </div>
            <div class="field">
                <label for="am-name">"Name"</label>
                <input id="am-name" name="display_name"/>
            </div>
            <div class="field">
                <label for="am-role">"Role"</label>
                <select id="am-role" name="role">
                    {Role::ALL.into_iter().rev().map(|r| view! {
                        <option value=r.key() selected=r == Role::Editor>{r.label()}</option>
                    }).collect_view()}
                </select>
            </div>
            <button type="submit" class="primary">"Add member"</button>
        </ActionForm>
        {action_error(move || add.value().get())}
        {move || match add.value().get() {
            Some(Ok(Some(password))) => Some(view! {
                <div class="notice-box" role="status">
                    "Account created. Its password, shown only now: " <code class="secret">{password}</code>
                </div>
            }.into_any()),
            Some(Ok(None)) => Some(view! { <div class="notice-box" role="status">"Member added."</div> }.into_any()),
            _ => None,
        }}
    }
}
