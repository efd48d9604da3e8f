//! The dht-rpc packet codec (`dht-rpc lib/io.js#Request._encodeRequest`,
//! `#Request._sendReply`, `#Request.decode`, `#decodeReply`; spec §3).
//!
//! Every packet starts with a type/version byte, `0x03` for a [`Request`] and `0x13` for a
//! [`Response`], then a compact `uint` of flags, the `uint16` LE transaction id and the
//! 6-byte address the packet is sent *to*. The flags say which optional fields follow.
//!
//! # Bad input
//!
//! Decoding is total: any byte string gives a packet or a [`DecodeError`], never a panic.
//! As in the reference, unknown flag bits and bytes after the last present field are
//! ignored, and non-minimal `uint` forms are accepted. Consequently re-encoding a decoded
//! packet reproduces the input only when the input was canonical (one-byte flags with no
//! unknown bits, minimal `uint`s, no trailing bytes), which every reference encoder emits.
//!
//! No count makes the decoder allocate beyond the input: a closer-node count is checked
//! against the bytes that remain (6 per node) before the list is allocated. Counts above
//! [`plures_compact::MAX_ARRAY_LEN`] are rejected like the reference rejects them; in
//! practice a UDP payload (at most 65 507 bytes) bounds a list to 10 916 nodes.

mod request;
mod response;

use std::net::SocketAddrV4;

use plures_compact::{Decode, Decoder, Encode, Sink};

use crate::error::DecodeError;
use crate::id::NodeId;

pub use request::Request;
pub use response::Response;

/// The protocol version in the low nibble of byte 0.
pub const VERSION: u8 = 3;
/// Byte 0 of a request (`REQUEST_ID`, type 0).
pub const REQUEST_TYPE: u8 = VERSION;
/// Byte 0 of a response (`RESPONSE_ID`, type 1).
pub const RESPONSE_TYPE: u8 = 0x10 | VERSION;

/// Flag bits of a request.
pub mod request_flags {
    /// The sender's id follows.
    pub const ID: u64 = 0x01;
    /// A token follows.
    pub const TOKEN: u64 = 0x02;
    /// The command is an internal dht-rpc command (no bytes of its own).
    pub const INTERNAL: u64 = 0x04;
    /// A target follows the command.
    pub const TARGET: u64 = 0x08;
    /// A value follows.
    pub const VALUE: u64 = 0x10;
}

/// Flag bits of a response (bits 2 and 3 differ from requests).
pub mod response_flags {
    /// The responder's id follows.
    pub const ID: u64 = 0x01;
    /// A token follows.
    pub const TOKEN: u64 = 0x02;
    /// A closer-nodes list follows.
    pub const CLOSER_NODES: u64 = 0x04;
    /// An error code follows.
    pub const ERROR: u64 = 0x08;
    /// A value follows.
    pub const VALUE: u64 = 0x10;
}

/// A decoded dht-rpc datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// Byte 0 was `0x03`.
    Request(Request<'a>),
    /// Byte 0 was `0x13`.
    Response(Response<'a>),
}

impl<'a> Packet<'a> {
    /// Decodes a datagram as the reference's message handler does: fewer than 2 bytes or an
    /// unknown byte 0 is not a packet; otherwise the fields are decoded in order and
    /// trailing bytes are ignored.
    pub fn decode(datagram: &'a [u8]) -> Result<Self, DecodeError> {
        if datagram.len() < 2 {
            return Err(DecodeError::TooShort(datagram.len()));
        }
        match datagram[0] {
            REQUEST_TYPE => Ok(Self::Request(Request::from_bytes(datagram)?)),
            RESPONSE_TYPE => Ok(Self::Response(Response::from_bytes(datagram)?)),
            other => Err(DecodeError::UnknownType(other)),
        }
    }

    /// The transaction id.
    pub fn tid(&self) -> u16 {
        match self {
            Self::Request(r) => r.tid,
            Self::Response(r) => r.tid,
        }
    }

    /// The address the sender sent the packet to, as the sender sees it.
    pub fn to(&self) -> SocketAddrV4 {
        match self {
            Self::Request(r) => r.to,
            Self::Response(r) => r.to,
        }
    }

    /// The id the sender carried, not yet validated (see [`crate::validate_id`]).
    pub fn id(&self) -> Option<NodeId> {
        match self {
            Self::Request(r) => r.id,
            Self::Response(r) => r.id,
        }
    }
}

impl Encode for Packet<'_> {
    fn encode<S: Sink>(&self, sink: &mut S) {
        match self {
            Self::Request(r) => r.encode(sink),
            Self::Response(r) => r.encode(sink),
        }
    }
}

/// Reads the common header after byte 0: flags, tid, to.
fn decode_header(
    d: &mut Decoder<'_>,
) -> Result<(u64, u16, SocketAddrV4), plures_compact::DecodeError> {
    let flags = d.uint()?;
    let tid = d.u16()?;
    let to = d.ipv4_address()?;
    Ok((flags, tid, to))
}

/// Reads a 32-byte field if `flag` is set in `flags`.
fn fixed32_if(
    d: &mut Decoder<'_>,
    flags: u64,
    flag: u64,
) -> Result<Option<[u8; 32]>, plures_compact::DecodeError> {
    if flags & flag == 0 {
        return Ok(None);
    }
    d.fixed::<32>().map(Some)
}

/// Checks byte 0 against the expected type.
fn expect_type(d: &mut Decoder<'_>, want: u8) -> Result<(), plures_compact::DecodeError> {
    if d.u8()? == want {
        Ok(())
    } else {
        Err(plures_compact::DecodeError::Invalid("packet type"))
    }
}

#[cfg(test)]
mod tests;
