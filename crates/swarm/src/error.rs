//! Errors of the swarm API.

/// What can go wrong when using a [`Swarm`](crate::Swarm).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SwarmError {
    /// The swarm was destroyed; it takes no more commands.
    #[error("swarm destroyed")]
    Destroyed,
    /// A join asked for neither the server nor the client role.
    #[error("cannot join with neither client nor server option")]
    NoRole,
    /// The hyperdht node failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
