//! Requests from, and relays out of, a socket other than the node's own two: hyperdht's
//! holepunch (pool) sockets, named [`Socket::Other`]. The higher layer owns those sockets
//! and feeds their datagrams to [`Dht::handle_datagram`] as usual; a response arriving on
//! any socket matches its request by tid, so the reply to a request sent here is reported
//! like any other ([`Event::Response`](super::Event::Response) /
//! [`Event::RequestFailed`](super::Event::RequestFailed)), with `to` = this socket's
//! address as the responder saw it.

use std::net::SocketAddrV4;
use std::time::Instant;

use plures_compact::Encode;

use super::{Ctx, Dht, RequestHandle, RequestId};
use crate::command::Command;
use crate::error::Error;
use crate::id::NodeId;
use crate::io::{SendOptions, Socket, Transmit};
use crate::token::Token;
use crate::wire::Request;

/// How a request sent with [`Dht::request_from`] goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestFrom {
    /// The socket to send from (and, for the reference's puncher PINGs, a pool socket).
    pub socket: Socket,
    /// Retransmissions after the first send (the reference's `retry: false` is 0).
    pub retries: u32,
}

impl Dht {
    /// Sends one request like [`request`](Self::request), but from `from.socket` and with
    /// `from.retries` retransmissions. Packets from a socket other than the server socket
    /// carry no node id.
    #[allow(clippy::too_many_arguments)]
    pub fn request_from(
        &mut self,
        now: Instant,
        from: RequestFrom,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
    ) -> Result<RequestId, Error> {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let opts = SendOptions {
            retries: from.retries,
            ..SendOptions::default()
        };
        self.send_request_on(
            now,
            from.socket,
            to,
            command,
            target,
            value,
            token,
            Ctx::User(id),
            opts,
        )?;
        Ok(id)
    }

    /// Relays an inbound request like [`relay`](Self::relay), but out of `socket` instead
    /// of the socket the request arrived on (a hyperdht server answers a handshake from
    /// its holepunch socket).
    pub fn relay_from(
        &mut self,
        handle: &RequestHandle,
        socket: Socket,
        to: SocketAddrV4,
        value: Option<&[u8]>,
    ) -> Result<(), Error> {
        let req = Request {
            tid: handle.tid,
            to,
            id: self.packet_id(socket),
            token: None,
            internal: handle.internal,
            command: handle.command,
            target: handle.target,
            value,
        };
        let contents = req.to_bytes()?;
        self.push_reply(Transmit {
            socket,
            destination: to,
            contents,
        });
        Ok(())
    }
}

impl RequestHandle {
    /// The socket the request arrived on.
    pub fn socket(&self) -> Socket {
        self.socket
    }
}
