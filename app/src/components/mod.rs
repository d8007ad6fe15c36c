//! Components: props in, view out. Pages own the data; components show it.

pub mod auth_guard;
pub mod copy_button;
pub mod errors;
pub mod nav;
pub mod processing;
pub mod settings_editor;
pub mod status;
