//! A simulated network of [`HyperDht`] cores on plures-sim: `NODES` persistent storage
//! nodes (node 0 bootstraps the rest) and two ephemeral clients, plus helpers to run an
//! operation to its end and to compute the true closest nodes by brute force.
#![allow(dead_code)]

pub(crate) mod natnet;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_dht_rpc::{Config as DhtConfig, NodeId, Socket};
use plures_hyperdht::node::{Config, Event, HyperDht, OpId};
use plures_hyperdht::storage::StorageConfig;
use plures_sim::{Host, HostId, LinkConfig, Loss, Sim, Transmit};

pub(crate) const NODES: usize = 40;
pub(crate) const UNIX_MS: u64 = 1_700_000_000_000;

pub(crate) struct SimNode {
    pub(crate) node: HyperDht,
    pub(crate) addr: SocketAddrV4,
    /// The client socket's address if it has its own (else `addr` serves both).
    pub(crate) client_addr: Option<SocketAddrV4>,
    pub(crate) events: Vec<Event>,
    /// Pool sockets in use: core number → local address.
    pub(crate) pool: BTreeMap<u32, SocketAddrV4>,
    /// Local ports free for pool sockets.
    pub(crate) free: Vec<u16>,
    /// Probes sent: (from, to, ttl).
    pub(crate) probes: Vec<(SocketAddrV4, SocketAddrV4, u8)>,
    /// Probes received: (local address, source).
    pub(crate) probes_in: Vec<(SocketAddrV4, SocketAddrV4)>,
    /// Most pool sockets open at once.
    pub(crate) max_pool: usize,
    /// Record every datagram in `sent` and `received` (off by default).
    pub(crate) trace: bool,
    /// Datagrams sent while tracing: (destination, contents).
    pub(crate) sent: Vec<(SocketAddrV4, Vec<u8>)>,
    /// Datagrams received while tracing: (source, contents).
    pub(crate) received: Vec<(SocketAddrV4, Vec<u8>)>,
    /// Lose every dht-rpc internal request (the NAT-sampling PINGs) sent from the first
    /// pool socket that sends one, as a NAT that drops them would.
    pub(crate) mute_first_puncher: bool,
    /// The pool socket muted by `mute_first_puncher`, once known.
    pub(crate) muted: Option<u32>,
    /// The host is dead: it receives, sends and runs nothing (a killed process).
    pub(crate) down: bool,
}

impl SimNode {
    pub(crate) fn new(node: HyperDht, addr: SocketAddrV4) -> Self {
        Self::with_pool(node, addr, Vec::new())
    }

    /// A node with `ports` on its address free for pool sockets.
    pub(crate) fn with_pool(node: HyperDht, addr: SocketAddrV4, mut ports: Vec<u16>) -> Self {
        ports.reverse();
        Self {
            node,
            addr,
            client_addr: None,
            events: Vec::new(),
            pool: BTreeMap::new(),
            free: ports,
            probes: Vec::new(),
            probes_in: Vec::new(),
            max_pool: 0,
            trace: false,
            sent: Vec::new(),
            received: Vec::new(),
            mute_first_puncher: false,
            muted: None,
            down: false,
        }
    }

    /// The local address of a core socket (a pool socket is bound on first use).
    fn local(&mut self, socket: Socket) -> Option<SocketAddrV4> {
        let n = match socket {
            Socket::Other(n) => n,
            Socket::Client => return Some(self.client_addr.unwrap_or(self.addr)),
            _ => return Some(self.addr),
        };
        if let Some(a) = self.pool.get(&n) {
            return Some(*a);
        }
        let port = self.free.pop()?;
        let a = SocketAddrV4::new(*self.addr.ip(), port);
        self.pool.insert(n, a);
        self.max_pool = self.max_pool.max(self.pool.len());
        Some(a)
    }

    fn release(&mut self) {
        while let Some(n) = self.node.poll_released_socket() {
            if let Some(a) = self.pool.remove(&n) {
                self.free.push(a.port());
            }
        }
    }
}

impl Host for SimNode {
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        if self.down {
            return;
        }
        if let (SocketAddr::V4(from), SocketAddr::V4(local)) = (from, local) {
            if data.len() == 1 {
                self.probes_in.push((local, from));
            }
            if self.trace {
                self.received.push((from, data.to_vec()));
            }
            let socket = if local == self.addr {
                Some(Socket::Server)
            } else if Some(local) == self.client_addr {
                Some(Socket::Client)
            } else {
                self.pool
                    .iter()
                    .find(|(_, a)| **a == local)
                    .map(|(n, _)| Socket::Other(*n))
            };
            if let Some(socket) = socket {
                let _ = self.node.handle_datagram(now, socket, from, data);
            }
        }
        self.events
            .extend(std::iter::from_fn(|| self.node.poll_event()));
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.down {
            return;
        }
        self.node.handle_timeout(now);
        self.events
            .extend(std::iter::from_fn(|| self.node.poll_event()));
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        if self.down {
            return None;
        }
        loop {
            if let Some(t) = self.node.poll_transmit() {
                if let (true, Socket::Other(n)) = (self.mute_first_puncher, t.socket) {
                    let internal = matches!(
                        plures_dht_rpc::wire::Packet::decode(&t.contents),
                        Ok(plures_dht_rpc::wire::Packet::Request(r)) if r.internal
                    );
                    if internal && *self.muted.get_or_insert(n) == n {
                        continue;
                    }
                }
                let Some(source) = self.local(t.socket) else {
                    continue;
                };
                if self.trace {
                    self.sent.push((t.destination, t.contents.clone()));
                }
                return Some(Transmit {
                    source: source.into(),
                    destination: t.destination.into(),
                    contents: t.contents,
                    ttl: None,
                });
            }
            if let Some(p) = self.node.poll_probe() {
                let Some(source) = self.local(p.socket) else {
                    continue;
                };
                self.probes.push((source, p.destination, p.ttl));
                return Some(Transmit {
                    source: source.into(),
                    destination: p.destination.into(),
                    contents: vec![0],
                    ttl: Some(p.ttl),
                });
            }
            self.release();
            return None;
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.down {
            return None;
        }
        self.node.poll_timeout()
    }
}

pub(crate) fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8 + 1), 49737)
}

pub(crate) struct Net {
    pub(crate) sim: Sim,
    pub(crate) storage: Vec<HostId>,
    pub(crate) clients: Vec<HostId>,
}

pub(crate) fn network(seed: u64, loss: f64) -> Net {
    let mut sim = Sim::new(seed);
    sim.set_default_link(LinkConfig {
        loss: if loss > 0.0 {
            Loss::Bernoulli(loss)
        } else {
            Loss::None
        },
        ..LinkConfig::with_latency(Duration::from_millis(15))
    });
    let boot = addr(0);
    let add = |sim: &mut Sim, i: usize, dht: DhtConfig| {
        let config = Config {
            dht,
            storage: StorageConfig::default(),
            unix_ms: UNIX_MS,
            entropy: [i as u8; 32],
            local_addresses: vec![*addr(i).ip()],
            holepunch: Default::default(),
        };
        let node = SimNode::new(HyperDht::new(config, sim.now()), addr(i));
        let h = sim.add_host(node, &[addr(i).into()]);
        sim.run_for(Duration::from_millis(200)).expect("run");
        h
    };
    let mut storage = Vec::new();
    for i in 0..NODES {
        let seed = sim.derive_seed();
        let dht = if i == 0 {
            DhtConfig::bootstrapper(boot, seed)
        } else {
            DhtConfig {
                bootstrap: vec![boot],
                ephemeral: Some(false),
                firewalled: false,
                server_port: 49737,
                ..DhtConfig::new(seed)
            }
        };
        storage.push(add(&mut sim, i, dht));
    }
    let mut clients = Vec::new();
    for i in NODES..NODES + 2 {
        let seed = sim.derive_seed();
        let dht = DhtConfig {
            bootstrap: vec![boot],
            ephemeral: Some(true),
            server_port: 49737,
            ..DhtConfig::new(seed)
        };
        clients.push(add(&mut sim, i, dht));
    }
    sim.run_for(Duration::from_secs(20)).expect("settle");
    for &h in &storage {
        assert!(sim.host::<SimNode>(h).node.dht().is_persistent());
    }
    for &h in &clients {
        assert!(!sim.host::<SimNode>(h).node.dht().is_persistent());
    }
    Net {
        sim,
        storage,
        clients,
    }
}

impl Net {
    pub(crate) fn node(&mut self, h: HostId) -> &mut SimNode {
        self.sim.host_mut::<SimNode>(h)
    }

    /// Listens with `kp` on `server` and runs until it is listening; returns the server and
    /// the relays it announced itself to (the `Listening` event is taken off the host).
    pub(crate) fn listen(
        &mut self,
        server: HostId,
        kp: &plures_hyperdht::KeyPair,
    ) -> (plures_hyperdht::node::ServerId, Vec<SocketAddrV4>) {
        let now = self.sim.now();
        let id = self
            .node(server)
            .node
            .listen(now, kp.clone())
            .expect("listen");
        self.sim
            .run_until_cond(|s| {
                s.host::<SimNode>(server)
                    .events
                    .iter()
                    .any(|e| matches!(e, Event::Listening { server: x, .. } if *x == id))
            })
            .expect("listening");
        let relays = std::mem::take(&mut self.node(server).events)
            .into_iter()
            .find_map(|e| match e {
                Event::Listening { relays, .. } => Some(relays),
                _ => None,
            })
            .expect("relays");
        (id, relays)
    }

    /// Starts an operation on `h` and runs until it is done; returns its events.
    pub(crate) fn run(
        &mut self,
        h: HostId,
        start: impl FnOnce(&mut HyperDht, Instant) -> OpId,
    ) -> Vec<Event> {
        let now = self.sim.now();
        let op = start(&mut self.node(h).node, now);
        let done = |e: &Event| matches!(e, Event::Done { op: o, .. } if *o == op);
        self.sim
            .run_until_cond(|s| s.host::<SimNode>(h).events.iter().any(done))
            .expect("operation finishes");
        let events = std::mem::take(&mut self.node(h).events);
        events
            .into_iter()
            .filter(|e| match e {
                Event::Done { op: o, .. } | Event::Lookup { op: o, .. } => *o == op,
                Event::PeerFound { op: o, .. } => *o == op,
                _ => false,
            })
            .collect()
    }

    /// Every storage node, nearest to `target` first (XOR distance of their ids).
    pub(crate) fn closest_all(&self, target: &[u8; 32]) -> Vec<SocketAddrV4> {
        let t = NodeId::from(*target);
        let mut all: Vec<SocketAddrV4> = (0..NODES).map(addr).collect();
        all.sort_by_key(|a| t.distance(&NodeId::from_addr(*a)));
        all
    }

    /// The 20 storage nodes closest to `target` by XOR distance of their ids.
    pub(crate) fn closest(&self, target: &[u8; 32]) -> BTreeSet<SocketAddrV4> {
        let t = NodeId::from(*target);
        let mut all: Vec<SocketAddrV4> = (0..NODES).map(addr).collect();
        all.sort_by_key(|a| t.distance(&NodeId::from_addr(*a)));
        all.into_iter().take(20).collect()
    }

    pub(crate) fn holders(&self, topic: &[u8; 32], pk: &[u8; 32]) -> BTreeSet<SocketAddrV4> {
        let _ = topic;
        self.storage
            .iter()
            .map(|&h| self.sim.host::<SimNode>(h))
            .filter(|n| n.node.storage().has_record(topic, pk))
            .map(|n| n.addr)
            .collect()
    }
}
