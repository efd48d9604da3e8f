//! The response packet (spec §3.3).

use std::net::SocketAddrV4;

use plures_compact::{Decode, DecodeError, Decoder, Encode, Sink};

use super::{RESPONSE_TYPE, decode_header, expect_type, fixed32_if, response_flags as f};
use crate::id::NodeId;
use crate::token::Token;

/// Bytes per closer node (`ipv4Address`).
const NODE_LEN: usize = 6;

/// A response packet:
/// `13 flags tid to [id] [token] [closerNodes] [error] [value]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// Transaction id of the request being answered.
    pub tid: u16,
    /// The requester's address as the responder observed it (a NAT sample for the
    /// requester).
    pub to: SocketAddrV4,
    /// The responder's id, present only from persistent nodes on their server socket.
    pub id: Option<NodeId>,
    /// A fresh token for the requester.
    pub token: Option<Token>,
    /// Nodes closer to the request's target, in the responder's table order (not sorted
    /// by distance). `Some(vec![])` (flag set, count 0) differs from `None` on the wire,
    /// though the reference never sends it.
    pub closer_nodes: Option<Vec<SocketAddrV4>>,
    /// Error code; 0 means no error and is not written.
    pub error: u64,
    /// The payload; `Some(&[])` (flag set, length 0) differs from `None` on the wire.
    pub value: Option<&'a [u8]>,
}

impl<'a> Response<'a> {
    /// A response with only the mandatory fields.
    pub fn new(tid: u16, to: SocketAddrV4) -> Self {
        Self {
            tid,
            to,
            id: None,
            token: None,
            closer_nodes: None,
            error: 0,
            value: None,
        }
    }

    /// The flags byte the encoder writes.
    pub fn flags(&self) -> u64 {
        let mut flags = 0;
        if self.id.is_some() {
            flags |= f::ID;
        }
        if self.token.is_some() {
            flags |= f::TOKEN;
        }
        if self.closer_nodes.is_some() {
            flags |= f::CLOSER_NODES;
        }
        if self.error != 0 {
            flags |= f::ERROR;
        }
        if self.value.is_some() {
            flags |= f::VALUE;
        }
        flags
    }
}

impl Encode for Response<'_> {
    fn encode<S: Sink>(&self, sink: &mut S) {
        sink.u8(RESPONSE_TYPE);
        sink.uint(self.flags());
        sink.u16(self.tid);
        sink.ipv4_address(self.to);
        if let Some(id) = &self.id {
            sink.put(&id.0);
        }
        if let Some(token) = &self.token {
            sink.put(token);
        }
        if let Some(nodes) = &self.closer_nodes {
            sink.array(nodes, |s, &addr| s.ipv4_address(addr));
        }
        if self.error != 0 {
            sink.uint(self.error);
        }
        if let Some(value) = self.value {
            sink.buffer(value);
        }
    }
}

/// Reads `array(ipv4Address)`, refusing a count the remaining input cannot hold before
/// allocating anything.
fn closer_nodes(d: &mut Decoder<'_>) -> Result<Vec<SocketAddrV4>, DecodeError> {
    let count = d.array_len()?;
    if count > d.remaining() / NODE_LEN {
        return Err(DecodeError::OutOfBounds("closerNodes"));
    }
    let mut nodes = Vec::with_capacity(count);
    for _ in 0..count {
        nodes.push(d.ipv4_address()?);
    }
    Ok(nodes)
}

impl<'a> Decode<'a> for Response<'a> {
    /// Reads a response including its type byte; trailing bytes are left unread.
    fn decode(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        expect_type(d, RESPONSE_TYPE)?;
        let (flags, tid, to) = decode_header(d)?;
        let id = fixed32_if(d, flags, f::ID)?.map(NodeId);
        let token = fixed32_if(d, flags, f::TOKEN)?;
        let closer_nodes = if flags & f::CLOSER_NODES != 0 {
            Some(closer_nodes(d)?)
        } else {
            None
        };
        let error = if flags & f::ERROR != 0 { d.uint()? } else { 0 };
        let value = if flags & f::VALUE != 0 {
            Some(d.buffer()?)
        } else {
            None
        };
        Ok(Self {
            tid,
            to,
            id,
            token,
            closer_nodes,
            error,
            value,
        })
    }
}
