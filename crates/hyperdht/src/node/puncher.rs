//! Holepunchers (spec §12.1, §12.2, §12.5, §12.6): each owns pool sockets
//! ([`Socket::Other`]) that the caller creates on first use and closes when the core
//! releases them ([`HyperDht::poll_released_socket`]), a [`Nat`] sampler fed by PINGs sent
//! from its socket, and the punch strategy that sends 1-byte probes ([`Probe`]).
//!
//! A 1-byte datagram on a pool socket is a probe: a server's puncher answers it with a
//! TTL-64 probe; a client's puncher is *connected* by it (the client keeps that socket and
//! connects its UDX stream to the probe's source).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_dht_rpc::node::{Reply, RequestFrom};
use plures_dht_rpc::{Command, Socket};

use super::nat::Nat;
use super::{ConnId, HyperDht, Owner, ServerId};
use crate::constants::firewall;

/// TTL of a probe that only opens the local NAT mapping ("open session").
pub const PROBE_TTL_SESSION: u8 = 5;
/// TTL of a probe meant to reach the peer.
pub const PROBE_TTL: u8 = 64;
/// Sockets a birthday punch opens.
pub const BIRTHDAY_SOCKETS: usize = 256;
/// Probes of the random-port and birthday strategies.
pub const RANDOM_PROBES: u32 = 1750;
/// Gap between those probes.
pub const RANDOM_PROBE_GAP: Duration = Duration::from_millis(20);
/// Rounds of the consistent strategy, and their gap.
pub const CONSISTENT_ROUNDS: u32 = 10;
/// Gap between consistent rounds (also the server's initial wait).
pub const CONSISTENT_GAP: Duration = Duration::from_secs(1);
/// Least time between the end of one random punch and the start of the next.
pub const RANDOM_PUNCH_INTERVAL: Duration = Duration::from_secs(20);
/// Longest a punch can take once the rounds are done: the random-port and birthday
/// strategies' probes (35 s) plus their start; a server stream waiting for a punched
/// client should wait this long on top of the handshake's 10 s.
pub const MAX_PUNCH_TIME: Duration = Duration::from_secs(40);
/// Re-opens of an unstable puncher.
pub const MAX_REOPENS: u32 = 3;
/// Nodes pinged per sampling pass.
const SAMPLE_PINGS: usize = 4;

/// A 1-byte holepunch probe (`00`) to send from a pool socket with an IP TTL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Probe {
    /// The socket to send from.
    pub socket: Socket,
    /// Where to.
    pub destination: SocketAddrV4,
    /// The IP TTL ([`PROBE_TTL_SESSION`] or [`PROBE_TTL`]).
    pub ttl: u8,
}

/// Whose puncher it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum PunchKey {
    Client(ConnId),
    Server(ServerId, u64),
}

/// A running punch strategy (spec §12.5).
#[derive(Debug)]
enum Strategy {
    Consistent {
        round: u32,
        verified: Vec<SocketAddrV4>,
        unverified: Vec<SocketAddrV4>,
    },
    RandomPorts {
        left: u32,
        host: Ipv4Addr,
    },
    Birthday {
        opened: bool,
        left: u32,
        target: SocketAddrV4,
        cursor: usize,
        first_pass: bool,
    },
}

#[derive(Debug)]
pub(super) struct Puncher {
    /// The socket the sampler and the rounds use.
    pub(super) socket: u32,
    /// Every socket (birthday sockets after the first).
    sockets: Vec<u32>,
    pub(super) nat: Nat,
    pub(super) reopens: u32,
    pings: usize,
    passes: u8,
    pinged: HashSet<SocketAddrV4>,
    strategy: Option<Strategy>,
    next: Option<Instant>,
    random: bool,
    pub(super) connected: bool,
    /// Sockets other than `socket` reported in [`super::Event::PunchSocket`].
    reported: Vec<u32>,
}

/// The holepunch bookkeeping of a node.
#[derive(Debug)]
pub(super) struct Punchers {
    next_socket: u32,
    probes: VecDeque<Probe>,
    released: VecDeque<u32>,
    owners: HashMap<u32, PunchKey>,
    map: HashMap<PunchKey, Puncher>,
    random_active: bool,
    /// When the last random punch ended (`None`: none yet, and not deferred).
    random_last: Option<Instant>,
    pub(super) holepunched: u64,
    pub(super) probes_answered: u64,
}

impl Punchers {
    /// `deferred`: the random-punch clock starts then (`deferRandomPunch`).
    pub(super) fn new(deferred: Option<Instant>) -> Self {
        Self {
            next_socket: 0,
            probes: VecDeque::new(),
            released: VecDeque::new(),
            owners: HashMap::new(),
            map: HashMap::new(),
            random_active: false,
            random_last: deferred,
            holepunched: 0,
            probes_answered: 0,
        }
    }

    /// Restarts the random-punch clock at `now` (`deferRandomPunch` on resume, §12.6).
    pub(super) fn defer_random(&mut self, now: Instant) {
        self.random_last = Some(now);
    }

    fn alloc(&mut self, key: PunchKey) -> u32 {
        self.next_socket = self.next_socket.wrapping_add(1);
        let s = self.next_socket;
        self.owners.insert(s, key);
        s
    }

    fn release(&mut self, s: u32) {
        if self.owners.remove(&s).is_some() {
            self.released.push_back(s);
        }
    }

    pub(super) fn get(&self, key: PunchKey) -> Option<&Puncher> {
        self.map.get(&key)
    }

    pub(super) fn probe(&mut self, socket: u32, destination: SocketAddrV4, ttl: u8) {
        self.probes.push_back(Probe {
            socket: Socket::Other(socket),
            destination,
            ttl,
        });
    }

    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        self.map.values().filter_map(|p| p.next).min()
    }

    /// Pool sockets in use.
    pub(super) fn sockets(&self) -> usize {
        self.owners.len()
    }
}

/// How a strategy tick ended.
enum Tick {
    Running,
    Exhausted,
}

impl HyperDht {
    /// The next probe to send.
    pub fn poll_probe(&mut self) -> Option<Probe> {
        self.punch.probes.pop_front()
    }

    /// The next pool socket the core no longer needs: close it.
    pub fn poll_released_socket(&mut self) -> Option<u32> {
        self.punch.released.pop_front()
    }

    /// Pool sockets the core uses now (holepunchers and birthday sockets).
    pub fn pool_sockets(&self) -> usize {
        self.punch.sockets()
    }

    /// Creates a puncher for `key` on a fresh pool socket and starts sampling.
    pub(super) fn new_puncher(&mut self, now: Instant, key: PunchKey) -> u32 {
        let socket = self.punch.alloc(key);
        let nat = if self.dht.is_firewalled() {
            Nat::new()
        } else {
            Nat::open()
        };
        self.punch.map.insert(
            key,
            Puncher {
                socket,
                sockets: vec![socket],
                nat,
                reopens: 0,
                pings: 0,
                passes: 0,
                pinged: HashSet::new(),
                strategy: None,
                next: None,
                random: false,
                connected: false,
                reported: Vec::new(),
            },
        );
        self.sample(now, key);
        socket
    }

    /// A new socket and sampler for an unstable puncher. A client releases the old
    /// sockets; a server keeps them (the relays still forward the client's rounds to the
    /// old socket's address, and its waiting stream listens there).
    pub(super) fn reopen_puncher(&mut self, now: Instant, key: PunchKey) -> bool {
        let Some(p) = self.punch.map.get(&key) else {
            return false;
        };
        if p.reopens >= MAX_REOPENS {
            return false;
        }
        let reopens = p.reopens + 1;
        let mut sockets = p.sockets.clone();
        if let PunchKey::Client(_) = key {
            for s in sockets.drain(..) {
                self.punch.release(s);
            }
        }
        let socket = self.punch.alloc(key);
        sockets.push(socket);
        if let Some(p) = self.punch.map.get_mut(&key) {
            p.socket = socket;
            p.sockets = sockets;
            p.nat = Nat::new();
            p.reopens = reopens;
            p.pings = 0;
            p.passes = 0;
            p.pinged.clear();
        }
        self.sample(now, key);
        true
    }

    /// Forgets a puncher and releases its sockets, except `keep` (handed to a stream).
    pub(super) fn drop_puncher(&mut self, now: Instant, key: PunchKey, keep: Option<u32>) {
        let Some(p) = self.punch.map.remove(&key) else {
            return;
        };
        if p.random {
            self.punch.random_active = false;
            self.punch.random_last = Some(now);
        }
        for s in p.sockets {
            if Some(s) == keep {
                self.punch.owners.remove(&s);
            } else {
                self.punch.release(s);
            }
        }
    }

    /// Whether the puncher's NAT analysis has settled (classified, or every ping done).
    pub(super) fn analysis_settled(&self, key: PunchKey) -> bool {
        self.punch
            .map
            .get(&key)
            .is_none_or(|p| p.nat.is_done() || (p.pings == 0 && p.passes >= 2))
    }

    /// One sampling pass: PINGs (no retries) from the puncher socket to up to 4 nodes,
    /// most recently added first, skipping the 5 most recent when 8 or more are known.
    fn sample(&mut self, now: Instant, key: PunchKey) {
        let Some(p) = self.punch.map.get(&key) else {
            return;
        };
        if p.nat.is_done() {
            if let Some(p) = self.punch.map.get_mut(&key) {
                p.passes = 2;
            }
            return;
        }
        let mut nodes: Vec<(u64, SocketAddrV4)> =
            self.dht.table().iter().map(|n| (n.added, n.addr)).collect();
        nodes.sort_by_key(|a| std::cmp::Reverse(a.0));
        let skip = if nodes.len() >= 8 { 5 } else { 0 };
        let targets: Vec<SocketAddrV4> = nodes
            .iter()
            .skip(skip)
            .chain(nodes.iter().take(skip))
            .map(|n| n.1)
            .filter(|a| !p.pinged.contains(a))
            .take(SAMPLE_PINGS)
            .collect();
        let from = RequestFrom {
            socket: Socket::Other(p.socket),
            retries: 0,
        };
        let mut sent = Vec::new();
        for to in targets {
            if let Ok(r) = self
                .dht
                .request_from(now, from, to, Command::Ping, None, None, None)
            {
                self.by_request.insert(r, Owner::Ping(key, p.socket));
                sent.push(to);
            }
        }
        if let Some(p) = self.punch.map.get_mut(&key) {
            p.passes += 1;
            p.pings += sent.len();
            p.pinged.extend(sent);
            if p.pings == 0 {
                p.passes = 2;
            }
        }
    }

    /// A sampling PING from socket `socket` ended.
    pub(super) fn on_ping_reply(
        &mut self,
        now: Instant,
        key: PunchKey,
        socket: u32,
        reply: Option<&Reply>,
    ) {
        let Some(p) = self.punch.map.get_mut(&key) else {
            return;
        };
        if p.socket != socket {
            return; // a re-opened puncher's old socket
        }
        p.pings = p.pings.saturating_sub(1);
        if let Some(r) = reply {
            p.nat.add_from(r.from, r.to);
        }
        if p.pings == 0 && p.passes == 1 && p.nat.samples() < SAMPLE_PINGS && !p.nat.is_done() {
            self.sample(now, key);
        }
        self.on_analysis(now, key);
    }

    /// A holepunch reply from `from` came back to the puncher socket: one more sample
    /// (if `from` gave none yet).
    pub(super) fn add_sample(&mut self, key: PunchKey, from: SocketAddrV4, to: SocketAddrV4) {
        if let Some(p) = self.punch.map.get_mut(&key) {
            p.nat.add_from(from, to);
        }
    }

    fn on_analysis(&mut self, now: Instant, key: PunchKey) {
        match key {
            PunchKey::Client(c) => self.client_analysis(now, c),
            PunchKey::Server(s, slot) => self.server_analysis(now, s, slot),
        }
    }

    /// Whether a random punch may start now (§12.6): none running and 20 s since the
    /// last one ended.
    pub(super) fn random_punch_allowed(&self, now: Instant) -> bool {
        !self.punch.random_active
            && self
                .punch
                .random_last
                .is_none_or(|t| now >= t + RANDOM_PUNCH_INTERVAL)
    }

    /// Starts the strategy for `local` / `remote` classes (OPEN counts as CONSISTENT).
    /// `false`: no strategy fits, or it needs a verified address and has none.
    pub(super) fn start_punch(
        &mut self,
        now: Instant,
        key: PunchKey,
        remote: u64,
        verified: Vec<SocketAddrV4>,
        unverified: Vec<SocketAddrV4>,
        delay: Duration,
    ) -> bool {
        let Some(p) = self.punch.map.get(&key) else {
            return false;
        };
        let consistent = |c| c == firewall::CONSISTENT || c == firewall::OPEN;
        let local = p.nat.class();
        let strategy = if consistent(local) && consistent(remote) {
            Strategy::Consistent {
                round: 0,
                verified,
                unverified,
            }
        } else if consistent(local) && remote == firewall::RANDOM {
            let Some(v) = verified.first() else {
                return false;
            };
            Strategy::RandomPorts {
                left: RANDOM_PROBES,
                host: *v.ip(),
            }
        } else if local == firewall::RANDOM && consistent(remote) {
            let Some(v) = verified.first() else {
                return false;
            };
            Strategy::Birthday {
                opened: false,
                left: RANDOM_PROBES,
                target: *v,
                cursor: 0,
                first_pass: true,
            }
        } else {
            return false;
        };
        let random = !matches!(strategy, Strategy::Consistent { .. });
        if random {
            self.punch.random_active = true;
        }
        if let Some(p) = self.punch.map.get_mut(&key) {
            p.nat.freeze();
            p.random = random;
            p.strategy = Some(strategy);
            p.next = Some(now + delay);
        }
        true
    }

    /// Runs the due strategy steps.
    pub(super) fn punch_timeouts(&mut self, now: Instant) {
        let due: Vec<PunchKey> = self
            .punch
            .map
            .iter()
            .filter(|(_, p)| p.next.is_some_and(|t| t <= now))
            .map(|(k, _)| *k)
            .collect();
        for key in due {
            if let Tick::Exhausted = self.punch_tick(now, key) {
                match key {
                    PunchKey::Client(c) => self.client_punch_exhausted(now, c),
                    PunchKey::Server(..) => self.drop_puncher(now, key, None),
                }
            }
        }
    }

    fn punch_tick(&mut self, now: Instant, key: PunchKey) -> Tick {
        let Some(mut p) = self.punch.map.remove(&key) else {
            return Tick::Running;
        };
        p.next = None;
        let tick = match p.strategy.as_mut() {
            None => Tick::Running,
            Some(Strategy::Consistent {
                round,
                verified,
                unverified,
            }) => {
                for a in verified.iter() {
                    self.punch.probe(p.socket, *a, PROBE_TTL);
                }
                if *round == 4 || *round == 8 {
                    for a in unverified.iter() {
                        self.punch.probe(p.socket, *a, PROBE_TTL);
                    }
                }
                *round += 1;
                if *round >= CONSISTENT_ROUNDS {
                    Tick::Exhausted
                } else {
                    p.next = Some(now + CONSISTENT_GAP);
                    Tick::Running
                }
            }
            Some(Strategy::RandomPorts { left, host }) => {
                let port = 1000 + (self.entropy.u32() % (65536 - 1000)) as u16;
                self.punch
                    .probe(p.socket, SocketAddrV4::new(*host, port), PROBE_TTL);
                *left -= 1;
                if *left == 0 {
                    Tick::Exhausted
                } else {
                    p.next = Some(now + RANDOM_PROBE_GAP);
                    Tick::Running
                }
            }
            Some(Strategy::Birthday {
                opened,
                left,
                target,
                cursor,
                first_pass,
            }) => {
                if *opened {
                    let s = p.sockets[*cursor % p.sockets.len()];
                    let ttl = if *first_pass {
                        PROBE_TTL_SESSION
                    } else {
                        PROBE_TTL
                    };
                    self.punch.probe(s, *target, ttl);
                    *cursor += 1;
                    if *cursor >= p.sockets.len() {
                        *cursor = 0;
                        *first_pass = false;
                    }
                    *left -= 1;
                    if *left == 0 {
                        Tick::Exhausted
                    } else {
                        p.next = Some(now + RANDOM_PROBE_GAP);
                        Tick::Running
                    }
                } else {
                    self.punch.probe(p.socket, *target, PROBE_TTL_SESSION);
                    while p.sockets.len() < BIRTHDAY_SOCKETS {
                        let s = self.punch.alloc(key);
                        p.sockets.push(s);
                        self.punch.probe(s, *target, PROBE_TTL_SESSION);
                    }
                    *opened = true;
                    p.next = Some(now + Duration::from_millis(100));
                    Tick::Running
                }
            }
        };
        self.punch.map.insert(key, p);
        tick
    }

    /// Stops a puncher's strategy (it connected); ends a random punch.
    pub(super) fn stop_punch(&mut self, now: Instant, key: PunchKey) {
        if let Some(p) = self.punch.map.get_mut(&key) {
            p.strategy = None;
            p.next = None;
            p.connected = true;
            if p.random {
                p.random = false;
                self.punch.random_active = false;
                self.punch.random_last = Some(now);
            }
        }
    }

    /// A 1-byte datagram on pool socket `socket` from `from`.
    pub(super) fn handle_probe(&mut self, now: Instant, socket: u32, from: SocketAddrV4) {
        match self.punch.owners.get(&socket).copied() {
            Some(PunchKey::Client(c)) => self.client_connected(now, c, socket, from),
            Some(key @ PunchKey::Server(..)) => {
                self.punch.probes_answered += 1;
                self.punch.probe(socket, from, PROBE_TTL);
                self.stop_punch(now, key);
                self.report_punch_socket(key, socket);
            }
            None => {}
        }
    }

    /// A datagram that is neither a probe nor dht-rpc (a client's UDX datagram) reached
    /// pool socket `socket`. At a server this happens when one of its birthday sockets'
    /// own probes reached the client through a mapping the client had opened towards
    /// that port before the socket existed: the client connected there, while no probe
    /// of the client reached that socket. Its stream must listen there too.
    pub(super) fn handle_stream_datagram(&mut self, socket: u32) {
        if let Some(key @ PunchKey::Server(..)) = self.punch.owners.get(&socket).copied() {
            self.report_punch_socket(key, socket);
        }
    }

    /// Reports (once) that a server's puncher socket other than the slot's first one
    /// carries the path ([`super::Event::PunchSocket`]).
    fn report_punch_socket(&mut self, key: PunchKey, socket: u32) {
        let PunchKey::Server(server, _) = key else {
            return;
        };
        if let Some(p) = self.punch.map.get_mut(&key) {
            let first = p.sockets.first().copied().unwrap_or(p.socket);
            if socket != first && !p.reported.contains(&socket) {
                p.reported.push(socket);
                self.events.push_back(super::Event::PunchSocket {
                    server,
                    slot_socket: first,
                    socket,
                });
            }
        }
    }
}

impl Puncher {
    /// A strategy is running.
    pub(super) fn is_punching(&self) -> bool {
        self.strategy.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::{Config, HolepunchConfig};
    use crate::storage::StorageConfig;

    fn node(now: Instant, defer_random_punch: bool) -> HyperDht {
        let config = Config {
            dht: plures_dht_rpc::Config::new(7),
            storage: StorageConfig::default(),
            unix_ms: 0,
            entropy: [7; 32],
            local_addresses: Vec::new(),
            holepunch: HolepunchConfig {
                defer_random_punch,
                ..HolepunchConfig::default()
            },
        };
        HyperDht::new(config, now)
    }

    /// A server puncher with its slot socket and one more (a birthday socket).
    fn server_puncher(n: &mut HyperDht, now: Instant) -> (PunchKey, u32, u32) {
        let key = PunchKey::Server(ServerId(1), 0);
        let first = n.new_puncher(now, key);
        let other = n.punch.alloc(key);
        if let Some(p) = n.punch.map.get_mut(&key) {
            p.sockets.push(other);
        }
        while n.poll_event().is_some() {}
        (key, first, other)
    }

    fn punch_sockets(n: &mut HyperDht) -> Vec<(u32, u32)> {
        std::iter::from_fn(|| n.poll_event())
            .filter_map(|e| match e {
                crate::node::Event::PunchSocket {
                    slot_socket,
                    socket,
                    ..
                } => Some((slot_socket, socket)),
                _ => None,
            })
            .collect()
    }

    /// The client's UDX (neither a probe nor dht-rpc) or its probe on a socket of the
    /// slot other than the first one is reported once, so the server's stream listens
    /// there (a birthday punch may land on any of 256 sockets).
    #[test]
    fn stream_datagrams_and_probes_on_other_slot_sockets_are_reported_once() {
        let now = Instant::now();
        let mut n = node(now, false);
        let (_, first, other) = server_puncher(&mut n, now);
        let from = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 130), 40000);
        // A UDX data header: magic 0xff, version 1, then type, offset, id, window, seq, ack.
        let mut udx = vec![0xff, 1, 0, 0];
        udx.extend_from_slice(&[0; 16]);
        let _ = n.handle_datagram(now, Socket::Other(first), from, &udx);
        assert_eq!(punch_sockets(&mut n), []);
        let _ = n.handle_datagram(now, Socket::Other(other), from, &udx);
        let _ = n.handle_datagram(now, Socket::Other(other), from, &udx);
        let _ = n.handle_datagram(now, Socket::Other(other), from, &[0]);
        assert_eq!(punch_sockets(&mut n), [(first, other)]);

        let mut n = node(now, false);
        let (_, first, other) = server_puncher(&mut n, now);
        let _ = n.handle_datagram(now, Socket::Other(other), from, &[0]);
        assert_eq!(punch_sockets(&mut n), [(first, other)]);
        // The probe was answered from the socket it reached.
        let answer = n.poll_probe().expect("probe answered");
        assert_eq!(
            (answer.socket, answer.destination, answer.ttl),
            (Socket::Other(other), from, PROBE_TTL)
        );
    }

    /// The JS reference punches through a randomizing NAT right after it started (NAT
    /// lab, JS/JS cone/random: connected 0.2 s after start); deferring is opt-in.
    #[test]
    fn a_fresh_node_may_random_punch_at_once_unless_deferred() {
        let now = Instant::now();
        assert!(node(now, false).random_punch_allowed(now));
        let deferred = node(now, true);
        assert!(!deferred.random_punch_allowed(now));
        assert!(deferred.random_punch_allowed(now + RANDOM_PUNCH_INTERVAL));
    }
}
