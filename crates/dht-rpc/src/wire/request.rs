//! The request packet (spec §3.2).

use std::net::SocketAddrV4;

use plures_compact::{Decode, Decoder, Encode, Sink};

use super::{REQUEST_TYPE, decode_header, expect_type, fixed32_if, request_flags as f};
use crate::command::Command;
use crate::id::NodeId;
use crate::token::Token;

/// A request packet: `03 flags tid to [id] [token] command [target] [value]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request<'a> {
    /// Transaction id, echoed by the response.
    pub tid: u16,
    /// The destination as the sender knows it.
    pub to: SocketAddrV4,
    /// The sender's id, present only from persistent nodes on their server socket.
    pub id: Option<NodeId>,
    /// A token the destination handed out earlier.
    pub token: Option<Token>,
    /// Whether `command` is an internal dht-rpc command (flag `0x04`).
    pub internal: bool,
    /// The command number.
    pub command: u64,
    /// The lookup target.
    pub target: Option<NodeId>,
    /// The payload; `Some(&[])` (flag set, length 0) differs from `None` on the wire.
    pub value: Option<&'a [u8]>,
}

impl<'a> Request<'a> {
    /// A request with only the mandatory fields.
    pub fn new(tid: u16, to: SocketAddrV4, command: Command) -> Self {
        Self {
            tid,
            to,
            id: None,
            token: None,
            internal: command.is_internal(),
            command: command.number(),
            target: None,
            value: None,
        }
    }

    /// The command, classified by the internal flag.
    pub fn command(&self) -> Command {
        Command::from_wire(self.internal, self.command)
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
        if self.internal {
            flags |= f::INTERNAL;
        }
        if self.target.is_some() {
            flags |= f::TARGET;
        }
        if self.value.is_some() {
            flags |= f::VALUE;
        }
        flags
    }
}

impl Encode for Request<'_> {
    fn encode<S: Sink>(&self, sink: &mut S) {
        sink.u8(REQUEST_TYPE);
        sink.uint(self.flags());
        sink.u16(self.tid);
        sink.ipv4_address(self.to);
        if let Some(id) = &self.id {
            sink.put(&id.0);
        }
        if let Some(token) = &self.token {
            sink.put(token);
        }
        sink.uint(self.command);
        if let Some(target) = &self.target {
            sink.put(&target.0);
        }
        if let Some(value) = self.value {
            sink.buffer(value);
        }
    }
}

impl<'a> Decode<'a> for Request<'a> {
    /// Reads a request including its type byte; trailing bytes are left unread.
    fn decode(d: &mut Decoder<'a>) -> Result<Self, plures_compact::DecodeError> {
        expect_type(d, REQUEST_TYPE)?;
        let (flags, tid, to) = decode_header(d)?;
        let id = fixed32_if(d, flags, f::ID)?.map(NodeId);
        let token = fixed32_if(d, flags, f::TOKEN)?;
        let command = d.uint()?;
        let target = fixed32_if(d, flags, f::TARGET)?.map(NodeId);
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
            internal: flags & f::INTERNAL != 0,
            command,
            target,
            value,
        })
    }
}
