//! The hash constructions of the stack: BLAKE2b-512, HMAC-BLAKE2b and the Noise HKDF of
//! `noise-handshake` (spec `noise.md` §3), keyed BLAKE2b-256 (libsodium
//! `crypto_generichash`), `hypercore-crypto` namespaces and the secret-stream stream id
//! (spec `secret-stream.md` §4).

use blake2::digest::consts::U32;
use blake2::digest::{Digest, Mac};
use blake2::{Blake2b, Blake2b512, Blake2bMac};
use zeroize::Zeroize;

/// BLAKE2b-512 output length, the Noise `HASHLEN`.
pub const HASH_LEN: usize = 64;
const BLOCK_LEN: usize = 128;

/// `NS_INITIATOR` = `namespace("hyperswarm/secret-stream", 0)`.
pub const NS_INITIATOR: [u8; 32] = [
    0xa9, 0x31, 0xa0, 0x15, 0x5b, 0x5c, 0x09, 0xe6, 0xd2, 0x86, 0x28, 0x23, 0x6a, 0xf8, 0x3c, 0x4b,
    0x8a, 0x6a, 0xf9, 0xaf, 0x60, 0x98, 0x6e, 0xde, 0xed, 0xe9, 0xdc, 0x5d, 0x63, 0x19, 0x2b, 0xf7,
];
/// `NS_RESPONDER` = `namespace("hyperswarm/secret-stream", 1)`.
pub const NS_RESPONDER: [u8; 32] = [
    0x74, 0x2c, 0x9d, 0x83, 0x3d, 0x43, 0x0a, 0xf4, 0xc4, 0x8a, 0x87, 0x05, 0xe9, 0x16, 0x31, 0xee,
    0xcf, 0x29, 0x54, 0x42, 0xbb, 0xca, 0x18, 0x99, 0x6e, 0x59, 0x70, 0x97, 0x72, 0x3b, 0x10, 0x61,
];

/// `NS_SEND` = `namespace("hyperswarm/secret-stream", 2)`.
pub const NS_SEND: [u8; 32] = [
    0xaa, 0xb9, 0x7d, 0x09, 0x74, 0x71, 0xf5, 0x66, 0x51, 0xb0, 0x46, 0x0f, 0xfc, 0x8a, 0xaa, 0x7d,
    0x33, 0x42, 0xf7, 0x37, 0x75, 0x97, 0xd6, 0x0b, 0x92, 0x5a, 0x1d, 0xac, 0x68, 0x9a, 0xdc, 0xbf,
];

/// BLAKE2b-512 of the concatenation of `parts`.
pub fn blake2b_512(parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut h = Blake2b512::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Unkeyed BLAKE2b-256 of the concatenation of `parts`.
pub fn blake2b_256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Blake2b::<U32>::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// Keyed BLAKE2b-256 (libsodium `crypto_generichash(out32, msg, key)`) with a 64-byte key.
pub fn blake2b_256_keyed(key: &[u8; 64], msg: &[u8]) -> [u8; 32] {
    // BLAKE2b accepts keys of up to 64 bytes, so this never fails.
    #[allow(clippy::expect_used)]
    let mut mac = Blake2bMac::<U32>::new_from_slice(key).expect("64-byte BLAKE2b key");
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// `hypercore-crypto` `namespace(name, ids)[i]`:
/// `BLAKE2b-256(BLAKE2b-256(name) ‖ byte(id))`.
pub fn namespace(name: &str, id: u8) -> [u8; 32] {
    blake2b_256(&[&blake2b_256(&[name.as_bytes()]), &[id]])
}

/// The secret-stream stream id `id(hash, isInitiator)`: keyed BLAKE2b-256 of
/// `NS_INITIATOR` or `NS_RESPONDER` under the handshake hash. hyperdht's `remoteId` is
/// `stream_id(hash, !is_initiator)`.
pub fn stream_id(handshake_hash: &[u8; HASH_LEN], is_initiator: bool) -> [u8; 32] {
    let ns = if is_initiator {
        &NS_INITIATOR
    } else {
        &NS_RESPONDER
    };
    blake2b_256_keyed(handshake_hash, ns)
}

/// The key the `is_initiator` side encrypts unordered messages with (and the other side
/// decrypts them with): keyed BLAKE2b-256 of `NS_INITIATOR ‖ NS_SEND` or
/// `NS_RESPONDER ‖ NS_SEND` under the handshake hash (spec `secret-stream.md` §6).
pub fn send_key(handshake_hash: &[u8; HASH_LEN], is_initiator: bool) -> [u8; 32] {
    let ns = if is_initiator {
        &NS_INITIATOR
    } else {
        &NS_RESPONDER
    };
    let mut msg = [0u8; 64];
    msg[..32].copy_from_slice(ns);
    msg[32..].copy_from_slice(&NS_SEND);
    blake2b_256_keyed(handshake_hash, &msg)
}

/// HMAC-BLAKE2b (block 128 bytes, ipad 0x36, opad 0x5c) of the concatenation of `parts`.
pub fn hmac_blake2b(key: &[u8], parts: &[&[u8]]) -> [u8; HASH_LEN] {
    let mut block = [0u8; BLOCK_LEN];
    if key.len() > BLOCK_LEN {
        block[..HASH_LEN].copy_from_slice(&blake2b_512(&[key]));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; BLOCK_LEN];
    for (p, k) in pad.iter_mut().zip(&block) {
        *p = k ^ 0x36;
    }
    let mut inner = Blake2b512::new();
    inner.update(pad);
    for p in parts {
        inner.update(p);
    }
    let mut inner: [u8; HASH_LEN] = inner.finalize().into();
    for (p, k) in pad.iter_mut().zip(&block) {
        *p = k ^ 0x5c;
    }
    let out = blake2b_512(&[&pad, &inner]);
    block.zeroize();
    pad.zeroize();
    inner.zeroize();
    out
}

/// The Noise HKDF of `noise-handshake` (empty info) with two outputs:
/// `prk = HMAC(salt, ikm)`, `T1 = HMAC(prk, 0x01)`, `T2 = HMAC(prk, T1 ‖ 0x02)`.
pub fn hkdf_blake2b(salt: &[u8], ikm: &[u8]) -> ([u8; HASH_LEN], [u8; HASH_LEN]) {
    let mut prk = hmac_blake2b(salt, &[ikm]);
    let t1 = hmac_blake2b(&prk, &[&[1]]);
    let t2 = hmac_blake2b(&prk, &[&t1, &[2]]);
    prk.zeroize();
    (t1, t2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, o) in out.iter_mut().enumerate() {
            *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
        }
        out
    }

    #[test]
    fn namespaces_match_the_spec() {
        assert_eq!(namespace("hyperswarm/secret-stream", 0), NS_INITIATOR);
        assert_eq!(namespace("hyperswarm/secret-stream", 1), NS_RESPONDER);
        assert_eq!(namespace("hyperswarm/secret-stream", 2), NS_SEND);
        assert_eq!(
            namespace("hyperswarm/dht", 0),
            hex32("14d6d4b49214ab1033ed204976caa258bae9e1e8543b9ad1fd996a910b0c4e3a")
        );
        assert_eq!(
            blake2b_256(&[b"hyperswarm/dht"]),
            hex32("d70d90f7efc42f93e1ad5837e682a6010cf551013c2d2d043f40d8fbe07dcb90")
        );
    }

    #[test]
    fn hmac_hashes_long_keys() {
        let key = [7u8; 200];
        let short = blake2b_512(&[&key]);
        assert_eq!(hmac_blake2b(&key, &[b"x"]), hmac_blake2b(&short, &[b"x"]));
    }
}
