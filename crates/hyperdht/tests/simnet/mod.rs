//! A simulated network of [`HyperDht`] cores on plures-sim: `NODES` persistent storage
//! nodes (node 0 bootstraps the rest) and two ephemeral clients, plus helpers to run an
//! operation to its end and to compute the true closest nodes by brute force.
#![allow(dead_code)]

use std::collections::BTreeSet;
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
    pub(crate) events: Vec<Event>,
}

impl Host for SimNode {
    fn handle_datagram(&mut self, now: Instant, _local: SocketAddr, from: SocketAddr, data: &[u8]) {
        if let SocketAddr::V4(from) = from {
            let _ = self.node.handle_datagram(now, Socket::Server, from, data);
        }
        self.events
            .extend(std::iter::from_fn(|| self.node.poll_event()));
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.node.handle_timeout(now);
        self.events
            .extend(std::iter::from_fn(|| self.node.poll_event()));
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        let t = self.node.poll_transmit()?;
        Some(Transmit {
            source: self.addr.into(),
            destination: t.destination.into(),
            contents: t.contents,
            ttl: None,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
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
        };
        let node = SimNode {
            node: HyperDht::new(config, sim.now()),
            addr: addr(i),
            events: Vec::new(),
        };
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
