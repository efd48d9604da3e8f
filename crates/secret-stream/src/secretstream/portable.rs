//! The pure-Rust secretstream: HChaCha20, ChaCha20 (IETF) and Poly1305 from the RustCrypto
//! `chacha20` and `poly1305` crates, plus a scalar Poly1305 (`secretstream/poly.rs`) for
//! short messages. Always built; [`super::Push`] and [`super::Pull`] use it unless the
//! `libsodium` feature is on (and then it is the reference the libsodium backend is tested
//! against).

use chacha20::cipher::consts::U10;
use chacha20::cipher::{KeyIvInit, StreamCipher};
use chacha20::{ChaCha20, hchacha};
use poly1305::Poly1305;
use poly1305::universal_hash::{KeyInit, UniversalHash};
use zeroize::Zeroize;

use super::{ABYTES, HEADER_LEN, KEY_LEN, SecretStreamError, Tag, poly};

const MAC_LEN: usize = 16;
const INONCE_LEN: usize = 8;
const COUNTER_LEN: usize = 4;

/// Ciphertexts shorter than this are authenticated with the scalar [`poly::Poly1305`]
/// (no per-message vector setup); from here on the `poly1305` crate's AVX2 backend is
/// faster (both about 5.8 µs at 16 KiB on the benchmark machine, docs/benchmarks.md).
const SHORT_MAC: usize = 16 * 1024;

/// A message's one-time Poly1305 key `r ‖ s`. Zeroed on drop.
struct MacKey([u8; 32]);

impl Drop for MacKey {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// The shared key/nonce state of both directions. Zeroed on drop.
#[derive(Clone)]
struct State {
    k: [u8; KEY_LEN],
    /// `counter (4, LE) ‖ inonce (8)`.
    nonce: [u8; 12],
}

impl State {
    /// `init_push`/`init_pull`: `k = HChaCha20(key, header[..16])`, counter 1,
    /// `inonce = header[16..]`.
    fn new(key: &[u8; KEY_LEN], header: &[u8; HEADER_LEN]) -> Self {
        let mut k = [0u8; KEY_LEN];
        let sub = hchacha::<U10>(key.into(), header[..16].into());
        k.copy_from_slice(&sub);
        let mut nonce = [0u8; 12];
        nonce[..COUNTER_LEN].copy_from_slice(&1u32.to_le_bytes());
        nonce[COUNTER_LEN..].copy_from_slice(&header[16..]);
        Self { k, nonce }
    }

    fn cipher(&self) -> ChaCha20 {
        ChaCha20::new((&self.k).into(), (&self.nonce).into())
    }

    /// Starts one message with a single ChaCha20 instance: keystream block 0 gives the
    /// Poly1305 key, block 1 is XORed into `block` (the tag block), and the returned cipher
    /// stands at block 2, where the message body begins.
    fn begin(&self, block: &mut [u8; 64]) -> (ChaCha20, MacKey) {
        let mut cipher = self.cipher();
        let mut block0 = [0u8; 64];
        cipher.apply_keystream(&mut block0);
        cipher.apply_keystream(block);
        let mut key = MacKey([0u8; 32]);
        key.0.copy_from_slice(&block0[..32]);
        block0.zeroize();
        (cipher, key)
    }

    /// The MAC over `block ‖ c ‖ pad(len mod 16) ‖ u64(0) ‖ u64(64 + len)`. The block and
    /// the 16-byte-aligned part of `c` go to Poly1305 as whole slices; the unaligned rest,
    /// the odd padding and the lengths (at most 46 bytes) are finished together. Short
    /// messages use the scalar [`poly::Poly1305`], long ones the `poly1305` crate (AVX2
    /// when the CPU has it), see [`SHORT_MAC`].
    fn mac(key: &MacKey, block: &[u8; 64], c: &[u8]) -> [u8; MAC_LEN] {
        let aligned = c.len() - c.len() % 16;
        let rest = c.len() - aligned;
        let mut tail = [0u8; 48];
        tail[..rest].copy_from_slice(&c[aligned..]);
        // `rest` zero bytes of padding follow, then u64(0) (more zeros), then the length.
        let len_at = 2 * rest + 8;
        tail[len_at..len_at + 8].copy_from_slice(&(64 + c.len() as u64).to_le_bytes());
        let tail = &tail[..len_at + 8];
        let r_s = &key.0;
        if c.len() < SHORT_MAC {
            let mut poly = poly::Poly1305::new(r_s);
            poly.update_blocks(block);
            poly.update_blocks(&c[..aligned]);
            let full = tail.len() - tail.len() % 16;
            poly.update_blocks(&tail[..full]);
            poly.finish(&tail[full..])
        } else {
            let mut poly = Poly1305::new(r_s.into());
            poly.update_padded(block);
            poly.update_padded(&c[..aligned]);
            poly.compute_unpadded(tail).into()
        }
    }

    /// After a message: `inonce ^= mac[..8]`, counter + 1, rekey if asked or wrapped.
    fn advance(&mut self, mac: &[u8; MAC_LEN], tag: Tag) {
        for (n, m) in self.nonce[COUNTER_LEN..].iter_mut().zip(mac) {
            *n ^= m;
        }
        let counter = self.counter().wrapping_add(1);
        self.nonce[..COUNTER_LEN].copy_from_slice(&counter.to_le_bytes());
        if tag.rekeys() || counter == 0 {
            self.rekey();
        }
    }

    fn counter(&self) -> u32 {
        let mut c = [0u8; COUNTER_LEN];
        c.copy_from_slice(&self.nonce[..COUNTER_LEN]);
        u32::from_le_bytes(c)
    }

    /// `(k, inonce) ^= keystream(k, nonce, block 0)[..40]`, counter 1.
    fn rekey(&mut self) {
        let mut buf = [0u8; KEY_LEN + INONCE_LEN];
        buf[..KEY_LEN].copy_from_slice(&self.k);
        buf[KEY_LEN..].copy_from_slice(&self.nonce[COUNTER_LEN..]);
        self.cipher().apply_keystream(&mut buf);
        self.k.copy_from_slice(&buf[..KEY_LEN]);
        self.nonce[COUNTER_LEN..].copy_from_slice(&buf[KEY_LEN..]);
        self.nonce[..COUNTER_LEN].copy_from_slice(&1u32.to_le_bytes());
        buf.zeroize();
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.k.zeroize();
        self.nonce.zeroize();
    }
}

/// The sending half: `init_push` with a caller-chosen header, then [`Push::push`].
#[derive(Clone)]
pub struct Push {
    state: State,
    header: [u8; HEADER_LEN],
}

impl Push {
    /// `init_push(key)` with the given `header` (libsodium draws it at random; pass 24
    /// random bytes, or a recorded header to replay a transcript).
    pub fn new(key: &[u8; KEY_LEN], header: [u8; HEADER_LEN]) -> Self {
        Self {
            state: State::new(key, &header),
            header,
        }
    }

    /// The header the receiver needs for [`Pull::new`].
    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    /// Encrypts `m` with `tag` (no additional data), appending
    /// `encrypted tag ‖ ciphertext ‖ MAC` (`m.len() + 17` bytes) to `out`.
    pub fn push(&mut self, m: &[u8], tag: Tag, out: &mut Vec<u8>) {
        let start = out.len();
        out.reserve(m.len() + ABYTES);
        let mut block = [0u8; 64];
        block[0] = tag.to_byte();
        let (mut cipher, key) = self.state.begin(&mut block);
        out.push(block[0]);
        out.extend_from_slice(m);
        let c = &mut out[start + 1..];
        cipher.apply_keystream(c);
        let mac = State::mac(&key, &block, c);
        out.extend_from_slice(&mac);
        self.state.advance(&mac, tag);
        block.zeroize();
    }

    /// Rekeys explicitly (`crypto_secretstream_xchacha20poly1305_rekey`).
    pub fn rekey(&mut self) {
        self.state.rekey();
    }

    /// The 32-bit message counter.
    #[cfg(test)]
    pub(super) fn counter(&self) -> u32 {
        self.state.counter()
    }

    /// The 32-bit message counter (1 after init and after every rekey). Test hook for
    /// the wrap-around rekey.
    #[doc(hidden)]
    pub fn set_counter_for_test(&mut self, counter: u32) {
        self.state.nonce[..COUNTER_LEN].copy_from_slice(&counter.to_le_bytes());
    }
}

/// The receiving half: `init_pull` with the sender's header, then [`Pull::pull`].
#[derive(Clone)]
pub struct Pull {
    state: State,
}

impl Pull {
    /// `init_pull(header, key)`.
    pub fn new(key: &[u8; KEY_LEN], header: &[u8; HEADER_LEN]) -> Self {
        Self {
            state: State::new(key, header),
        }
    }

    /// Verifies and decrypts one message, appending its plaintext (`c.len() - 17` bytes)
    /// to `out` and returning its tag. On error nothing is appended and the state is
    /// unchanged.
    pub fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError> {
        let (&enc_tag, rest) = c.split_first().ok_or(SecretStreamError::TooShort)?;
        if rest.len() < MAC_LEN {
            return Err(SecretStreamError::TooShort);
        }
        let (body, mac) = rest.split_at(rest.len() - MAC_LEN);
        let mut block = [0u8; 64];
        block[0] = enc_tag;
        let (mut cipher, key) = self.state.begin(&mut block);
        let tag = Tag::from_byte(block[0]);
        block[0] = enc_tag;
        let want = State::mac(&key, &block, body);
        block.zeroize();
        if !ct_eq(&want, mac) {
            return Err(SecretStreamError::Mac);
        }
        let start = out.len();
        out.extend_from_slice(body);
        cipher.apply_keystream(&mut out[start..]);
        self.state.advance(&want, tag);
        Ok(tag)
    }

    /// Rekeys explicitly (`crypto_secretstream_xchacha20poly1305_rekey`).
    pub fn rekey(&mut self) {
        self.state.rekey();
    }

    /// Test hook for the wrap-around rekey; see [`Push::set_counter_for_test`].
    #[doc(hidden)]
    pub fn set_counter_for_test(&mut self, counter: u32) {
        self.state.nonce[..COUNTER_LEN].copy_from_slice(&counter.to_le_bytes());
    }
}

/// Constant-time comparison of two MACs.
fn ct_eq(a: &[u8; MAC_LEN], b: &[u8]) -> bool {
    if b.len() != MAC_LEN {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
