//! The core's source of secret randomness: a ChaCha20 keystream under a 32-byte seed the
//! caller draws from the OS (the tokio driver) or fixes (tests). Ephemeral Noise keys
//! and UDX stream ids come from here, so a seed must never be reused across nodes.

use chacha20::ChaCha20;
use chacha20::cipher::{KeyIvInit, StreamCipher};

/// A deterministic CSPRNG: the ChaCha20 keystream of the seed.
pub(super) struct Entropy {
    stream: ChaCha20,
}

impl core::fmt::Debug for Entropy {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Entropy { .. }")
    }
}

impl Entropy {
    pub(super) fn new(seed: [u8; 32]) -> Self {
        Self {
            stream: ChaCha20::new(&seed.into(), &[0u8; 12].into()),
        }
    }

    pub(super) fn fill(&mut self, out: &mut [u8]) {
        out.fill(0);
        self.stream.apply_keystream(out);
    }

    pub(super) fn bytes32(&mut self) -> [u8; 32] {
        let mut out = [0u8; 32];
        self.fill(&mut out);
        out
    }

    pub(super) fn u32(&mut self) -> u32 {
        let mut out = [0u8; 4];
        self.fill(&mut out);
        u32::from_le_bytes(out)
    }
}
