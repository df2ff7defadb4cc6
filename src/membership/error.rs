//! Errors of the membership layer.

/// What went wrong starting or talking to the membership task.
#[derive(Debug, thiserror::Error)]
pub enum MembershipError {
    /// The configuration is unusable (the text says which field and why).
    /// Nothing was started.
    #[error("invalid membership config: {0}")]
    InvalidConfig(String),
    /// The gossip socket's local address could not be read. Nothing was
    /// started; the socket was dropped.
    #[error("gossip socket: {0}")]
    Socket(#[from] std::io::Error),
    /// The membership task is gone (shut down or left the cluster). The
    /// request was not applied; the node is no longer a member.
    #[error("membership task stopped")]
    Stopped,
    /// foca refused an identity change. The node keeps its previous
    /// identity and stays in the cluster.
    #[error("identity change refused: {0}")]
    IdentityChange(String),
}
