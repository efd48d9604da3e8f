//! `SecretStream<S>`: the tokio driver of [`Session`] over any `AsyncRead + AsyncWrite`.
//!
//! The driver makes no protocol decisions. It reads raw bytes into the session, writes
//! what the session transmits, keeps one keepalive timer at [`Session::poll_timeout`],
//! and draws the random header, counter and ephemeral key from the OS. Its one clock seam
//! is `tokio::time::Instant::now()`, so paused tokio time drives keepalives in tests.
//!
//! Each `poll_write` becomes exactly one encrypted frame (at most [`MAX_WRITE`] bytes are
//! taken); each received frame is read out as its own chunk (a small read buffer gets it
//! in pieces). Empty messages are never surfaced through `AsyncRead`. Errors are
//! [`StreamError`]s inside [`io::Error`]s. Output (including handshake replies and
//! keepalives) is flushed while a read or write is being polled, so keep a reader
//! polling, as with any duplex stream.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker, ready};

use rand_core::{OsRng, TryRngCore, UnwrapErr};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::error::StreamError;
use crate::keys::KeyPair;
use crate::session::{Config, Event, Keys, MAX_WRITE, Random, Session, Start};

/// Raw bytes read per `poll_read` of the inner stream.
const READ_CHUNK: usize = 64 * 1024;
/// `poll_write` first flushes when this much output is waiting.
const WRITE_HIGH_WATER: usize = 256 * 1024;

/// An encrypted, framed duplex stream over `S` (JS `NoiseSecretStream`).
pub struct SecretStream<S> {
    io: S,
    session: Session,
    scratch: Vec<u8>,
    out: Vec<u8>,
    out_pos: usize,
    chunk: Vec<u8>,
    chunk_pos: usize,
    chunks: VecDeque<Vec<u8>>,
    messages: VecDeque<Vec<u8>>,
    eof_in: bool,
    ended: bool,
    timer: Option<Pin<Box<Sleep>>>,
    /// Set when a poll wrote bytes or fed input: the other direction may be waiting.
    progressed: bool,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> SecretStream<S> {
    /// Runs Noise XX as initiator over `io` and waits until the peer's header verified.
    pub async fn xx_initiator(io: S, static_key: KeyPair, config: Config) -> io::Result<Self> {
        let ephemeral = KeyPair::generate(&mut UnwrapErr(OsRng));
        Self::start(
            io,
            Start::XxInitiator {
                static_key,
                ephemeral,
            },
            config,
        )
        .await
    }

    /// Runs Noise XX as responder over `io` and waits until the peer's header verified.
    pub async fn xx_responder(io: S, static_key: KeyPair, config: Config) -> io::Result<Self> {
        let ephemeral = KeyPair::generate(&mut UnwrapErr(OsRng));
        Self::start(
            io,
            Start::XxResponder {
                static_key,
                ephemeral,
            },
            config,
        )
        .await
    }

    /// Starts from a finished handshake (hyperdht) and waits until the peer's header
    /// verified.
    pub async fn from_handshake(io: S, keys: Keys, config: Config) -> io::Result<Self> {
        Self::start(io, Start::Handshake(keys), config).await
    }

    /// Starts a session with fresh OS randomness and waits for [`Self::ready`].
    pub async fn start(io: S, start: Start, config: Config) -> io::Result<Self> {
        let mut random = Random {
            header: [0; 24],
            send_counter: [0; 8],
        };
        let os_rng = |e: rand_core::OsError| io::Error::other(e.to_string());
        OsRng.try_fill_bytes(&mut random.header).map_err(os_rng)?;
        OsRng
            .try_fill_bytes(&mut random.send_counter)
            .map_err(os_rng)?;
        let session = Session::new(start, random, config, now())?;
        let mut s = Self::with_session(io, session);
        s.ready().await?;
        Ok(s)
    }

    /// Wraps a session built by the caller (injected randomness); nothing runs until
    /// polled.
    pub fn with_session(io: S, session: Session) -> Self {
        Self {
            io,
            session,
            scratch: vec![0; READ_CHUNK],
            out: Vec::new(),
            out_pos: 0,
            chunk: Vec::new(),
            chunk_pos: 0,
            chunks: VecDeque::new(),
            messages: VecDeque::new(),
            eof_in: false,
            ended: false,
            timer: None,
            progressed: false,
            read_waker: None,
            write_waker: None,
        }
    }

    /// Drives the handshake and header exchange until the stream is open.
    pub async fn ready(&mut self) -> io::Result<()> {
        poll_fn(|cx| {
            loop {
                if self.session.is_open() {
                    // Our header (and any handshake reply) goes out before we report open.
                    return self.poll_drain_out(cx);
                }
                if self.eof_in {
                    return Poll::Ready(Err(StreamError::UnexpectedEof.into()));
                }
                ready!(self.poll_progress(cx))?;
            }
        })
        .await
    }

    /// The peer's static public key (after [`Self::ready`]).
    pub fn remote_public_key(&self) -> Option<&[u8; 32]> {
        self.session.remote_public_key()
    }

    /// This side's static public key (after [`Self::ready`]).
    pub fn public_key(&self) -> Option<&[u8; 32]> {
        self.session.public_key()
    }

    /// The 64-byte handshake hash (after [`Self::ready`]).
    pub fn handshake_hash(&self) -> Option<&[u8; 64]> {
        self.session.handshake_hash()
    }

    /// Whether this side initiated the handshake (after [`Self::ready`]).
    pub fn is_initiator(&self) -> Option<bool> {
        self.session.is_initiator()
    }

    /// The core, for inspection.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// The inner stream.
    pub fn get_ref(&self) -> &S {
        &self.io
    }

    /// Seals one unordered message for the transport's datagram API.
    pub fn send_datagram(&mut self, plaintext: &[u8]) -> io::Result<Vec<u8>> {
        Ok(self.session.send_datagram(plaintext)?)
    }

    /// Opens one datagram from the transport; `None` when dropped (short, forged, early).
    pub fn handle_datagram(&mut self, envelope: &[u8]) -> Option<Vec<u8>> {
        if !self.session.handle_datagram(envelope) {
            return None;
        }
        self.take_events();
        self.messages.pop_back()
    }

    fn take_events(&mut self) {
        while let Some(e) = self.session.poll_event() {
            match e {
                Event::Data(d) if !d.is_empty() => self.chunks.push_back(d),
                Event::Message(m) => self.messages.push_back(m),
                Event::End => self.ended = true,
                Event::Data(_) | Event::Handshake | Event::Open => {}
            }
        }
    }

    fn collect_transmit(&mut self) {
        if let Some(bytes) = self.session.poll_transmit() {
            if self.out_pos == self.out.len() {
                self.out = bytes;
                self.out_pos = 0;
            } else {
                self.out.extend_from_slice(&bytes);
            }
        }
    }

    /// Writes queued output to the inner stream until it is empty or blocks.
    fn poll_drain_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.collect_transmit();
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
            self.progressed = true;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }

    /// Runs the keepalive timer; registers the waker for the next deadline.
    fn poll_timer(&mut self, cx: &mut Context<'_>) {
        loop {
            let Some(deadline) = self.session.poll_timeout() else {
                self.timer = None;
                return;
            };
            let deadline = Instant::from_std(deadline);
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
            if timer.deadline() != deadline {
                timer.as_mut().reset(deadline);
            }
            if timer.as_mut().poll(cx).is_pending() {
                return;
            }
            self.session.handle_timeout(now());
        }
    }

    /// One step of reading: flushes output, runs the timer, reads raw bytes into the
    /// session. Ready when something changed (new events, end or error).
    fn poll_progress(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(e) = self.session.error() {
            return Poll::Ready(Err(e.into()));
        }
        if let Poll::Ready(Err(e)) = self.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        self.poll_timer(cx);
        if let Poll::Ready(Err(e)) = self.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        if self.eof_in {
            return Poll::Ready(Ok(()));
        }
        let mut buf = ReadBuf::new(&mut self.scratch);
        ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf))?;
        let n = buf.filled().len();
        if n == 0 {
            // EOF is progress too: this poll may have taken over the waker of a pending
            // write of the other half, which must be woken to see the new state.
            self.progressed = true;
            self.eof_in = true;
            self.session.handle_eof()?;
        } else {
            self.progressed = true;
            self.session.handle_input(now(), &self.scratch[..n])?;
        }
        if let Poll::Ready(Err(e)) = self.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(()))
    }
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for SecretStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = this.poll_read_inner(cx, buf);
        this.after_poll(cx, true);
        r
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> SecretStream<S> {
    /// Both directions share the inner stream, whose write readiness keeps only the last
    /// waker (`tokio::io::split` halves polled from two tasks): remember each
    /// direction's waker and wake the other one whenever this poll made progress.
    fn after_poll(&mut self, cx: &mut Context<'_>, reading: bool) {
        let (mine, other) = if reading {
            (&mut self.read_waker, &mut self.write_waker)
        } else {
            (&mut self.write_waker, &mut self.read_waker)
        };
        if !mine.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            *mine = Some(cx.waker().clone());
        }
        if core::mem::take(&mut self.progressed) {
            if let Some(w) = other.take() {
                if !w.will_wake(cx.waker()) {
                    w.wake();
                }
            }
        }
    }

    fn poll_read_inner(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self;
        loop {
            if this.chunk_pos < this.chunk.len() {
                let n = buf.remaining().min(this.chunk.len() - this.chunk_pos);
                buf.put_slice(&this.chunk[this.chunk_pos..this.chunk_pos + n]);
                this.chunk_pos += n;
                return Poll::Ready(Ok(()));
            }
            this.take_events();
            if let Some(next) = this.chunks.pop_front() {
                this.chunk = next;
                this.chunk_pos = 0;
                continue;
            }
            if this.ended {
                return Poll::Ready(Ok(()));
            }
            if let Some(e) = this.session.error() {
                return Poll::Ready(Err(e.into()));
            }
            ready!(this.poll_progress(cx))?;
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for SecretStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = this.poll_write_inner(cx, buf);
        this.after_poll(cx, false);
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = match this.poll_drain_out(cx) {
            Poll::Ready(Ok(())) => Pin::new(&mut this.io).poll_flush(cx),
            other => other,
        };
        this.after_poll(cx, false);
        r
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let r = match this.poll_drain_out(cx) {
            Poll::Ready(Ok(())) => {
                this.session.close();
                Pin::new(&mut this.io).poll_shutdown(cx)
            }
            other => other,
        };
        this.after_poll(cx, false);
        r
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> SecretStream<S> {
    fn poll_write_inner(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self;
        if let Some(e) = this.session.error() {
            return Poll::Ready(Err(e.into()));
        }
        if this.out.len() - this.out_pos + this.session.pending_transmit() >= WRITE_HIGH_WATER {
            ready!(this.poll_drain_out(cx))?;
        }
        let n = buf.len().min(MAX_WRITE);
        this.session.send(now(), &buf[..n])?;
        if let Poll::Ready(Err(e)) = this.poll_drain_out(cx) {
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(n))
    }
}

impl<S> core::fmt::Debug for SecretStream<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SecretStream")
            .field("session", &self.session)
            .finish_non_exhaustive()
    }
}
