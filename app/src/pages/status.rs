//! `/status`: the server's status for server admins: the machine, every live session with
//! its job states, recent restarts and failures with their reasons, and retention runs.
//! Fetched in the browser and again every few seconds while visible; laid out as cards that
//! stack on a phone.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::org::get_server_status;
use crate::components::auth_guard::SignedIn;
use crate::components::errors::ErrorBox;
use crate::components::fetched::fetch_in_browser;
use crate::domain::status::ServerStatus;
use crate::domain::time::format_utc;
use crate::pages::processing::megabytes;

/// The status page.
#[component]
pub fn StatusPage() -> impl IntoView {
    view! {
        <Title text="Server status"/>
        <SignedIn children=move |_| view! { <Status/> }/>
    }
}

#[component]
fn Status() -> impl IntoView {
    let tick = RwSignal::new(0u64);
    let status = fetch_in_browser(move || tick.get(), |_| get_server_status()).value;
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        loop {
            gloo_timers::future::TimeoutFuture::new(crate::pages::processing::REFRESH_MS).await;
            let visible = web_sys::window()
                .and_then(|w| w.document())
                .is_some_and(|d| d.visibility_state() == web_sys::VisibilityState::Visible);
            if visible && tick.try_update(|n| *n += 1).is_none() {
                break;
            }
        }
    });
    view! {
        <h1>"Server status"</h1>
        {move || match status.get() {
            None => view! { <p class="muted">"Loading…"</p> }.into_any(),
            Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
            Some(Ok(s)) => view! { <Body s/> }.into_any(),
        }}
    }
}

fn gigabytes(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

#[component]
fn Body(s: ServerStatus) -> impl IntoView {
    let m = s.machine.clone();
    let disk_used = m.disk.total_bytes.saturating_sub(m.disk.free_bytes);
    // A live session's node by the address it announced (its id when it announced none).
    let node_names: std::collections::HashMap<String, String> = s
        .nodes
        .iter()
        .map(|n| {
            (
                n.id.clone(),
                n.http_url.clone().unwrap_or_else(|| n.id.clone()),
            )
        })
        .collect();
    view! {
        <p class="muted small">{format!("Version {} · updated {}", s.version, format_utc(&s.fetched_at))}</p>
        <div class="status-grid" id="machine">
            <div class="card stat"><span class="muted small">"CPU"</span><strong id="cpu">{format!("{:.0} %", m.cpu_percent)}</strong><span class="muted small">{format!("{} cores", m.cores)}</span></div>
            <div class="card stat"><span class="muted small">"Memory in use"</span><strong>{gigabytes(m.memory_used_bytes)}</strong><span class="muted small">{format!("of {} · server {}", gigabytes(m.memory_total_bytes), megabytes(m.server_rss_bytes))}</span></div>
            <div class="card stat"><span class="muted small">"Disk in use"</span><strong>{gigabytes(disk_used)}</strong><span class="muted small">{format!("of {} · {} free{}", gigabytes(m.disk.total_bytes), gigabytes(m.disk.free_bytes), if m.disk.low { " · LOW" } else { "" })}</span></div>
            <div class="card stat"><span class="muted small">"Live"</span><strong id="live-count">{s.live.len()}</strong><span class="muted small">{format!("sessions · {} ffmpeg", m.ffmpeg_children)}</span></div>
        </div>
        <section class="card" id="nodes" aria-labelledby="nodes-title">
            <h2 id="nodes-title">"Nodes"</h2>
            <p class="muted small">"Every server sharing this database. Machine figures on this page are this node's; a live session's job states come from the node running it."</p>
            <ul class="plain-list">
                {s.nodes.into_iter().map(|n| {
                    let state = if n.stopped_at.is_some() { "stopped" } else if n.alive { "alive" } else { "not answering" };
                    let this = n.id == s.node_id;
                    view! {
                        <li class="node-row" data-node=n.id.clone() data-state=state>
                            <strong>{n.http_url.clone().unwrap_or_else(|| n.id.clone())}</strong>
                            {this.then(|| view! { <span class="badge running">"this node"</span> })}
                            <span class=format!("badge {}", if n.alive { "running" } else { "failed" })>{state}</span>
                            <span class="muted small">{format!(
                                " · {} live · load {} on {} cores · version {} · heartbeat {}",
                                n.live_sessions,
                                n.load_1m.map_or("?".to_string(), |l| format!("{l:.2}")),
                                n.cpus.map_or("?".to_string(), |c| c.to_string()),
                                if n.version.is_empty() { "?" } else { n.version.as_str() },
                                format_utc(&n.heartbeat_at),
                            )}</span>
                            <p class="small muted">{format!("{} · RTMP {}", n.id, n.rtmp_url.clone().unwrap_or_default())}</p>
                            {(!n.owns.is_empty()).then(|| view! { <p class="small owns">{format!("Owns: {}", n.owns.join(", "))}</p> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        </section>
        <section class="card" id="live-sessions" aria-labelledby="live-title">
            <h2 id="live-title">"Live sessions"</h2>
            {if s.live.is_empty() {
                view! { <p class="muted">"Nothing is live."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list">
                        {s.live.into_iter().map(|l| {
                            let not_running = l.streams.iter().flat_map(|s| &s.jobs).filter(|j| !matches!(j.state.label(), "Running" | "Idle")).count();
                            view! {
                                <li class="live-row" data-group=l.group_id>
                                    <strong>{l.group.clone()}</strong>
                                    <span class="muted small">{format!(" · {} · since {}{}", l.organisation, format_utc(&l.started_at), l.node.as_deref().map(|n| format!(" · on {}", node_names.get(n).map_or(n, String::as_str))).unwrap_or_default())}</span>
                                    {(not_running > 0).then(|| view! { <p class="small warn">{format!("{not_running} jobs not running")}</p> })}
                                    {l.streams.into_iter().map(|st| view! {
                                        <div class="job-badges">
                                            <span class="stream-name small">{st.name}</span>
                                            {st.jobs.into_iter().filter(|j| j.state.label() != "Idle").map(|j| view! {
                                                <span class=format!("badge {}", j.state.label().to_lowercase())>
                                                    {format!("{} {}", j.process.label(), j.state.label())}
                                                </span>
                                            }).collect_view()}
                                        </div>
                                    }).collect_view()}
                                </li>
                            }
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="card" id="failures" aria-labelledby="failures-title">
            <h2 id="failures-title">"Recent restarts and failures"</h2>
            {if s.failures.is_empty() {
                view! { <p class="muted">"None since the server started."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list">
                        {s.failures.into_iter().take(30).map(|f| view! {
                            <li class="failure-row">
                                <span class=format!("badge {}", f.outcome)>{f.outcome.clone()}</span>
                                {format!(" {} · stream {} · {}", f.process.label(), f.stream_id, format_utc(&f.at))}
                                <p class="small muted reason">{f.reason.clone()}</p>
                            </li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
        <section class="card" id="retention-runs" aria-labelledby="retention-runs-title">
            <h2 id="retention-runs-title">"Retention runs"</h2>
            {if s.retention.is_empty() {
                view! { <p class="muted">"Nothing removed yet."</p> }.into_any()
            } else {
                view! {
                    <ul class="plain-list">
                        {s.retention.into_iter().map(|r| view! {
                            <li>{format!("{} · {} · group {}: {} {} ({}), {}", format_utc(&r.at), r.organisation, r.group_id, r.items, r.kind.label().to_lowercase(), megabytes(r.bytes.max(0) as u64), r.reason)}</li>
                        }).collect_view()}
                    </ul>
                }.into_any()
            }}
        </section>
    }
}
