//! [`UdxStream`] and [`UdxMessages`]: the handles of one stream.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Mutex, mpsc, oneshot, watch};

use super::task::{Chunk, Command, Key, Reply, StreamLink};
use super::{close_error, command_error, driver_gone};
use crate::{CloseReason, StreamError};

/// The most bytes one `poll_write` hands to the task (the core's 256 KiB high
/// watermark), so that a huge `write_all` is copied and throttled in steps.
const MAX_WRITE: usize = 262_144;

type Answer<T> = oneshot::Receiver<Result<T, StreamError>>;

/// What every handle of one stream shares; dropping the last one releases the stream.
#[derive(Debug)]
struct Shared {
    key: Key,
    commands: mpsc::UnboundedSender<Command>,
    closed: watch::Receiver<Option<CloseReason>>,
    incoming: watch::Receiver<Option<SocketAddr>>,
    messages: Mutex<mpsc::UnboundedReceiver<Vec<u8>>>,
}

impl Shared {
    fn send(&self, command: Command) -> io::Result<()> {
        self.commands.send(command).map_err(|_| driver_gone())
    }

    /// Sends a command built around a fresh reply channel and waits for the answer.
    async fn ask<T>(&self, command: impl FnOnce(Reply<T>) -> Command) -> io::Result<T> {
        let (reply, rx) = oneshot::channel();
        self.send(command(reply))?;
        let answer = rx.await.map_err(|_| driver_gone())?;
        answer.map_err(|e| self.error(e))
    }

    /// Maps a refused command: "unknown stream" means it has closed, and why it closed
    /// is the better error.
    fn error(&self, e: StreamError) -> io::Error {
        match (e, *self.closed.borrow()) {
            (StreamError::UnknownStream(_), Some(reason)) => close_error(reason),
            _ => command_error(e),
        }
    }

    fn closed_error(&self) -> io::Error {
        self.closed.borrow().map_or_else(driver_gone, close_error)
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Release { key: self.key });
    }
}

/// How the read side stands once the data channel said its last word.
#[derive(Debug, Clone, Copy)]
enum ReadEnd {
    Open,
    Eof,
    Failed(CloseReason),
    Gone,
}

/// One UDX stream: ordered reliable bytes ([`AsyncRead`] / [`AsyncWrite`]) plus
/// unreliable messages.
///
/// - `shutdown` queues END after the written bytes (half close); reads go on until the
///   peer's END (EOF).
/// - A write returns `Pending` while the stream's send queue is above its high watermark,
///   until the endpoint reports it drained. A write's error (the stream closed) shows on
///   the next write, flush or shutdown.
/// - Dropping every handle of a stream that was not shut down destroys it (DESTROY to the
///   peer); after `shutdown` the close is left to finish in the background.
#[derive(Debug)]
pub struct UdxStream {
    shared: Arc<Shared>,
    data: mpsc::UnboundedReceiver<Chunk>,
    chunk: Vec<u8>,
    pos: usize,
    read_end: ReadEnd,
    write: Option<Answer<()>>,
    shutdown: Option<Answer<()>>,
    shut: bool,
}

impl UdxStream {
    pub(super) fn new(link: StreamLink, commands: mpsc::UnboundedSender<Command>) -> Self {
        Self {
            shared: Arc::new(Shared {
                key: link.key,
                commands,
                closed: link.closed,
                incoming: link.incoming,
                messages: Mutex::new(link.messages),
            }),
            data: link.data,
            chunk: Vec::new(),
            pos: 0,
            read_end: ReadEnd::Open,
            write: None,
            shutdown: None,
            shut: false,
        }
    }

    /// The local stream id.
    #[must_use]
    pub fn id(&self) -> u32 {
        self.shared.key.id
    }

    /// Connects to the peer stream `remote_id` at `addr` (udx-native `connect`).
    pub async fn connect(&self, remote_id: u32, addr: SocketAddr) -> io::Result<()> {
        let key = self.shared.key;
        self.shared
            .ask(|reply| Command::Connect {
                key,
                remote_id,
                addr,
                reply,
            })
            .await
    }

    /// Sends one unreliable message (at most 1152 bytes to IPv4, 1132 to IPv6).
    pub async fn send_message(&self, data: &[u8]) -> io::Result<()> {
        self.messages().send_message(data).await
    }

    /// The next message from the peer.
    pub async fn recv_message(&self) -> io::Result<Vec<u8>> {
        self.messages().recv_message().await
    }

    /// A handle for messages that outlives a [`tokio::io::split`] of this stream.
    #[must_use]
    pub fn messages(&self) -> UdxMessages {
        UdxMessages {
            shared: Arc::clone(&self.shared),
        }
    }

    /// Destroys the stream: one DESTROY to the peer, queued data discarded. Later reads
    /// and writes fail with `ConnectionAborted`.
    pub fn destroy(&self) {
        let _ = self.shared.send(Command::Destroy {
            key: self.shared.key,
        });
    }

    /// Waits until the stream has closed: `Ok` after a graceful close (both ENDs
    /// acknowledged) or a local destroy, the mapped error otherwise.
    pub async fn closed(&self) -> io::Result<()> {
        let mut rx = self.shared.closed.clone();
        let reason = *rx
            .wait_for(Option::is_some)
            .await
            .map_err(|_| driver_gone())?;
        match reason {
            Some(CloseReason::Ended | CloseReason::Destroyed) => Ok(()),
            Some(r) => Err(close_error(r)),
            None => Err(driver_gone()),
        }
    }

    /// The source address of the first datagram that reached this stream before it was
    /// connected. Only streams created with `Firewall::AcceptAll` see such datagrams
    /// (hyperdht's firewall hook: a server binds its stream to wherever the client's
    /// first packet comes from); waits until one arrives, fails if the stream closes.
    pub async fn first_datagram_source(&self) -> io::Result<SocketAddr> {
        let mut rx = self.shared.incoming.clone();
        let mut closed = self.shared.closed.clone();
        tokio::select! {
            seen = rx.wait_for(Option::is_some) => {
                let seen = *seen.map_err(|_| driver_gone())?;
                seen.ok_or_else(driver_gone)
            }
            _ = closed.wait_for(Option::is_some) => Err(self.shared.closed_error()),
        }
    }

    /// Sends a HEARTBEAT every `interval` while idle (`None`: off).
    pub async fn set_keepalive(&self, interval: Option<Duration>) -> io::Result<()> {
        let key = self.shared.key;
        self.shared
            .ask(|reply| Command::Keepalive {
                key,
                interval,
                reply,
            })
            .await
    }

    /// Moves the stream to a new remote id and address; resolves once the peer has
    /// acknowledged everything sent before the change (udx-native `changeRemote`).
    pub async fn change_remote(&self, remote_id: u32, addr: SocketAddr) -> io::Result<()> {
        let key = self.shared.key;
        self.shared
            .ask(|reply| Command::ChangeRemote {
                key,
                remote_id,
                addr,
                reply,
            })
            .await
    }

    /// Forwards every packet this stream receives to `dst`'s peer (blind relay). Both
    /// streams must belong to the same [`UdxSocket`](super::UdxSocket).
    pub async fn relay_to(&self, dst: &Self) -> io::Result<()> {
        let key = self.shared.key;
        let dst = dst.shared.key;
        self.shared
            .ask(|reply| Command::RelayTo { key, dst, reply })
            .await
    }

    /// Waits for the answer to the previous write.
    fn poll_write_done(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(rx) = &mut self.write {
            let answer = ready!(Pin::new(rx).poll(cx));
            self.write = None;
            match answer {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Poll::Ready(Err(self.shared.error(e))),
                Err(_) => return Poll::Ready(Err(driver_gone())),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for UdxStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if let Some(rest) = this.chunk.get(this.pos..).filter(|r| !r.is_empty()) {
                let n = rest.len().min(buf.remaining());
                buf.put_slice(&rest[..n]);
                this.pos += n;
                return Poll::Ready(Ok(()));
            }
            match this.read_end {
                ReadEnd::Open => {}
                ReadEnd::Eof => return Poll::Ready(Ok(())),
                ReadEnd::Failed(reason) => return Poll::Ready(Err(close_error(reason))),
                ReadEnd::Gone => return Poll::Ready(Err(driver_gone())),
            }
            match ready!(this.data.poll_recv(cx)) {
                Some(Chunk::Data(data)) => {
                    this.chunk = data;
                    this.pos = 0;
                }
                Some(Chunk::End | Chunk::Closed(CloseReason::Ended)) => {
                    this.read_end = ReadEnd::Eof
                }
                Some(Chunk::Closed(reason)) => this.read_end = ReadEnd::Failed(reason),
                None => this.read_end = ReadEnd::Gone,
            }
        }
    }
}

impl AsyncWrite for UdxStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_write_done(cx))?;
        if this.shut {
            return Poll::Ready(Err(command_error(StreamError::Ended)));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let n = buf.len().min(MAX_WRITE);
        let (reply, rx) = oneshot::channel();
        this.shared.send(Command::Write {
            key: this.shared.key,
            data: buf[..n].to_vec(),
            reply,
        })?;
        this.write = Some(rx);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_write_done(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_done(cx))?;
        if !this.shut {
            let (reply, rx) = oneshot::channel();
            this.shared.send(Command::End {
                key: this.shared.key,
                reply,
            })?;
            this.shutdown = Some(rx);
            this.shut = true;
        }
        if let Some(rx) = &mut this.shutdown {
            let answer = ready!(Pin::new(rx).poll(cx));
            this.shutdown = None;
            match answer {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Poll::Ready(Err(this.shared.error(e))),
                Err(_) => return Poll::Ready(Err(driver_gone())),
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// The message side of a stream ([`UdxStream::messages`]); cloneable, and it keeps the
/// stream alive like any handle.
#[derive(Debug, Clone)]
pub struct UdxMessages {
    shared: Arc<Shared>,
}

impl UdxMessages {
    /// Sends one unreliable message (at most 1152 bytes to IPv4, 1132 to IPv6).
    pub async fn send_message(&self, data: &[u8]) -> io::Result<()> {
        let key = self.shared.key;
        let data = data.to_vec();
        self.shared
            .ask(|reply| Command::Message { key, data, reply })
            .await
    }

    /// The next message from the peer; an error once the stream has closed.
    pub async fn recv_message(&self) -> io::Result<Vec<u8>> {
        let next = self.shared.messages.lock().await.recv().await;
        next.ok_or_else(|| self.shared.closed_error())
    }
}
