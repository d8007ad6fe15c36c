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
        let s = new_share_token();
        assert!(looks_like_share_token(&s), "{s}");
        assert_ne!(s, new_share_token());
        assert!(!looks_like_share_token("short"));
        assert!(!looks_like_share_token(&"../".repeat(11)[..32]));
    }
}
