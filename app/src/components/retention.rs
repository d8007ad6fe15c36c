//! Retention: how long each kind of asset is kept. The same card serves a stream group (on
//! the Live Processing tab: its own rules, or the organisation's default per kind, and what
//! retention removed) and the organisation's defaults (on the Organisation page).

use leptos::prelude::*;

use crate::api::retention::{
    get_group_retention, get_retention_defaults, set_group_retention, set_retention_defaults,
};
use crate::components::errors::ErrorBox;
use crate::components::fetched::fetch_in_browser;
use crate::domain::retention::{
    GroupRetention, KeepRule, RetainedKind, RetentionRules, RetentionRun,
};
use crate::domain::time::format_utc;
use crate::domain::{AppError, FieldError};

/// Whose rules the card edits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetentionScope {
    Group(i64),
    Organisation,
}

async fn load(scope: RetentionScope) -> Result<GroupRetention, AppError> {
    match scope {
        RetentionScope::Group(id) => get_group_retention(id).await,
        RetentionScope::Organisation => {
            get_retention_defaults().await.map(|rules| GroupRetention {
                rules,
                defaults: RetentionRules::default(),
                removed: Vec::new(),
            })
        }
    }
}

async fn save(scope: RetentionScope, rules: RetentionRules) -> Result<GroupRetention, AppError> {
    match scope {
        RetentionScope::Group(id) => set_group_retention(id, rules).await,
        RetentionScope::Organisation => {
            set_retention_defaults(rules)
                .await
                .map(|rules| GroupRetention {
                    rules,
                    defaults: RetentionRules::default(),
                    removed: Vec::new(),
                })
        }
    }
}

/// The retention card.
#[component]
pub fn RetentionCard(scope: RetentionScope, can_edit: bool) -> impl IntoView {
    let saved = RwSignal::new(0u64);
    // Kept across the reload that follows a save.
    let error = RwSignal::new(None::<AppError>);
    let done = RwSignal::new(false);
    let fetched = fetch_in_browser(move || saved.get(), move |_| load(scope)).value;
    let (title, intro) = match scope {
        RetentionScope::Group(_) => (
            "Retention",
            "How long this group's media is kept. A kind set to the organisation's default follows it. Media of a live session, replays with an active share link and clips whose link still works are never removed.",
        ),
        RetentionScope::Organisation => (
            "Retention defaults",
            "How long every stream group's media is kept unless the group sets its own rule.",
        ),
    };
    view! {
        <section class="card lp-section" id="retention" aria-labelledby="retention-title">
            <h2 id="retention-title">{title}</h2>
            <p class="muted small">{intro}</p>
            {move || fetched.get().map(|r| match r {
                Ok(data) => view! { <Editor scope data can_edit saved error done/> }.into_any(),
                Err(e) => view! { <ErrorBox error=e/> }.into_any(),
            })}
        </section>
    }
}

/// One kind's row of the form.
#[derive(Clone, Copy)]
struct Row {
    kind: RetainedKind,
    /// `default`, `forever` or `limit`.
    mode: RwSignal<String>,
    days: RwSignal<String>,
    newest: RwSignal<String>,
}

impl Row {
    fn new(kind: RetainedKind, rule: Option<KeepRule>) -> Self {
        let mode = match rule {
            None => "default",
            Some(r) if !r.limits() => "forever",
            Some(_) => "limit",
        };
        let text = |v: Option<u32>| v.map(|v| v.to_string()).unwrap_or_default();
        Self {
            kind,
            mode: RwSignal::new(mode.into()),
            days: RwSignal::new(text(rule.and_then(|r| r.keep_days))),
            newest: RwSignal::new(text(rule.and_then(|r| r.keep_newest))),
        }
    }

    /// The row's rule, or the errors of what was typed.
    fn rule(&self) -> Result<Option<KeepRule>, Vec<FieldError>> {
        match self.mode.get_untracked().as_str() {
            "default" => Ok(None),
            "forever" => Ok(Some(KeepRule::FOREVER)),
            _ => {
                let mut errors = Vec::new();
                let mut number = |field: &str, label: &str, text: String, allowed: &str| {
                    let t = text.trim().to_string();
                    if t.is_empty() {
                        return None;
                    }
                    match t.parse::<u32>() {
                        Ok(v) => Some(v),
                        Err(_) => {
                            errors.push(FieldError::new(
                                &format!("{}.{field}", self.kind.key()),
                                &format!("{}: {label}", self.kind.label()),
                                t,
                                allowed.into(),
                            ));
                            None
                        }
                    }
                };
                let rule = KeepRule {
                    keep_days: number(
                        "keep_days",
                        "keep days",
                        self.days.get_untracked(),
                        "1–3650 days",
                    ),
                    keep_newest: number(
                        "keep_newest",
                        "keep newest",
                        self.newest.get_untracked(),
                        "1–100000",
                    ),
                };
                errors.extend(rule.check(self.kind));
                if !rule.limits() && errors.is_empty() {
                    errors.push(FieldError::new(
                        &format!("{}.keep_days", self.kind.key()),
                        &format!("{}: keep days", self.kind.label()),
                        String::new(),
                        "a number of days or of newest items (or choose Keep forever)".into(),
                    ));
                }
                if errors.is_empty() {
                    Ok(Some(rule))
                } else {
                    Err(errors)
                }
            }
        }
    }
}

#[component]
fn Editor(
    scope: RetentionScope,
    data: GroupRetention,
    can_edit: bool,
    saved: RwSignal<u64>,
    error: RwSignal<Option<AppError>>,
    done: RwSignal<bool>,
) -> impl IntoView {
    let group = matches!(scope, RetentionScope::Group(_));
    let rows: Vec<Row> = RetainedKind::ALL
        .into_iter()
        .map(|k| {
            // Organisation defaults have no "default" of their own: unset means forever.
            let rule = data.rules.get(k).or((!group).then_some(KeepRule::FOREVER));
            Row::new(k, rule)
        })
        .collect();
    let defaults = data.defaults.clone();
    let submit = Action::new_local(move |rules: &RetentionRules| {
        let rules = rules.clone();
        async move { save(scope, rules).await }
    });
    Effect::new(move |_| {
        if let Some(r) = submit.value().get() {
            match r {
                Ok(_) => {
                    error.set(None);
                    done.set(true);
                    saved.update(|n| *n += 1);
                }
                Err(e) => {
                    done.set(false);
                    error.set(Some(e));
                }
            }
        }
    });
    let rows_for_submit = rows.clone();
    let on_save = move |_| {
        let mut rules = RetentionRules::default();
        let mut errors = Vec::new();
        for row in &rows_for_submit {
            match row.rule() {
                Ok(rule) => rules.set(row.kind, rule),
                Err(e) => errors.extend(e),
            }
        }
        done.set(false);
        if errors.is_empty() {
            error.set(None);
            submit.dispatch(rules);
        } else {
            error.set(Some(AppError::Validation(errors)));
        }
    };
    let in_force = move |row: &Row| {
        let own = data.rules.get(row.kind);
        match (own, group) {
            (Some(r), _) => r.describe(),
            (None, true) => format!(
                "Organisation default: {}",
                defaults
                    .get(row.kind)
                    .unwrap_or(KeepRule::FOREVER)
                    .describe()
            ),
            (None, false) => KeepRule::FOREVER.describe(),
        }
    };
    view! {
        <div class="table-scroll">
            <table class="details retention" data-scope=if group { "group" } else { "organisation" }>
                <thead><tr><th>"Kind"</th><th>"Kept"</th>{can_edit.then(|| view! { <th>"Change"</th> })}</tr></thead>
                <tbody>
                    {rows.iter().map(|row| {
                        let row = *row;
                        let key = row.kind.key();
                        let (days_id, newest_id, mode_id) = (
                            format!("retention-{key}-days"),
                            format!("retention-{key}-newest"),
                            format!("retention-{key}-mode"),
                        );
                        view! {
                            <tr data-kind=key>
                                <td>{row.kind.label()}</td>
                                <td class="in-force">{in_force(&row)}</td>
                                {can_edit.then(|| view! {
                                    <td class="retention-edit">
                                        <label class="sr-only" for=mode_id.clone()>{format!("{} retention", row.kind.label())}</label>
                                        <select id=mode_id prop:value=move || row.mode.get()
                                            on:change=move |ev| row.mode.set(event_target_value(&ev))>
                                            {group.then(|| view! { <option value="default">"Organisation default"</option> })}
                                            <option value="forever">"Keep forever"</option>
                                            <option value="limit">"Limit"</option>
                                        </select>
                                        <span class="retention-limits" hidden=move || row.mode.get() != "limit">
                                            <label for=days_id.clone()>"Days"</label>
                                            <input id=days_id type="number" min="1" max="3650" inputmode="numeric"
                                                prop:value=move || row.days.get()
                                                on:input=move |ev| row.days.set(event_target_value(&ev))/>
                                            <label for=newest_id.clone()>"Newest"</label>
                                            <input id=newest_id type="number" min="1" max="100000" inputmode="numeric"
                                                prop:value=move || row.newest.get()
                                                on:input=move |ev| row.newest.set(event_target_value(&ev))/>
                                        </span>
                                    </td>
                                })}
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
        {move || error.get().map(|e| view! { <ErrorBox error=e/> })}
        {can_edit.then(|| view! {
            <p class="actions">
                <button type="button" class="save-retention" disabled=move || submit.pending().get() on:click=on_save>"Save retention"</button>
                {move || done.get().then(|| view! { <span class="badge ok" role="status">"Saved"</span> })}
            </p>
        })}
        {group.then(|| view! { <Removed runs=data.removed.clone()/> })}
    }
}

/// What retention removed from the group.
#[component]
fn Removed(runs: Vec<RetentionRun>) -> impl IntoView {
    view! {
        <h3>"Removed by retention"</h3>
        {if runs.is_empty() {
            view! { <p class="muted small removed-none">"Nothing yet."</p> }.into_any()
        } else {
            view! {
                <div class="table-scroll">
                    <table class="details removed">
                        <thead><tr><th>"When (UTC)"</th><th>"Kind"</th><th>"Items"</th><th>"Size"</th><th>"Why"</th></tr></thead>
                        <tbody>
                            {runs.into_iter().map(|r| view! {
                                <tr>
                                    <td>{format_utc(&r.at)}</td>
                                    <td>{r.kind.label()}</td>
                                    <td>{r.items}</td>
                                    <td>{format!("{:.1} MB", r.bytes as f64 / 1e6)}</td>
                                    <td>{if r.reason == "age" { "older than the rule allows" } else { "beyond the newest kept" }}</td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                </div>
            }.into_any()
        }}
    }
}
