//! The server's long-lived background tasks (webhook queue and dispatcher, housekeeping) in
//! one place: each runs in a span named after it, a panic is logged with that name and the
//! task restarts after a pause, and stopping waits for every one of them. Sessions and their
//! ffmpeg children have their own supervisor ([`crate::runner::Supervisor`]).

use std::future::Future;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Pause before a task that panicked is started again.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Background tasks and the token that stops them.
#[derive(Clone)]
pub(crate) struct Tasks {
    tracker: TaskTracker,
    stop: CancellationToken,
}

impl Tasks {
    /// Tasks that stop with `stop`.
    pub(crate) fn new(stop: CancellationToken) -> Self {
        Self {
            tracker: TaskTracker::new(),
            stop,
        }
    }

    /// Runs the task `make` builds until it returns (it should when `stop` fires); a panic
    /// is logged and the task made and run again.
    pub(crate) fn spawn<F, Fut>(&self, name: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let stop = self.stop.clone();
        self.tracker.spawn(async move {
            loop {
                let run = tokio::spawn(make().instrument(tracing::info_span!("task", task.name = name)));
                match run.await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::error!(task.name = name, error = %e, "background task failed; restarting it");
                    }
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(RESTART_PAUSE) => {}
                }
            }
        });
    }

    /// Waits (up to `limit`) for every task to end after `stop` fired.
    pub(crate) async fn wait(&self, limit: Duration) {
        self.tracker.close();
        if tokio::time::timeout(limit, self.tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!("background tasks still running {limit:?} after stop");
        }
    }
}

/// Calls `on` with the payload of every PostgreSQL notification on `channel` until `stop`,
/// listening again (with a growing pause) whenever the connection is lost. Returns at once on
/// SQLite, where one process does all the work.
pub(crate) async fn listen(
    db: &app::ssr::db::Db,
    channel: &str,
    stop: &CancellationToken,
    mut on: impl FnMut(String),
) {
    let mut wait = Duration::from_secs(1);
    loop {
        let mut wakeups = match app::ssr::db::listen(db, &[channel]).await {
            Ok(Some(w)) => w,
            Ok(None) => return,
            Err(e) => {
                tracing::warn!(channel, error = %e, "cannot listen for other nodes; retrying");
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        wait = Duration::from_secs(1);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                got = wakeups.next() => match got {
                    Ok((_, payload)) => on(payload),
                    Err(e) => {
                        tracing::warn!(channel, error = %e, "lost the notification channel; listening again");
                        break;
                    }
                },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_restarts_and_stop_waits_for_it() {
        let stop = CancellationToken::new();
        let tasks = Tasks::new(stop.clone());
        let runs = Arc::new(AtomicU32::new(0));
        let (r, s) = (runs.clone(), stop.clone());
        tasks.spawn("flaky", move || {
            let (r, s) = (r.clone(), s.clone());
            async move {
                if r.fetch_add(1, Ordering::SeqCst) < 2 {
                    panic!("boom");
                }
                s.cancelled().await;
            }
        });
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert_eq!(
            runs.load(Ordering::SeqCst),
            3,
            "restarted twice after panics"
        );
        stop.cancel();
        tasks.wait(Duration::from_secs(1)).await;
        assert!(tasks.tracker.is_empty());
    }
}
