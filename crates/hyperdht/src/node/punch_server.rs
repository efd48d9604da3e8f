//! The server's holepunch slots (spec §11 step 5, §12.4 step 3): a slot is opened for a
//! relayed handshake from a client that is not OPEN (lowest free id per server), with a
//! puncher whose socket the handshake reply leaves from. PEER_HOLEPUNCH messages for the
//! slot are decrypted, answered once the NAT analysis settled (from the puncher socket),
//! and a punching client starts the strategy. A slot is forgotten 10 s after its last
//! message, or after its strategy ended.

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use plures_compact::Encode;
use plures_dht_rpc::Socket;
use plures_dht_rpc::node::{IncomingRequest, RequestHandle};

use super::puncher::{CONSISTENT_GAP, PROBE_TTL, PunchKey};
use super::server::HANDSHAKE_CLEAR_WAIT;
use super::{HyperDht, ServerId};
use crate::constants::{error_code, firewall, mode};
use crate::crypto::{SecurePayload, holepunch_token};
use crate::wire::{Holepunch, HolepunchInfo, HolepunchPayload, HolepunchRelay};

/// Holepunch slots a node keeps at once (each holds a pool socket for 10 s or more);
/// past it, handshakes are answered without a slot (the client sees CANNOT_HOLEPUNCH).
pub(super) const MAX_SLOTS: usize = 64;

/// A round waiting for the NAT analysis.
#[derive(Debug)]
struct Pending {
    handle: RequestHandle,
    relay: SocketAddrV4,
    via_our_relay: bool,
}

/// One holepunch slot of a server.
#[derive(Debug)]
pub(super) struct Slot {
    secure: Option<SecurePayload>,
    local_secret: [u8; 32],
    client: SocketAddrV4,
    round: u64,
    remote_fw: u64,
    remote_addrs: Vec<SocketAddrV4>,
    remote_address: Option<SocketAddrV4>,
    remote_token: Option<[u8; 32]>,
    verified: bool,
    client_punching: bool,
    punching: bool,
    pending: Option<Pending>,
    expires: Instant,
}

/// What the handshake reply needs from a new slot.
pub(super) struct Opened {
    pub(super) socket: u32,
    pub(super) info: HolepunchInfo,
}

impl HyperDht {
    /// Opens a holepunch slot for a client seen at `client` (its address as the relay saw
    /// it); the secure payload is armed once the handshake hash is known.
    pub(super) fn open_slot(&mut self, now: Instant, id: ServerId, client: SocketAddrV4) -> Opened {
        let slot = (0..)
            .find(|n| !self.slots.contains_key(&(id, *n)))
            .unwrap_or_default();
        let socket = self.new_puncher(now, PunchKey::Server(id, slot));
        let nat = self.dht.nat();
        let seen = nat
            .host()
            .filter(|_| nat.port() != 0)
            .map(|h| SocketAddrV4::new(h, nat.port()));
        let relays = match self.servers.get(&id) {
            Some(s) => s
                .relays
                .iter()
                .filter_map(|r| {
                    let by_relay = s.relay_seen.iter().find(|x| x.0 == *r).map(|x| x.1);
                    Some(HolepunchRelay {
                        relay_address: *r,
                        peer_address: by_relay.or(seen)?,
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        self.slots.insert(
            (id, slot),
            Slot {
                secure: None,
                local_secret: self.entropy.bytes32(),
                client,
                round: 0,
                remote_fw: firewall::UNKNOWN,
                remote_addrs: Vec::new(),
                remote_address: None,
                remote_token: None,
                verified: false,
                client_punching: false,
                punching: false,
                pending: None,
                expires: now + HANDSHAKE_CLEAR_WAIT,
            },
        );
        Opened {
            socket,
            info: HolepunchInfo { id: slot, relays },
        }
    }

    /// Sets the key of a slot's secure payload.
    pub(super) fn arm_slot(&mut self, id: ServerId, slot: u64, secret: &[u8; 32]) {
        if let Some(s) = self.slots.get_mut(&(id, slot)) {
            s.secure = Some(SecurePayload::new(secret));
        }
    }

    /// A PEER_HOLEPUNCH FROM_RELAY for one of this node's servers.
    pub(super) fn server_holepunch(
        &mut self,
        now: Instant,
        req: &IncomingRequest,
        target: [u8; 32],
        hp: &Holepunch,
    ) {
        let Some(&id) = self.servers_by_target.get(&target) else {
            return;
        };
        let Some(client) = hp.peer_address else {
            return;
        };
        // Any relay of the last three updates counts (spec §8 step 2, `isRelay`).
        let via_our_relay = self.is_relay(id, req.from);
        let key = (id, hp.id);
        if !self.slots.contains_key(&key) {
            return;
        }
        // Our address as the relay saw it, if the request reached the puncher socket.
        let punch_key = PunchKey::Server(id, hp.id);
        if let (Some(p), Some((s, to))) = (self.punch.get(punch_key), self.incoming_to) {
            if req.handle.socket() == Socket::Other(s) && p.socket == s {
                self.add_sample(punch_key, req.from, to);
            }
        }
        let Some(slot) = self.slots.get_mut(&key) else {
            return;
        };
        let Some(payload) = slot
            .secure
            .as_ref()
            .and_then(|s| s.decrypt(&hp.payload).ok())
        else {
            return;
        };
        if payload.error != error_code::NONE {
            self.close_slot(now, key);
            return;
        }
        if payload.round >= slot.round {
            slot.round = payload.round;
            slot.client = client;
            slot.remote_fw = payload.firewall;
            if let Some(a) = payload.addresses {
                slot.remote_addrs = a;
            }
            slot.remote_address = payload.remote_address;
            slot.remote_token = payload.token;
            slot.client_punching = payload.punching;
            let ours = holepunch_token(&slot.local_secret, *client.ip());
            slot.verified = via_our_relay && payload.remote_token == Some(ours);
        }
        slot.expires = slot.expires.max(now + HANDSHAKE_CLEAR_WAIT);
        slot.pending = Some(Pending {
            handle: req.handle.clone(),
            relay: req.from,
            via_our_relay,
        });
        self.server_analysis(now, id, hp.id);
    }

    /// The slot's analysis progressed: answer its pending round once it settled.
    pub(super) fn server_analysis(&mut self, now: Instant, id: ServerId, slot: u64) {
        let key = PunchKey::Server(id, slot);
        let has_pending = self
            .slots
            .get(&(id, slot))
            .is_some_and(|s| s.pending.is_some());
        if !has_pending || !self.analysis_settled(key) {
            return;
        }
        // Unstable (no class) and the client is not punching yet: a new socket and
        // sampler (spec §12.4 step 3); the round is answered once that analysis settled.
        // Both sides RANDOM is left to the client, which aborts with
        // HOLEPUNCH_DOUBLE_RANDOMIZED_NATS (as against the reference's server).
        let unknown = self
            .punch
            .get(key)
            .is_some_and(|p| p.nat.class() == firewall::UNKNOWN && !p.is_punching());
        let client_punching = self
            .slots
            .get(&(id, slot))
            .is_some_and(|s| s.client_punching);
        let mut still_unstable = false;
        if unknown && !client_punching {
            if self.reopen_puncher(now, key) {
                return self.server_analysis(now, id, slot);
            }
            still_unstable = true;
        }
        let Some(s) = self.slots.get_mut(&(id, slot)) else {
            return;
        };
        let Some(pending) = s.pending.take() else {
            return;
        };
        let (local, addresses, socket) = match self.punch.get(key) {
            Some(p) => (p.nat.class(), p.nat.addresses(), Some(p.socket)),
            None => (firewall::UNKNOWN, Vec::new(), None),
        };
        let consistent = local == firewall::OPEN || local == firewall::CONSISTENT;
        // Fast mode: the client already opened its NAT towards one of our addresses.
        if let (true, Some(s), Some(remote)) = (consistent, socket, s.remote_address) {
            if addresses.contains(&remote) {
                self.punch
                    .probe(s, self.slots[&(id, slot)].client, PROBE_TTL);
            }
        }
        let Some(s) = self.slots.get_mut(&(id, slot)) else {
            return;
        };
        let mut error = error_code::NONE;
        if still_unstable {
            error = error_code::ABORTED;
        } else if s.client_punching && !s.punching {
            let random = local == firewall::RANDOM || s.remote_fw == firewall::RANDOM;
            let mut all = s.remote_addrs.clone();
            if s.remote_fw != firewall::RANDOM && !all.contains(&s.client) {
                all.push(s.client);
            }
            let (verified, unverified) = if s.verified {
                (all, Vec::new())
            } else {
                (Vec::new(), all)
            };
            let remote_fw = s.remote_fw;
            let delay = if random {
                Duration::ZERO
            } else {
                CONSISTENT_GAP
            };
            let remote_addrs = s.remote_addrs.clone();
            if !self
                .holepunch
                .allows(remote_fw, local, &remote_addrs, &addresses)
            {
                // The user's veto (spec §12.4 step 3).
                error = error_code::ABORTED;
            } else if random && !self.random_punch_allowed(now) {
                error = error_code::TRY_LATER;
            } else if self.start_punch(now, key, remote_fw, verified, unverified, delay) {
                if let Some(s) = self.slots.get_mut(&(id, slot)) {
                    s.punching = true;
                }
            } else {
                error = error_code::ABORTED;
            }
        }
        let Some(s) = self.slots.get(&(id, slot)) else {
            return;
        };
        let payload = if error == error_code::NONE {
            HolepunchPayload {
                error,
                firewall: local,
                round: s.round,
                connected: self.punch.get(key).is_some_and(|p| p.connected),
                punching: s.punching,
                addresses: (!addresses.is_empty()).then_some(addresses),
                remote_address: None,
                token: pending
                    .via_our_relay
                    .then(|| holepunch_token(&s.local_secret, *s.client.ip())),
                remote_token: s.remote_token,
            }
        } else {
            HolepunchPayload {
                error,
                round: s.round,
                ..HolepunchPayload::default()
            }
        };
        let mut nonce = [0u8; 24];
        self.entropy.fill(&mut nonce);
        let Some(s) = self.slots.get(&(id, slot)) else {
            return;
        };
        let Some(sealed) = s
            .secure
            .as_ref()
            .and_then(|k| k.encrypt(&payload, &nonce).ok())
        else {
            return;
        };
        let value = Holepunch {
            mode: mode::FROM_SERVER,
            id: 0,
            payload: sealed,
            peer_address: Some(s.client),
        };
        let Ok(bytes) = value.to_bytes() else {
            return;
        };
        // Answers leave from the puncher socket; an abort from the node's own socket.
        let from = match socket {
            Some(p) if error == error_code::NONE => Socket::Other(p),
            _ => self.dht.main_socket(),
        };
        let _ = self
            .dht
            .relay_from(&pending.handle, from, pending.relay, Some(&bytes));
        if error != error_code::NONE {
            self.close_slot(now, (id, slot));
        }
    }

    /// Drops a slot's puncher (the slot id stays taken until it expires).
    fn close_slot(&mut self, now: Instant, key: (ServerId, u64)) {
        self.drop_puncher(now, PunchKey::Server(key.0, key.1), None);
        if let Some(s) = self.slots.get_mut(&key) {
            s.pending = None;
            s.punching = false;
        }
    }

    /// Forgets slots whose time is up (a running strategy keeps its slot).
    pub(super) fn slot_timeouts(&mut self, now: Instant) {
        let due: Vec<(ServerId, u64)> = self
            .slots
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            let running = self
                .punch
                .get(PunchKey::Server(key.0, key.1))
                .is_some_and(|p| !p.connected && p.is_punching());
            if running {
                if let Some(s) = self.slots.get_mut(&key) {
                    s.expires = now + HANDSHAKE_CLEAR_WAIT;
                }
                continue;
            }
            self.drop_puncher(now, PunchKey::Server(key.0, key.1), None);
            self.slots.remove(&key);
        }
    }

    /// When the next slot expires.
    pub(super) fn slots_timeout(&self) -> Option<Instant> {
        self.slots.values().map(|s| s.expires).min()
    }

    /// Forgets every slot of a closed server.
    pub(super) fn close_slots(&mut self, now: Instant, id: ServerId) {
        let keys: Vec<(ServerId, u64)> = self.slots.keys().filter(|k| k.0 == id).copied().collect();
        for key in keys {
            self.drop_puncher(now, PunchKey::Server(key.0, key.1), None);
            self.slots.remove(&key);
        }
    }
}
