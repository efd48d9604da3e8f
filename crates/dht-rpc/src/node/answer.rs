//! Answering inbound requests: reply, error, relay (spec §6.2, §6.3).

use std::net::SocketAddrV4;

use plures_compact::Encode;

use super::{Dht, RequestHandle, Transmit};
use crate::error::Error;
use crate::wire::Request;

impl Dht {
    /// Starts handling user command `command`: its requests surface as
    /// [`Event::Request`](super::Event::Request) instead of being answered UNKNOWN_COMMAND (the same as listing it
    /// in [`Config::commands`](super::Config::commands)).
    pub fn register_command(&mut self, command: u64) {
        if !self.config.commands.contains(&command) {
            self.config.commands.push(command);
        }
    }

    /// Answers an inbound request with `value`, a fresh token and closer nodes if it had a
    /// target.
    pub fn reply(&mut self, handle: &RequestHandle, value: Option<&[u8]>) -> Result<(), Error> {
        self.answer(handle, None, true, 0, value)
            .map_err(|_| Error::Busy)
    }

    /// Answers like [`reply`](Self::reply) but to another address (hyperdht's
    /// `reply(value, {to})`).
    pub fn reply_to(
        &mut self,
        handle: &RequestHandle,
        to: SocketAddrV4,
        value: Option<&[u8]>,
    ) -> Result<(), Error> {
        self.answer(handle, Some(to), true, 0, value)
            .map_err(|_| Error::Busy)
    }

    /// Answers with `value` and neither a token nor closer nodes, to `to` or else the
    /// requester: hyperdht's `reply(value, {to, token: false, closerNodes: false})`, used
    /// for ANNOUNCE / UNANNOUNCE and for the last hop of a relayed PEER_HANDSHAKE.
    pub fn reply_bare(
        &mut self,
        handle: &RequestHandle,
        to: Option<SocketAddrV4>,
        value: Option<&[u8]>,
    ) -> Result<(), Error> {
        let dest = to.unwrap_or(handle.from);
        let r = self.response(handle.socket, dest, handle.tid, None, false, 0, value);
        self.push_response(handle.socket, dest, &r)
            .map_err(|_| Error::Busy)
    }

    /// Answers an inbound request with an error code (no token; closer nodes if it had a
    /// target).
    pub fn error(&mut self, handle: &RequestHandle, code: u64) -> Result<(), Error> {
        self.answer(handle, None, true, code, None)
            .map_err(|_| Error::Busy)
    }

    /// Relays an inbound request to `to` with a new value (spec §6.3): same tid, command
    /// and target, no token, nothing remembered.
    pub fn relay(
        &mut self,
        handle: &RequestHandle,
        to: SocketAddrV4,
        value: Option<&[u8]>,
    ) -> Result<(), Error> {
        let req = Request {
            tid: handle.tid,
            to,
            id: self.packet_id(handle.socket),
            token: None,
            internal: handle.internal,
            command: handle.command,
            target: handle.target,
            value,
        };
        let contents = req.to_bytes()?;
        self.push_reply(Transmit {
            socket: handle.socket,
            destination: to,
            contents,
        });
        Ok(())
    }
}
