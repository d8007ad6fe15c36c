//! Everything in `app` that only exists on the server: the shared state, the database and
//! its repositories, authentication, and the services both the server functions and the
//! REST API call. Compiled only with the `ssr` feature.

pub mod auth;
pub mod clock;
pub mod db;
pub mod headers;
pub mod limiter;
pub mod net;
pub mod outbound;
pub mod passwords;
pub mod pipeline;
pub mod repo;
pub mod request_memo;
pub mod services;
pub mod state;
#[doc(hidden)]
pub mod testing;
pub mod tokens;

pub use state::AppState;
