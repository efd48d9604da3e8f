//! The server side (spec §8 and §11): `listen` installs a router entry for
//! `hash(publicKey)` and announces it to the 3 closest storage nodes, and incoming
//! PEER_HANDSHAKEs for it are answered with the second Noise message, deduplicated by the
//! exact bytes of the first. Between announces the relays are pinged every 3 s and the
//! server re-announces when they stop answering, after 100 rounds, or on
//! [`HyperDht::refresh_server`] ([`super::announcer`]).
//!
//! A firewalled server that a client reaches through a relay gets a holepunch slot
//! ([`super::punch_server`]): the reply offers it with the server's relays and leaves
//! from the slot's puncher socket.
//!
//! Not yet: the LAN branch of §11 step 5 (a LAN client reaches the stream, which also listens on
//! the server and client sockets) and local-address validation.
//!
//! A server's [`Firewall`] (§11 step 2) sees every new client handshake after its Noise
//! message 1 decrypted and before anything is answered; a rejected one gets no reply at
//! all, no holepunch slot and no stream, and its bytes are remembered for the dedupe
//! window so that retransmissions (and copies through other relays) are dropped the
//! same way.

use std::collections::HashMap;
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plures_compact::{Decode, Encode};
use plures_dht_rpc::Socket;
use plures_dht_rpc::node::IncomingRequest;
use plures_secret_stream::{IkResponder, KeyPair, Keys};

use super::announcer::PingLoop;
use super::{Event, HyperDht, OpId, StreamSetup};
use crate::constants::{error_code, firewall, mode};
use crate::crypto::{NS_PEER_HANDSHAKE, holepunch_secret, target as key_target};
use crate::wire::{Handshake, NoisePayload, SecretStreamInfo, UdxInfo};

/// How long a handshake's reply is remembered for retransmissions and other relays.
pub const HANDSHAKE_CLEAR_WAIT: Duration = Duration::from_secs(10);
/// The nominal time between two updates of a server ([`super::announcer::PING_ROUNDS`]
/// rounds of [`super::announcer::RELAY_PING_INTERVAL`]); an update is forced after twice
/// this as a safety net, should the ping loop ever stall.
pub const REANNOUNCE_INTERVAL: Duration = Duration::from_secs(300);
/// Storage nodes a server announces itself to.
pub const SERVER_RELAYS: usize = 3;

/// A server's firewall (the reference's `firewall(remotePublicKey, payload,
/// clientAddress)` server option, spec §11 step 2): called once per new client
/// handshake, after its Noise message 1 decrypted and before any reply, with the
/// client's static public key, its handshake payload and its address — the `peerAddress`
/// the relay put in the message, or the datagram's source for a direct handshake.
/// `true` rejects: the client gets no reply at all (it fails with
/// PEER_CONNECTION_FAILED once its relays gave up) and
/// [`NodeStats::handshakes_rejected`](super::NodeStats::handshakes_rejected) counts it.
/// It must be quick and synchronous.
pub type Firewall = Arc<dyn Fn(&[u8; 32], &NoisePayload, SocketAddrV4) -> bool + Send + Sync>;

/// Options of one server ([`HyperDht::listen_with`]).
#[derive(Clone, Default)]
pub struct ServerConfig {
    /// Rejects client handshakes before they are answered; `None` accepts every one.
    pub firewall: Option<Firewall>,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("firewall", &self.firewall.is_some())
            .finish()
    }
}

/// What a server remembers about one Noise message 1 (spec §11 step 1).
#[derive(Debug)]
struct Answered {
    /// Message 2, or `None` if the firewall rejected the handshake.
    reply: Option<Vec<u8>>,
    /// When to forget it.
    until: Instant,
    /// The pool socket of its holepunch slot, which the reply leaves from.
    socket: Option<u32>,
}

/// Names one listening server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ServerId(pub u64);

/// Why `listen` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ListenError {
    /// Another server of this node uses the key pair.
    #[error("KEYPAIR_ALREADY_USED: a server of this node already uses the key pair")]
    KeyPairAlreadyUsed,
}

#[derive(Debug)]
pub(super) struct Server {
    pub(super) key_pair: KeyPair,
    config: ServerConfig,
    pub(super) target: [u8; 32],
    pub(super) relays: Vec<SocketAddrV4>,
    /// (relay, our address as it saw us) from the last announce.
    pub(super) relay_seen: Vec<(SocketAddrV4, SocketAddrV4)>,
    listening: bool,
    pub(super) announcing: Option<OpId>,
    pub(super) next_refresh: Instant,
    /// Noise message 1 → what was answered.
    answered: HashMap<Vec<u8>, Answered>,
    /// Relay pings and older relay sets (`announcer.rs`).
    pub(super) ping: PingLoop,
}

impl HyperDht {
    /// Starts a server for `key_pair`: [`Event::Listening`] once it announced itself,
    /// [`Event::Connection`] for each client handshake.
    pub fn listen(&mut self, now: Instant, key_pair: KeyPair) -> Result<ServerId, ListenError> {
        self.listen_with(now, key_pair, ServerConfig::default())
    }

    /// [`listen`](Self::listen) with options (a firewall).
    pub fn listen_with(
        &mut self,
        now: Instant,
        key_pair: KeyPair,
        config: ServerConfig,
    ) -> Result<ServerId, ListenError> {
        let target = key_target(key_pair.public_key());
        if self.servers_by_target.contains_key(&target) {
            return Err(ListenError::KeyPairAlreadyUsed);
        }
        self.next_server += 1;
        let id = ServerId(self.next_server);
        self.servers.insert(
            id,
            Server {
                key_pair,
                config,
                target,
                relays: Vec::new(),
                relay_seen: Vec::new(),
                listening: false,
                announcing: None,
                next_refresh: now,
                answered: HashMap::new(),
                ping: PingLoop::default(),
            },
        );
        self.servers_by_target.insert(target, id);
        self.refresh_servers(now);
        Ok(id)
    }

    /// Stops a server: its router entry goes, so clients can no longer reach it, a
    /// running announce is cancelled, and each of its relays gets an UNANNOUNCE (after a
    /// FIND_PEER for a fresh token, spec §8 step 4); [`Event::ServerClosed`] follows once
    /// those ended (at once if there were none). Until then, announcing the same key
    /// elsewhere may be undone by them.
    pub fn close_server(&mut self, server: ServerId) -> bool {
        let Some(s) = self.servers.remove(&server) else {
            return false;
        };
        self.servers_by_target.remove(&s.target);
        if let Some(op) = s.announcing {
            self.announce_ops.remove(&op);
            self.announce_seen.remove(&op);
            self.cancel_op(op);
        }
        let now = self.last_now;
        self.withdraw_closed(now, server, &s.key_pair, s.target, &s.relays);
        self.close_slots(now, server);
        true
    }

    /// The relays a server announced itself to in its last update (at most 3).
    pub fn server_relays(&self, server: ServerId) -> Option<&[SocketAddrV4]> {
        self.servers.get(&server).map(|s| s.relays.as_slice())
    }

    /// Starts the announce of every server whose refresh is due and the relay-ping rounds
    /// that are due (not while offline); forgets old handshakes.
    pub(super) fn refresh_servers(&mut self, now: Instant) {
        let online = self.announcer_online();
        let due: Vec<ServerId> = self
            .servers
            .iter()
            .filter(|(_, s)| online && s.announcing.is_none() && s.next_refresh <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            let Some(s) = self.servers.get(&id) else {
                continue;
            };
            let key_pair = s.key_pair.clone();
            if let Ok(op) = self.announce_self(now, key_pair) {
                self.announce_ops.insert(op, id);
                if let Some(s) = self.servers.get_mut(&id) {
                    s.announcing = Some(op);
                }
            }
        }
        self.relay_pings(now);
        for s in self.servers.values_mut() {
            s.answered.retain(|_, a| a.until > now);
        }
    }

    /// The earliest server timer (refresh, ping round or forgetting a handshake).
    pub(super) fn servers_timeout(&self) -> Option<Instant> {
        let online = self.announcer_online();
        self.servers
            .values()
            .flat_map(|s| {
                let refresh = (online && s.announcing.is_none()).then_some(s.next_refresh);
                refresh
                    .into_iter()
                    .chain(s.answered.values().map(|a| a.until))
            })
            .chain(self.relay_pings_timeout())
            .min()
    }

    /// An announce-self operation of a server finished.
    pub(super) fn on_server_announced(&mut self, now: Instant, op: OpId, nodes: Vec<SocketAddrV4>) {
        let Some(id) = self.announce_ops.remove(&op) else {
            return;
        };
        let seen = self.announce_seen.remove(&op).unwrap_or_default();
        let Some(s) = self.servers.get_mut(&id) else {
            return;
        };
        s.announcing = None;
        s.next_refresh = now + 2 * REANNOUNCE_INTERVAL;
        let mut relays = nodes;
        relays.truncate(SERVER_RELAYS);
        if !relays.is_empty() {
            s.relay_seen = seen;
        }
        let changed = self.on_update(now, id, relays);
        let Some(s) = self.servers.get_mut(&id) else {
            return;
        };
        if s.relays.is_empty() {
            return;
        }
        let again = s.next_refresh <= now;
        if !s.listening {
            s.listening = true;
            let relays = s.relays.clone();
            self.events
                .push_back(Event::Listening { server: id, relays });
        } else if changed {
            self.relays_changed(id);
        }
        if again {
            self.refresh_servers(now);
        }
    }

    /// A PEER_HANDSHAKE for one of this node's servers (spec §11).
    pub(super) fn server_handshake(
        &mut self,
        now: Instant,
        req: &IncomingRequest,
        target: [u8; 32],
        hs: Handshake,
    ) {
        let Some(&id) = self.servers_by_target.get(&target) else {
            return;
        };
        let direct = hs.mode == mode::FROM_CLIENT;
        let client_address = if direct {
            Some(req.from)
        } else {
            hs.peer_address
        };
        let Some(client_address) = client_address else {
            return;
        };
        let cached = self
            .servers
            .get(&id)
            .and_then(|s| s.answered.get(&hs.noise))
            .map(|a| (a.reply.clone(), a.socket));
        let (m2, socket) = match cached {
            // A rejected handshake: dropped again, without asking the firewall.
            Some((None, _)) => return,
            Some((Some(m2), socket)) => (m2, socket),
            None => match self.accept(now, id, &hs.noise, client_address, direct) {
                Some(c) => c,
                None => return,
            },
        };
        let reply = |m: u64, peer: Option<SocketAddrV4>| Handshake {
            mode: m,
            noise: m2.clone(),
            peer_address: peer,
            relay_address: None,
        };
        let (to, value, relay) = match hs.mode {
            mode::FROM_CLIENT => (req.from, reply(mode::REPLY, None), false),
            mode::FROM_RELAY => (
                req.from,
                reply(mode::FROM_SERVER, Some(client_address)),
                true,
            ),
            mode::FROM_SECOND_RELAY => match hs.relay_address {
                Some(r) => (r, reply(mode::FROM_SERVER, Some(client_address)), true),
                None => return,
            },
            _ => return,
        };
        let Ok(bytes) = value.to_bytes() else {
            return;
        };
        let _ = if let (true, Some(s)) = (relay, socket) {
            // From the slot's puncher socket, so the relay reports its address.
            self.dht
                .relay_from(&req.handle, Socket::Other(s), to, Some(&bytes))
        } else if relay {
            self.dht.relay(&req.handle, to, Some(&bytes))
        } else {
            self.dht.reply_bare(&req.handle, None, Some(&bytes))
        };
    }

    /// Runs the Noise responder for a new message 1; on success remembers and returns
    /// message 2 (and the pool socket of its holepunch slot) and reports the connection.
    fn accept(
        &mut self,
        now: Instant,
        id: ServerId,
        noise: &[u8],
        client_address: SocketAddrV4,
        direct: bool,
    ) -> Option<(Vec<u8>, Option<u32>)> {
        let key_pair = self.servers.get(&id)?.key_pair.clone();
        let received = IkResponder::new(key_pair, &NS_PEER_HANDSHAKE)
            .handle(noise)
            .ok()?;
        let remote_public_key = *received.remote_static_key();
        let client = NoisePayload::from_bytes(received.payload()).ok()?;
        let server = self.servers.get_mut(&id)?;
        let rejected = server
            .config
            .firewall
            .as_ref()
            .is_some_and(|f| f(&remote_public_key, &client, client_address));
        if rejected {
            server.answered.insert(
                noise.to_vec(),
                Answered {
                    reply: None,
                    until: now + HANDSHAKE_CLEAR_WAIT,
                    socket: None,
                },
            );
            self.handshakes_rejected += 1;
            return None;
        }
        let error = if client.version != 1 {
            error_code::VERSION_MISMATCH
        } else if client.udx.is_none() {
            error_code::ABORTED
        } else {
            error_code::NONE
        };
        let local_stream_id = self.entropy.u32();
        let mut payload = self.our_payload(id, error, local_stream_id);
        // A relayed client that is not OPEN, to a server that is not OPEN: holepunch.
        let punch = error == error_code::NONE
            && !direct
            && client.firewall != firewall::OPEN
            && self.remote_address().is_none()
            && self.slots.len() < super::punch_server::MAX_SLOTS;
        let slot = punch.then(|| self.open_slot(now, id, client_address));
        payload.holepunch = slot.as_ref().map(|s| s.info.clone());
        let ephemeral = KeyPair::from_seed(self.entropy.bytes32());
        let (m2, finished) = received
            .respond(ephemeral, &payload.to_bytes().ok()?)
            .ok()?;
        let secret = holepunch_secret(finished.handshake_hash());
        if let Some(s) = &slot {
            self.arm_slot(id, s.info.id, &secret);
        }
        let socket = slot.as_ref().map(|s| s.socket);
        if let Some(s) = self.servers.get_mut(&id) {
            s.answered.insert(
                noise.to_vec(),
                Answered {
                    reply: Some(m2.clone()),
                    until: now + HANDSHAKE_CLEAR_WAIT,
                    socket,
                },
            );
        }
        if error == error_code::NONE {
            let remote_stream_id = client.udx.map_or(0, |u| u.id);
            // Connect at once when the client is reachable (OPEN) or talked to us directly;
            // otherwise the first UDX datagram of the client binds the stream.
            let open = client.firewall == firewall::OPEN;
            let remote_addr = (direct || open).then_some(client_address);
            let setup = StreamSetup {
                local_stream_id,
                remote_stream_id: u32::try_from(remote_stream_id).unwrap_or(0),
                remote_addr,
                holepunch_secret: secret,
                keys: Keys::from(&finished),
                remote_public_key,
                socket: socket.map_or(self.dht.main_socket(), Socket::Other),
            };
            self.events
                .push_back(Event::Connection { server: id, setup });
        }
        Some((m2, socket))
    }

    /// The server's `noisePayload` (spec §11 step 4), without a holepunch slot.
    fn our_payload(&self, id: ServerId, error: u64, stream_id: u32) -> NoisePayload {
        let relays = self.servers.get(&id).map(|s| s.relays.clone());
        let remote = self.remote_address();
        NoisePayload {
            error,
            firewall: if remote.is_some() {
                firewall::OPEN
            } else {
                firewall::UNKNOWN
            },
            addresses4: self.our_addresses(),
            udx: Some(UdxInfo {
                version: 1,
                reusable_socket: false,
                id: u64::from(stream_id),
                seq: 0,
            }),
            secret_stream: Some(SecretStreamInfo::default()),
            relay_addresses: relays,
            ..NoisePayload::default()
        }
    }
}
