//! Small pure helpers shared by several layers.

pub mod glob;
pub mod histogram;
pub mod striped;
