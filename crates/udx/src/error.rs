//! Error types of the UDX layer.
//!
//! Two cases are kept apart: a peer sent a datagram that is not a usable UDX packet
//! ([`DecodeError`]: drop it and count it), and the caller asked for a packet that cannot
//! be written ([`EmitError`]: a bug or a buffer that is too small on our side).

/// Why a datagram could not be read as a UDX packet. Small and `Copy`: decoders run on
/// untrusted network input and never allocate to report a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The datagram is shorter than the 20-byte header. The reference hands such datagrams
    /// to the socket's generic message handler.
    #[error("datagram of {0} bytes is shorter than the 20-byte UDX header")]
    Truncated(usize),
    /// Byte 0 is not the magic `0xff`: not a UDX packet.
    #[error("first byte {0:#04x} is not the UDX magic 0xff")]
    BadMagic(u8),
    /// Byte 1 is not version 1: the reference treats the datagram as non-UDX.
    #[error("version {0} is not UDX version 1")]
    BadVersion(u8),
    /// The data offset points past the end of the datagram. The reference consumes such a
    /// packet (when its stream exists) and drops it without looking at it further.
    #[error("data offset {doff} exceeds the {rest} bytes after the header")]
    DataOffsetTooLarge {
        /// The data offset (header byte 3).
        doff: u8,
        /// The number of bytes after the 20-byte header.
        rest: usize,
    },
}

/// Why a packet could not be written: the caller's request does not describe a packet the
/// wire format can carry, or the output buffer is too small.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The output buffer is shorter than the packet.
    #[error("packet needs {needed} bytes, the buffer holds {available}")]
    BufferTooSmall {
        /// The packet's length.
        needed: usize,
        /// The buffer's length.
        available: usize,
    },
    /// The packet would exceed the 2048-byte receive buffer of libudx, which would
    /// silently truncate it.
    #[error("packet of {0} bytes exceeds the 2048-byte UDX datagram limit")]
    TooLong(usize),
    /// More SACK blocks than libudx ever sends (50), or more than fit a data offset when
    /// the packet also carries a payload (31).
    #[error("{0} SACK blocks do not fit the packet")]
    TooManySackBlocks(usize),
    /// A combination of type flags and body the wire format cannot express; the text
    /// names it.
    #[error("unrepresentable packet: {0}")]
    Unrepresentable(&'static str),
}

/// Why a stream command was refused: the caller misused the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// No live stream has this local id (never created, or closed).
    #[error("no stream with local id {0}")]
    UnknownStream(u32),
    /// A live stream already has this local id.
    #[error("stream id {0} is already in use")]
    IdInUse(u32),
    /// The stream is not connected (`ENOTCONN`).
    #[error("stream is not connected")]
    NotConnected,
    /// The stream is already connected.
    #[error("stream is already connected")]
    AlreadyConnected,
    /// The local direction has ended (`EPIPE`).
    #[error("stream has ended, no more writes")]
    Ended,
    /// Port 0 is not a valid remote port.
    #[error("remote port 0 is invalid")]
    InvalidPort,
    /// A message longer than the stream's maximum payload.
    #[error("message of {len} bytes exceeds the {max}-byte limit")]
    MessageTooLong {
        /// The message's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A stream cannot relay to itself.
    #[error("a stream cannot relay to itself")]
    RelayToSelf,
}
