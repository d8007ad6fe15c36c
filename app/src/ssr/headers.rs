//! Security headers of every response: the Content-Security-Policy (pages get one with the
//! nonce Leptos puts on its own inline scripts, so no other inline script runs), and the
//! headers that keep pages out of frames, pin HTTPS when cookies are secure, and turn off
//! browser features the dashboard never uses.

use axum::http::header::{HeaderName, CONTENT_SECURITY_POLICY};
use axum::http::HeaderValue;

/// The policy of a page whose own inline scripts carry `nonce` (`None`: no inline script
/// at all). WebAssembly needs `'wasm-unsafe-eval'`; hls.js plays from `blob:` URLs and may
/// run a worker from one. Styles may be inline (attributes), scripts may not.
pub fn policy(nonce: Option<&str>) -> String {
    policy_for(nonce, false)
}

/// Whether pages under `path` may be shown in other sites' frames: share pages, so that their
/// embed snippet (an iframe) works. They hold nothing a viewer could be tricked into
/// clicking: no account, no state-changing control.
pub fn framable(path: &str) -> bool {
    path.starts_with("/s/")
}

/// [`policy`], letting any site frame the page when `framable`.
pub fn policy_for(nonce: Option<&str>, framable: bool) -> String {
    let ancestors = if framable { "*" } else { "'none'" };
    let scripts = match nonce {
        Some(n) => format!("'self' 'nonce-{n}' 'wasm-unsafe-eval'"),
        None => "'self' 'wasm-unsafe-eval'".into(),
    };
    format!(
        "default-src 'self'; script-src {scripts}; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data: blob:; media-src 'self' blob:; worker-src 'self' blob:; \
         connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
         form-action 'self'; frame-ancestors {ancestors}"
    )
}

/// Sets the page's policy with its nonce (call while rendering a page on the server).
pub fn set_page_policy() {
    let nonce = leptos::nonce::use_nonce();
    let response = leptos::prelude::use_context::<leptos_axum::ResponseOptions>();
    let framable = leptos::prelude::use_context::<axum::http::request::Parts>()
        .is_some_and(|p| framable(p.uri.path()));
    if let (Some(nonce), Some(response)) = (nonce, response) {
        if let Ok(v) = HeaderValue::from_str(&policy_for(Some(&nonce.to_string()), framable)) {
            response.insert_header(CONTENT_SECURITY_POLICY, v);
        }
    }
}

/// Headers every response gets (when the handler set none of its own): the policy without
/// inline scripts, no framing, no sniffing, a strict referrer, no powerful features, and
/// HSTS when cookies are secure (the site is served over HTTPS).
pub fn defaults(secure: bool) -> Vec<(HeaderName, HeaderValue)> {
    let mut h = vec![
        (
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_str(&policy(None))
                .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'")),
        ),
        (
            HeaderName::from_static("permissions-policy"),
            HeaderValue::from_static(
                "camera=(), microphone=(), geolocation=(), payment=(), usb=()",
            ),
        ),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            HeaderValue::from_static("same-origin"),
        ),
    ];
    if secure {
        h.push((
            HeaderName::from_static("strict-transport-security"),
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_allow_only_their_nonce_and_wasm() {
        let p = policy(Some("abc"));
        assert!(
            p.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"),
            "{p}"
        );
        assert!(!p.contains("unsafe-inline';") || p.contains("style-src 'self' 'unsafe-inline'"));
        assert!(!policy(None).contains("nonce"));
        assert!(p.contains("frame-ancestors 'none'"));
        assert_eq!(defaults(true).len(), 4);
        assert_eq!(defaults(false).len(), 3);
    }
}
