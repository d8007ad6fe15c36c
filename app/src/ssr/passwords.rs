//! Password hashing with argon2id (the crate's default), off the async threads.

use argon2::{Argon2, PasswordHasher, PasswordVerifier};

/// Hashes a password into a PHC string. Runs on the blocking pool (tens of ms).
pub async fn hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|e| e.to_string())?
}

/// Checks a password against a stored PHC string.
pub async fn verify(password: String, stored: String) -> bool {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .verify_password(password.as_bytes(), stored.as_str())
            .is_ok()
    })
    .await
    .unwrap_or(false)
}

/// A hash of a random password, verified against so that an unknown user costs as much
/// time as a wrong password (no difference in the answer, nor in its timing).
pub async fn dummy_verify(password: String) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = match DUMMY.get() {
        Some(s) => s.clone(),
        None => {
            let h = hash(crate::ssr::tokens::new_password())
                .await
                .unwrap_or_default();
            DUMMY.get_or_init(|| h).clone()
        }
    };
    let _ = verify(password, stored).await;
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_and_verify() {
        let h = super::hash("correct horse".into()).await.expect("hashes");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(super::verify("correct horse".into(), h.clone()).await);
        assert!(!super::verify("wrong horse".into(), h).await);
    }
}
