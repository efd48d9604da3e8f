//! The `secret_stream_session` target: two `Session`s run a real Noise XX handshake (fixed
//! key pairs) over an in-memory byte pipe and exchange a few messages, while the input
//! re-chunks both byte streams and may alter one byte of the initiator's stream.
//!
//! Input: byte 0 holds options (keepalive, message count, which direction the alteration
//! hits), bytes 1..4 the alteration (offset `u16`, XOR mask; mask 0 means none), then a
//! script: deliver the next `n` bytes one way or the other, advance time and run the
//! timers, or send one more message. At the end everything left is delivered whole.
//!
//! Asserts:
//! - nothing panics;
//! - unaltered: both sides finish the handshake, agree on the handshake hash and on each
//!   other's keys, and each receives exactly the messages the other sent, in order,
//!   whatever the chunking;
//! - altered: what a receiver releases is always a prefix of what was sent (never a
//!   message that was not sent); once `handle_input` fails the session stays failed
//!   (`error()` set, every later input refused) and releases nothing more; without
//!   keepalives, if the altered byte was delivered the receiver does not end up with every
//!   message of the stream;
//! - `poll_timeout` never lies before the time `handle_timeout` just ran at.

use std::collections::VecDeque;
use std::time::Duration;

use plures_secret_stream::{Config, Event, KeyPair, Random, Session, Start};

use crate::script::{Clock, Cursor};

/// Most messages sent per direction.
const MAX_MESSAGES: usize = 24;

/// The `i`th message of a side: non-empty (keepalive filtering drops empty ones), sizes
/// from 1 byte to a few kilobytes.
fn message(side: u8, i: usize, size: u8) -> Vec<u8> {
    let len = 1 + usize::from(size) * usize::from(size) / 16;
    (0..len)
        .map(|k| (k as u8).wrapping_mul(31) ^ side ^ (i as u8))
        .collect()
}

struct Peer {
    session: Session,
    /// Messages this side sent.
    sent: Vec<Vec<u8>>,
    /// Messages this side received.
    received: Vec<Vec<u8>>,
    /// Bytes this side wrote, not yet delivered.
    pipe: VecDeque<u8>,
    /// Bytes this side wrote so far (the offset of the next one).
    written: usize,
    handshake: bool,
    open: bool,
    failed: bool,
}

impl Peer {
    fn new(initiator: bool, seed: u8, keep_alive: Option<Duration>, clock: &Clock) -> Self {
        let static_key = KeyPair::from_seed([seed; 32]);
        let ephemeral = KeyPair::from_seed([seed.wrapping_add(100); 32]);
        let start = if initiator {
            Start::XxInitiator {
                static_key,
                ephemeral,
            }
        } else {
            Start::XxResponder {
                static_key,
                ephemeral,
            }
        };
        let random = Random {
            header: [seed ^ 0x55; 24],
            send_counter: [seed; 8],
        };
        let config = Config {
            keep_alive,
            ..Config::default()
        };
        let session = Session::new(start, random, config, clock.now()).expect("session starts");
        Self {
            session,
            sent: Vec::new(),
            received: Vec::new(),
            pipe: VecDeque::new(),
            written: 0,
            handshake: false,
            open: false,
            failed: false,
        }
    }

    /// Moves what the session wants to write into the pipe, altering the byte at
    /// `alter.0` by XOR with `alter.1`.
    fn collect(&mut self, alter: Option<(usize, u8)>) {
        while let Some(bytes) = self.session.poll_transmit() {
            for b in bytes {
                let b = match alter {
                    Some((at, mask)) if at == self.written => b ^ mask,
                    _ => b,
                };
                self.pipe.push_back(b);
                self.written += 1;
            }
        }
    }

    /// Drains events; `peer_sent` is what the other side sent.
    fn events(&mut self, peer_sent: &[Vec<u8>]) {
        while let Some(e) = self.session.poll_event() {
            assert!(!self.failed, "event after failure: {e:?}");
            match e {
                Event::Handshake => {
                    assert!(!self.handshake, "handshake twice");
                    self.handshake = true;
                }
                Event::Open => {
                    assert!(self.handshake && !self.open, "open out of order");
                    self.open = true;
                }
                Event::Data(data) => {
                    assert!(self.open, "data before open");
                    let i = self.received.len();
                    assert_eq!(
                        peer_sent.get(i),
                        Some(&data),
                        "message {i} released but not sent"
                    );
                    self.received.push(data);
                }
                Event::Message(_) | Event::End => panic!("unexpected event {e:?}"),
            }
        }
    }

    /// Feeds bytes; checks that a failure sticks. Events queued by the failing call (from
    /// frames before the bad one) are drained first; after that nothing more may come.
    fn input(&mut self, clock: &Clock, bytes: &[u8], peer_sent: &[Vec<u8>]) {
        let r = self.session.handle_input(clock.now(), bytes);
        self.events(peer_sent);
        if self.failed {
            assert!(r.is_err(), "a failed session took input");
        }
        match r {
            Ok(()) => assert!(self.session.error().is_none()),
            Err(e) => {
                assert!(self.session.error().is_some(), "error not kept: {e}");
                self.failed = true;
            }
        }
    }
}

struct Pair {
    clock: Clock,
    a: Peer,
    b: Peer,
    /// The alteration of a's stream (offset, mask), or of b's.
    alter_a: Option<(usize, u8)>,
    alter_b: Option<(usize, u8)>,
}

impl Pair {
    fn collect(&mut self) {
        self.a.collect(self.alter_a);
        self.b.collect(self.alter_b);
        self.a.events(&self.b.sent);
        self.b.events(&self.a.sent);
    }

    /// Delivers up to `n` bytes from one side to the other.
    fn deliver(&mut self, from_a: bool, n: usize) {
        let (src, dst) = if from_a {
            (&mut self.a, &mut self.b)
        } else {
            (&mut self.b, &mut self.a)
        };
        let n = n.min(src.pipe.len());
        if n == 0 {
            return;
        }
        let chunk: Vec<u8> = src.pipe.drain(..n).collect();
        let received = dst.received.len();
        dst.input(&self.clock, &chunk, &src.sent);
        if dst.failed {
            let still = dst.received.len();
            self.collect();
            let dst = if from_a { &self.b } else { &self.a };
            assert_eq!(dst.received.len(), still, "released after failure");
            assert!(still >= received);
        } else {
            self.collect();
        }
    }

    fn send(&mut self, from_a: bool, size: u8) {
        let side = if from_a { &mut self.a } else { &mut self.b };
        if side.sent.len() >= MAX_MESSAGES {
            return;
        }
        let msg = message(u8::from(from_a), side.sent.len(), size);
        match side.session.send(self.clock.now(), &msg) {
            Ok(()) => side.sent.push(msg),
            Err(_) => assert!(side.failed, "send refused on a live session"),
        }
        self.collect();
    }

    fn tick(&mut self, ms: u64) {
        let now = self.clock.advance(Duration::from_millis(ms));
        for side in [&mut self.a, &mut self.b] {
            side.session.handle_timeout(now);
            if let Some(t) = side.session.poll_timeout() {
                assert!(t > now, "keepalive due in the past after handle_timeout");
            }
        }
        self.collect();
    }

    fn flush(&mut self) {
        loop {
            let (na, nb) = (self.a.pipe.len(), self.b.pipe.len());
            if na == 0 && nb == 0 {
                break;
            }
            self.deliver(true, na);
            self.deliver(false, nb);
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let options = c.u8();
    let offset = usize::from(c.u16());
    let mask = c.u8();
    let keep_alive = (options & 1 != 0).then(|| Duration::from_millis(500));
    let clock = Clock::new();
    let a = Peer::new(true, 1, keep_alive, &clock);
    let b = Peer::new(false, 2, keep_alive, &clock);
    let alter = (mask != 0).then_some((offset, mask));
    let (alter_a, alter_b) = if options & 2 == 0 {
        (alter, None)
    } else {
        (None, alter)
    };
    let mut p = Pair {
        clock,
        a,
        b,
        alter_a,
        alter_b,
    };
    // Some messages are queued before the handshake, the rest are sent during the script.
    let early = usize::from(options >> 2 & 3);
    for i in 0..early {
        p.send(true, 7 * i as u8 + 3);
        p.send(false, 5 * i as u8 + 1);
    }
    p.collect();

    let mut steps = 0;
    while !c.is_empty() && steps < 512 {
        steps += 1;
        let op = c.u8();
        let arg = c.u8();
        match op % 6 {
            0 | 1 => p.deliver(true, usize::from(arg) + 1),
            2 | 3 => p.deliver(false, usize::from(arg) + 1),
            4 => p.send(op & 0x80 == 0, arg),
            _ => p.tick(u64::from(arg) * 10),
        }
    }
    p.flush();

    let altered_delivered =
        |alter: Option<(usize, u8)>, written: usize| alter.is_some_and(|(at, _)| at < written);
    let a_hit = altered_delivered(p.alter_a, p.a.written);
    let b_hit = altered_delivered(p.alter_b, p.b.written);
    if !a_hit && !b_hit {
        assert!(!p.a.failed && !p.b.failed, "an intact stream failed");
        assert!(p.a.open && p.b.open, "intact handshake did not open");
        assert_eq!(p.a.session.handshake_hash(), p.b.session.handshake_hash());
        assert_eq!(p.a.session.remote_public_key(), p.b.session.public_key());
        assert_eq!(p.b.session.remote_public_key(), p.a.session.public_key());
        assert_eq!(p.b.received, p.a.sent, "a → b messages differ");
        assert_eq!(p.a.received, p.b.sent, "b → a messages differ");
    } else {
        // An altered stream is never accepted whole. Without keepalives every byte of a
        // stream belongs to the handshake, the header or a message frame, so the last
        // message cannot authenticate after an altered byte.
        if keep_alive.is_some() {
            return;
        }
        if a_hit && !p.a.sent.is_empty() {
            assert!(
                p.b.received.len() < p.a.sent.len(),
                "every message of an altered stream released"
            );
        }
        if b_hit && !p.b.sent.is_empty() {
            assert!(
                p.a.received.len() < p.b.sent.len(),
                "every message of an altered stream released"
            );
        }
    }
}
