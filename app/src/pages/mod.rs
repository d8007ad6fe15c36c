//! Pages, one per route. Pages own their resources and actions; components show them.

pub mod account;
pub mod home;
pub mod invitation;
pub mod lazy;
pub mod login;
pub mod new_stream;
pub mod not_found;
pub mod organisation;
pub mod processing;
pub mod replay;
pub mod share;
pub mod signup;
pub mod status;
pub mod stream;
pub mod streams;
