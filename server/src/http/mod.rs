//! The HTTP side: the router (SSR pages, server functions, static site files, health) and
//! the layers every request goes through (same-origin check, security headers, tracing).

pub mod api;
pub mod csrf;
pub mod error_status;
pub mod media;
pub mod router;
pub mod serve;
pub mod share;

pub use router::router;
