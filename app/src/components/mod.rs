//! Components: props in, view out. Pages own the data; components show it.

pub mod auth_guard;
pub mod clips_table;
pub mod copy_button;
pub mod errors;
pub mod fetched;
pub mod integrations;
pub mod nav;
pub mod player;
pub mod processing;
pub mod retention;
pub mod settings_editor;
pub mod status;
