pub mod keyslot;
pub mod protocol;
pub mod ring;
