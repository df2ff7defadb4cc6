pub mod keyslot;
pub mod protocol;
