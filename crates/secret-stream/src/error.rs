//! The one error type of the handshake layer.

/// Why a key, a DH or a handshake step failed.
///
/// Every variant but [`Error::TooLarge`] and [`Error::KeyMismatch`] means the peer sent
/// bytes that do not complete the handshake; the state that received them is consumed and
/// the handshake is over. None of them is ever a panic.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A handshake message ended before the named field.
    #[error("handshake message too short: missing {0}")]
    MessageTooShort(&'static str),
    /// A ciphertext or plaintext is longer than the Noise limit of 65535 bytes.
    #[error("noise message larger than 65535 bytes")]
    TooLarge,
    /// A ChaCha20-Poly1305 tag did not verify: wrong keys (e.g. IK to the wrong responder
    /// static key) or tampered bytes.
    #[error("noise decryption failed")]
    Decrypt,
    /// A remote public key is not a canonical, prime-order Ed25519 point, or the DH result
    /// is the identity (libsodium `crypto_scalarmult_ed25519_noclamp` returning -1).
    #[error("invalid Ed25519 point in DH")]
    InvalidPoint,
    /// A 64-byte secret key whose public half does not match its seed.
    #[error("secret key does not match its public key")]
    KeyMismatch,
}
