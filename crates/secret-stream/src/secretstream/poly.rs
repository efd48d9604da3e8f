//! Poly1305 (RFC 8439 §2.5) on three 44/44/42-bit limbs with `u128` products, four
//! blocks per reduction, for the short messages of [`super`].
//!
//! The `poly1305` crate's AVX2 backend spends about 1.3 µs per message on setup and
//! finalization (vector powers of `r`), which is most of a 1 KiB push. This one needs
//! three scalar multiplications for `r²`, `r³`, `r⁴` and is faster up to about 16 KiB
//! (measured in docs/benchmarks.md); longer messages keep the crate's AVX2 path.
//!
//! Four blocks `m₀…m₃` are absorbed as `h ← (h + m₀)·r⁴ + m₁·r³ + m₂·r² + m₃·r`: the twelve
//! partial products per limb are summed unreduced (each below 2⁹⁴, the sum below 2⁹⁸)
//! and carried once. Limb `i` has weight `2^(44·i)`; `2¹³⁰ ≡ 5 (mod p)`, so a product of
//! weight `2¹³²` folds back with factor 20.

use zeroize::Zeroize;

const M44: u64 = (1 << 44) - 1;
const M42: u64 = (1 << 42) - 1;
/// The `2¹²⁸` bit of a full block, in limb 2.
const HIBIT: u64 = 1 << 40;

/// `[r0, r1, r2, 20·r1, 20·r2]` of one power of `r`.
type Power = [u64; 5];

/// A Poly1305 state. Zeroed on drop.
pub(super) struct Poly1305 {
    /// `r⁴, r³, r², r` (index `i` multiplies block `i` of a group of four).
    powers: [Power; 4],
    h: [u64; 3],
    s: [u64; 2],
}

fn le64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_le_bytes(a)
}

/// The limbs of a 16-byte block plus `hibit` (in limb 2).
fn limbs(b: &[u8], hibit: u64) -> [u64; 3] {
    let t0 = le64(b);
    let t1 = le64(&b[8..]);
    [
        t0 & M44,
        ((t0 >> 44) | (t1 << 20)) & M44,
        ((t1 >> 24) & M42) | hibit,
    ]
}

fn power(r: [u64; 3]) -> Power {
    [r[0], r[1], r[2], r[1] * 20, r[2] * 20]
}

/// `d += m · r` for one power, unreduced.
#[inline(always)]
fn mul_acc(d: &mut [u128; 3], m: [u64; 3], p: &Power) {
    let [r0, r1, r2, s1, s2] = p.map(u128::from);
    let [m0, m1, m2] = m.map(u128::from);
    d[0] += m0 * r0 + m1 * s2 + m2 * s1;
    d[1] += m0 * r1 + m1 * r0 + m2 * s2;
    d[2] += m0 * r2 + m1 * r1 + m2 * r0;
}

/// Carries the unreduced sums into limbs (limb 1 may keep one extra bit).
#[inline(always)]
fn carry(d: [u128; 3]) -> [u64; 3] {
    // Truncations keep the low limb bits; the carries are the shifted-out rest.
    let c = (d[0] >> 44) as u64;
    let mut h0 = d[0] as u64 & M44;
    let d1 = d[1] + u128::from(c);
    let c = (d1 >> 44) as u64;
    let h1 = d1 as u64 & M44;
    let d2 = d[2] + u128::from(c);
    let c = (d2 >> 42) as u64;
    let h2 = d2 as u64 & M42;
    h0 += c * 5;
    let c = h0 >> 44;
    h0 &= M44;
    [h0, h1 + c, h2]
}

/// `a · r mod p` with all limbs carried into range (used for the powers of `r`).
fn mul_mod(a: [u64; 3], r: [u64; 3]) -> [u64; 3] {
    let mut d = [0u128; 3];
    mul_acc(&mut d, a, &power(r));
    let [mut h0, mut h1, mut h2] = carry(d);
    h2 += h1 >> 44;
    h1 &= M44;
    h0 += (h2 >> 42) * 5;
    h2 &= M42;
    [h0, h1, h2]
}

impl Poly1305 {
    /// A state keyed with the one-time key `r ‖ s`.
    pub(super) fn new(key: &[u8; 32]) -> Self {
        let t0 = le64(key);
        let t1 = le64(&key[8..]);
        // Clamped r.
        let r = [
            t0 & 0xffc_0fff_ffff,
            ((t0 >> 44) | (t1 << 20)) & 0xfff_ffc0_ffff,
            (t1 >> 24) & 0x00f_ffff_fc0f,
        ];
        let r2 = mul_mod(r, r);
        let r3 = mul_mod(r2, r);
        let r4 = mul_mod(r3, r);
        Self {
            powers: [power(r4), power(r3), power(r2), power(r)],
            h: [0; 3],
            s: [le64(&key[16..]), le64(&key[24..])],
        }
    }

    /// Absorbs whole 16-byte blocks; `m.len()` must be a multiple of 16 (a partial last
    /// block belongs in [`Self::finish`]).
    pub(super) fn update_blocks(&mut self, m: &[u8]) {
        debug_assert_eq!(m.len() % 16, 0);
        let mut h = self.h;
        let mut groups = m.chunks_exact(64);
        for g in &mut groups {
            let mut d = [0u128; 3];
            for (i, (b, p)) in g.chunks_exact(16).zip(&self.powers).enumerate() {
                let mut x = limbs(b, HIBIT);
                if i == 0 {
                    x = [x[0] + h[0], x[1] + h[1], x[2] + h[2]];
                }
                mul_acc(&mut d, x, p);
            }
            h = carry(d);
        }
        for b in groups.remainder().chunks_exact(16) {
            let x = limbs(b, HIBIT);
            let mut d = [0u128; 3];
            mul_acc(
                &mut d,
                [x[0] + h[0], x[1] + h[1], x[2] + h[2]],
                &self.powers[3],
            );
            h = carry(d);
        }
        self.h = h;
    }

    /// Absorbs the final partial block `last` (0 to 15 bytes, RFC 8439 padding: a 1 byte,
    /// zeros, no `2¹²⁸` bit) and returns the tag.
    pub(super) fn finish(mut self, last: &[u8]) -> [u8; 16] {
        debug_assert!(last.len() < 16);
        let mut h = self.h;
        if !last.is_empty() {
            let mut b = [0u8; 16];
            b[..last.len()].copy_from_slice(last);
            b[last.len()] = 1;
            let x = limbs(&b, 0);
            let mut d = [0u128; 3];
            mul_acc(
                &mut d,
                [x[0] + h[0], x[1] + h[1], x[2] + h[2]],
                &self.powers[3],
            );
            h = carry(d);
            b.zeroize();
        }
        let [mut h0, mut h1, mut h2] = h;
        // Fully carry (twice around the top limb), then subtract p if h ≥ p.
        for _ in 0..2 {
            h2 += h1 >> 44;
            h1 &= M44;
            h0 += (h2 >> 42) * 5;
            h2 &= M42;
            h1 += h0 >> 44;
            h0 &= M44;
        }
        let g0 = h0 + 5;
        let g1 = h1 + (g0 >> 44);
        let g2 = (h2 + (g1 >> 44)).wrapping_sub(1 << 42);
        // All ones if g2 did not borrow (h ≥ p), else zero.
        let take_g = (g2 >> 63).wrapping_sub(1);
        let h0 = (h0 & !take_g) | (g0 & M44 & take_g);
        let h1 = (h1 & !take_g) | (g1 & M44 & take_g);
        let h2 = (h2 & !take_g) | (g2 & M42 & take_g);
        let lo = h0 | (h1 << 44);
        let hi = (h1 >> 20) | (h2 << 24);
        let (t0, c) = lo.overflowing_add(self.s[0]);
        let t1 = hi.wrapping_add(self.s[1]).wrapping_add(u64::from(c));
        let mut out = [0u8; 16];
        out[..8].copy_from_slice(&t0.to_le_bytes());
        out[8..].copy_from_slice(&t1.to_le_bytes());
        self.h = [h0, h1, h2];
        out
    }
}

impl Drop for Poly1305 {
    fn drop(&mut self) {
        for p in &mut self.powers {
            p.zeroize();
        }
        self.h.zeroize();
        self.s.zeroize();
    }
}

#[cfg(test)]
mod tests {
    use super::Poly1305;
    use poly1305::universal_hash::KeyInit;

    /// The `poly1305` crate's tag of `m` (RFC 8439 padding of a partial last block).
    fn reference(key: &[u8; 32], m: &[u8]) -> [u8; 16] {
        poly1305::Poly1305::new(key.into())
            .compute_unpadded(m)
            .into()
    }

    fn ours(key: &[u8; 32], m: &[u8]) -> [u8; 16] {
        let full = m.len() - m.len() % 16;
        let mut p = Poly1305::new(key);
        p.update_blocks(&m[..full]);
        p.finish(&m[full..])
    }

    #[test]
    fn rfc8439_vector() {
        // RFC 8439 §2.5.2.
        let key: [u8; 32] = [
            0x85, 0xd6, 0xbe, 0x78, 0x57, 0x55, 0x6d, 0x33, 0x7f, 0x44, 0x52, 0xfe, 0x42, 0xd5,
            0x06, 0xa8, 0x01, 0x03, 0x80, 0x8a, 0xfb, 0x0d, 0xb2, 0xfd, 0x4a, 0xbf, 0xf6, 0xaf,
            0x41, 0x49, 0xf5, 0x1b,
        ];
        let tag = [
            0xa8, 0x06, 0x1d, 0xc1, 0x30, 0x51, 0x36, 0xc6, 0xc2, 0x2b, 0x8b, 0xaf, 0x0c, 0x01,
            0x27, 0xa9,
        ];
        assert_eq!(ours(&key, b"Cryptographic Forum Research Group"), tag);
    }

    #[test]
    fn matches_the_poly1305_crate() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        // Random, all-ones (largest limbs, h near p) and all-zero keys and messages.
        for len in (0..300).chain([1023, 1024, 1025, 4096 + 17]) {
            for kind in 0..3 {
                let fill = |next: &mut dyn FnMut() -> u64, n: usize| -> Vec<u8> {
                    (0..n)
                        .map(|_| match kind {
                            0 => next() as u8,
                            1 => 0xff,
                            _ => 0,
                        })
                        .collect()
                };
                let mut key = [0u8; 32];
                key.copy_from_slice(&fill(&mut next, 32));
                let m = fill(&mut next, len);
                assert_eq!(ours(&key, &m), reference(&key, &m), "len {len} kind {kind}");
            }
        }
    }
}
