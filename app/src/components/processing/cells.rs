//! Cells the details tables share: the (In-)Active state with the job's state beside it,
//! durations as the seeds show them, file sizes.

use leptos::prelude::*;

use crate::domain::jobs::JobState;
use crate::domain::settings::ProcessKind;
use crate::domain::settings::Span;

/// "Active" or "Inactive", and for an active process the state of its job (running,
/// restarting with the last error, failed with the reason, idle until the next ingest).
#[component]
pub fn ActiveCell(enabled: bool, job: JobState, live: bool) -> impl IntoView {
    let state = enabled.then(|| match &job {
        JobState::Idle if live => ("idle", "Idle".to_string(), None),
        JobState::Idle => ("idle", "Waiting for ingest".to_string(), None),
        JobState::Starting => ("restarting", "Starting".to_string(), None),
        JobState::Running => ("running", "Running".to_string(), None),
        JobState::Restarting {
            attempt,
            last_error,
        } => (
            "restarting",
            format!("Restarting (attempt {attempt})"),
            Some(last_error.clone()),
        ),
        JobState::Failed { reason } => ("failed", "Failed".to_string(), Some(reason.clone())),
        JobState::Paused { reason } => ("paused", "Paused".to_string(), Some(reason.clone())),
    });
    view! {
        <td class="active-cell">
            {if enabled {
                view! { <span class="badge ok">"Active"</span> }.into_any()
            } else {
                view! { <span class="badge idle">"Inactive"</span> }.into_any()
            }}
            {state.map(|(class, label, detail)| view! {
                <span class=format!("job-state badge {class}") data-job=class>{label}</span>
                {detail.map(|d| view! { <p class="job-error small">{d}</p> })}
            })}
        </td>
    }
}

/// The details table of a process with only a duration (Live Replay, Recording): a row per
/// stream with its state, name, quality and duration.
#[component]
pub fn DurationTable(process: ProcessKind, active_heading: &'static str) -> impl IntoView {
    let ctx = super::use_tab();
    view! {
        <div class="table-scroll">
            <table class="details" data-process=process.key()>
                <thead><tr><th>{active_heading}</th><th>"Stream Name"</th><th>"Quality"</th><th>"Duration (s)"</th></tr></thead>
                <tbody>
                    {move || ctx.with(|o| o.streams.iter().map(|s| {
                        let c = o.config(s.id, process);
                        view! {
                            <tr data-stream=s.id>
                                <ActiveCell enabled=c.enabled() job=o.job(s.id, process) live=o.is_live()/>
                                <td>{s.name.clone()}</td>
                                <td>{s.quality.clone()}</td>
                                <td class="num">{span_text(c.duration())}</td>
                            </tr>
                        }
                    }).collect_view())}
                </tbody>
            </table>
        </div>
    }
}

/// A duration setting as the tables show it: seconds, or "Entire stream".
pub fn span_text(span: Option<Span>) -> String {
    match span {
        Some(Span::Seconds(s)) => s.to_string(),
        Some(Span::EntireStream) => "Entire stream".into(),
        None => "—".into(),
    }
}

/// `1.4 MB`, `820 KB`, `12 B`.
pub fn size_text(bytes: i64) -> String {
    let b = bytes.max(0) as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else if b >= 1e3 {
        format!("{:.0} KB", b / 1e3)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts() {
        assert_eq!(span_text(Some(Span::Seconds(30))), "30");
        assert_eq!(span_text(Some(Span::EntireStream)), "Entire stream");
        assert_eq!(size_text(1_400_000), "1.4 MB");
        assert_eq!(size_text(820_000), "820 KB");
        assert_eq!(size_text(12), "12 B");
    }
}
