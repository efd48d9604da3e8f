//! The error type of this layer.

use plures_compact::{DecodeError, EncodeError};

/// What went wrong in a codec or a cryptographic check. Small and `Copy`: these run on
/// untrusted input and must not allocate to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a valid message.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The value cannot be encoded so that a JS peer decodes it.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// A secure payload of this many bytes: it must be longer than nonce and tag (40).
    #[error("secure payload of {0} bytes is too short")]
    PayloadTooShort(usize),
    /// A plaintext of this many bytes is beyond what the cipher can seal.
    #[error("holepunch payload of {0} bytes is too large to seal")]
    PayloadTooLarge(usize),
    /// A secure payload that does not authenticate under the holepunch secret.
    #[error("secure payload does not authenticate")]
    PayloadForged,
}
