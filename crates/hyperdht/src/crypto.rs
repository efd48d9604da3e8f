//! Hashes, signatures and the secure payload of hyperdht (spec §2.3, §3, §5, §12.3).
//!
//! * [`hash`]: unkeyed BLAKE2b-256, `DHT.hash`. Server and mutable targets are
//!   [`target`] (the hash of a public key), immutable targets [`immutable_target`].
//! * Namespaces `NS_*` = `namespace("hyperswarm/dht", command)`.
//! * Announce / unannounce / mutable signatures: Ed25519 (deterministic, so equal to
//!   libsodium's byte for byte) over the 64-byte `NS ‖ BLAKE2b-256(…)` signables.
//! * [`SecurePayload`]: `nonce ‖ crypto_secretbox_easy(holepunchPayload)` under the
//!   holepunch secret, with the nonce supplied by the caller, and [`holepunch_token`].

use std::net::Ipv4Addr;

use blake2::Blake2b;
use blake2::digest::consts::U32;
use blake2::digest::{Digest, Mac};
use crypto_secretbox::aead::{Aead, KeyInit};
use crypto_secretbox::{Key, Nonce, XSalsa20Poly1305};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use plures_compact::{Decode, Encode, EncodeError, Sink};
use plures_secret_stream::KeyPair;
use plures_secret_stream::crypto::blake2b_256_keyed;

use crate::error::Error;
use crate::wire::{HolepunchPayload, MutableSignable, Peer};

/// `namespace("hyperswarm/dht", 0)`: PEER_HANDSHAKE (the Noise prologue).
pub const NS_PEER_HANDSHAKE: [u8; 32] = [
    0x14, 0xd6, 0xd4, 0xb4, 0x92, 0x14, 0xab, 0x10, 0x33, 0xed, 0x20, 0x49, 0x76, 0xca, 0xa2, 0x58,
    0xba, 0xe9, 0xe1, 0xe8, 0x54, 0x3b, 0x9a, 0xd1, 0xfd, 0x99, 0x6a, 0x91, 0x0b, 0x0c, 0x4e, 0x3a,
];
/// `namespace("hyperswarm/dht", 1)`: PEER_HOLEPUNCH (the holepunch secret).
pub const NS_PEER_HOLEPUNCH: [u8; 32] = [
    0xf1, 0x19, 0x1c, 0xd5, 0xe6, 0x7b, 0x10, 0xb5, 0x4a, 0x50, 0x70, 0x33, 0x28, 0x0e, 0xd1, 0xff,
    0x0e, 0x12, 0x27, 0x82, 0x68, 0xd5, 0x67, 0x9c, 0x8f, 0x93, 0xd4, 0x17, 0x21, 0x0d, 0x16, 0x8b,
];
/// `namespace("hyperswarm/dht", 4)`: ANNOUNCE signatures.
pub const NS_ANNOUNCE: [u8; 32] = [
    0x36, 0x38, 0x6a, 0xdd, 0xdf, 0x9f, 0x6f, 0xd6, 0x0d, 0xb8, 0x3a, 0x6f, 0x42, 0xfc, 0x15, 0x9d,
    0x11, 0x46, 0xaa, 0x86, 0x44, 0x03, 0x76, 0x64, 0x23, 0x0a, 0xaa, 0x1f, 0x01, 0x79, 0xd4, 0x97,
];
/// `namespace("hyperswarm/dht", 5)`: UNANNOUNCE signatures.
pub const NS_UNANNOUNCE: [u8; 32] = [
    0xde, 0xd2, 0x93, 0xcd, 0x93, 0xfb, 0x39, 0x5e, 0x75, 0x6e, 0xcf, 0x5f, 0xff, 0x42, 0x65, 0x29,
    0xe7, 0x2c, 0x36, 0xea, 0xcc, 0x22, 0xe5, 0xed, 0x94, 0x4d, 0x90, 0x99, 0xa2, 0x56, 0x1e, 0x32,
];
/// `namespace("hyperswarm/dht", 6)`: MUTABLE_PUT signatures.
pub const NS_MUTABLE_PUT: [u8; 32] = [
    0x66, 0x8e, 0x82, 0x3e, 0xdd, 0x5c, 0xe7, 0xf5, 0x33, 0x8d, 0x68, 0xbf, 0x11, 0x61, 0xf4, 0xa3,
    0xc2, 0x8c, 0xe4, 0x37, 0xee, 0x2a, 0xb4, 0x9e, 0xfd, 0x30, 0xd9, 0x93, 0x66, 0x03, 0x9b, 0x1e,
];
/// `namespace("hyperswarm/dht", 10)`: PLUGIN (defined, unused by hyperdht itself).
pub const NS_PLUGIN: [u8; 32] = [
    0x6b, 0x8a, 0x2a, 0x86, 0x23, 0xf2, 0x8c, 0x6c, 0x02, 0xa1, 0xe2, 0x2a, 0xbe, 0x51, 0x5c, 0xe3,
    0x1c, 0xaf, 0xd9, 0xaf, 0x61, 0xd4, 0xb6, 0x99, 0x70, 0x63, 0x9a, 0xa7, 0xeb, 0x96, 0xa8, 0xd5,
];

/// Length of the secure payload's nonce.
pub const NONCE_LEN: usize = 24;
/// Bytes a secure payload adds to its plaintext: nonce and Poly1305 tag.
pub const SECURE_PAYLOAD_OVERHEAD: usize = NONCE_LEN + 16;

/// `DHT.hash(data)`: unkeyed BLAKE2b-256.
pub fn hash(data: &[u8]) -> [u8; 32] {
    Blake2b::<U32>::digest(data).into()
}

/// The DHT target of a public key: where a server announces itself, FIND_PEER looks, and
/// mutable values of that key are stored.
pub fn target(public_key: &[u8; 32]) -> [u8; 32] {
    hash(public_key)
}

/// The target of an immutable value: its hash.
pub fn immutable_target(value: &[u8]) -> [u8; 32] {
    hash(value)
}

/// A [`Sink`] that feeds BLAKE2b-256, so a message is hashed without being buffered.
struct HashSink(Blake2b<U32>);

impl Sink for HashSink {
    fn put(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    // Only a relay list longer than any peer decodes can fail; the signature over such a
    // record is as useless as the record, so the failure needs no report here.
    fn fail(&mut self, _error: EncodeError) {}
}

fn signable(ns: &[u8; 32], digest: [u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(ns);
    out[32..].copy_from_slice(&digest);
    out
}

fn announce_like(
    ns: &[u8; 32],
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> [u8; 64] {
    let mut h = HashSink(Blake2b::<U32>::new());
    h.put(target);
    h.put(node_id);
    h.put(token);
    peer.encode(&mut h);
    if let Some(r) = refresh {
        h.put(r);
    }
    signable(ns, h.0.finalize().into())
}

/// The message an ANNOUNCE signature covers: `NS_ANNOUNCE ‖ BLAKE2b-256(target ‖ nodeId ‖
/// token ‖ encode(peer) ‖ refresh?)`, where `node_id` and `token` are those of the storage
/// node the request goes to.
pub fn announce_signable(
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> [u8; 64] {
    announce_like(&NS_ANNOUNCE, target, node_id, token, peer, refresh)
}

/// The message an UNANNOUNCE signature covers: as [`announce_signable`] with
/// `NS_UNANNOUNCE`.
pub fn unannounce_signable(
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> [u8; 64] {
    announce_like(&NS_UNANNOUNCE, target, node_id, token, peer, refresh)
}

/// The message a mutable signature covers: `NS_MUTABLE_PUT ‖
/// BLAKE2b-256(mutableSignable{seq, value})`.
pub fn mutable_signable(seq: u64, value: &[u8]) -> [u8; 64] {
    let mut h = HashSink(Blake2b::<U32>::new());
    MutableSignable {
        seq,
        value: value.to_vec(),
    }
    .encode(&mut h);
    signable(&NS_MUTABLE_PUT, h.0.finalize().into())
}

/// Ed25519 detached signature of `message` (libsodium `crypto_sign_detached`).
pub fn sign(key_pair: &KeyPair, message: &[u8]) -> [u8; 64] {
    SigningKey::from_bytes(key_pair.seed())
        .sign(message)
        .to_bytes()
}

/// Whether `signature` is a valid Ed25519 signature of `message` by `public_key`.
/// Small-order keys and non-canonical encodings are rejected, as libsodium rejects them.
pub fn verify(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    VerifyingKey::from_bytes(public_key).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    })
}

/// The ANNOUNCE signature for the storage node `node_id` that handed out `token`.
pub fn sign_announce(
    key_pair: &KeyPair,
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> [u8; 64] {
    sign(
        key_pair,
        &announce_signable(target, node_id, token, peer, refresh),
    )
}

/// The UNANNOUNCE signature for the storage node `node_id` that handed out `token`.
pub fn sign_unannounce(
    key_pair: &KeyPair,
    target: &[u8; 32],
    node_id: &[u8; 32],
    token: &[u8],
    peer: &Peer,
    refresh: Option<&[u8; 32]>,
) -> [u8; 64] {
    sign(
        key_pair,
        &unannounce_signable(target, node_id, token, peer, refresh),
    )
}

/// The signature of a mutable value.
pub fn sign_mutable(key_pair: &KeyPair, seq: u64, value: &[u8]) -> [u8; 64] {
    sign(key_pair, &mutable_signable(seq, value))
}

/// Whether `signature` signs `{seq, value}` for `public_key`.
pub fn verify_mutable(public_key: &[u8; 32], seq: u64, value: &[u8], signature: &[u8; 64]) -> bool {
    verify(public_key, &mutable_signable(seq, value), signature)
}

/// The key of the secure payload: keyed BLAKE2b-256 of `NS_PEER_HOLEPUNCH` under the
/// 64-byte Noise handshake hash, the same on both sides.
pub fn holepunch_secret(handshake_hash: &[u8; 64]) -> [u8; 32] {
    blake2b_256_keyed(handshake_hash, &NS_PEER_HOLEPUNCH)
}

/// Keyed BLAKE2b-256 with a 32-byte key (libsodium `crypto_generichash(out32, msg, key)`).
pub fn keyed_hash(key: &[u8; 32], message: &[u8]) -> [u8; 32] {
    // BLAKE2b takes keys of 1 to 64 bytes, so a 32-byte key is always accepted.
    #[allow(clippy::expect_used)]
    let mut mac =
        <blake2::Blake2bMac<U32> as Mac>::new_from_slice(key).expect("32-byte BLAKE2b key");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// `hypercore-crypto` `discoveryKey(key)`: keyed BLAKE2b-256 of `"hypercore"` under the
/// key, the topic under which a hypercore is announced.
pub fn discovery_key(key: &[u8; 32]) -> [u8; 32] {
    keyed_hash(key, b"hypercore")
}

/// `token(addr)` of the holepunch rounds: keyed BLAKE2b-256 of the ASCII dotted host
/// under the side's 32-byte local secret. The port is not included.
pub fn holepunch_token(local_secret: &[u8; 32], host: Ipv4Addr) -> [u8; 32] {
    keyed_hash(local_secret, host.to_string().as_bytes())
}

/// `SecurePayload`: seals and opens [`HolepunchPayload`]s as `nonce(24) ‖ tag(16) ‖
/// XSalsa20 ciphertext` (libsodium `crypto_secretbox_easy`).
#[derive(Clone)]
pub struct SecurePayload {
    cipher: XSalsa20Poly1305,
}

impl core::fmt::Debug for SecurePayload {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecurePayload { .. }")
    }
}

impl SecurePayload {
    /// A sealer/opener under `holepunch_secret` ([`holepunch_secret`]).
    pub fn new(holepunch_secret: &[u8; 32]) -> Self {
        Self {
            cipher: XSalsa20Poly1305::new(Key::from_slice(holepunch_secret)),
        }
    }

    /// Seals `payload` with the caller's random `nonce`.
    pub fn encrypt(
        &self,
        payload: &HolepunchPayload,
        nonce: &[u8; NONCE_LEN],
    ) -> Result<Vec<u8>, Error> {
        let plain = payload.to_bytes()?;
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(nonce), plain.as_slice())
            .map_err(|_| Error::PayloadTooLarge(plain.len()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + sealed.len());
        out.extend_from_slice(nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Opens and decodes a secure payload. It must be longer than
    /// [`SECURE_PAYLOAD_OVERHEAD`] bytes, authenticate, and hold a `holepunchPayload`.
    pub fn decrypt(&self, data: &[u8]) -> Result<HolepunchPayload, Error> {
        if data.len() <= SECURE_PAYLOAD_OVERHEAD {
            return Err(Error::PayloadTooShort(data.len()));
        }
        let (nonce, sealed) = data.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), sealed)
            .map_err(|_| Error::PayloadForged)?;
        Ok(HolepunchPayload::from_bytes(&plain)?)
    }
}
