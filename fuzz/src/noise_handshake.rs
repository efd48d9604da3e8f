//! The `noise_handshake` target: a real IK or XX transcript between fixed key pairs, with
//! one message altered by the input (bytes XORed in, truncated, or extended).
//!
//! Asserts: nothing panics; an unaltered transcript completes with both sides agreeing on
//! the keys and the handshake hash; an altered one never completes with both sides
//! agreeing (each Noise message is authenticated by the ones after it, so some step must
//! fail).

use std::cell::Cell;

use plures_secret_stream::{Finished, IkInitiator, IkResponder, KeyPair, XxInitiator, XxResponder};

fn keys() -> [KeyPair; 4] {
    [1u8, 2, 3, 4].map(|i| KeyPair::from_seed([i; 32]))
}

/// How the input alters message `index` of the transcript.
struct Alteration<'a> {
    index: usize,
    op: u8,
    bytes: &'a [u8],
    /// Set when the alteration really changed a message.
    changed: Cell<bool>,
}

impl Alteration<'_> {
    fn apply(&self, index: usize, msg: Vec<u8>) -> Vec<u8> {
        if index != self.index {
            return msg;
        }
        let original = msg.clone();
        let mut msg = msg;
        match self.op % 3 {
            0 => {
                let len = msg.len().max(1);
                for (i, b) in self.bytes.iter().enumerate() {
                    if let Some(m) = msg.get_mut(i % len) {
                        *m ^= b;
                    }
                }
            }
            1 => {
                let keep = self.bytes.first().map_or(0, |&b| usize::from(b));
                msg.truncate(keep.min(msg.len()));
            }
            _ => msg.extend_from_slice(self.bytes),
        }
        if msg != original {
            self.changed.set(true);
        }
        msg
    }
}

fn agree(a: &Finished, b: &Finished) -> bool {
    a.tx() == b.rx() && a.rx() == b.tx() && a.handshake_hash() == b.handshake_hash()
}

fn ik(alt: &Alteration<'_>) -> Option<bool> {
    let [is, ie, rs, re] = keys();
    let rs_pub = *rs.public_key();
    let (m1, wait) = IkInitiator::start(is, ie, rs_pub, b"prologue", b"hello").ok()?;
    let m1 = alt.apply(0, m1);
    let got = IkResponder::new(rs, b"prologue").handle(&m1).ok()?;
    let (m2, r) = got.respond(re, b"world").ok()?;
    let m2 = alt.apply(1, m2);
    let (i, _) = wait.handle(&m2).ok()?;
    Some(agree(&i, &r))
}

fn xx(alt: &Alteration<'_>) -> Option<bool> {
    let [is, ie, rs, re] = keys();
    let (m1, wait_i) = XxInitiator::start(is, ie, b"", b"").ok()?;
    let m1 = alt.apply(0, m1);
    let got = XxResponder::new(rs, b"").handle(&m1).ok()?;
    let (m2, wait_r) = got.respond(re, b"").ok()?;
    let m2 = alt.apply(1, m2);
    let got = wait_i.handle(&m2).ok()?;
    let (m3, i) = got.finish(b"").ok()?;
    let m3 = alt.apply(2, m3);
    let (r, _) = wait_r.handle(&m3).ok()?;
    Some(agree(&i, &r))
}

/// Runs one input: byte 0 picks the pattern and the message, byte 1 the alteration, the
/// rest is the alteration's data.
pub fn run(data: &[u8]) {
    let (Some(&select), Some(&op)) = (data.first(), data.get(1)) else {
        return;
    };
    let bytes = &data[2..];
    let xx_pattern = select & 0x80 != 0;
    let messages = if xx_pattern { 3 } else { 2 };
    let alt = Alteration {
        index: usize::from(select & 0x7f) % messages,
        op,
        bytes,
        changed: Cell::new(false),
    };
    let done = if xx_pattern { xx(&alt) } else { ik(&alt) };
    if alt.changed.get() {
        assert_ne!(
            done,
            Some(true),
            "an altered transcript completed with agreement"
        );
    } else {
        assert_eq!(
            done,
            Some(true),
            "an unaltered transcript must complete and agree"
        );
    }
}
