//! Small helpers shared by several layers: pure ones, and the few requests
//! the node makes of its allocator.

pub mod glob;
pub mod histogram;
pub mod jemalloc;
pub mod striped;
