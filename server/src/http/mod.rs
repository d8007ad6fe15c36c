//! The HTTP side: the router (SSR pages, server functions, static site files, health) and
//! the layers every request goes through (same-origin check, security headers, tracing).

pub(crate) mod api;
pub(crate) mod csrf;
pub(crate) mod error_status;
pub(crate) mod hot;
pub(crate) mod media;
pub(crate) mod public;
pub(crate) mod router;
pub(crate) mod serve;
pub(crate) mod share;
pub(crate) mod site;

pub(crate) use router::router;
