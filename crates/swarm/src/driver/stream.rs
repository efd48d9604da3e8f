//! The stream type handed to the user: a secret-stream that tells the swarm when it ends
//! and lets the swarm close it when a duplicate wins (spec §11).

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Context, Poll};

use plures_hyperdht::driver::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use crate::core::{CloseReason, ConnId};

use super::Msg;

fn lock(s: &Mutex<Stream>) -> MutexGuard<'_, Stream> {
    s.lock().unwrap_or_else(PoisonError::into_inner)
}

/// What the swarm and one [`SwarmStream`] share.
#[derive(Debug)]
pub(super) struct Shared {
    id: ConnId,
    key: [u8; 32],
    read: AtomicU64,
    written: AtomicU64,
    reported: AtomicBool,
    tx: mpsc::UnboundedSender<Msg>,
}

impl Shared {
    fn report(&self, reason: CloseReason) {
        if !self.reported.swap(true, Ordering::SeqCst) {
            let _ = self.tx.send(Msg::Closed {
                id: self.id,
                key: self.key,
                reason,
            });
        }
    }

    /// Both directions carried data (the reference's "outdated" test, spec §11).
    pub(super) fn exchanged_data(&self) -> bool {
        self.read.load(Ordering::Relaxed) > 0 && self.written.load(Ordering::Relaxed) > 0
    }
}

/// The swarm's handle on a stream it handed out.
#[derive(Debug)]
pub(super) struct Handle {
    stream: Weak<Mutex<Stream>>,
    pub(super) shared: Arc<Shared>,
}

impl Handle {
    /// Sends a keepalive now (an empty message, which the peer drops; spec §12 after a
    /// network change): a dead path then shows up soon as a UDX timeout. Best effort: if
    /// the stream cannot take a frame right now, it is skipped (the secret-stream's own
    /// 5 s keepalive remains).
    pub(super) fn keep_alive(&self) {
        if let Some(s) = self.stream.upgrade() {
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let _ = Pin::new(&mut *lock(&s)).poll_write(&mut cx, &[]);
        }
    }

    /// Destroys the stream (the user's reads and writes then fail).
    pub(super) fn kill(&self) {
        self.shared.reported.store(true, Ordering::SeqCst);
        if let Some(s) = self.stream.upgrade() {
            lock(&s).get_ref().destroy();
        }
    }
}

/// An encrypted connection to a peer ([`AsyncRead`] + [`AsyncWrite`]).
///
/// The swarm notices when the underlying stream closes even if nobody reads it; reading
/// the end of the stream or an error also counts. Such a close means the peer dropped
/// the connection (a retry follows per the back-off rules if we dialled it). `shutdown`,
/// [`destroy`](Self::destroy) or dropping it tells the swarm the close was deliberate
/// (no retry). Unreliable UDX messages are not available on it.
#[derive(Debug)]
pub struct SwarmStream {
    inner: Arc<Mutex<Stream>>,
    shared: Arc<Shared>,
    watcher: tokio::task::JoinHandle<()>,
}

impl SwarmStream {
    pub(super) fn new(
        stream: Stream,
        id: ConnId,
        key: [u8; 32],
        tx: mpsc::UnboundedSender<Msg>,
    ) -> (Self, Handle) {
        let inner = Arc::new(Mutex::new(stream));
        let shared = Arc::new(Shared {
            id,
            key,
            read: AtomicU64::new(0),
            written: AtomicU64::new(0),
            reported: AtomicBool::new(false),
            tx,
        });
        let handle = Handle {
            stream: Arc::downgrade(&inner),
            shared: Arc::clone(&shared),
        };
        // The message side of the UDX stream ends when the stream closes, however it
        // closes: that is the swarm's close signal for idle connections.
        let messages = lock(&inner).get_ref().messages();
        let watched = Arc::clone(&shared);
        let watcher = tokio::spawn(async move {
            while messages.recv_message().await.is_ok() {}
            watched.report(CloseReason::Remote);
        });
        (
            Self {
                inner,
                shared,
                watcher,
            },
            handle,
        )
    }

    /// The Noise handshake hash (channel binding).
    pub fn handshake_hash(&self) -> Option<[u8; 64]> {
        lock(&self.inner).handshake_hash().copied()
    }

    /// The remote public key.
    pub fn remote_public_key(&self) -> [u8; 32] {
        self.shared.key
    }

    /// Whether we dialled.
    pub fn is_initiator(&self) -> Option<bool> {
        lock(&self.inner).is_initiator()
    }

    /// Closes the connection now (deliberately: no reconnect), discarding queued data.
    pub fn destroy(&self) {
        self.shared.report(CloseReason::Local);
        lock(&self.inner).get_ref().destroy();
    }
}

impl Drop for SwarmStream {
    fn drop(&mut self) {
        self.shared.report(CloseReason::Local);
        // The watcher holds a handle of the UDX stream: without it the stream is released.
        self.watcher.abort();
    }
}

impl AsyncRead for SwarmStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut *lock(&self.inner)).poll_read(cx, buf);
        match &polled {
            Poll::Ready(Ok(())) => {
                let n = buf.filled().len() - before;
                if n == 0 && buf.remaining() > 0 {
                    self.shared.report(CloseReason::Remote);
                } else {
                    self.shared.read.fetch_add(n as u64, Ordering::Relaxed);
                }
            }
            Poll::Ready(Err(_)) => self.shared.report(CloseReason::Remote),
            Poll::Pending => {}
        }
        polled
    }
}

impl AsyncWrite for SwarmStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut *lock(&self.inner)).poll_write(cx, data);
        match &polled {
            Poll::Ready(Ok(n)) => {
                self.shared.written.fetch_add(*n as u64, Ordering::Relaxed);
            }
            Poll::Ready(Err(_)) => self.shared.report(CloseReason::Remote),
            Poll::Pending => {}
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut *lock(&self.inner)).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.report(CloseReason::Local);
        Pin::new(&mut *lock(&self.inner)).poll_shutdown(cx)
    }
}
