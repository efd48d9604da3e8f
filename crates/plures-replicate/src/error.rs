//! One error type per layer.

use plures_compact::{DecodeError, EncodeError};

/// Errors of the hybrid logical clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// A remote HLC is further ahead of local physical time than the allowed drift.
    #[error("remote clock {remote_ms} ms is too far ahead of local time {physical_ms} ms")]
    Drift {
        /// The remote HLC's milliseconds.
        remote_ms: u64,
        /// The local physical time.
        physical_ms: u64,
    },
    /// The clock reached the largest representable HLC and cannot issue another stamp.
    #[error("hybrid logical clock exhausted")]
    Exhausted,
}

/// Errors of a [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The embedded database failed (I/O, corruption, lock held by another process).
    #[error("redb: {0}")]
    Redb(Box<redb::Error>),
    /// A stored record could not be decoded: the file is corrupt or from a newer version.
    #[error("corrupt stored record: {0}")]
    Corrupt(#[from] DecodeError),
    /// A record could not be encoded (a value outside the codec's range).
    #[error("cannot encode record: {0}")]
    Encode(#[from] EncodeError),
    /// The winner index names an operation its record does not hold.
    #[error("store index inconsistent: {0}")]
    Inconsistent(&'static str),
    /// An error of a store implemented outside this crate (e.g. PluresDB's own store).
    #[error("store backend: {0}")]
    Backend(Box<dyn std::error::Error + Send + Sync + 'static>),
}

macro_rules! redb_from {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Redb(Box::new(e.into()))
            }
        }
    )*};
}
redb_from!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// Errors of the sync-key API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The text is not 64 hexadecimal digits.
    #[error("a sync key is 64 hexadecimal digits")]
    BadHex,
    /// A capability proof did not verify.
    #[error("capability proof does not match")]
    BadProof,
}
