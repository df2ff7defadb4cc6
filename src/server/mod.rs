//! The client-facing RESP server: accepts connections and runs each one's
//! request loop. Composes `protocol`, `cmd` and `store`.

mod connection;
mod listener;

pub use connection::serve_connection;
pub use listener::accept_loop;
