//! Routing PEER_HANDSHAKE and PEER_HOLEPUNCH (spec §9): every node forwards them toward
//! the server of a target using its router records (from announce-self, kept by the
//! storage) and the addresses carried in the messages; a node that *is* the server hands
//! the handshake to [`super::server`].
//!
//! Intermediate hops use dht-rpc `relay` (same tid, no token, no retransmission); the last
//! hop back to the client is a bare response from the node the client addressed.

use std::net::SocketAddrV4;
use std::time::Instant;

use plures_compact::{Decode, Encode};
use plures_dht_rpc::node::IncomingRequest;

use super::HyperDht;
use crate::constants::{command, mode};
use crate::wire::{Handshake, Holepunch};

impl HyperDht {
    /// Handles PEER_HANDSHAKE (0) and PEER_HOLEPUNCH (1); anything undecodable is dropped.
    pub(super) fn route(&mut self, now: Instant, req: &IncomingRequest) {
        let Some(target) = req.target.map(|t| *t.as_bytes()) else {
            return;
        };
        let Some(value) = req.value.as_deref() else {
            return;
        };
        match req.command {
            command::PEER_HANDSHAKE => {
                if let Ok(hs) = Handshake::from_bytes(value) {
                    self.route_handshake(now, req, target, hs);
                }
            }
            command::PEER_HOLEPUNCH => {
                if let Ok(hp) = Holepunch::from_bytes(value) {
                    self.route_holepunch(now, req, target, hp);
                }
            }
            _ => {}
        }
    }

    /// Where announce-self told this node the server of `target` can be reached.
    fn router_relay(&mut self, now: Instant, target: &[u8; 32]) -> Option<SocketAddrV4> {
        self.storage.router_record(now, target).map(|r| r.relay)
    }

    fn count(&mut self, req: &IncomingRequest) {
        if req.command == command::PEER_HANDSHAKE {
            self.routed.0 += 1;
        } else {
            self.routed.1 += 1;
        }
    }

    fn send_relay(&mut self, req: &IncomingRequest, to: SocketAddrV4, value: &impl Encode) {
        self.count(req);
        if let Ok(bytes) = value.to_bytes() {
            // A full reply queue drops it; the client retransmits.
            let _ = self.dht.relay(&req.handle, to, Some(&bytes));
        }
    }

    fn send_reply(&mut self, req: &IncomingRequest, to: SocketAddrV4, value: &impl Encode) {
        self.count(req);
        if let Ok(bytes) = value.to_bytes() {
            let _ = self.dht.reply_bare(&req.handle, Some(to), Some(&bytes));
        }
    }

    fn route_handshake(
        &mut self,
        now: Instant,
        req: &IncomingRequest,
        target: [u8; 32],
        hs: Handshake,
    ) {
        if self.servers_by_target.contains_key(&target) {
            self.server_handshake(now, req, target, hs);
            return;
        }
        let source = req.from;
        match hs.mode {
            mode::FROM_CLIENT => {
                let to = hs.relay_address.or_else(|| self.router_relay(now, &target));
                let Some(to) = to else {
                    // No route: an empty reply (with closer nodes) ends the client's wait.
                    let _ = self.dht.reply(&req.handle, None);
                    return;
                };
                let fwd = Handshake {
                    mode: mode::FROM_RELAY,
                    noise: hs.noise,
                    peer_address: Some(source),
                    relay_address: None,
                };
                self.send_relay(req, to, &fwd);
            }
            mode::FROM_RELAY => {
                let Some(to) = self.router_relay(now, &target) else {
                    return;
                };
                let fwd = Handshake {
                    mode: mode::FROM_SECOND_RELAY,
                    noise: hs.noise,
                    peer_address: hs.peer_address,
                    relay_address: Some(source),
                };
                self.send_relay(req, to, &fwd);
            }
            mode::FROM_SERVER => {
                let Some(client) = hs.peer_address else {
                    return;
                };
                let back = Handshake {
                    mode: mode::REPLY,
                    noise: hs.noise,
                    peer_address: Some(source),
                    relay_address: None,
                };
                self.send_reply(req, client, &back);
            }
            _ => {}
        }
    }

    fn route_holepunch(
        &mut self,
        now: Instant,
        req: &IncomingRequest,
        target: [u8; 32],
        hp: Holepunch,
    ) {
        let source = req.from;
        match hp.mode {
            mode::FROM_CLIENT => {
                let to = hp.peer_address.or_else(|| self.router_relay(now, &target));
                let Some(to) = to else {
                    return;
                };
                let fwd = Holepunch {
                    mode: mode::FROM_RELAY,
                    peer_address: Some(source),
                    ..hp
                };
                self.send_relay(req, to, &fwd);
            }
            mode::FROM_SERVER => {
                let Some(client) = hp.peer_address else {
                    return;
                };
                let back = Holepunch {
                    mode: mode::REPLY,
                    peer_address: Some(source),
                    ..hp
                };
                self.send_reply(req, client, &back);
            }
            mode::FROM_RELAY if self.servers_by_target.contains_key(&target) => {
                self.server_holepunch(now, req, target, &hp);
            }
            _ => {}
        }
    }
}
