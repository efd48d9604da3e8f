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
