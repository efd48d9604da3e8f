//! Error types of this layer.

/// Why a datagram is not a dht-rpc packet. Small and `Copy`: the decoder runs on untrusted
/// input, and the node drops such datagrams silently (the reference does too), so the value
/// exists for counting and logging only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer than 2 bytes: never a dht-rpc packet (1-byte datagrams are holepunch probes).
    #[error("datagram of {0} bytes is too short for dht-rpc")]
    TooShort(usize),
    /// Byte 0 is neither `0x03` (request) nor `0x13` (response).
    #[error("unknown packet type byte {0:#04x}")]
    UnknownType(u8),
    /// A field is truncated or malformed.
    #[error("malformed dht-rpc packet: {0}")]
    Field(#[from] plures_compact::DecodeError),
}

/// Caller misuse or exhausted local capacity; the network is never the cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Too many requests or queries are in flight (see the caps in the crate docs).
    #[error("too many requests or queries in flight")]
    Busy,
    /// A packet could not be encoded (a value or list beyond the codec's limits).
    #[error("packet cannot be encoded: {0}")]
    Encode(#[from] plures_compact::EncodeError),
    /// The node is suspended (spec §16): resume it first.
    #[error("node suspended")]
    Suspended,
}

/// A datagram the node dropped. Returned by `Node::handle_datagram` and counted in
/// `Stats`; the reference drops all of these silently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Dropped {
    /// Not a dht-rpc packet, or a malformed one.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The source port is 0.
    #[error("source port 0")]
    SourcePort,
    /// A response that matches no request in flight (tid and source).
    #[error("unmatched response")]
    Unmatched,
    /// An internal request without the value or target it needs (no reply, as in the
    /// reference).
    #[error("malformed internal request")]
    BadInternal,
    /// A local cap was reached (delayed pings, queued replies or events).
    #[error("local capacity exhausted")]
    Overload,
    /// The node is suspended and ignores all input (spec §16).
    #[error("node suspended")]
    Suspended,
}
