//! Ed25519 key pairs in libsodium form and the Ed25519 Diffie-Hellman of `noise-curve-ed`
//! (spec `noise.md` §2).

use core::fmt;

use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use sha2::{Digest, Sha512};
use zeroize::{Zeroize, Zeroizing};

use crate::error::Error;

/// Length of a public key and of a DH output.
pub const PUBLIC_KEY_LEN: usize = 32;
/// Length of a libsodium secret key (`seed ‖ publicKey`).
pub const SECRET_KEY_LEN: usize = 64;
/// Length of a seed.
pub const SEED_LEN: usize = 32;

/// An Ed25519 key pair as libsodium's `crypto_sign_seed_keypair` makes it.
///
/// Used for static and ephemeral Noise keys alike. The seed and the derived scalar are
/// zeroed on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct KeyPair {
    seed: [u8; SEED_LEN],
    /// `clamp(SHA-512(seed)[0..32])`, the Ed25519 signing scalar.
    scalar: [u8; 32],
    public: [u8; PUBLIC_KEY_LEN],
}

impl KeyPair {
    /// The key pair of `seed` (`crypto_sign_seed_keypair`, hyperdht `keyPair(seed)`).
    pub fn from_seed(seed: [u8; SEED_LEN]) -> Self {
        let digest = Zeroizing::new(<[u8; 64]>::from(Sha512::digest(seed)));
        let mut scalar = [0u8; 32];
        scalar.copy_from_slice(&digest[..32]);
        scalar[0] &= 248;
        scalar[31] &= 127;
        scalar[31] |= 64;
        let public = EdwardsPoint::mul_base_clamped(scalar).compress().to_bytes();
        Self {
            seed,
            scalar,
            public,
        }
    }

    /// A fresh key pair from 32 bytes of the caller's cryptographic RNG (libsodium
    /// `crypto_sign_keypair`).
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = Zeroizing::new([0u8; SEED_LEN]);
        rng.fill_bytes(&mut seed[..]);
        Self::from_seed(*seed)
    }

    /// The key pair of a 64-byte libsodium secret key `seed ‖ publicKey`.
    ///
    /// Only the seed determines the keys (as in `noise-curve-ed`); a public half that
    /// does not match it is rejected with [`Error::KeyMismatch`].
    pub fn from_secret_key(secret_key: &[u8; SECRET_KEY_LEN]) -> Result<Self, Error> {
        let mut seed = [0u8; SEED_LEN];
        seed.copy_from_slice(&secret_key[..SEED_LEN]);
        let kp = Self::from_seed(seed);
        seed.zeroize();
        if kp.public[..] == secret_key[SEED_LEN..] {
            Ok(kp)
        } else {
            Err(Error::KeyMismatch)
        }
    }

    /// The 32-byte compressed Edwards public key.
    pub fn public_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.public
    }

    /// The seed the key pair was made from.
    pub fn seed(&self) -> &[u8; SEED_LEN] {
        &self.seed
    }

    /// The libsodium 64-byte secret key `seed ‖ publicKey`.
    pub fn secret_key(&self) -> Zeroizing<[u8; SECRET_KEY_LEN]> {
        let mut out = Zeroizing::new([0u8; SECRET_KEY_LEN]);
        out[..SEED_LEN].copy_from_slice(&self.seed);
        out[SEED_LEN..].copy_from_slice(&self.public);
        out
    }

    /// The Ed25519 DH of `noise-curve-ed`: `[clamped scalar] · remote`, compressed.
    ///
    /// Fails with [`Error::InvalidPoint`] exactly where libsodium's
    /// `crypto_scalarmult_ed25519_noclamp` does: a non-canonical encoding, a non-point, a
    /// small-order point, a point outside the prime-order subgroup, or an identity result.
    pub fn dh(&self, remote: &[u8; PUBLIC_KEY_LEN]) -> Result<[u8; 32], Error> {
        if !is_canonical(remote) {
            return Err(Error::InvalidPoint);
        }
        let point = CompressedEdwardsY(*remote)
            .decompress()
            .ok_or(Error::InvalidPoint)?;
        if point.is_small_order() || !point.is_torsion_free() {
            return Err(Error::InvalidPoint);
        }
        // The point is torsion-free, so reducing the scalar mod ℓ leaves the product alone.
        let mut scalar = Scalar::from_bytes_mod_order(self.scalar);
        let shared = point * scalar;
        scalar.zeroize();
        if shared.is_identity() {
            return Err(Error::InvalidPoint);
        }
        Ok(shared.compress().to_bytes())
    }
}

/// Whether the y-coordinate of an encoded point (sign bit ignored) is below
/// p = 2^255 - 19, as libsodium's `ge25519_is_canonical` requires.
fn is_canonical(encoded: &[u8; 32]) -> bool {
    // y >= p only if y = 2^255 - 19 + t for t in 0..19: bytes ff..ff 7f with byte 0 >= 0xed.
    let top = encoded[31] & 0x7f == 0x7f;
    let middle = encoded[1..31].iter().all(|&b| b == 0xff);
    !(top && middle && encoded[0] >= 0xed)
}

impl Drop for KeyPair {
    fn drop(&mut self) {
        self.seed.zeroize();
        self.scalar.zeroize();
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("public", &hex_lower(&self.public))
            .finish_non_exhaustive()
    }
}

fn hex_lower(bytes: &[u8]) -> String {
    use fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
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
    fn spec_section_7_keys_scalar_and_dh() {
        let pks = [
            "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c",
            "8139770ea87d175f56a35466c34c7ecccb8d8a91b4ee37a25df60f5b8fc9b394",
            "ed4928c628d1c2c6eae90338905995612959273a5c63f93636c14614ac8737d1",
            "ca93ac1705187071d67b83c7ff0efe8108e8ec4530575d7726879333dbdabe7c",
        ];
        for (i, pk) in pks.iter().enumerate() {
            let kp = KeyPair::from_seed([i as u8 + 1; 32]);
            assert_eq!(*kp.public_key(), hex32(pk));
            let ed = ed25519_dalek::SigningKey::from_bytes(&[i as u8 + 1; 32]);
            assert_eq!(ed.verifying_key().to_bytes(), *kp.public_key());
        }
        let a = KeyPair::from_seed([1; 32]);
        let b = KeyPair::from_seed([2; 32]);
        assert_eq!(
            a.scalar,
            hex32("58e86efb75fa4e2c410f46e16de9f6acae1a1703528651b69bc176c088bef36e")
        );
        let want = hex32("5612509e82825296cbaaae306ffe1088cbbe200de8ba23dad06f67e607f861df");
        assert_eq!(a.dh(b.public_key()), Ok(want));
        assert_eq!(b.dh(a.public_key()), Ok(want));
    }

    #[test]
    fn spec_section_7_dh_rejections() {
        let kp = KeyPair::from_seed([1; 32]);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut order2 = [0xffu8; 32];
        order2[0] = 0xec;
        order2[31] = 0x7f;
        let mut y_is_p = order2;
        y_is_p[0] = 0xed;
        let mut y2 = [0u8; 32];
        y2[0] = 2;
        let torsion = hex32("6cc688f15782e8a0a95cab993cb381333472756e4b11c85da209f0a470364c6b");
        for bad in [[0u8; 32], identity, order2, y_is_p, y2, torsion] {
            assert_eq!(kp.dh(&bad), Err(Error::InvalidPoint), "{bad:02x?}");
        }
    }

    #[test]
    fn secret_key_round_trip_and_mismatch() {
        let kp = KeyPair::from_seed([9; 32]);
        let sk = kp.secret_key();
        let again = KeyPair::from_secret_key(&sk).unwrap();
        assert_eq!(again.public_key(), kp.public_key());
        let mut bad = *sk;
        bad[40] ^= 1;
        assert_eq!(
            KeyPair::from_secret_key(&bad).err(),
            Some(Error::KeyMismatch)
        );
    }
}
