//! The Noise symmetric state with BLAKE2b-512 and ChaCha20-Poly1305 (spec `noise.md` §3).

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use zeroize::Zeroize;

use crate::crypto::{HASH_LEN, blake2b_512, hkdf_blake2b};
use crate::error::Error;

/// Noise limit on one ciphertext (and so on one plaintext plus its tag).
pub(crate) const MAX_MESSAGE_LEN: usize = 65535;
/// Poly1305 tag length.
pub(crate) const TAG_LEN: usize = 16;

/// `h`, `ck` and the optional cipher key with its nonce. Zeroed on drop.
pub(crate) struct SymmetricState {
    h: [u8; HASH_LEN],
    ck: [u8; HASH_LEN],
    k: Option<[u8; 32]>,
    n: u64,
}

impl SymmetricState {
    /// `InitializeSymmetric(protocol_name)`: the name (at most 64 bytes here) zero-padded
    /// into `h`, `ck = h`.
    pub(crate) fn new(protocol_name: &str) -> Self {
        let name = protocol_name.as_bytes();
        let mut h = [0u8; HASH_LEN];
        if name.len() <= HASH_LEN {
            h[..name.len()].copy_from_slice(name);
        } else {
            h = blake2b_512(&[name]);
        }
        Self {
            h,
            ck: h,
            k: None,
            n: 0,
        }
    }

    pub(crate) fn hash(&self) -> &[u8; HASH_LEN] {
        &self.h
    }

    pub(crate) fn has_key(&self) -> bool {
        self.k.is_some()
    }

    pub(crate) fn mix_hash(&mut self, data: &[u8]) {
        self.h = blake2b_512(&[&self.h, data]);
    }

    pub(crate) fn mix_key(&mut self, ikm: &[u8]) {
        let (ck, mut t) = hkdf_blake2b(&self.ck, ikm);
        self.ck = ck;
        let mut k = [0u8; 32];
        k.copy_from_slice(&t[..32]);
        t.zeroize();
        self.k = Some(k);
        self.n = 0;
    }

    fn nonce(&self) -> Nonce {
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&self.n.to_le_bytes());
        nonce.into()
    }

    /// `EncryptAndHash`: appends the ciphertext (or plaintext, before any key) to `out`.
    pub(crate) fn encrypt_and_hash(
        &mut self,
        plaintext: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), Error> {
        let c = match &self.k {
            None => {
                if plaintext.len() > MAX_MESSAGE_LEN {
                    return Err(Error::TooLarge);
                }
                plaintext.to_vec()
            }
            Some(k) => {
                if plaintext.len() + TAG_LEN > MAX_MESSAGE_LEN {
                    return Err(Error::TooLarge);
                }
                let aead = ChaCha20Poly1305::new(Key::from_slice(k));
                let c = aead
                    .encrypt(
                        &self.nonce(),
                        Payload {
                            msg: plaintext,
                            aad: &self.h,
                        },
                    )
                    .map_err(|_| Error::TooLarge)?;
                self.n += 1;
                c
            }
        };
        self.mix_hash(&c);
        out.extend_from_slice(&c);
        Ok(())
    }

    /// `DecryptAndHash`: the plaintext of `ciphertext` (itself, before any key).
    pub(crate) fn decrypt_and_hash(&mut self, ciphertext: &[u8]) -> Result<Vec<u8>, Error> {
        if ciphertext.len() > MAX_MESSAGE_LEN {
            return Err(Error::TooLarge);
        }
        let p = match &self.k {
            None => ciphertext.to_vec(),
            Some(k) => {
                let aead = ChaCha20Poly1305::new(Key::from_slice(k));
                let p = aead
                    .decrypt(
                        &self.nonce(),
                        Payload {
                            msg: ciphertext,
                            aad: &self.h,
                        },
                    )
                    .map_err(|_| Error::Decrypt)?;
                self.n += 1;
                p
            }
        };
        self.mix_hash(ciphertext);
        Ok(p)
    }

    /// `Split`: the two 32-byte keys `(k1, k2)`.
    pub(crate) fn split(&self) -> ([u8; 32], [u8; 32]) {
        let (mut t1, mut t2) = hkdf_blake2b(&self.ck, &[]);
        let mut k1 = [0u8; 32];
        let mut k2 = [0u8; 32];
        k1.copy_from_slice(&t1[..32]);
        k2.copy_from_slice(&t2[..32]);
        t1.zeroize();
        t2.zeroize();
        (k1, k2)
    }
}

impl Drop for SymmetricState {
    fn drop(&mut self) {
        self.h.zeroize();
        self.ck.zeroize();
        self.k.zeroize();
    }
}
