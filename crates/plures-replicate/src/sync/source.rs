//! Where connections come from: the [`ConnectionSource`] seam, an in-memory source for
//! tests, and plain TCP for loopback tests.
//!
//! In production the source is the Hyperswarm swarm: each connection is a secret-stream,
//! its handshake hash is the Noise handshake hash, and its role is the Noise role. The TCP
//! sources here exchange a "handshake hash" in clear (the dialer sends 32 bytes first):
//! that binds proofs to the connection but protects nothing, so they are for tests only.

use crate::key::Role;
use std::future::Future;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// One connection, ready for a sync session.
#[derive(Debug)]
pub struct Connection<T> {
    /// The duplex stream (normally a secret-stream).
    pub stream: T,
    /// The secure channel's handshake hash, which capability proofs are bound to.
    pub handshake_hash: Vec<u8>,
    /// This side's role in the channel's handshake.
    pub role: Role,
    /// The transport's identifier of the peer (a secret-stream public key), if any.
    pub remote: Vec<u8>,
}

/// Yields connections until it returns `None`.
pub trait ConnectionSource: Send + 'static {
    /// The stream type.
    type Stream: AsyncRead + AsyncWrite + Send + 'static;

    /// The next connection, or `None` when the source is exhausted.
    fn next(&mut self) -> impl Future<Output = Option<Connection<Self::Stream>>> + Send;
}

/// The receiving end of an in-memory source.
#[derive(Debug)]
pub struct MemorySource<T = DuplexStream> {
    rx: mpsc::UnboundedReceiver<Connection<T>>,
}

/// Hands connections to a [`MemorySource`].
#[derive(Debug)]
pub struct MemoryDialer<T = DuplexStream> {
    tx: mpsc::UnboundedSender<Connection<T>>,
    /// This end's identifier, passed to the peer as [`Connection::remote`].
    pub id: Vec<u8>,
}

impl<T> Clone for MemoryDialer<T> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
            id: self.id.clone(),
        }
    }
}

impl<T> MemoryDialer<T> {
    /// Gives `conn` to the source; `false` if the source is gone.
    pub fn offer(&self, conn: Connection<T>) -> bool {
        self.tx.send(conn).is_ok()
    }
}

/// A new in-memory source and the dialer that feeds it.
pub fn memory_source<T>(id: &[u8]) -> (MemoryDialer<T>, MemorySource<T>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        MemoryDialer {
            tx,
            id: id.to_vec(),
        },
        MemorySource { rx },
    )
}

/// Connects two in-memory sources with a `tokio::io::duplex` pair; `handshake_hash` stands
/// in for the secure channel's (pass a fresh random one per pair). `a` is the initiator.
pub fn connect_memory(a: &MemoryDialer, b: &MemoryDialer, handshake_hash: [u8; 32]) -> bool {
    let (sa, sb) = tokio::io::duplex(256 * 1024);
    let ca = Connection {
        stream: sa,
        handshake_hash: handshake_hash.to_vec(),
        role: Role::Initiator,
        remote: b.id.clone(),
    };
    let cb = Connection {
        stream: sb,
        handshake_hash: handshake_hash.to_vec(),
        role: Role::Responder,
        remote: a.id.clone(),
    };
    a.offer(ca) && b.offer(cb)
}

impl<T: AsyncRead + AsyncWrite + Send + 'static> ConnectionSource for MemorySource<T> {
    type Stream = T;

    async fn next(&mut self) -> Option<Connection<T>> {
        self.rx.recv().await
    }
}

/// Accepts TCP connections as the responder, reading the dialer's 32-byte "handshake hash"
/// first. Test only: see the module docs.
#[derive(Debug)]
pub struct TcpListenerSource {
    listener: TcpListener,
}

impl TcpListenerSource {
    /// Accepts on `listener`.
    pub fn new(listener: TcpListener) -> Self {
        Self { listener }
    }
}

impl ConnectionSource for TcpListenerSource {
    type Stream = TcpStream;

    async fn next(&mut self) -> Option<Connection<TcpStream>> {
        loop {
            let (mut stream, addr) = self.listener.accept().await.ok()?;
            let mut hash = [0u8; 32];
            if stream.read_exact(&mut hash).await.is_ok() {
                return Some(Connection {
                    stream,
                    handshake_hash: hash.to_vec(),
                    role: Role::Responder,
                    remote: addr.to_string().into_bytes(),
                });
            }
        }
    }
}

/// Dials one TCP address as the initiator, sending `handshake_hash` (from an injected
/// random source) in clear. Test only: see the module docs.
#[derive(Debug)]
pub struct TcpDialSource {
    target: Option<(std::net::SocketAddr, [u8; 32])>,
}

impl TcpDialSource {
    /// One connection to `addr`.
    pub fn new(addr: std::net::SocketAddr, handshake_hash: [u8; 32]) -> Self {
        Self {
            target: Some((addr, handshake_hash)),
        }
    }
}

impl ConnectionSource for TcpDialSource {
    type Stream = TcpStream;

    async fn next(&mut self) -> Option<Connection<TcpStream>> {
        let Some((addr, hash)) = self.target.take() else {
            return std::future::pending().await;
        };
        let mut stream = TcpStream::connect(addr).await.ok()?;
        stream.write_all(&hash).await.ok()?;
        Some(Connection {
            stream,
            handshake_hash: hash.to_vec(),
            role: Role::Initiator,
            remote: addr.to_string().into_bytes(),
        })
    }
}
