//! Domain types and rules: no I/O, compiled to the server and to wasm alike, so the browser
//! form, the server functions and the REST API all check input with the same code.

pub mod account;
pub mod assets;
pub mod clips;
pub mod delivery;
pub mod error;
pub mod integrations;
pub mod jobs;
pub mod network;
pub mod overview;
pub mod packages;
pub mod retention;
pub mod roles;
pub mod settings;
pub mod status;
pub mod streams;
pub mod time;

pub use error::{AppError, FieldError};
