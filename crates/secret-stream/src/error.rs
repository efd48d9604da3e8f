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

/// Why a [`Session`](crate::Session) failed or refused a call.
///
/// The first group means the peer sent bytes that end the stream (the JS reference
/// destroys the stream on each); once a session has returned one of them it is
/// destroyed and returns the same error from every later call. [`StreamError::WriteTooLarge`],
/// [`StreamError::NotOpen`] and [`StreamError::WriteAfterEnd`] are API misuse and leave the
/// session alone.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    /// The Noise handshake run over the stream failed (JS `Noise handshake failed`).
    #[error("noise handshake failed: {0}")]
    Handshake(#[from] Error),
    /// The header frame is not exactly 56 bytes (JS `Invalid header message received`).
    #[error("invalid header message received: {0} bytes instead of 56")]
    InvalidHeaderLength(usize),
    /// The header's stream id is not the one the handshake implies: the peer has other
    /// handshake keys (JS `Invalid header received`).
    #[error("invalid header received: stream id mismatch")]
    InvalidStreamId,
    /// A data frame shorter than 17 bytes (JS `Invalid message received`).
    #[error("invalid message received: {0} bytes is shorter than 17")]
    MessageTooShort(usize),
    /// A data frame failed authentication: tampered, truncated, replayed or reordered.
    #[error("secretstream: {0}")]
    Decrypt(#[from] crate::secretstream::SecretStreamError),
    /// A frame announced a body longer than the configured receive limit.
    #[error("frame of {len} bytes exceeds the limit of {limit}")]
    FrameTooLarge {
        /// The announced body length.
        len: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The byte stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// The byte stream ended before the handshake and header exchange finished.
    #[error("stream ended before the secret stream opened")]
    UnexpectedEof,
    /// The 64-bit counter of unordered messages came back to its start (JS
    /// `udp send nonce exchausted`).
    #[error("unordered message nonce exhausted")]
    NonceExhausted,
    /// A write whose frame would not fit a uint24 length (JS `Message is too large for an
    /// atomic write`). The session is unaffected.
    #[error("message of {0} bytes is too large for an atomic write")]
    WriteTooLarge(usize),
    /// Unordered messages need a finished handshake. The session is unaffected.
    #[error("the secret stream is not open yet")]
    NotOpen,
    /// A write after [`Session::close`](crate::Session::close). The session is unaffected.
    #[error("write after end")]
    WriteAfterEnd,
}

impl StreamError {
    /// Whether the error destroyed the session (as opposed to refusing one call).
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            Self::WriteTooLarge(_) | Self::NotOpen | Self::WriteAfterEnd
        )
    }
}

impl From<StreamError> for std::io::Error {
    /// Peer garbage is `InvalidData`, an early end `UnexpectedEof`, API misuse
    /// `InvalidInput`/`NotConnected`/`BrokenPipe`; the [`StreamError`] stays reachable
    /// through [`std::io::Error::get_ref`].
    fn from(e: StreamError) -> Self {
        use std::io::ErrorKind;
        let kind = match e {
            StreamError::Truncated | StreamError::UnexpectedEof => ErrorKind::UnexpectedEof,
            StreamError::WriteTooLarge(_) => ErrorKind::InvalidInput,
            StreamError::NotOpen => ErrorKind::NotConnected,
            StreamError::WriteAfterEnd => ErrorKind::BrokenPipe,
            StreamError::NonceExhausted => ErrorKind::Other,
            _ => ErrorKind::InvalidData,
        };
        Self::new(kind, e)
    }
}
