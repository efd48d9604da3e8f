//! The client's holepunch (spec §10.4 step 7, §12.4): a puncher on a fresh pool socket,
//! the fast-open probe, the probe round (repeated once while the server's class is
//! unknown or it sent no token), the own NAT analysis (re-opened while unstable), the
//! punch round and the strategy; the first probe that reaches one of the puncher's
//! sockets connects. Every message is a PEER_HOLEPUNCH with a secure payload, sent from
//! the puncher socket.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_compact::{Decode, Encode};
use plures_dht_rpc::node::{Reply, RequestFrom};
use plures_dht_rpc::{Command, Socket};

use super::puncher::{PROBE_TTL_SESSION, PunchKey};
use super::{ConnId, ConnectError, Event, HyperDht, Owner, StreamSetup};
use crate::constants::{command, error_code, firewall, mode};
use crate::crypto::{SecurePayload, holepunch_token};
use crate::wire::{Holepunch, HolepunchPayload, HolepunchRelay};

/// How long the client waits after a probe round whose answer had no server class.
pub(super) const UNKNOWN_GRACE: Duration = Duration::from_millis(1000);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// A probe round is in flight.
    Probe,
    /// The server's class was unknown: wait, then analyze.
    Grace(Instant),
    /// Waiting for the own NAT analysis.
    Analyze,
    /// The punch round is in flight.
    Punch,
    /// The strategy runs.
    Punching,
}

/// What the holepunch of one connection attempt needs.
#[derive(Debug)]
pub(super) struct ClientPunch {
    setup: StreamSetup,
    secure: SecurePayload,
    local_secret: [u8; 32],
    target: [u8; 32],
    slot: u64,
    relay: SocketAddrV4,
    server_relay: HolepunchRelay,
    server_address: SocketAddrV4,
    round: u64,
    probe_rounds: u32,
    phase: Phase,
    remote_fw: u64,
    remote_addrs: Vec<SocketAddrV4>,
    remote_token: Option<[u8; 32]>,
    verified_host: Option<Ipv4Addr>,
    sent_to: SocketAddrV4,
}

/// What a finished handshake hands to the holepunch.
pub(super) struct PunchStart {
    pub(super) setup: StreamSetup,
    pub(super) target: [u8; 32],
    pub(super) slot: u64,
    pub(super) relays: Vec<HolepunchRelay>,
    pub(super) relay: SocketAddrV4,
    pub(super) server_address: SocketAddrV4,
}

impl HyperDht {
    /// Starts holepunching for a connection whose handshake finished.
    pub(super) fn start_holepunch(&mut self, now: Instant, id: ConnId, start: PunchStart) {
        let server_relay = start
            .relays
            .iter()
            .find(|r| r.relay_address == start.relay)
            .or_else(|| start.relays.first())
            .copied();
        let Some(server_relay) = server_relay else {
            self.events.push_back(Event::ConnectFailed {
                conn: id,
                error: ConnectError::CannotHolepunch,
            });
            return;
        };
        let key = PunchKey::Client(id);
        let socket = self.new_puncher(now, key);
        if self.holepunch.fast_open {
            self.punch
                .probe(socket, start.server_address, PROBE_TTL_SESSION);
        }
        let punch = ClientPunch {
            secure: SecurePayload::new(&start.setup.holepunch_secret),
            setup: start.setup,
            local_secret: self.entropy.bytes32(),
            target: start.target,
            slot: start.slot,
            relay: start.relay,
            server_relay,
            server_address: start.server_address,
            round: 0,
            probe_rounds: 0,
            phase: Phase::Probe,
            remote_fw: firewall::UNKNOWN,
            remote_addrs: Vec::new(),
            remote_token: None,
            verified_host: None,
            sent_to: start.relay,
        };
        self.client_punches.insert(id, punch);
        self.send_probe_round(now, id);
    }

    fn send_probe_round(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.client_punches.get_mut(&id) else {
            return;
        };
        c.probe_rounds += 1;
        c.phase = Phase::Probe;
        let (to, peer) = (c.server_relay.relay_address, c.server_relay.peer_address);
        let remote = self.holepunch.fast_open.then_some(c.server_address);
        self.send_round(now, id, to, peer, false, remote);
    }

    fn send_punch_round(&mut self, now: Instant, id: ConnId) {
        let Some(c) = self.client_punches.get_mut(&id) else {
            return;
        };
        c.phase = Phase::Punch;
        let (to, peer) = (c.relay, c.server_address);
        self.send_round(now, id, to, peer, true, None);
    }

    /// Sends one round (`punching`: the punch round) to relay `to` for the server at
    /// `peer`, from the puncher socket.
    fn send_round(
        &mut self,
        now: Instant,
        id: ConnId,
        to: SocketAddrV4,
        peer: SocketAddrV4,
        punching: bool,
        remote_address: Option<SocketAddrV4>,
    ) {
        let key = PunchKey::Client(id);
        let Some(p) = self.punch.get(key) else {
            return;
        };
        let (socket, class, addresses) = (p.socket, p.nat.class(), p.nat.addresses());
        let mut nonce = [0u8; 24];
        self.entropy.fill(&mut nonce);
        let Some(c) = self.client_punches.get_mut(&id) else {
            return;
        };
        let payload = HolepunchPayload {
            error: error_code::NONE,
            firewall: class,
            round: c.round,
            connected: false,
            punching,
            addresses: (!addresses.is_empty()).then_some(addresses),
            remote_address,
            token: punching.then(|| holepunch_token(&c.local_secret, *c.server_address.ip())),
            remote_token: if punching { c.remote_token } else { None },
        };
        c.round += 1;
        c.sent_to = to;
        let Ok(sealed) = c.secure.encrypt(&payload, &nonce) else {
            return self.fail_punch(now, id, ConnectError::HolepunchAborted);
        };
        let value = Holepunch {
            mode: mode::FROM_CLIENT,
            id: c.slot,
            payload: sealed,
            peer_address: Some(peer),
        };
        let target = Some(c.target.into());
        let sent = value.to_bytes().ok().and_then(|bytes| {
            let from = RequestFrom {
                socket: Socket::Other(socket),
                retries: 3,
            };
            let cmd = Command::User(command::PEER_HOLEPUNCH);
            self.dht
                .request_from(now, from, to, cmd, target, Some(&bytes), None)
                .ok()
        });
        match sent {
            Some(r) => {
                self.by_request.insert(r, Owner::Holepunch(id));
            }
            None => self.fail_punch(now, id, ConnectError::Busy),
        }
    }

    /// A round's answer (`None`: the request failed).
    pub(super) fn on_holepunch_reply(&mut self, now: Instant, id: ConnId, reply: Option<&Reply>) {
        let Some(c) = self.client_punches.get(&id) else {
            return;
        };
        let Some(reply) = reply else {
            return self.fail_punch(now, id, ConnectError::RequestTimeout);
        };
        let hp = reply
            .value
            .as_deref()
            .and_then(|v| Holepunch::from_bytes(v).ok())
            .filter(|hp| hp.mode == mode::REPLY && reply.from == c.sent_to && reply.error == 0);
        let Some(hp) = hp else {
            return self.fail_punch(now, id, ConnectError::BadHolepunchReply);
        };
        let Ok(remote) = c.secure.decrypt(&hp.payload) else {
            return self.fail_punch(now, id, ConnectError::HolepunchInvalid);
        };
        let key = PunchKey::Client(id);
        self.add_sample(key, reply.from, reply.to);
        if remote.error != error_code::NONE {
            // TRY_LATER needs a blind relay, which this node does not use. The
            // reference's client reports a server's abort (its veto, an unstable NAT,
            // TRY_LATER without a relay: codes 1, 2 and 3 all observed) as
            // HOLEPUNCH_ABORTED, not REMOTE_ABORTED (docs/protocol-notes.md).
            return self.fail_punch(now, id, ConnectError::HolepunchAborted);
        }
        let Some(c) = self.client_punches.get_mut(&id) else {
            return;
        };
        c.remote_fw = remote.firewall;
        if let Some(a) = remote.addresses {
            c.remote_addrs = a;
        }
        if remote.token.is_some() {
            c.remote_token = remote.token;
        }
        let ours = holepunch_token(&c.local_secret, *c.server_address.ip());
        if remote.remote_token == Some(ours) {
            c.verified_host = Some(*c.server_address.ip());
        }
        // The relay saw the server answer from another address: adopt it.
        if reply.from == c.relay {
            if let Some(seen) = hp.peer_address.filter(|a| *a != c.server_address) {
                c.server_address = seen;
                if let Some(p) = self.punch.get(key) {
                    let s = p.socket;
                    self.punch.probe(s, seen, PROBE_TTL_SESSION);
                }
            }
        }
        let Some(c) = self.client_punches.get_mut(&id) else {
            return;
        };
        match c.phase {
            Phase::Probe => {
                if c.remote_fw == firewall::UNKNOWN {
                    c.phase = Phase::Grace(now + UNKNOWN_GRACE);
                } else {
                    c.phase = Phase::Analyze;
                    self.client_analysis(now, id);
                }
            }
            Phase::Punch => {
                if !remote.punching {
                    return self.fail_punch(now, id, ConnectError::RemoteNotHolepunching);
                }
                let (verified, unverified) = c.remote_candidates();
                c.phase = Phase::Punching;
                let remote_fw = c.remote_fw;
                if !self.start_punch(now, key, remote_fw, verified, unverified, Duration::ZERO) {
                    self.fail_punch(now, id, ConnectError::RemoteNotHolepunchable);
                }
            }
            _ => {}
        }
    }

    /// The own NAT analysis progressed (or the grace period ended): decide the next step.
    pub(super) fn client_analysis(&mut self, now: Instant, id: ConnId) {
        let key = PunchKey::Client(id);
        let Some(c) = self.client_punches.get(&id) else {
            return;
        };
        if c.phase != Phase::Analyze || !self.analysis_settled(key) {
            return;
        }
        let local = self
            .punch
            .get(key)
            .map_or(firewall::UNKNOWN, |p| p.nat.class());
        let remote = c.remote_fw;
        let unstable =
            local == firewall::UNKNOWN || (local == firewall::RANDOM && remote == firewall::RANDOM);
        if unstable && self.reopen_puncher(now, key) {
            return;
        }
        let Some(c) = self.client_punches.get(&id) else {
            return;
        };
        if (remote == firewall::UNKNOWN || c.remote_token.is_none()) && c.probe_rounds < 2 {
            return self.send_probe_round(now, id);
        }
        if local == firewall::UNKNOWN || remote == firewall::UNKNOWN {
            return self.fail_punch(now, id, ConnectError::HolepunchProbeTimeout);
        }
        if local == firewall::RANDOM && remote == firewall::RANDOM {
            return self.fail_punch(now, id, ConnectError::HolepunchDoubleRandomizedNats);
        }
        // The user's veto (spec §12.4 step 5), with the classes and addresses as they
        // stand before the punch round.
        let local_addrs = self.punch.get(key).map(|p| p.nat.addresses());
        let remote_addrs = &c.remote_addrs;
        let local_addrs = local_addrs.unwrap_or_default();
        if !self
            .holepunch
            .allows(remote, local, remote_addrs, &local_addrs)
        {
            return self.fail_punch(now, id, ConnectError::HolepunchAborted);
        }
        let random = local == firewall::RANDOM || remote == firewall::RANDOM;
        if random && !self.random_punch_allowed(now) {
            return self.fail_punch(now, id, ConnectError::HolepunchAborted);
        }
        self.send_punch_round(now, id);
    }

    /// A probe reached pool socket `socket` of the attempt: the path is open.
    pub(super) fn client_connected(
        &mut self,
        now: Instant,
        id: ConnId,
        socket: u32,
        from: SocketAddrV4,
    ) {
        let Some(c) = self.client_punches.remove(&id) else {
            return;
        };
        let key = PunchKey::Client(id);
        self.punch.holepunched += 1;
        self.stop_punch(now, key);
        self.drop_puncher(now, key, Some(socket));
        let setup = StreamSetup {
            remote_addr: Some(from),
            socket: Socket::Other(socket),
            ..c.setup
        };
        self.events.push_back(Event::Connected { conn: id, setup });
    }

    /// The strategy ran out without a connection.
    pub(super) fn client_punch_exhausted(&mut self, now: Instant, id: ConnId) {
        self.fail_punch(now, id, ConnectError::HolepunchAborted);
    }

    /// Ends the attempt: an abort message to the server (from the puncher socket, no
    /// retries), the puncher released, [`Event::ConnectFailed`].
    fn fail_punch(&mut self, now: Instant, id: ConnId, error: ConnectError) {
        let Some(c) = self.client_punches.remove(&id) else {
            return;
        };
        let key = PunchKey::Client(id);
        if let Some(p) = self.punch.get(key) {
            let payload = HolepunchPayload {
                error: error_code::ABORTED,
                round: c.round,
                ..HolepunchPayload::default()
            };
            let mut nonce = [0u8; 24];
            self.entropy.fill(&mut nonce);
            let value = c
                .secure
                .encrypt(&payload, &nonce)
                .ok()
                .map(|sealed| Holepunch {
                    mode: mode::FROM_CLIENT,
                    id: c.slot,
                    payload: sealed,
                    peer_address: Some(c.server_address),
                });
            if let Some(bytes) = value.and_then(|v| v.to_bytes().ok()) {
                let from = RequestFrom {
                    socket: Socket::Other(p.socket),
                    retries: 0,
                };
                let cmd = Command::User(command::PEER_HOLEPUNCH);
                let target = Some(c.target.into());
                if let Ok(r) =
                    self.dht
                        .request_from(now, from, c.relay, cmd, target, Some(&bytes), None)
                {
                    self.by_request.insert(r, Owner::Ignore);
                }
            }
        }
        self.drop_puncher(now, key, None);
        self.events
            .push_back(Event::ConnectFailed { conn: id, error });
    }

    /// Grace periods that ended.
    pub(super) fn client_timeouts(&mut self, now: Instant) {
        let due: Vec<ConnId> = self
            .client_punches
            .iter()
            .filter(|(_, c)| matches!(c.phase, Phase::Grace(t) if t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(c) = self.client_punches.get_mut(&id) {
                c.phase = Phase::Analyze;
            }
            self.client_analysis(now, id);
        }
    }

    /// The earliest grace period.
    pub(super) fn client_punch_timeout(&self) -> Option<Instant> {
        self.client_punches
            .values()
            .filter_map(|c| match c.phase {
                Phase::Grace(t) => Some(t),
                _ => None,
            })
            .min()
    }
}

impl ClientPunch {
    /// The server's addresses (and the one the relay saw), split into verified (same host
    /// as a token the server echoed) and not.
    fn remote_candidates(&self) -> (Vec<SocketAddrV4>, Vec<SocketAddrV4>) {
        let mut all = self.remote_addrs.clone();
        if self.remote_fw != firewall::RANDOM && !all.contains(&self.server_address) {
            all.push(self.server_address);
        }
        all.into_iter()
            .partition(|a| Some(*a.ip()) == self.verified_host)
    }
}
