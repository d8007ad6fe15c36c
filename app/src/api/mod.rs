//! Server functions: the dashboard's calls to the server. Each is thin: get the state, find
//! the caller, call a service (which checks role and package and validates), map the error.

pub mod auth;
pub mod clips;
pub mod integrations;
pub mod org;
pub mod processing;
pub mod retention;
pub mod streams;
