//! Round-trip tokens (`dht-rpc lib/io.js#IO.token`, `#IO._drain`, spec §5).
//!
//! A token proves that the requester received a reply at its IP address:
//! `token(host, S) = BLAKE2b-256(message = ASCII dotted quad of host, key = S)`. The port is
//! not part of it. Two secrets exist; tokens are handed out with the current one and accepted
//! with either, and every 7.5 s the secrets rotate (`previous = current`,
//! `current = BLAKE2b-256(old previous)`), so a token stays valid for 7.5 to 15 s.
//!
//! Sans-IO: the secrets come from the caller (who owns the RNG) and time is passed in.

use std::io::Write;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use blake2::Blake2bMac;
use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};

use crate::id::{ID_LEN, blake2b_256};

/// A 32-byte round-trip token.
pub type Token = [u8; ID_LEN];

/// A 32-byte token secret.
pub type Secret = [u8; ID_LEN];

/// Time between secret rotations (every 10th firing of the 750 ms drain timer).
pub const ROTATE_INTERVAL: Duration = Duration::from_millis(7500);

/// `token(host, secret)`: keyed BLAKE2b-256 of the host's dotted-quad text.
pub fn token(host: Ipv4Addr, secret: &Secret) -> Token {
    // "255.255.255.255" is the longest form: 15 bytes.
    let mut text = [0u8; 15];
    let len = {
        let mut cursor = &mut text[..];
        // Cannot fail: the buffer holds the longest dotted quad.
        let _ = write!(cursor, "{host}");
        15 - cursor.len()
    };
    keyed_blake2b_256(&text[..len], secret)
}

fn keyed_blake2b_256(message: &[u8], key: &Secret) -> Token {
    let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(key)
        .expect("a 32-byte key is within BLAKE2b's 64-byte limit");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// The two secrets, `S[0]` (previous) and `S[1]` (current), with explicit rotation.
#[derive(Clone, PartialEq, Eq)]
pub struct TokenSecrets {
    previous: Secret,
    current: Secret,
}

impl TokenSecrets {
    /// Secrets as the reference names them: `S[0] = previous`, `S[1] = current`. A new node
    /// passes 64 random bytes.
    pub fn new(previous: Secret, current: Secret) -> Self {
        Self { previous, current }
    }

    /// The previous secret, `S[0]`.
    pub fn previous(&self) -> &Secret {
        &self.previous
    }

    /// The current secret, `S[1]`.
    pub fn current(&self) -> &Secret {
        &self.current
    }

    /// The token to hand out to `host` (always made with the current secret).
    pub fn token(&self, host: Ipv4Addr) -> Token {
        token(host, &self.current)
    }

    /// Whether `candidate` is a token this node issued to `host` with either secret.
    pub fn validate(&self, host: Ipv4Addr, candidate: &Token) -> bool {
        // Not constant-time, like the reference: a token is a proof of reachability, not a
        // credential, and guessing one still needs a reply at the claimed address.
        *candidate == token(host, &self.current) || *candidate == token(host, &self.previous)
    }

    /// One rotation: `S[0] = S[1]; S[1] = BLAKE2b-256(old S[0])`.
    pub fn rotate(&mut self) {
        let next = blake2b_256(&self.previous);
        self.previous = self.current;
        self.current = next;
    }
}

impl std::fmt::Debug for TokenSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenSecrets { .. }")
    }
}

/// [`TokenSecrets`] with their rotation schedule: call [`handle_timeout`](Self::handle_timeout)
/// at [`poll_timeout`](Self::poll_timeout).
#[derive(Debug, Clone)]
pub struct Tokens {
    secrets: TokenSecrets,
    next_rotation: Instant,
}

impl Tokens {
    /// Starts the schedule at `now`: the first rotation is due [`ROTATE_INTERVAL`] later.
    pub fn new(secrets: TokenSecrets, now: Instant) -> Self {
        Self {
            secrets,
            next_rotation: now + ROTATE_INTERVAL,
        }
    }

    /// The secrets.
    pub fn secrets(&self) -> &TokenSecrets {
        &self.secrets
    }

    /// When the next rotation is due.
    pub fn poll_timeout(&self) -> Instant {
        self.next_rotation
    }

    /// Rotates if a rotation is due. Like the reference's timer, a late call rotates once,
    /// not once per missed interval; the next rotation is then due an interval after the
    /// missed deadline, or after `now` if more than one interval was missed.
    pub fn handle_timeout(&mut self, now: Instant) -> bool {
        if now < self.next_rotation {
            return false;
        }
        self.secrets.rotate();
        self.next_rotation += ROTATE_INTERVAL;
        if self.next_rotation <= now {
            self.next_rotation = now + ROTATE_INTERVAL;
        }
        true
    }

    /// The token to hand out to `host`.
    pub fn token(&self, host: Ipv4Addr) -> Token {
        self.secrets.token(host)
    }

    /// Whether `candidate` is valid for `host` (current or previous secret).
    pub fn validate(&self, host: Ipv4Addr, candidate: &Token) -> bool {
        self.secrets.validate(host, candidate)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> [u8; 32] {
        hex::decode(s).unwrap().try_into().unwrap()
    }

    #[test]
    fn spec_vectors() {
        let local = Ipv4Addr::LOCALHOST;
        assert_eq!(
            token(local, &[0x22; 32]),
            h("adbc55b1f8292697e70c852f66f2c9cc22a0acf90d8e0ea2b399cc0b1d88e922")
        );
        let mut s = TokenSecrets::new([0x11; 32], [0x22; 32]);
        s.rotate();
        assert_eq!(s.previous(), &[0x22; 32]);
        assert_eq!(
            s.current(),
            &h("d4ffaeeac45aa41825e0bc3f875570af061acbf0b950ad752ff0f9463fe13ad5")
        );
        // The longest dotted quad fits the stack buffer.
        let _ = token(Ipv4Addr::BROADCAST, &[0; 32]);
    }

    #[test]
    fn validity_window() {
        let t0 = Instant::now();
        let host = Ipv4Addr::new(10, 0, 0, 1);
        let other = Ipv4Addr::new(10, 0, 0, 2);
        let mut tokens = Tokens::new(TokenSecrets::new([1; 32], [2; 32]), t0);
        let issued = tokens.token(host);
        assert!(tokens.validate(host, &issued));
        assert!(!tokens.validate(other, &issued));
        assert!(!tokens.handle_timeout(t0 + Duration::from_millis(7499)));
        assert!(tokens.handle_timeout(t0 + ROTATE_INTERVAL));
        assert!(
            tokens.validate(host, &issued),
            "previous secret still accepted"
        );
        assert_ne!(tokens.token(host), issued);
        assert_eq!(tokens.poll_timeout(), t0 + 2 * ROTATE_INTERVAL);
        assert!(tokens.handle_timeout(t0 + 2 * ROTATE_INTERVAL));
        assert!(
            !tokens.validate(host, &issued),
            "two rotations later it is gone"
        );
        // A late call rotates once and re-arms relative to now.
        let late = t0 + 10 * ROTATE_INTERVAL;
        assert!(tokens.handle_timeout(late));
        assert_eq!(tokens.poll_timeout(), late + ROTATE_INTERVAL);
    }
}
