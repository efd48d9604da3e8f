//! Noise handshakes as consuming states driven by bytes (spec `noise.md` §4).
//!
//! Each state owns everything the next step needs and is consumed by that step, so a
//! handshake cannot be resumed after an error or driven twice. Ephemeral key pairs are
//! passed in by the caller (from its RNG, or from a seed to replay a transcript).
//! Message bytes from the peer are never trusted: any length, point or tag problem is an
//! [`Error`], never a panic.

mod ik;
mod xx;

use core::fmt;

use zeroize::{Zeroize, Zeroizing};

use crate::crypto::HASH_LEN;
use crate::error::Error;
use crate::keys::{KeyPair, PUBLIC_KEY_LEN};
use crate::symmetric::{SymmetricState, TAG_LEN};

pub use ik::{IkAwaitingResponse, IkInitiator, IkReceived, IkResponder};
pub use xx::{
    XxAwaitingFinal, XxAwaitingResponse, XxInitiator, XxReceived, XxResponder, XxResponseReceived,
};

/// Protocol name of the IK handshake (`noise-handshake` with `noise-curve-ed`).
pub const IK_PROTOCOL_NAME: &str = "Noise_IK_Ed25519_ChaChaPoly_BLAKE2b";
/// Protocol name of the XX handshake (`noise-handshake` with `noise-curve-ed`).
pub const XX_PROTOCOL_NAME: &str = "Noise_XX_Ed25519_ChaChaPoly_BLAKE2b";

/// The result of a completed handshake: the transport keys, the handshake hash and both
/// static public keys. The keys are zeroed on drop.
pub struct Finished {
    tx: [u8; 32],
    rx: [u8; 32],
    hash: [u8; HASH_LEN],
    local_static: [u8; PUBLIC_KEY_LEN],
    remote_static: [u8; PUBLIC_KEY_LEN],
    is_initiator: bool,
}

impl Finished {
    /// The key this side encrypts with (`tx`).
    pub fn tx(&self) -> &[u8; 32] {
        &self.tx
    }

    /// The key this side decrypts with (`rx`).
    pub fn rx(&self) -> &[u8; 32] {
        &self.rx
    }

    /// The final handshake hash `h` (64 bytes).
    pub fn handshake_hash(&self) -> &[u8; HASH_LEN] {
        &self.hash
    }

    /// This side's static public key.
    pub fn local_static_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.local_static
    }

    /// The peer's static public key.
    pub fn remote_static_key(&self) -> &[u8; PUBLIC_KEY_LEN] {
        &self.remote_static
    }

    /// Whether this side initiated the handshake.
    pub fn is_initiator(&self) -> bool {
        self.is_initiator
    }

    fn new(
        ss: &SymmetricState,
        local: &KeyPair,
        remote_static: [u8; 32],
        is_initiator: bool,
    ) -> Self {
        let (k1, k2) = ss.split();
        let (tx, rx) = if is_initiator { (k1, k2) } else { (k2, k1) };
        Self {
            tx,
            rx,
            hash: *ss.hash(),
            local_static: *local.public_key(),
            remote_static,
            is_initiator,
        }
    }
}

impl Drop for Finished {
    fn drop(&mut self) {
        self.tx.zeroize();
        self.rx.zeroize();
        self.hash.zeroize();
    }
}

impl fmt::Debug for Finished {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Finished")
            .field("is_initiator", &self.is_initiator)
            .finish_non_exhaustive()
    }
}

/// A fresh symmetric state for `protocol_name` with the prologue mixed in.
fn initialise(protocol_name: &str, prologue: &[u8]) -> SymmetricState {
    let mut ss = SymmetricState::new(protocol_name);
    ss.mix_hash(prologue);
    ss
}

/// Splits the next `n` bytes off `buf`.
fn take<'a>(buf: &mut &'a [u8], n: usize, what: &'static str) -> Result<&'a [u8], Error> {
    if buf.len() < n {
        return Err(Error::MessageTooShort(what));
    }
    let (head, rest) = buf.split_at(n);
    *buf = rest;
    Ok(head)
}

/// Token `e` on send: appends and mixes the ephemeral public key.
fn write_e(ss: &mut SymmetricState, e: &KeyPair, out: &mut Vec<u8>) {
    out.extend_from_slice(e.public_key());
    ss.mix_hash(e.public_key());
}

/// Token `e` on receive: reads and mixes the peer's ephemeral public key.
fn read_e(ss: &mut SymmetricState, buf: &mut &[u8]) -> Result<[u8; 32], Error> {
    let re = to_key(take(buf, PUBLIC_KEY_LEN, "ephemeral key")?)?;
    ss.mix_hash(&re);
    Ok(re)
}

/// Token `s` on receive: reads and decrypts the peer's static public key.
fn read_s(ss: &mut SymmetricState, buf: &mut &[u8]) -> Result<[u8; 32], Error> {
    let len = if ss.has_key() {
        PUBLIC_KEY_LEN + TAG_LEN
    } else {
        PUBLIC_KEY_LEN
    };
    let ct = take(buf, len, "static key")?;
    let rs = Zeroizing::new(ss.decrypt_and_hash(ct)?);
    to_key(&rs)
}

/// Tokens `ee`, `es`, `se`, `ss`: `MixKey(DH(local, remote))`.
fn mix_dh(ss: &mut SymmetricState, local: &KeyPair, remote: &[u8; 32]) -> Result<(), Error> {
    let shared = Zeroizing::new(local.dh(remote)?);
    ss.mix_key(&shared[..]);
    Ok(())
}

fn to_key(bytes: &[u8]) -> Result<[u8; 32], Error> {
    bytes
        .try_into()
        .map_err(|_| Error::MessageTooShort("static key"))
}
