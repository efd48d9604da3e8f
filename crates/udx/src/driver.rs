//! A tokio driver for the sans-IO [`Endpoint`](crate::Endpoint) (feature `tokio`, on by
//! default).
//!
//! [`UdxSocket::bind`] binds one UDP socket and spawns one task that owns the socket and
//! an [`Endpoint`](crate::Endpoint). The task is a thin loop: it waits for a datagram, the
//! endpoint's next timer or a command from a handle, feeds the endpoint, then drains it
//! (transmits, then events). It makes no protocol decisions; it only saves datagrams and
//! wake-ups (`coalesce.rs`): when received data is handed to a reader, the task yields
//! once before sending, so that a reply written in that tick carries the ACK, and a pure
//! ACK that a later packet of the same stream repeats is not sent. The socket is
//! registered for readability only, so sends do not wake the task. Handles talk to it
//! over a channel:
//!
//! - [`UdxSocket`]: creates streams, sends raw datagrams (holepunch probes with their
//!   own TTL, dht-rpc messages) and hands up every datagram the endpoint does not take
//!   ([`UdxSocket::recv_other`]), unchanged, so dht-rpc can share the socket (§13).
//! - [`UdxStream`]: one UDX stream, [`AsyncRead`](tokio::io::AsyncRead) +
//!   [`AsyncWrite`](tokio::io::AsyncWrite) (split it with [`tokio::io::split`]),
//!   unreliable messages, END on `shutdown`, abortive [`destroy`](UdxStream::destroy).
//! - [`UdxMessages`]: the message half of a stream, which survives a split.
//!
//! Errors are [`std::io::Error`]s: a DESTROY from the peer is
//! [`ConnectionReset`](std::io::ErrorKind::ConnectionReset), the retransmission give-up is
//! [`TimedOut`](std::io::ErrorKind::TimedOut), a local destroy is
//! [`ConnectionAborted`](std::io::ErrorKind::ConnectionAborted), writing after `shutdown`
//! is [`BrokenPipe`](std::io::ErrorKind::BrokenPipe).
//!
//! The task ends when the socket handle and every stream handle are dropped; streams
//! still open then are destroyed.

mod coalesce;
mod socket;
mod stream;
mod task;

pub use socket::UdxSocket;
pub use stream::{UdxMessages, UdxStream};

use std::io;

use crate::{CloseReason, StreamError};

/// Maps a refused command to an [`io::Error`].
fn command_error(e: StreamError) -> io::Error {
    let kind = match e {
        StreamError::UnknownStream(_) | StreamError::NotConnected => io::ErrorKind::NotConnected,
        StreamError::IdInUse(_) => io::ErrorKind::AddrInUse,
        StreamError::AlreadyConnected => io::ErrorKind::AlreadyExists,
        StreamError::Ended => io::ErrorKind::BrokenPipe,
        StreamError::InvalidPort
        | StreamError::MessageTooLong { .. }
        | StreamError::RelayToSelf => io::ErrorKind::InvalidInput,
    };
    io::Error::new(kind, e)
}

/// Maps the reason a stream closed to the error later operations on it report.
fn close_error(reason: CloseReason) -> io::Error {
    match reason {
        CloseReason::Reset => io::Error::new(
            io::ErrorKind::ConnectionReset,
            "the peer destroyed the stream (ECONNRESET)",
        ),
        CloseReason::TimedOut => io::Error::new(
            io::ErrorKind::TimedOut,
            "the peer stopped acknowledging (ETIMEDOUT)",
        ),
        CloseReason::Destroyed => {
            io::Error::new(io::ErrorKind::ConnectionAborted, "the stream was destroyed")
        }
        CloseReason::Ended => io::Error::new(io::ErrorKind::BrokenPipe, "the stream has closed"),
    }
}

/// The error of a handle whose driver task is gone.
fn driver_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the UDX socket task has stopped")
}

#[cfg(test)]
mod tests;
