//! Small pure helpers shared by several command families.

pub mod glob;
