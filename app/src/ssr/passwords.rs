//! Password hashing with argon2id (the crate's default: 19 MiB, 2 passes), off the async
//! threads and bounded: at most [`permits`] hashes or verifications run at once (a few per
//! core), a few more may wait briefly, and the rest are told the server is busy. A burst of
//! logins or sign-ups can therefore cost at most `permits × 19 MiB` and never starves the
//! media pipeline of CPU.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// Too many password checks are running: try again shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server is busy checking passwords")]
pub struct Busy;

/// How long a request may wait for a free slot.
const QUEUE_WAIT: Duration = Duration::from_secs(2);

struct Gate {
    permits: usize,
    semaphore: Semaphore,
    waiting: AtomicUsize,
    running: AtomicUsize,
    peak: AtomicUsize,
}

fn gate() -> &'static Gate {
    static GATE: OnceLock<Gate> = OnceLock::new();
    GATE.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let permits = (cores * 2).clamp(2, 16);
        Gate {
            permits,
            semaphore: Semaphore::new(permits),
            waiting: AtomicUsize::new(0),
            running: AtomicUsize::new(0),
            peak: AtomicUsize::new(0),
        }
    })
}

/// Argon2 evaluations allowed at once.
pub fn permits() -> usize {
    gate().permits
}

/// The most argon2 evaluations that ever ran at once in this process.
pub fn peak_concurrency() -> usize {
    gate().peak.load(Ordering::Relaxed)
}

/// Runs `work` on the blocking pool once a slot is free.
async fn bounded<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Busy> {
    let g = gate();
    // At most as many waiting as running: beyond that a wait would only grow the queue.
    if g.waiting.fetch_add(1, Ordering::AcqRel) >= g.permits {
        g.waiting.fetch_sub(1, Ordering::AcqRel);
        return Err(Busy);
    }
    let permit = tokio::time::timeout(QUEUE_WAIT, g.semaphore.acquire()).await;
    g.waiting.fetch_sub(1, Ordering::AcqRel);
    let Ok(Ok(permit)) = permit else {
        return Err(Busy);
    };
    let result = tokio::task::spawn_blocking(move || {
        let now = g.running.fetch_add(1, Ordering::AcqRel) + 1;
        g.peak.fetch_max(now, Ordering::AcqRel);
        let out = work();
        g.running.fetch_sub(1, Ordering::AcqRel);
        out
    })
    .await;
    drop(permit);
    result.map_err(|_| Busy)
}

/// Why a password could not be hashed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashError {
    #[error(transparent)]
    Busy(#[from] Busy),
    #[error("hashing failed: {0}")]
    Failed(String),
}

/// Hashes a password into a PHC string (tens of ms on the blocking pool).
pub async fn hash(password: String) -> Result<String, HashError> {
    bounded(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| HashError::Failed(e.to_string()))
    })
    .await?
}

/// Checks a password against a stored PHC string.
pub async fn verify(password: String, stored: String) -> Result<bool, Busy> {
    bounded(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
}

/// A hash of a random password, verified against so that an unknown user costs as much
/// time as a wrong password (no difference in the answer, nor in its timing).
pub async fn dummy_verify(password: String) -> Result<(), Busy> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let stored = match DUMMY.get() {
        Some(s) => s.clone(),
        None => {
            let h = hash(crate::ssr::tokens::new_password())
                .await
                .map_err(|_| Busy)?;
            DUMMY.get_or_init(|| h).clone()
        }
    };
    verify(password, stored).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_and_verify() {
        let h = super::hash("correct horse".into()).await.expect("hashes");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert_eq!(
            super::verify("correct horse".into(), h.clone()).await,
            Ok(true)
        );
        assert_eq!(super::verify("wrong horse".into(), h).await, Ok(false));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_burst_runs_within_the_bound_and_the_rest_is_told_busy() {
        let h = super::hash("x".repeat(12)).await.expect("hashes");
        let tasks: Vec<_> = (0..100)
            .map(|_| tokio::spawn(super::verify("y".repeat(12), h.clone())))
            .collect();
        let mut busy = 0;
        for t in tasks {
            if t.await.expect("task").is_err() {
                busy += 1;
            }
        }
        assert!(busy > 0, "a burst of 100 cannot all run");
        assert!(super::peak_concurrency() <= super::permits());
    }
}
