//! `/organisation`: the organisation overview with its Enabled Packages, its members, and
//! (for admins) its API keys and webhooks.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::org::{
    get_organisation, list_invitations, list_quarantined, InviteMember, RemoveMember,
    RevokeInvitation, SetMemberRole,
};
use crate::components::auth_guard::SignedIn;
use crate::components::copy_button::CopyButton;
use crate::components::errors::{action_error, ErrorBox};
use crate::components::integrations::IntegrationsSection;
use crate::components::retention::{RetentionCard, RetentionScope};
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
    let actions = MemberActions {
        invite: ServerAction::new(),
        remove: ServerAction::new(),
        set_role: ServerAction::new(),
        revoke: ServerAction::new(),
    };
    let overview = Resource::new(
        move || {
            (
                actions.remove.version().get(),
                actions.set_role.version().get(),
            )
        },
        |_| get_organisation(),
    );
    let can_manage = session.user.role.can(Permission::ManageMembers);
    let my_role = session.user.role;
    view! {
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || overview.get().map(|r| match r {
                Ok(o) => view! { <OverviewView o can_manage my_role actions/> }.into_any(),
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
        </Transition>
        {can_manage.then(|| view! { <Invitations my_role actions/> }.into_any())}
        <RetentionCard scope=RetentionScope::Organisation can_edit=can_manage/>
        {can_manage.then(|| view! { <Quarantine/> }.into_any())}
        {my_role.can(Permission::ManageIntegrations).then(|| view! { <IntegrationsSection my_role/> })}
    }
}

/// The actions of the members and invitations sections.
#[derive(Clone, Copy)]
struct MemberActions {
    invite: ServerAction<InviteMember>,
    remove: ServerAction<RemoveMember>,
    set_role: ServerAction<SetMemberRole>,
    revoke: ServerAction<RevokeInvitation>,
}

#[component]
fn OverviewView(
    o: OrganisationOverview,
    can_manage: bool,
    my_role: Role,
    actions: MemberActions,
) -> impl IntoView {
    let MemberActions {
        remove, set_role, ..
    } = actions;
    let slug = o.slug.clone();
    view! {
        <h1>{o.name.clone()}</h1>
        <p class="muted">{format!("Organisation “{}” · created {}", o.slug, format_utc(&o.created_at))}</p>
        <p class="storage-use" id="storage-use">{storage_line(&o.storage.quota)}</p>
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
                    {o.members.into_iter().map(|m| {
                        let role_label = format!("Role of {}", m.email);
                        view! {
                        <tr>
                            <td>{m.display_name}</td>
                            <td>{m.email}</td>
                            <td>
                                {if can_manage && my_role.can_assign(m.role) {
                                    let current = m.role;
                                    view! {
                                        <ActionForm action=set_role attr:class="inline-form role-form">
                                            <input type="hidden" name="user_id" value=m.user_id/>
                                            <label class="sr-only" for=format!("role-{}", m.user_id)>{role_label.clone()}</label>
                                            <select id=format!("role-{}", m.user_id) name="role">
                                                {Role::ALL.into_iter().rev().filter(|r| my_role.can_assign(*r)).map(|r| view! {
                                                    <option value=r.key() selected=r == current>{r.label()}</option>
                                                }).collect_view()}
                                            </select>
                                            <button type="submit" class="secondary small">"Change"</button>
                                        </ActionForm>
                                    }.into_any()
                                } else {
                                    view! { <span class="badge role">{m.role.label()}</span> }.into_any()
                                }}
                            </td>
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
                    }}).collect_view()}
                </tbody>
            </table></div>
            {action_error(move || remove.value().get())}
            {action_error(move || set_role.value().get())}
        </section>
    }
    .into_any()
}

/// Inviting members: the form, the link of the newest invitation (shown once), and the
/// open invitations with Revoke.
#[component]
fn Invitations(my_role: Role, actions: MemberActions) -> impl IntoView {
    let MemberActions { invite, revoke, .. } = actions;
    let open = Resource::new(
        move || (invite.version().get(), revoke.version().get()),
        |_| list_invitations(),
    );
    view! {
        <section class="card" aria-labelledby="invite-title">
            <h2 id="invite-title">"Invite a member"</h2>
            <p class="muted small">"The invitee opens the link, then signs in (an existing account) or chooses a password (a new one). Nobody else ever knows their password. Links work once, for 7 days."</p>
            <ActionForm action=invite attr:class="inline-form" attr:novalidate=true>
                <div class="field">
                    <label for="inv-email">"E-mail"</label>
                    <input id="inv-email" type="email" name="email" required/>
                </div>
                <div class="field">
                    <label for="inv-role">"Role"</label>
                    <select id="inv-role" name="role">
                        {Role::ALL.into_iter().rev().filter(|r| my_role.can_assign(*r)).map(|r| view! {
                            <option value=r.key() selected=r == Role::Editor>{r.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="submit" class="primary">"Create invitation"</button>
            </ActionForm>
            {action_error(move || invite.value().get())}
            {move || match invite.value().get() {
                Some(Ok(created)) => Some(view! {
                    <div class="notice-box" role="status" id="invitation-link">
                        {format!("Invitation for {} as {}. Pass this link on (shown only now): ", created.invitation.email, created.invitation.role.label())}
                        <code class="secret">{created.path.clone()}</code>
                        " "
                        <CopyButton text=created.path.clone() label="Copy the invitation link"/>
                    </div>
                }),
                _ => None,
            }}
            <h3>"Open invitations"</h3>
            <Transition fallback=|| ()>
                {move || open.get().map(|r| match r {
                    Ok(list) if list.is_empty() => view! { <p class="muted">"None."</p> }.into_any(),
                    Ok(list) => view! {
                        <div class="table-scroll"><table class="details" id="open-invitations">
                            <thead><tr><th>"E-mail"</th><th>"Role"</th><th>"Invited by"</th><th>"Expires (UTC)"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                            <tbody>
                                {list.into_iter().map(|i| view! {
                                    <tr>
                                        <td>{i.email}</td>
                                        <td><span class="badge role">{i.role.label()}</span></td>
                                        <td>{i.invited_by}</td>
                                        <td>{format_utc(&i.expires_at)}</td>
                                        <td>
                                            <ActionForm action=revoke>
                                                <input type="hidden" name="id" value=i.id/>
                                                <button type="submit" class="link danger">"Revoke"</button>
                                            </ActionForm>
                                        </td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table></div>
                    }.into_any(),
                    Err(e) => view! { <ErrorBox error=e/> }.into_any(),
                })}
            </Transition>
            {action_error(move || revoke.value().get())}
        </section>
    }
    .into_any()
}

/// What start-up repair moved aside instead of deleting (shown only when there is some).
#[component]
fn Quarantine() -> impl IntoView {
    let files = Resource::new(|| (), |_| list_quarantined());
    view! {
        <Transition fallback=|| ()>
            {move || files.get().and_then(Result::ok).filter(|l| !l.is_empty()).map(|list| view! {
                <section class="card" id="quarantine" aria-labelledby="quarantine-title">
                    <h2 id="quarantine-title">"Start-up repair"</h2>
                    <p class="muted small">"After a crash the server repairs what it can. These files could not be settled, so they were moved aside instead of deleted; the operator of this server finds them under quarantine/ in its data folder."</p>
                    <div class="table-scroll"><table class="details">
                        <thead><tr><th>"File"</th><th>"Why"</th><th>"Size"</th><th>"When (UTC)"</th></tr></thead>
                        <tbody>
                            {list.into_iter().map(|q| view! {
                                <tr>
                                    <td><code>{q.original_path}</code></td>
                                    <td>{q.reason}</td>
                                    <td>{format!("{} KB", (q.size_bytes + 999) / 1000)}</td>
                                    <td>{format_utc(&q.created_at)}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table></div>
                </section>
            })}
        </Transition>
    }
    .into_any()
}

/// "Storage: 1.2 MB of 50.0 MB (2 %)", or without a quota "Storage: 1.2 MB (no quota)".
fn storage_line(q: &crate::domain::jobs::QuotaStatus) -> String {
    use crate::pages::processing::megabytes;
    match (q.quota_bytes, q.percent()) {
        (Some(quota), Some(p)) => format!(
            "Storage: {} of {} ({p} %)",
            megabytes(q.used_bytes),
            megabytes(quota)
        ),
        _ => format!("Storage: {} (no quota)", megabytes(q.used_bytes)),
    }
}
