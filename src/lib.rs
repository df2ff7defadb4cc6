pub mod config;
pub mod keyslot;
pub mod protocol;
