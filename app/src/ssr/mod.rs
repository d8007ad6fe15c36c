//! Everything in `app` that only exists on the server: the shared state, the database and
//! its repositories, authentication, and the services both the server functions and the
//! REST API call. Compiled only with the `ssr` feature.

pub mod auth;
pub mod clock;
pub mod db;
pub mod headers;
pub mod limiter;
pub mod lookups;
pub mod net;
pub mod outbound;
pub mod passwords;
pub mod pipeline;
pub mod repo;
pub mod request_memo;
pub mod services;
pub mod state;
/// Test support (fixtures with a known password): in debug builds, where the tests run, and
/// in release builds only with the `testing` feature (the benchmarks); never in the
/// release binary.
#[cfg(any(debug_assertions, feature = "testing"))]
pub mod testing;
pub mod tokens;

pub use state::AppState;
