//! `/streams/:id`: the stream overview. A header with the group's name and status, tabs for
//! Overview (publish details, streams) and Live Processing.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Outlet, A};
use leptos_router::hooks::{use_navigate, use_params_map};

use crate::api::streams::{
    get_stream_group, DeleteStreamGroup, RegenerateStreamKey, SetReconnectGrace, SetSrtPassphrase,
};
use crate::components::auth_guard::SignedIn;
use crate::components::copy_button::CopyButton;
use crate::components::errors::{action_error, ErrorBox};
use crate::components::fetched::fetch_in_browser;
use crate::components::status::LiveBadge;
use crate::domain::account::SessionInfo;
use crate::domain::packages::Package;
use crate::domain::roles::Permission;
use crate::domain::streams::{StreamGroupDetail, StreamRole};
use crate::domain::time::format_utc;
use crate::domain::AppError;

/// What the tabs share: the group, reloaded after a key change.
#[derive(Clone, Copy)]
struct GroupContext {
    id: Memo<Option<i64>>,
    /// Fetched by the browser (see [`crate::components::fetched`]).
    detail: RwSignal<Option<Result<StreamGroupDetail, AppError>>>,
    regenerate: ServerAction<RegenerateStreamKey>,
    session: StoredValue<SessionInfo>,
    /// Bumped by the Live Processing tab's refreshes, so the header's live status follows.
    refresh: RwSignal<u64>,
}

/// The stream overview with its tabs.
#[component]
pub fn StreamPage() -> impl IntoView {
    view! { <SignedIn children=move |session| view! { <StreamFrame session/> }/> }
}

#[component]
fn StreamFrame(session: SessionInfo) -> impl IntoView {
    let params = use_params_map();
    let id = Memo::new(move |_| params.read().get("id").and_then(|s| s.parse::<i64>().ok()));
    let regenerate = ServerAction::<RegenerateStreamKey>::new();
    let refresh = RwSignal::new(0u64);
    let detail = fetch_in_browser(
        move || (id.get(), regenerate.version().get(), refresh.get()),
        |(id, _, _)| async move {
            match id {
                Some(id) => get_stream_group(id).await,
                None => Err(AppError::NotFound("Stream group".into())),
            }
        },
    )
    .value;
    provide_context(GroupContext {
        id,
        detail,
        regenerate,
        session: StoredValue::new(session),
        refresh,
    });
    view! {
        {move || match detail.get() {
                None => view! { <p class="muted">"Loading…"</p> }.into_any(),
                Some(Ok(g)) => view! {
                    <Title text=g.name.clone()/>
                    <div class="page-head">
                        <div>
                            <p class="crumbs"><A href="/streams">"Streams"</A> " / "</p>
                            <h1>{g.name.clone()} " " <LiveBadge status=g.status/></h1>
                        </div>
                    </div>
                    <nav class="tabs page-tabs" aria-label="Stream sections">
                        <A href=format!("/streams/{}", g.id) exact=true attr:class="tab">"Overview"</A>
                        <A href=format!("/streams/{}/processing", g.id) attr:class="tab">"Live Processing"</A>
                    </nav>
                }.into_any(),
                Some(Err(e)) => view! { <ErrorBox error=e/> }.into_any(),
        }}
        <Outlet/>
    }
}

/// Publish details (RTMP URL and key with copy buttons) and the group's streams.
#[component]
pub fn OverviewTab() -> impl IntoView {
    let ctx = expect_context::<GroupContext>();
    view! {
        {move || ctx.detail.get().and_then(Result::ok).map(|g| view! { <OverviewBody g ctx/> })}
    }
}

#[component]
fn OverviewBody(g: StreamGroupDetail, ctx: GroupContext) -> impl IntoView {
    let role = ctx.session.with_value(|s| s.user.role);
    let delete = ServerAction::<DeleteStreamGroup>::new();
    let navigate = use_navigate();
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            navigate("/streams", Default::default());
        }
    });
    let confirm_regenerate = RwSignal::new(false);
    let confirm_delete = RwSignal::new(false);
    let server_url = g.publish.server_url.clone();
    let key = g.publish.stream_key.clone();
    let full = g.publish.full_url();
    let srt_url = g.publish.srt_url.clone();
    let srt_passphrase = g.publish.srt_passphrase.clone();
    let group_id = g.id;
    let set_passphrase = ServerAction::<SetSrtPassphrase>::new();
    let set_grace = ServerAction::<SetReconnectGrace>::new();
    let passphrase_input = NodeRef::<leptos::html::Input>::new();
    Effect::new(move |_| {
        let saved_passphrase = matches!(set_passphrase.value().get(), Some(Ok(())));
        if saved_passphrase {
            // A saved secret does not stay in the form.
            if let Some(input) = passphrase_input.get_untracked() {
                input.set_value("");
            }
        }
        if saved_passphrase || matches!(set_grace.value().get(), Some(Ok(()))) {
            ctx.refresh.update(|n| *n += 1);
        }
    });
    let grace = g.reconnect_grace_s;
    view! {
        <section class="card" aria-labelledby="publish-title">
            <h2 id="publish-title">"Publish"</h2>
            <p class="muted">"Point OBS (Settings → Stream → Custom) or any RTMP or SRT encoder at these: H.264 or HEVC video (AV1 too over RTMP) with AAC audio."</p>
            <dl class="kv">
                <dt>"Server"</dt>
                <dd><code id="rtmp-server">{server_url.clone()}</code> <CopyButton text=server_url label="Copy server URL"/></dd>
                <dt>"Stream key"</dt>
                <dd>{match key.clone() {
                    Some(k) => view! { <code id="stream-key" class="secret">{k.clone()}</code> <CopyButton text=k label="Copy stream key"/> }.into_any(),
                    None => view! { <span class="muted">"Hidden: your role may not see stream keys."</span> }.into_any(),
                }}</dd>
                {full.map(|url| view! {
                    <dt>"Publish URL"</dt>
                    <dd><code id="publish-url">{url.clone()}</code> <CopyButton text=url label="Copy publish URL"/></dd>
                })}
                {srt_url.map(|url| view! {
                    <dt>"SRT URL"</dt>
                    <dd><code id="srt-url" class="secret">{url.clone()}</code> <CopyButton text=url label="Copy SRT URL"/></dd>
                    <dt>"SRT passphrase"</dt>
                    <dd id="srt-passphrase">{match srt_passphrase.clone() {
                        Some(p) => view! { <code class="secret">{p}</code> " " <span class="muted small">"(AES; in the SRT URL above)"</span> }.into_any(),
                        None => view! { <span class="muted">"None: SRT publishes are not encrypted."</span> }.into_any(),
                    }}</dd>
                })}
            </dl>
            {g.publish.srt_url.is_some().then(|| view! {
                <p class="muted small">"SRT: paste the SRT URL as the Server in OBS (Settings → Stream → Custom) and leave the key empty; MPEG-TS with H.264 or HEVC video and AAC audio."</p>
            })}
            {(g.publish.srt_url.is_some() && role.can(Permission::RegenerateStreamKey)).then(|| view! {
                <ActionForm action=set_passphrase attr:class="inline-form">
                    <input type="hidden" name="id" value=group_id/>
                    <label>"New SRT passphrase (empty removes it) "
                        <input type="password" name="passphrase" id="srt-passphrase-input" node_ref=passphrase_input minlength="10" maxlength="79" autocomplete="new-password" placeholder="10–79 characters"/>
                    </label>
                    <button type="submit" class="secondary">"Save passphrase"</button>
                </ActionForm>
                {action_error(move || set_passphrase.value().get())}
            })}
            {role.can(Permission::RegenerateStreamKey).then(|| view! {
                <div class="danger-zone">
                    <Show when=move || confirm_regenerate.get() fallback=move || view! {
                        <button type="button" class="secondary" on:click=move |_| confirm_regenerate.set(true)>"Regenerate key"</button>
                    }>
                        <p>"A new key replaces the current one; a publisher using the old key is disconnected."</p>
                        <ActionForm action=ctx.regenerate>
                            <input type="hidden" name="id" value=group_id/>
                            <button type="submit" class="danger">"Yes, regenerate"</button>
                            <button type="button" class="secondary" on:click=move |_| confirm_regenerate.set(false)>"Cancel"</button>
                        </ActionForm>
                    </Show>
                    {action_error(move || ctx.regenerate.value().get())}
                </div>
            })}
        </section>
        <section class="card" aria-labelledby="reconnect-title">
            <h2 id="reconnect-title">"Reconnects"</h2>
            <p class="muted">{format!(
                "If the publisher's connection drops and it publishes again within {grace} s, the live session goes on: one replay (with a short gap) that viewers and share links keep playing, the recording in a new piece. Stopping the stream in the encoder ends the session at once."
            )}</p>
            {role.can(Permission::EditStreams).then(|| view! {
                <ActionForm action=set_grace attr:class="inline-form">
                    <input type="hidden" name="id" value=group_id/>
                    <label>"Reconnect grace (s) "
                        <input type="number" name="seconds" id="reconnect-grace" min="0" max="300" value=grace/>
                    </label>
                    <button type="submit" class="secondary">"Save grace"</button>
                </ActionForm>
                {action_error(move || set_grace.value().get())}
            })}
        </section>
        <section class="card" aria-labelledby="streams-title">
            <h2 id="streams-title">"Streams in this group"</h2>
            <div class="table-scroll"><table class="details">
                <thead><tr><th>"Stream Name"</th><th>"Quality"</th><th>"Resolution"</th><th>"Video bitrate"</th><th>"Role"</th></tr></thead>
                <tbody>
                    {g.streams.iter().map(|s| view! {
                        <tr>
                            <td>{s.name.clone()}</td>
                            <td>{s.quality.clone()}</td>
                            <td>{match (s.width, s.height) { (Some(w), Some(h)) => format!("{w}×{h}"), _ => "as published".into() }}</td>
                            <td>{s.video_kbps.map(|k| format!("{k} kbps")).unwrap_or_else(|| "as published".into())}</td>
                            <td>{match s.role { StreamRole::Ingest => "Ingest", StreamRole::Profile => "Transcoding profile" }}</td>
                        </tr>
                    }).collect_view()}
                </tbody>
            </table></div>
            <p class="muted small">{format!("Created {}", format_utc(&g.created_at))}</p>
        </section>
        {role.can(Permission::EditStreams).then(|| view! {
            <section class="card danger-zone">
                <h2>"Delete stream"</h2>
                <Show when=move || confirm_delete.get() fallback=move || view! {
                    <button type="button" class="secondary" on:click=move |_| confirm_delete.set(true)>"Delete this stream group…"</button>
                }>
                    <p>"This deletes the group, its streams and their settings. Files already made stay until cleaned up."</p>
                    <ActionForm action=delete>
                        <input type="hidden" name="id" value=group_id/>
                        <button type="submit" class="danger">"Delete permanently"</button>
                        <button type="button" class="secondary" on:click=move |_| confirm_delete.set(false)>"Cancel"</button>
                    </ActionForm>
                    {action_error(move || delete.value().get())}
                </Show>
            </section>
        })}
    }
}

/// The Live Processing tab: which processes run for each stream, with their settings; an
/// Upgrade needed panel when the organisation lacks the package.
#[component]
pub fn ProcessingTab() -> impl IntoView {
    let ctx = expect_context::<GroupContext>();
    let has_package = ctx.session.with_value(|s| s.has(Package::LiveProcessing));
    if !has_package {
        return view! { <UpgradeNeeded/> }.into_any();
    }
    let session = ctx.session.get_value();
    view! { <crate::pages::processing::LiveProcessing group_id=ctx.id session refresh=ctx.refresh/> }.into_any()
}

/// Shown instead of the tab's content when the organisation lacks live processing.
#[component]
pub fn UpgradeNeeded() -> impl IntoView {
    view! {
        <section class="card upgrade-panel" role="region" aria-labelledby="upgrade-title">
            <h2 id="upgrade-title">"Upgrade needed"</h2>
            <p>"Live Processing (thumbnails, motion clips, recordings and instant replay) is not enabled for your organisation."</p>
            <p>"Check the " <A href="/organisation#enabled-packages">"Enabled Packages"</A> " section of your organisation; the operator of this server can enable it."</p>
        </section>
    }
}
