//! libsodium's `crypto_secretstream_xchacha20poly1305` as two sans-IO values, [`Push`]
//! and [`Pull`] (spec `secret-stream.md` §5.2), built from HChaCha20, ChaCha20 (IETF) and
//! Poly1305.
//!
//! The state is a 32-byte subkey and a 12-byte nonce `counter (u32 LE) ‖ inonce (8)`.
//! Each message is `encrypted tag (1) ‖ ciphertext ‖ MAC (16)`; after it the MAC's first
//! 8 bytes are folded into `inonce`, the counter steps, and the state rekeys when the tag
//! has the REKEY bit or the counter wraps to 0.
//!
//! The MAC pads the ciphertext with `len mod 16` zero bytes, as libsodium computes
//! `(0x10 - 64 + len) & 0xf`, not with the usual pad-to-16; this is reproduced exactly.
//!
//! A failed [`Pull::pull`] leaves the state unchanged and releases no plaintext. Nothing
//! here panics on any input.
//!
//! Two backends, byte-identical (tests/libsodium_oracle.rs, tests/backends.rs):
//! [`portable`], pure Rust and the default, and with the `libsodium` cargo feature
//! libsodium's own implementation (crate `plures-sodium-backend`, the workspace's only
//! `unsafe` code), which is faster (docs/benchmarks.md). [`Push`] and [`Pull`] use the
//! latter when the feature is on and libsodium initialises, else the former.

/// Key length.
pub const KEY_LEN: usize = 32;
/// Header length (`crypto_secretstream_xchacha20poly1305_HEADERBYTES`).
pub const HEADER_LEN: usize = 24;
/// Bytes a message grows by: the encrypted tag and the MAC (`ABYTES`).
pub const ABYTES: usize = 17;

/// A secretstream message tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tag {
    /// `TAG_MESSAGE` (0): an ordinary message.
    Message,
    /// `TAG_PUSH` (1): end of a set of messages.
    Push,
    /// `TAG_REKEY` (2): both sides rekey after this message.
    Rekey,
    /// `TAG_FINAL` (3): the last message (`PUSH | REKEY`).
    Final,
    /// Any other tag byte; libsodium accepts these and acts on the REKEY bit.
    Other(u8),
}

impl Tag {
    /// The tag byte.
    pub fn to_byte(self) -> u8 {
        match self {
            Self::Message => 0,
            Self::Push => 1,
            Self::Rekey => 2,
            Self::Final => 3,
            Self::Other(b) => b,
        }
    }

    /// The tag of a byte.
    pub fn from_byte(b: u8) -> Self {
        match b {
            0 => Self::Message,
            1 => Self::Push,
            2 => Self::Rekey,
            3 => Self::Final,
            b => Self::Other(b),
        }
    }

    fn rekeys(self) -> bool {
        self.to_byte() & 2 != 0
    }
}

/// Why a [`Pull::pull`] failed.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SecretStreamError {
    /// The ciphertext is shorter than [`ABYTES`].
    #[error("secretstream ciphertext shorter than 17 bytes")]
    TooShort,
    /// The MAC did not verify: tampered, truncated, reordered or replayed ciphertext, or
    /// the wrong key or header.
    #[error("secretstream MAC verification failed")]
    Mac,
}

/// The sending half: `init_push` with a caller-chosen header, then [`Push::push`].
#[derive(Clone)]
pub struct Push {
    inner: PushImpl,
    header: [u8; HEADER_LEN],
}

#[derive(Clone)]
enum PushImpl {
    Portable(portable::Push),
    #[cfg(feature = "libsodium")]
    Sodium(plures_sodium_backend::Push),
}

impl Push {
    /// `init_push(key)` with the given `header` (libsodium draws it at random; pass 24
    /// random bytes, or a recorded header to replay a transcript).
    pub fn new(key: &[u8; KEY_LEN], header: [u8; HEADER_LEN]) -> Self {
        #[cfg(feature = "libsodium")]
        if let Some(p) = plures_sodium_backend::Push::new(key, &header) {
            return Self {
                inner: PushImpl::Sodium(p),
                header,
            };
        }
        Self {
            inner: PushImpl::Portable(portable::Push::new(key, header)),
            header,
        }
    }

    /// The header the receiver needs for [`Pull::new`].
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Whether this state runs on libsodium (feature `libsodium`) rather than [`portable`].
    pub fn uses_libsodium(&self) -> bool {
        !matches!(self.inner, PushImpl::Portable(_))
    }

    /// Encrypts `m` with `tag` (no additional data), appending
    /// `encrypted tag ‖ ciphertext ‖ MAC` (`m.len() + 17` bytes) to `out`.
    pub fn push(&mut self, m: &[u8], tag: Tag, out: &mut Vec<u8>) {
        match &mut self.inner {
            PushImpl::Portable(p) => p.push(m, tag, out),
            #[cfg(feature = "libsodium")]
            PushImpl::Sodium(p) => p.push(m, tag.to_byte(), out),
        }
    }

    /// Rekeys explicitly (`crypto_secretstream_xchacha20poly1305_rekey`).
    pub fn rekey(&mut self) {
        match &mut self.inner {
            PushImpl::Portable(p) => p.rekey(),
            #[cfg(feature = "libsodium")]
            PushImpl::Sodium(p) => p.rekey(),
        }
    }

    /// Sets the 32-bit message counter (1 after init and after every rekey). Test hook
    /// for the wrap-around rekey.
    #[doc(hidden)]
    pub fn set_counter_for_test(&mut self, counter: u32) {
        match &mut self.inner {
            PushImpl::Portable(p) => p.set_counter_for_test(counter),
            #[cfg(feature = "libsodium")]
            PushImpl::Sodium(p) => p.set_counter(counter),
        }
    }
}

/// The receiving half: `init_pull` with the sender's header, then [`Pull::pull`].
#[derive(Clone)]
pub struct Pull {
    inner: PullImpl,
}

#[derive(Clone)]
enum PullImpl {
    Portable(portable::Pull),
    #[cfg(feature = "libsodium")]
    Sodium(plures_sodium_backend::Pull),
}

impl Pull {
    /// `init_pull(header, key)`.
    pub fn new(key: &[u8; KEY_LEN], header: &[u8; HEADER_LEN]) -> Self {
        #[cfg(feature = "libsodium")]
        if let Some(p) = plures_sodium_backend::Pull::new(key, header) {
            return Self {
                inner: PullImpl::Sodium(p),
            };
        }
        Self {
            inner: PullImpl::Portable(portable::Pull::new(key, header)),
        }
    }

    /// Whether this state runs on libsodium (feature `libsodium`) rather than [`portable`].
    pub fn uses_libsodium(&self) -> bool {
        !matches!(self.inner, PullImpl::Portable(_))
    }

    /// Verifies and decrypts one message, appending its plaintext (`c.len() - 17` bytes)
    /// to `out` and returning its tag. On error nothing is appended and the state is
    /// unchanged.
    pub fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError> {
        match &mut self.inner {
            PullImpl::Portable(p) => p.pull(c, out),
            #[cfg(feature = "libsodium")]
            PullImpl::Sodium(p) => match p.pull(c, out) {
                Ok(tag) => Ok(Tag::from_byte(tag)),
                Err(plures_sodium_backend::PullError::TooShort) => Err(SecretStreamError::TooShort),
                Err(plures_sodium_backend::PullError::Mac) => Err(SecretStreamError::Mac),
            },
        }
    }

    /// Rekeys explicitly (`crypto_secretstream_xchacha20poly1305_rekey`).
    pub fn rekey(&mut self) {
        match &mut self.inner {
            PullImpl::Portable(p) => p.rekey(),
            #[cfg(feature = "libsodium")]
            PullImpl::Sodium(p) => p.rekey(),
        }
    }

    /// Test hook for the wrap-around rekey; see [`Push::set_counter_for_test`].
    #[doc(hidden)]
    pub fn set_counter_for_test(&mut self, counter: u32) {
        match &mut self.inner {
            PullImpl::Portable(p) => p.set_counter_for_test(counter),
            #[cfg(feature = "libsodium")]
            PullImpl::Sodium(p) => p.set_counter(counter),
        }
    }
}

mod poly;
pub mod portable;
#[cfg(test)]
mod tests;
