//! The secret-stream core: handshake (pre-made or XX over the stream), header exchange,
//! encrypted data frames, keepalives and unordered messages (spec `secret-stream.md`
//! §2–§8), as a sans-IO state machine.
//!
//! Feed raw bytes with [`Session::handle_input`] in any chunking, the end of the raw stream
//! with [`Session::handle_eof`], timer expiry with [`Session::handle_timeout`]; write with
//! [`Session::send`]. After any of these, drain [`Session::poll_transmit`] (bytes for the
//! raw stream), [`Session::poll_timeout`] and [`Session::poll_event`].
//!
//! A fatal [`StreamError`] destroys the session: its pending output is discarded and every
//! later call returns the same error. Plaintext is released only from frames that
//! authenticated; events queued before the failure stay readable.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use zeroize::Zeroize;

use crate::crypto::{HASH_LEN, send_key, stream_id};
use crate::error::StreamError;
use crate::handshake::{Finished, XxAwaitingFinal, XxAwaitingResponse, XxInitiator, XxResponder};
use crate::keys::KeyPair;
use crate::secretstream::{ABYTES, HEADER_LEN, Pull, Push, Tag};
use crate::unordered::{Opener, Sealer};
use crate::wire::{FrameReader, LEN_PREFIX, MAX_FRAME_LEN, Next, len_prefix, write_frame};

/// Body length of the header frame: stream id and secretstream header.
pub const HEADER_BODY_LEN: usize = 32 + HEADER_LEN;
/// Largest plaintext of one write: the frame limit minus [`ABYTES`].
pub const MAX_WRITE: usize = MAX_FRAME_LEN - ABYTES;

/// The result of a handshake made elsewhere (hyperdht's IK `{tx, rx, hash, publicKey,
/// remotePublicKey}`). The transport keys are zeroed on drop.
#[derive(Clone)]
pub struct Keys {
    /// The key this side encrypts with.
    pub tx: [u8; 32],
    /// The key this side decrypts with.
    pub rx: [u8; 32],
    /// The 64-byte handshake hash.
    pub handshake_hash: [u8; HASH_LEN],
    /// Whether this side initiated the handshake.
    pub is_initiator: bool,
    /// This side's static public key.
    pub public_key: [u8; 32],
    /// The peer's static public key.
    pub remote_public_key: [u8; 32],
}

impl From<&Finished> for Keys {
    fn from(f: &Finished) -> Self {
        Self {
            tx: *f.tx(),
            rx: *f.rx(),
            handshake_hash: *f.handshake_hash(),
            is_initiator: f.is_initiator(),
            public_key: *f.local_static_key(),
            remote_public_key: *f.remote_static_key(),
        }
    }
}

impl Drop for Keys {
    fn drop(&mut self) {
        self.tx.zeroize();
        self.rx.zeroize();
    }
}

impl core::fmt::Debug for Keys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Keys")
            .field("is_initiator", &self.is_initiator)
            .finish_non_exhaustive()
    }
}

/// How a session gets its keys.
#[derive(Debug)]
pub enum Start {
    /// Keys from a finished handshake (what hyperdht does): the header frame is the
    /// first thing written.
    Handshake(Keys),
    /// Run Noise XX over the stream as initiator (writes message 1 at once).
    XxInitiator {
        /// This side's static key pair.
        static_key: KeyPair,
        /// A fresh ephemeral key pair.
        ephemeral: KeyPair,
    },
    /// Run Noise XX over the stream as responder.
    XxResponder {
        /// This side's static key pair.
        static_key: KeyPair,
        /// A fresh ephemeral key pair.
        ephemeral: KeyPair,
    },
}

/// The random values a session needs, drawn by the caller.
#[derive(Debug, Clone, Copy)]
pub struct Random {
    /// The secretstream header of the sending direction (libsodium draws it in
    /// `init_push`).
    pub header: [u8; HEADER_LEN],
    /// The start of the unordered-message counter.
    pub send_counter: [u8; 8],
}

/// Session options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Write an empty message after this long without writing a frame; `None` disables
    /// (JS `keepAlive`, hyperdht uses 5 s). Also turns on zero-length filtering.
    pub keep_alive: Option<Duration>,
    /// Drop received empty messages even without keepalive (JS
    /// `filterZeroByteMessages`).
    pub filter_zero_byte_messages: bool,
    /// Largest frame body accepted from the peer; larger announcements destroy the
    /// session as soon as the length prefix arrives. At most [`MAX_FRAME_LEN`].
    pub max_frame_len: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            keep_alive: None,
            filter_zero_byte_messages: false,
            max_frame_len: MAX_FRAME_LEN,
        }
    }
}

/// What a session reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The handshake finished: [`Session::remote_public_key`] and
    /// [`Session::handshake_hash`] are known and the header frame is written.
    Handshake,
    /// The peer's header verified; data frames follow.
    Open,
    /// One received message (one write on the other side).
    Data(Vec<u8>),
    /// One unordered message from [`Session::handle_datagram`].
    Message(Vec<u8>),
    /// The raw stream ended cleanly at a frame boundary.
    End,
}

enum Handshake {
    XxInitiator(XxAwaitingResponse),
    XxResponder(XxResponder, KeyPair),
    XxAwaitingFinal(XxAwaitingFinal),
    Done,
}

/// The state once keys exist.
struct Crypto {
    keys: Keys,
    push: Push,
    pull: Option<Pull>,
    sealer: Sealer,
    opener: Opener,
}

/// A secret-stream session: the sans-IO core of JS `NoiseSecretStream` (see the crate
/// docs for the run model).
pub struct Session {
    config: Config,
    random: Random,
    handshake: Handshake,
    crypto: Option<Crypto>,
    reader: FrameReader,
    out: Vec<u8>,
    /// Writes made before the handshake finished, sent right after the header.
    queued: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
    last_write: Option<Instant>,
    write_closed: bool,
    ended: bool,
    failed: Option<StreamError>,
}

impl Session {
    /// A session started as `start` says. With [`Start::Handshake`] the header frame is
    /// queued for transmission at once; with [`Start::XxInitiator`] Noise message 1 is.
    pub fn new(
        start: Start,
        random: Random,
        config: Config,
        now: Instant,
    ) -> Result<Self, StreamError> {
        let mut s = Self {
            config: Config {
                max_frame_len: config.max_frame_len.min(MAX_FRAME_LEN),
                ..config
            },
            random,
            handshake: Handshake::Done,
            crypto: None,
            reader: FrameReader::default(),
            out: Vec::new(),
            queued: VecDeque::new(),
            events: VecDeque::new(),
            last_write: None,
            write_closed: false,
            ended: false,
            failed: None,
        };
        match start {
            Start::Handshake(keys) => s.setup(keys, now),
            Start::XxInitiator {
                static_key,
                ephemeral,
            } => {
                let (msg, next) = XxInitiator::start(static_key, ephemeral, b"", b"")?;
                write_frame(&mut s.out, &msg);
                s.handshake = Handshake::XxInitiator(next);
            }
            Start::XxResponder {
                static_key,
                ephemeral,
            } => {
                s.handshake = Handshake::XxResponder(XxResponder::new(static_key, b""), ephemeral);
            }
        }
        Ok(s)
    }

    /// Feeds bytes read from the raw stream, in any chunking.
    pub fn handle_input(&mut self, now: Instant, data: &[u8]) -> Result<(), StreamError> {
        self.check()?;
        self.reader.extend(data);
        let r = self.drain_frames(now);
        self.reader.compact();
        r.map_err(|e| self.fail(e))
    }

    /// The raw stream ended. Clean ([`Event::End`]) only after the header exchange and at
    /// a frame boundary.
    pub fn handle_eof(&mut self) -> Result<(), StreamError> {
        self.check()?;
        if self.ended {
            return Ok(());
        }
        let err = if self.reader.has_partial() {
            StreamError::Truncated
        } else if !self.is_open() {
            StreamError::UnexpectedEof
        } else {
            self.ended = true;
            self.events.push_back(Event::End);
            return Ok(());
        };
        Err(self.fail(err))
    }

    /// Advances timers: writes a keepalive frame when one is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Some(deadline) = self.poll_timeout() {
            if now >= deadline {
                self.write_message(&[], now);
            }
        }
    }

    /// Encrypts `plaintext` as one frame (one `data` chunk on the other side). Before the
    /// handshake finishes the write is queued and sent right after the header.
    pub fn send(&mut self, now: Instant, plaintext: &[u8]) -> Result<(), StreamError> {
        self.check()?;
        if self.write_closed {
            return Err(StreamError::WriteAfterEnd);
        }
        if plaintext.len() > MAX_WRITE {
            return Err(StreamError::WriteTooLarge(plaintext.len()));
        }
        if self.crypto.is_some() {
            self.write_message(plaintext, now);
        } else {
            self.queued.push_back(plaintext.to_vec());
        }
        Ok(())
    }

    /// Ends the writing direction: no more writes or keepalives. The driver then ends
    /// the raw stream (there is no encrypted end marker).
    pub fn close(&mut self) {
        self.write_closed = true;
    }

    /// The envelope for one unordered message (give it to the transport's datagram
    /// API). Needs a finished handshake.
    pub fn send_datagram(&mut self, plaintext: &[u8]) -> Result<Vec<u8>, StreamError> {
        self.check()?;
        let crypto = self.crypto.as_mut().ok_or(StreamError::NotOpen)?;
        match crypto.sealer.seal(plaintext) {
            Ok(envelope) => Ok(envelope),
            Err(e) if e.is_fatal() => Err(self.fail(e)),
            Err(e) => Err(e),
        }
    }

    /// Feeds one datagram from the transport: a valid envelope becomes
    /// [`Event::Message`]; short, forged or early envelopes are dropped. Returns whether
    /// it was accepted.
    pub fn handle_datagram(&mut self, envelope: &[u8]) -> bool {
        if self.failed.is_some() {
            return false;
        }
        let Some(crypto) = &self.crypto else {
            return false;
        };
        match crypto.opener.open(envelope) {
            Some(m) => {
                self.events.push_back(Event::Message(m));
                true
            }
            None => false,
        }
    }

    /// Bytes to write to the raw stream, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if self.out.is_empty() {
            None
        } else {
            Some(core::mem::take(&mut self.out))
        }
    }

    /// How many bytes are waiting in [`Session::poll_transmit`].
    pub fn pending_transmit(&self) -> usize {
        self.out.len()
    }

    /// When [`Session::handle_timeout`] wants to run next (the keepalive deadline).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed.is_some() || self.write_closed || self.crypto.is_none() {
            return None;
        }
        Some(self.last_write? + self.config.keep_alive?)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether the handshake finished.
    pub fn is_handshake_done(&self) -> bool {
        self.crypto.is_some()
    }

    /// Whether the peer's header verified (data frames are accepted).
    pub fn is_open(&self) -> bool {
        self.crypto.as_ref().is_some_and(|c| c.pull.is_some())
    }

    /// The error that destroyed the session, if any.
    pub fn error(&self) -> Option<StreamError> {
        self.failed
    }

    /// Whether this side is the initiator, once the handshake finished.
    pub fn is_initiator(&self) -> Option<bool> {
        self.crypto.as_ref().map(|c| c.keys.is_initiator)
    }

    /// This side's static public key, once the handshake finished.
    pub fn public_key(&self) -> Option<&[u8; 32]> {
        self.crypto.as_ref().map(|c| &c.keys.public_key)
    }

    /// The peer's static public key, once the handshake finished.
    pub fn remote_public_key(&self) -> Option<&[u8; 32]> {
        self.crypto.as_ref().map(|c| &c.keys.remote_public_key)
    }

    /// The 64-byte handshake hash, once the handshake finished.
    pub fn handshake_hash(&self) -> Option<&[u8; HASH_LEN]> {
        self.crypto.as_ref().map(|c| &c.keys.handshake_hash)
    }

    fn check(&self) -> Result<(), StreamError> {
        self.failed.map_or(Ok(()), Err)
    }

    fn fail(&mut self, e: StreamError) -> StreamError {
        self.failed = Some(e);
        self.out = Vec::new();
        self.queued.clear();
        self.reader.clear();
        self.crypto = None;
        self.handshake = Handshake::Done;
        e
    }

    fn drain_frames(&mut self, now: Instant) -> Result<(), StreamError> {
        loop {
            match self.reader.next_frame() {
                Next::Pending(Some(len)) if len > self.config.max_frame_len => {
                    return Err(StreamError::FrameTooLarge {
                        len,
                        limit: self.config.max_frame_len,
                    });
                }
                Next::Pending(_) => return Ok(()),
                Next::Frame(range) => {
                    if range.len() > self.config.max_frame_len {
                        return Err(StreamError::FrameTooLarge {
                            len: range.len(),
                            limit: self.config.max_frame_len,
                        });
                    }
                    let buf = core::mem::take(&mut self.reader);
                    let r = self.handle_frame(&buf.buffer()[range], now);
                    self.reader = buf;
                    r?;
                }
            }
        }
    }

    fn handle_frame(&mut self, body: &[u8], now: Instant) -> Result<(), StreamError> {
        match core::mem::replace(&mut self.handshake, Handshake::Done) {
            Handshake::XxInitiator(st) => {
                let (msg, fin) = st.handle(body)?.finish(b"")?;
                write_frame(&mut self.out, &msg);
                self.setup(Keys::from(&fin), now);
                Ok(())
            }
            Handshake::XxResponder(st, ephemeral) => {
                let (msg, next) = st.handle(body)?.respond(ephemeral, b"")?;
                write_frame(&mut self.out, &msg);
                self.handshake = Handshake::XxAwaitingFinal(next);
                Ok(())
            }
            Handshake::XxAwaitingFinal(st) => {
                let (fin, _payload) = st.handle(body)?;
                self.setup(Keys::from(&fin), now);
                Ok(())
            }
            Handshake::Done => self.handle_secure_frame(body),
        }
    }

    fn handle_secure_frame(&mut self, body: &[u8]) -> Result<(), StreamError> {
        let filter = self.config.keep_alive.is_some() || self.config.filter_zero_byte_messages;
        let Some(crypto) = self.crypto.as_mut() else {
            // Unreachable in practice: without keys the handshake is still running.
            return Err(StreamError::UnexpectedEof);
        };
        match &mut crypto.pull {
            None => {
                if body.len() != HEADER_BODY_LEN {
                    return Err(StreamError::InvalidHeaderLength(body.len()));
                }
                let (id, header) = body.split_at(32);
                let want = stream_id(&crypto.keys.handshake_hash, !crypto.keys.is_initiator);
                if id != want {
                    return Err(StreamError::InvalidStreamId);
                }
                let header: &[u8; HEADER_LEN] = header
                    .try_into()
                    .map_err(|_| StreamError::InvalidHeaderLength(body.len()))?;
                crypto.pull = Some(Pull::new(&crypto.keys.rx, header));
                self.events.push_back(Event::Open);
            }
            Some(pull) => {
                if body.len() < ABYTES {
                    return Err(StreamError::MessageTooShort(body.len()));
                }
                let mut plain = Vec::with_capacity(body.len() - ABYTES);
                // The tag is not acted upon (a FINAL tag does not end the stream).
                let _tag: Tag = pull.pull(body, &mut plain)?;
                if !(plain.is_empty() && filter) {
                    self.events.push_back(Event::Data(plain));
                }
            }
        }
        Ok(())
    }

    /// Sets up encryption from finished keys and writes the header frame, then any
    /// writes queued during the handshake.
    fn setup(&mut self, keys: Keys, now: Instant) {
        let push = Push::new(&keys.tx, self.random.header);
        let hash = &keys.handshake_hash;
        let initiator = keys.is_initiator;
        let sealer = Sealer::new(&send_key(hash, initiator), self.random.send_counter);
        let opener = Opener::new(&send_key(hash, !initiator));
        let mut body = [0u8; HEADER_BODY_LEN];
        body[..32].copy_from_slice(&stream_id(hash, initiator));
        body[32..].copy_from_slice(push.header());
        write_frame(&mut self.out, &body);
        self.last_write = Some(now);
        self.crypto = Some(Crypto {
            keys,
            push,
            pull: None,
            sealer,
            opener,
        });
        self.events.push_back(Event::Handshake);
        while let Some(m) = self.queued.pop_front() {
            self.write_message(&m, now);
        }
    }

    fn write_message(&mut self, plaintext: &[u8], now: Instant) {
        let Some(crypto) = self.crypto.as_mut() else {
            return;
        };
        self.out.reserve(LEN_PREFIX + plaintext.len() + ABYTES);
        self.out
            .extend_from_slice(&len_prefix(plaintext.len() + ABYTES));
        crypto.push.push(plaintext, Tag::Message, &mut self.out);
        self.last_write = Some(now);
    }
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("handshake_done", &self.is_handshake_done())
            .field("open", &self.is_open())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
