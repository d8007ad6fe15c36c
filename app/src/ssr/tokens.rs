//! Random secrets: session tokens, stream keys, share tokens, API keys. Each is 32 random
//! bytes (256 bits) in URL-safe base64; where only a hash is stored, it is SHA-256.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A new random token: 32 bytes, URL-safe base64 without padding (43 characters).
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A new stream key: 24 random bytes (192 bits), URL-safe, prefixed so it is recognisable.
pub fn new_stream_key() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    format!("sk_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// A new share token: 24 random bytes (192 bits), URL-safe base64 (32 characters).
pub fn new_share_token() -> String {
    let mut bytes = [0u8; 24];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Whether `token` could be a share token at all (saves a lookup for junk).
pub fn looks_like_share_token(token: &str) -> bool {
    token.len() == 32
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A new API key: `lpk_` and 32 random bytes (256 bits), URL-safe.
pub fn new_api_key() -> String {
    format!("lpk_{}", new_token())
}

/// Whether `key` has the form of an API key.
pub fn looks_like_api_key(key: &str) -> bool {
    key.strip_prefix("lpk_").is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// A new webhook signing secret: `whsec_` and 32 random bytes.
pub fn new_webhook_secret() -> String {
    format!("whsec_{}", new_token())
}

/// The SHA-256 of a token, as stored in the database.
pub fn hash_token(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A readable random password for generated accounts (about 95 bits).
pub fn new_password() -> String {
    let mut bytes = [0u8; 12];
    rand::fill(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_unique_and_url_safe() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
        let k = new_stream_key();
        assert!(k.starts_with("sk_") && k.len() == 35, "{k}");
        assert_eq!(hash_token("x"), hash_token("x"));
        assert_eq!(hash_token("x").len(), 32);
        let api = new_api_key();
        assert!(looks_like_api_key(&api), "{api}");
        assert!(!looks_like_api_key("lpk_short"));
        assert!(new_webhook_secret().starts_with("whsec_"));
        let s = new_share_token();
        assert!(looks_like_share_token(&s), "{s}");
        assert_ne!(s, new_share_token());
        assert!(!looks_like_share_token("short"));
        assert!(!looks_like_share_token(&"../".repeat(11)[..32]));
    }
}
