//! Node configuration: the schema, its defaults, and loading it from layers.

mod enums;
mod units;

pub use enums::{
    GossipProfile, Keyspace, LogFormat, MaxmemoryPolicy, ReplicationMode, UnknownName,
};
pub use units::{ByteSize, ConfigDuration, UnitError};
