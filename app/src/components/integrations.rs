//! The organisation page's integrations, for admins: API keys (made, shown once, revoked,
//! with their last use) and webhook endpoints (events, the signing secret shown once, and
//! the delivery log: status, attempts, last error).

use leptos::prelude::*;

use crate::api::integrations::{
    create_api_key, create_webhook, delete_webhook, get_integrations, revoke_api_key,
};
use crate::components::copy_button::CopyButton;
use crate::components::errors::ErrorBox;
use crate::components::fetched::fetch_in_browser;
use crate::domain::integrations::{DeliveryStatus, EventKind, Integrations, NewWebhook};
use crate::domain::roles::Role;
use crate::domain::time::format_utc;
use crate::domain::AppError;

/// One change made from the section: an optional secret to show once (what, value).
type Step = std::pin::Pin<
    Box<dyn std::future::Future<Output = Result<Option<(String, String)>, AppError>>>,
>;

/// API keys and webhooks; `my_role` bounds the roles a new key may have.
#[component]
pub fn IntegrationsSection(my_role: Role) -> impl IntoView {
    let changed = RwSignal::new(0u64);
    let data = fetch_in_browser(move || changed.get(), |_| get_integrations()).value;
    let error = RwSignal::new(None::<AppError>);
    let secret = RwSignal::new(None::<(String, String)>);
    let run = move |fut: Step| {
        leptos::task::spawn_local(async move {
            match fut.await {
                Ok(s) => {
                    error.set(None);
                    if s.is_some() {
                        secret.set(s);
                    }
                }
                Err(e) => error.set(Some(e)),
            }
            changed.update(|n| *n += 1);
        });
    };
    // New key form.
    let key_name = RwSignal::new(String::new());
    let key_role = RwSignal::new(Role::Editor);
    let add_key = move |_| {
        let (name, role) = (key_name.get_untracked(), key_role.get_untracked());
        run(Box::pin(async move {
            let made = create_api_key(name, role).await?;
            Ok(Some(("API key".to_string(), made.secret)))
        }));
        key_name.set(String::new());
    };
    // New webhook form.
    let hook_url = RwSignal::new(String::new());
    let hook_events = RwSignal::new(EventKind::ALL.to_vec());
    let add_hook = move |_| {
        let input = NewWebhook {
            url: hook_url.get_untracked(),
            events: hook_events.get_untracked(),
        };
        if let Err(errors) = input.validate() {
            error.set(Some(AppError::Validation(errors)));
            return;
        }
        run(Box::pin(async move {
            let made = create_webhook(input).await?;
            Ok(Some(("Webhook signing secret".to_string(), made.secret)))
        }));
        hook_url.set(String::new());
    };

    let keys_view = move |i: &Integrations| {
        let rows = i.api_keys.clone();
        view! {
            <table class="details" data-list="api-keys">
                <thead><tr><th>"Name"</th><th>"Role"</th><th>"Key"</th><th>"Created (UTC)"</th><th>"Last used (UTC)"</th><th><span class="sr-only">"Actions"</span></th></tr></thead>
                <tbody>
                    {rows.into_iter().map(|k| {
                        let id = k.id;
                        view! {
                            <tr data-key=id>
                                <td>{k.name.clone()}</td>
                                <td><span class="badge role">{k.role.label()}</span></td>
                                <td><code>{format!("{}…", k.prefix)}</code></td>
                                <td>{format_utc(&k.created_at)}<p class="muted small">{k.created_by.clone()}</p></td>
                                <td>{k.last_used_at.map(|t| format_utc(&t)).unwrap_or_else(|| "never".into())}</td>
                                <td>{match k.revoked_at {
                                    Some(t) => view! { <span class="badge failed" title=format_utc(&t)>"Revoked"</span> }.into_any(),
                                    None => view! {
                                        <button type="button" class="link danger" on:click=move |_| run(Box::pin(async move { revoke_api_key(id).await.map(|_| None) }))>"Revoke"</button>
                                    }.into_any(),
                                }}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        }
    };
    let hooks_view = move |i: &Integrations| {
        let hooks = i.webhooks.clone();
        view! {
            {hooks.into_iter().map(|h| {
                let id = h.id;
                let events = h.events.iter().map(|e| e.key()).collect::<Vec<_>>().join(", ");
                view! {
                    <div class="webhook" data-webhook=id>
                        <p>
                            <code class="webhook-url">{h.url.clone()}</code>
                            " " <button type="button" class="link danger" on:click=move |_| run(Box::pin(async move { delete_webhook(id).await.map(|_| None) }))>"Delete"</button>
                        </p>
                        <p class="muted small">{format!("Events: {events} · since {}", format_utc(&h.created_at))}</p>
                        <table class="details deliveries">
                            <thead><tr><th>"Event"</th><th>"Status"</th><th>"Attempts"</th><th>"Last answer"</th><th>"Queued (UTC)"</th></tr></thead>
                            <tbody>
                                {h.deliveries.into_iter().map(|d| view! {
                                    <tr data-delivery=d.id data-status=match d.status { DeliveryStatus::Pending => "pending", DeliveryStatus::Delivered => "delivered", DeliveryStatus::Failed => "failed" }>
                                        <td>{d.event.key()}</td>
                                        <td>{match d.status {
                                            DeliveryStatus::Delivered => view! { <span class="badge ok">"Delivered"</span> }.into_any(),
                                            DeliveryStatus::Pending => view! { <span class="badge restarting">"Retrying"</span> }.into_any(),
                                            DeliveryStatus::Failed => view! { <span class="badge failed">"Failed"</span> }.into_any(),
                                        }}</td>
                                        <td class="num">{d.attempts}</td>
                                        <td>{match (d.last_status, d.last_error) {
                                            (_, Some(e)) => e,
                                            (Some(s), None) => format!("HTTP {s}"),
                                            (None, None) => "—".into(),
                                        }}</td>
                                        <td>{format_utc(&d.created_at)}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                    </div>
                }
            }).collect_view()}
        }
    };

    view! {
        <section class="card" id="integrations" aria-labelledby="integrations-title">
            <h2 id="integrations-title">"API keys and webhooks"</h2>
            <p class="muted small">"The REST API is documented at " <a href="/api/docs/">"/api/docs"</a> " (OpenAPI: " <a href="/api/v1/openapi.json">"/api/v1/openapi.json"</a> ")."</p>
            <div class="integrations-messages">
                {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
                {move || secret.get().map(|(what, value)| view! {
                    <div class="notice-box new-secret" role="status">
                        <p><strong>{format!("{what}, shown only now:")}</strong></p>
                        <p class="share-row"><code class="secret">{value.clone()}</code> <CopyButton text=value label=format!("Copy {what}")/></p>
                    </div>
                })}
            </div>
            <h3>"API keys"</h3>
            <div class="table-scroll">
                {move || match data.get() {
                    None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                    Some(Ok(i)) if i.api_keys.is_empty() => view! { <p class="muted">"No API keys yet."</p> }.into_any(),
                    Some(Ok(i)) => keys_view(&i).into_any(),
                    Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
                }}
            </div>
            <div class="inline-form">
                <div class="field">
                    <label for="key-name">"Key name"</label>
                    <input id="key-name" maxlength="80" placeholder="e.g. betting backend" prop:value=move || key_name.get() on:input=move |ev| key_name.set(event_target_value(&ev))/>
                </div>
                <div class="field">
                    <label for="key-role">"Acts as"</label>
                    <select id="key-role" on:change=move |ev| if let Some(r) = Role::from_key(&event_target_value(&ev)) { key_role.set(r) }>
                        {Role::ALL.into_iter().filter(|r| *r <= my_role).map(|r| view! {
                            <option value=r.key() selected=r == Role::Editor>{r.label()}</option>
                        }).collect_view()}
                    </select>
                </div>
                <button type="button" class="primary" on:click=add_key>"Create API key"</button>
            </div>
            <h3>"Webhooks"</h3>
            <p class="muted small">"Each delivery is a POST of JSON signed with HMAC-SHA256: header " <code>"X-LP-Signature: v1=<hex>"</code> " over " <code>"<X-LP-Timestamp>.<body>"</code> ". Failed deliveries are retried with backoff."</p>
            {move || match data.get() {
                Some(Ok(i)) if i.webhooks.is_empty() => view! { <p class="muted">"No webhooks yet."</p> }.into_any(),
                Some(Ok(i)) => view! { <div class="table-scroll">{hooks_view(&i)}</div> }.into_any(),
                _ => ().into_any(),
            }}
            <div class="inline-form webhook-form">
                <div class="field grow">
                    <label for="hook-url">"Endpoint URL"</label>
                    <input id="hook-url" type="url" placeholder="https://example.com/hooks/live" prop:value=move || hook_url.get() on:input=move |ev| hook_url.set(event_target_value(&ev))/>
                </div>
                <fieldset class="events">
                    <legend>"Events"</legend>
                    {EventKind::ALL.into_iter().map(|e| {
                        let id = format!("event-{}", e.key().replace('.', "-"));
                        let for_id = id.clone();
                        view! {
                            <label class="toggle" for=for_id title=e.description()>
                                <input type="checkbox" id=id
                                    prop:checked=move || hook_events.with(|v| v.contains(&e))
                                    on:change=move |ev| {
                                        let on = event_target_checked(&ev);
                                        hook_events.update(|v| { v.retain(|x| *x != e); if on { v.push(e) } });
                                    }/>
                                <span>{e.key()}</span>
                            </label>
                        }
                    }).collect_view()}
                </fieldset>
                <button type="button" class="primary" on:click=add_hook>"Add webhook"</button>
            </div>
        </section>
    }
    .into_any()
}
