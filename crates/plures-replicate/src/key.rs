//! The sync key and everything derived from it.
//!
//! A [`SyncKey`] is 32 random bytes, shared out of band as 64 hexadecimal digits. Whoever
//! holds it can find the other replicas (the topic) and prove membership (the capability
//! proof). Every derived value is a keyed BLAKE2b-256 of its own domain-separation label
//! under the sync key, `BLAKE2b-256(key = sync key, message = label)`:
//!
//! | label | use |
//! | --- | --- |
//! | [`TOPIC_LABEL`] | the Hyperswarm topic replicas join ([`SyncKey::topic`]) |
//! | [`CAPABILITY_LABEL`] | the key of the capability proof in HELLO |
//! | [`ROTATE_LABEL`] | the key that protects the next sync key in KEY_ROTATE |
//!
//! A new use gets a new label; no two uses share one.
//!
//! # Capability proof
//!
//! After the secure channel's handshake both ends know its handshake hash `h`. Each sends
//! `BLAKE2b-256(key = derive(CAPABILITY_LABEL), message = role || h)` where `role` is `0x00`
//! for the handshake initiator and `0x01` for the responder. The proof binds the sync key to
//! this one channel (a proof recorded on one connection fails on every other) and to the
//! sender's role (a peer without the key cannot echo back the proof it received).
//! [`SyncKey::verify_capability`] compares in constant time.

use crate::error::KeyError;
use blake2::Blake2bMac;
use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use std::fmt;
use zeroize::Zeroize;

/// Derives the Hyperswarm topic.
pub const TOPIC_LABEL: &[u8] = b"plures-replicate/v1/topic";
/// Derives the capability-proof key.
pub const CAPABILITY_LABEL: &[u8] = b"plures-replicate/v1/capability";
/// Derives the key that protects the next sync key during key rotation.
pub const ROTATE_LABEL: &[u8] = b"plures-replicate/v1/key-rotate";

type Mac256 = Blake2bMac<U32>;

fn mac(key: &[u8; 32]) -> Mac256 {
    // Never fails: BLAKE2b takes keys of 1 to 64 bytes.
    <Mac256 as KeyInit>::new_from_slice(key).expect("a 32-byte key is a valid BLAKE2b key")
}

fn keyed_blake2b(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = mac(key);
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Which end of the secure channel's handshake this replica was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// The end that sent the first handshake message.
    Initiator,
    /// The other end.
    Responder,
}

impl Role {
    const fn byte(self) -> u8 {
        match self {
            Self::Initiator => 0,
            Self::Responder => 1,
        }
    }
}

/// The shared secret of one sync group. `Debug` never shows it; it is wiped on drop.
#[derive(Clone)]
pub struct SyncKey([u8; 32]);

impl SyncKey {
    /// A fresh key from an injected cryptographic random source.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 32];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// Wraps raw key bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The raw key bytes (for storing the key; treat as secret).
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 hexadecimal digits (either case).
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).map_err(|_| KeyError::BadHex)?;
        Ok(Self(bytes))
    }

    /// The key as 64 lowercase hexadecimal digits (treat as secret).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `BLAKE2b-256(key = self, message = label)`: the derivation behind every value below.
    pub fn derive(&self, label: &[u8]) -> [u8; 32] {
        keyed_blake2b(&self.0, &[label])
    }

    /// The Hyperswarm topic of this sync group.
    pub fn topic(&self) -> [u8; 32] {
        self.derive(TOPIC_LABEL)
    }

    /// The proof that the sender, acting as `role` on the channel with handshake hash
    /// `handshake_hash`, holds this key.
    pub fn capability_proof(&self, handshake_hash: &[u8], role: Role) -> [u8; 32] {
        let mut key = self.derive(CAPABILITY_LABEL);
        let proof = keyed_blake2b(&key, &[&[role.byte()], handshake_hash]);
        key.zeroize();
        proof
    }

    /// Checks, in constant time, a proof received from the peer that acted as `role`.
    pub fn verify_capability(
        &self,
        handshake_hash: &[u8],
        role: Role,
        proof: &[u8],
    ) -> Result<(), KeyError> {
        let mut key = self.derive(CAPABILITY_LABEL);
        let mut mac = mac(&key);
        key.zeroize();
        mac.update(&[role.byte()]);
        mac.update(handshake_hash);
        mac.verify_slice(proof).map_err(|_| KeyError::BadProof)
    }
}

impl SyncKey {
    /// Seals `next`, the key of rotation `epoch`, under this key's rotation key, for
    /// KEY_ROTATE: `next XOR pad || tag` (64 bytes), where
    /// `pad = BLAKE2b-256(key = derive(ROTATE_LABEL), message = "seal" || epoch_le)` and
    /// `tag = BLAKE2b-256(key = derive(ROTATE_LABEL), message = "tag" || epoch_le || sealed key)`.
    /// The channel already encrypts; the seal keeps the new key from anyone who does not hold
    /// the current one (e.g. a relay of the frames) and binds it to its epoch.
    pub fn seal_next(&self, epoch: u64, next: &Self) -> Vec<u8> {
        let mut rotate = self.derive(ROTATE_LABEL);
        let e = epoch.to_le_bytes();
        let mut pad = keyed_blake2b(&rotate, &[b"seal", &e]);
        for (p, k) in pad.iter_mut().zip(next.0) {
            *p ^= k;
        }
        let tag = keyed_blake2b(&rotate, &[b"tag", &e, &pad]);
        rotate.zeroize();
        let mut out = pad.to_vec();
        out.extend_from_slice(&tag);
        out
    }

    /// Opens what [`SyncKey::seal_next`] sealed for `epoch`, checking its tag in constant time.
    pub fn open_next(&self, epoch: u64, sealed: &[u8]) -> Result<Self, KeyError> {
        let (Some(ct), Some(tag)) = (sealed.get(..32), sealed.get(32..)) else {
            return Err(KeyError::BadProof);
        };
        let mut rotate = self.derive(ROTATE_LABEL);
        let e = epoch.to_le_bytes();
        let mut m = mac(&rotate);
        m.update(b"tag");
        m.update(&e);
        m.update(ct);
        if m.verify_slice(tag).is_err() {
            rotate.zeroize();
            return Err(KeyError::BadProof);
        }
        let mut key = keyed_blake2b(&rotate, &[b"seal", &e]);
        rotate.zeroize();
        for (k, c) in key.iter_mut().zip(ct) {
            *k ^= c;
        }
        Ok(Self(key))
    }
}

impl Drop for SyncKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncKey(<redacted>)")
    }
}

impl std::str::FromStr for SyncKey {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A counter "RNG", good enough to show the key comes from the injected source.
    struct Counting(u8);

    impl rand_core::RngCore for Counting {
        fn next_u32(&mut self) -> u32 {
            u32::from(self.next_byte())
        }
        fn next_u64(&mut self) -> u64 {
            u64::from(self.next_byte())
        }
        fn fill_bytes(&mut self, dst: &mut [u8]) {
            for b in dst {
                *b = self.next_byte();
            }
        }
    }
    impl rand_core::CryptoRng for Counting {}
    impl Counting {
        fn next_byte(&mut self) -> u8 {
            self.0 = self.0.wrapping_add(1);
            self.0
        }
    }

    /// Keyed BLAKE2b-256 through the salt/personalisation constructor, a different path
    /// from the one the crate uses.
    fn independent(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = Blake2bMac::<U32>::new_with_salt_and_personal(key, &[], &[]).unwrap();
        for p in parts {
            mac.update(p);
        }
        mac.finalize().into_bytes().into()
    }

    #[test]
    fn generate_and_hex_round_trip() {
        let key = SyncKey::generate(&mut Counting(0));
        let expected: Vec<u8> = (1..=32).collect();
        assert_eq!(key.as_bytes().as_slice(), expected.as_slice());
        let text = key.to_hex();
        assert_eq!(text.len(), 64);
        assert_eq!(&text[..8], "01020304");
        let back: SyncKey = text.to_uppercase().parse().unwrap();
        assert_eq!(back.as_bytes(), key.as_bytes());
        assert_eq!(
            SyncKey::from_hex(&text[..62]).unwrap_err(),
            KeyError::BadHex
        );
        assert_eq!(
            SyncKey::from_hex(&format!("{text}00")).unwrap_err(),
            KeyError::BadHex
        );
        let bad = format!("zz{}", &text[2..]);
        assert_eq!(SyncKey::from_hex(&bad).unwrap_err(), KeyError::BadHex);
    }

    #[test]
    fn sealed_rotation_opens_only_with_the_key_and_epoch() {
        let old = SyncKey::from_bytes([5; 32]);
        let next = SyncKey::from_bytes([6; 32]);
        let sealed = old.seal_next(3, &next);
        assert_eq!(sealed.len(), 64);
        assert_eq!(
            old.open_next(3, &sealed).unwrap().as_bytes(),
            next.as_bytes()
        );
        assert!(old.open_next(4, &sealed).is_err());
        assert!(next.open_next(3, &sealed).is_err());
        assert!(old.open_next(3, &sealed[..63]).is_err());
        let mut bad = sealed.clone();
        bad[0] ^= 1;
        assert!(old.open_next(3, &bad).is_err());
    }

    #[test]
    fn debug_never_prints_the_key() {
        let key = SyncKey::from_bytes([0xab; 32]);
        let shown = format!("{key:?} {key:#?}");
        assert!(!shown.to_lowercase().contains("abab"));
        assert!(shown.contains("redacted"));
    }

    #[test]
    fn known_answers() {
        let raw = [7u8; 32];
        let key = SyncKey::from_bytes(raw);
        assert_eq!(
            key.topic(),
            independent(&raw, &[b"plures-replicate/v1/topic"])
        );
        let cap = independent(&raw, &[b"plures-replicate/v1/capability"]);
        assert_eq!(key.derive(CAPABILITY_LABEL), cap);
        assert_eq!(
            key.derive(ROTATE_LABEL),
            independent(&raw, &[b"plures-replicate/v1/key-rotate"])
        );
        let h = [0x5a; 64];
        assert_eq!(
            key.capability_proof(&h, Role::Initiator),
            independent(&cap, &[&[0], &h])
        );
        assert_eq!(
            key.capability_proof(&h, Role::Responder),
            independent(&cap, &[&[1], &h])
        );
        // Pinned values, computed with Python's hashlib.blake2b(msg, key=k, digest_size=32).
        assert_eq!(
            hex::encode(SyncKey::from_bytes([0; 32]).topic()),
            "d1eb2426d8d713697822fbbbf4c6af97208172168c6277c8d8272021b9a75d13"
        );
        assert_eq!(
            hex::encode(key.capability_proof(&h, Role::Initiator)),
            "a77b2edfd5b8fc0db8122303b22c5c817080bf6d026d496d729968ebb76d0ed7"
        );
    }

    #[test]
    fn labels_separate_domains() {
        let key = SyncKey::from_bytes([1; 32]);
        let outs = [
            key.derive(TOPIC_LABEL),
            key.derive(CAPABILITY_LABEL),
            key.derive(ROTATE_LABEL),
        ];
        for i in 0..outs.len() {
            for j in i + 1..outs.len() {
                assert_ne!(outs[i], outs[j]);
            }
        }
        assert_ne!(SyncKey::from_bytes([2; 32]).topic(), key.topic());
    }

    #[test]
    fn proofs_bind_channel_role_and_key() {
        let key = SyncKey::from_bytes([3; 32]);
        let h1 = [1u8; 64];
        let h2 = [2u8; 64];
        let proof = key.capability_proof(&h1, Role::Initiator);
        assert_eq!(key.verify_capability(&h1, Role::Initiator, &proof), Ok(()));
        assert_eq!(
            key.verify_capability(&h2, Role::Initiator, &proof),
            Err(KeyError::BadProof)
        );
        assert_eq!(
            key.verify_capability(&h1, Role::Responder, &proof),
            Err(KeyError::BadProof)
        );
        let other = SyncKey::from_bytes([4; 32]);
        assert_eq!(
            other.verify_capability(&h1, Role::Initiator, &proof),
            Err(KeyError::BadProof)
        );
        assert_eq!(
            key.verify_capability(&h1, Role::Initiator, &proof[..31]),
            Err(KeyError::BadProof)
        );
        let mut flipped = proof;
        flipped[31] ^= 1;
        assert_eq!(
            key.verify_capability(&h1, Role::Initiator, &flipped),
            Err(KeyError::BadProof)
        );
    }
}
