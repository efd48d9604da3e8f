//! libsodium's `crypto_secretstream_xchacha20poly1305` (linked statically through
//! `libsodium-sys-stable`, which builds its vendored libsodium) behind a safe API. It is the
//! optional `libsodium` backend of `plures-secret-stream` (feature `libsodium`), chosen
//! there only because the benchmark shows it faster than the pure-Rust path
//! (docs/benchmarks.md, docs/decisions.md).
//!
//! This crate holds all the `unsafe` of the workspace: `unsafe_code` is denied crate-wide
//! and allowed only on the five functions that call libsodium, each unsafe block with its
//! safety argument. The API mirrors the pure-Rust
//! `plures_secret_stream::secretstream::portable` types: a caller-chosen header (libsodium's
//! `init_push` draws one at random, so both halves are set up with `init_pull`, which
//! derives the same state from a given header), no additional data, plaintext and
//! ciphertext appended to a `Vec`.

use std::sync::OnceLock;

use libsodium_sys as ffi;
use zeroize::Zeroize;

/// Key length.
pub const KEY_LEN: usize = 32;
/// Header length.
pub const HEADER_LEN: usize = 24;
/// Bytes a message grows by (encrypted tag and MAC).
pub const ABYTES: usize = 17;
/// `crypto_secretstream_xchacha20poly1305_MESSAGEBYTES_MAX` on 64-bit targets:
/// `64 · (2³² − 2)`; libsodium aborts the process beyond it, so it is checked here first.
const MESSAGEBYTES_MAX: u64 = 64 * ((1 << 32) - 2);

/// Whether libsodium initialised (`sodium_init`, run once). Only when it did are [`Push`]
/// and [`Pull`] handed out.
#[allow(unsafe_code, reason = "FFI call into libsodium")]
pub fn available() -> bool {
    static INIT: OnceLock<bool> = OnceLock::new();
    // SAFETY: sodium_init has no preconditions and is safe to call from any thread.
    *INIT.get_or_init(|| unsafe { ffi::sodium_init() } >= 0)
}

/// One direction's state (`k`, `counter ‖ inonce`). Zeroed on drop.
#[derive(Clone)]
struct State(ffi::crypto_secretstream_xchacha20poly1305_state);

impl State {
    #[allow(unsafe_code, reason = "FFI call into libsodium")]
    fn new(key: &[u8; KEY_LEN], header: &[u8; HEADER_LEN]) -> Option<Self> {
        if !available() {
            return None;
        }
        let mut st = ffi::crypto_secretstream_xchacha20poly1305_state {
            k: [0; 32],
            nonce: [0; 12],
            _pad: [0; 8],
        };
        // SAFETY: `st` is a valid state to write; `header` and `key` point to 24 and 32
        // readable bytes (HEADERBYTES, KEYBYTES); libsodium is initialised. init_pull always
        // returns 0.
        unsafe {
            ffi::crypto_secretstream_xchacha20poly1305_init_pull(
                &mut st,
                header.as_ptr(),
                key.as_ptr(),
            );
        }
        Some(Self(st))
    }

    #[allow(unsafe_code, reason = "FFI call into libsodium")]
    fn rekey(&mut self) {
        // SAFETY: `self.0` is an initialised state.
        unsafe { ffi::crypto_secretstream_xchacha20poly1305_rekey(&mut self.0) }
    }

    fn set_counter(&mut self, counter: u32) {
        self.0.nonce[..4].copy_from_slice(&counter.to_le_bytes());
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.0.k.zeroize();
        self.0.nonce.zeroize();
    }
}

/// The sending half.
#[derive(Clone)]
pub struct Push(State);

impl Push {
    /// The state `init_push` would produce with this header; `None` if libsodium failed
    /// to initialise ([`available`]).
    pub fn new(key: &[u8; KEY_LEN], header: &[u8; HEADER_LEN]) -> Option<Self> {
        State::new(key, header).map(Self)
    }

    /// Encrypts `m` with tag byte `tag` (no additional data), appending
    /// `encrypted tag ‖ ciphertext ‖ MAC` (`m.len() + 17` bytes) to `out`.
    ///
    /// # Panics
    ///
    /// If `m` is longer than libsodium's message limit (about 256 GiB).
    #[allow(unsafe_code, reason = "FFI call into libsodium")]
    pub fn push(&mut self, m: &[u8], tag: u8, out: &mut Vec<u8>) {
        let mlen = m.len() as u64;
        assert!(mlen <= MESSAGEBYTES_MAX, "secretstream message too long");
        let n = m.len() + ABYTES;
        out.reserve(n);
        let start = out.len();
        let mut written: std::os::raw::c_ulonglong = 0;
        // SAFETY: after `reserve`, `out` has at least `n` bytes of spare capacity at `start`,
        // which push writes exactly (`m.len() + ABYTES`, reported in `written`); `m` is
        // readable for `mlen` bytes; a null `ad` with length 0 is allowed; the length is
        // below MESSAGEBYTES_MAX, so libsodium does not abort, and push then returns 0.
        // `set_len` covers only the bytes push wrote.
        unsafe {
            let dst = out.as_mut_ptr().add(start);
            ffi::crypto_secretstream_xchacha20poly1305_push(
                &mut self.0.0,
                dst,
                &mut written,
                m.as_ptr(),
                mlen,
                std::ptr::null(),
                0,
                tag,
            );
            debug_assert_eq!(written, n as u64);
            out.set_len(start + n);
        }
    }

    /// `crypto_secretstream_xchacha20poly1305_rekey`.
    pub fn rekey(&mut self) {
        self.0.rekey();
    }

    /// Sets the 32-bit message counter (test hook for the wrap-around rekey).
    pub fn set_counter(&mut self, counter: u32) {
        self.0.set_counter(counter);
    }
}

/// Why [`Pull::pull`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullError {
    /// Shorter than [`ABYTES`].
    TooShort,
    /// The MAC did not verify (or the ciphertext exceeds libsodium's message limit).
    Mac,
}

/// The receiving half.
#[derive(Clone)]
pub struct Pull(State);

impl Pull {
    /// `init_pull(header, key)`; `None` if libsodium failed to initialise ([`available`]).
    pub fn new(key: &[u8; KEY_LEN], header: &[u8; HEADER_LEN]) -> Option<Self> {
        State::new(key, header).map(Self)
    }

    /// Verifies and decrypts `c`, appending the plaintext (`c.len() - 17` bytes) to `out`
    /// and returning the tag byte. On error nothing is appended and the state is unchanged
    /// (libsodium checks the MAC before it writes or advances anything).
    #[allow(unsafe_code, reason = "FFI call into libsodium")]
    pub fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<u8, PullError> {
        let Some(mlen) = c.len().checked_sub(ABYTES) else {
            return Err(PullError::TooShort);
        };
        if mlen as u64 > MESSAGEBYTES_MAX {
            return Err(PullError::Mac);
        }
        out.reserve(mlen);
        let start = out.len();
        let mut written: std::os::raw::c_ulonglong = 0;
        let mut tag = 0u8;
        // SAFETY: `out` has at least `mlen` bytes of spare capacity at `start`; pull writes
        // at most `mlen` bytes there, and only after the MAC verified (return 0), reporting
        // the count in `written`; `c` is readable for `c.len()` bytes (≥ ABYTES, below the
        // abort limit); a null `ad` with length 0 is allowed. `set_len` runs only on
        // success and covers exactly the written bytes.
        let ok = unsafe {
            let dst = out.as_mut_ptr().add(start);
            let rc = ffi::crypto_secretstream_xchacha20poly1305_pull(
                &mut self.0.0,
                dst,
                &mut written,
                &mut tag,
                c.as_ptr(),
                c.len() as u64,
                std::ptr::null(),
                0,
            );
            if rc == 0 {
                debug_assert_eq!(written, mlen as u64);
                out.set_len(start + mlen);
            }
            rc == 0
        };
        if ok { Ok(tag) } else { Err(PullError::Mac) }
    }

    /// `crypto_secretstream_xchacha20poly1305_rekey`.
    pub fn rekey(&mut self) {
        self.0.rekey();
    }

    /// Sets the 32-bit message counter (test hook for the wrap-around rekey).
    pub fn set_counter(&mut self, counter: u32) {
        self.0.set_counter(counter);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let key = [7u8; 32];
        let header = [9u8; 24];
        let mut push = Push::new(&key, &header).expect("libsodium");
        let mut pull = Pull::new(&key, &header).expect("libsodium");
        for len in [0usize, 1, 16, 17, 1000] {
            let m: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut c = vec![0xaa];
            push.push(&m, 0, &mut c);
            assert_eq!(c.len(), 1 + len + ABYTES);
            let mut bad = c[1..].to_vec();
            bad[0] ^= 1;
            let mut out = vec![0xbb];
            assert_eq!(pull.pull(&bad, &mut out), Err(PullError::Mac));
            assert_eq!(pull.pull(&c[1..3], &mut out), Err(PullError::TooShort));
            assert_eq!(out, [0xbb]);
            assert_eq!(pull.pull(&c[1..], &mut out), Ok(0));
            assert_eq!(out[1..], m[..]);
        }
    }
}
