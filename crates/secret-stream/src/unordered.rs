//! Unordered messages: `crypto_secretbox` envelopes for the transport's datagram API
//! (spec `secret-stream.md` §6).
//!
//! `envelope = counter (8, LE) ‖ MAC (16) ‖ XSalsa20 ciphertext`, with nonce
//! `counter ‖ 0 × 16`. The sender increments its counter before each message and stops
//! when it comes back to its random start. The receiver keeps no counter: no replay
//! protection or ordering, as in the reference. Bad envelopes are dropped, never a panic.

use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};

use crate::error::StreamError;

/// Bytes an envelope adds to its plaintext: counter and MAC.
pub const ENVELOPE_OVERHEAD: usize = 24;

/// Seals outgoing unordered messages.
pub(crate) struct Sealer {
    cipher: XSalsa20Poly1305,
    initial: [u8; 8],
    counter: [u8; 8],
}

impl Sealer {
    pub(crate) fn new(key: &[u8; 32], initial: [u8; 8]) -> Self {
        Self {
            cipher: XSalsa20Poly1305::new(Key::from_slice(key)),
            initial,
            counter: initial,
        }
    }

    /// The envelope of `plaintext`, or [`StreamError::NonceExhausted`] when the counter
    /// wrapped around to its start.
    pub(crate) fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, StreamError> {
        self.counter = (u64::from_le_bytes(self.counter).wrapping_add(1)).to_le_bytes();
        if self.counter == self.initial {
            return Err(StreamError::NonceExhausted);
        }
        let sealed = self
            .cipher
            .encrypt(&nonce(&self.counter), plaintext)
            .map_err(|_| StreamError::WriteTooLarge(plaintext.len()))?;
        let mut out = Vec::with_capacity(8 + sealed.len());
        out.extend_from_slice(&self.counter);
        out.extend_from_slice(&sealed);
        Ok(out)
    }
}

/// Opens incoming unordered messages.
pub(crate) struct Opener {
    cipher: XSalsa20Poly1305,
}

impl Opener {
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        Self {
            cipher: XSalsa20Poly1305::new(Key::from_slice(key)),
        }
    }

    /// The plaintext of `envelope`, or `None` for a short or forged one.
    pub(crate) fn open(&self, envelope: &[u8]) -> Option<Vec<u8>> {
        if envelope.len() < ENVELOPE_OVERHEAD {
            return None;
        }
        let (counter, sealed) = envelope.split_first_chunk::<8>()?;
        self.cipher.decrypt(&nonce(counter), sealed).ok()
    }
}

fn nonce(counter: &[u8; 8]) -> Nonce {
    let mut n = [0u8; 24];
    n[..8].copy_from_slice(counter);
    n.into()
}
