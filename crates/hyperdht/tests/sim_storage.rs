//! The hyperdht core ([`HyperDht`]) in a simulated network of 40 nodes: storage
//! operations from an ephemeral client land on, and only on, the storage nodes closest to
//! the target (checked by brute force over the node ids), lookups from another client
//! find what was announced, unannounce removes it, mutable and immutable values round
//! trip — on clean links and with 5 % random loss.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_dht_rpc::{Config as DhtConfig, NodeId, Socket};
use plures_hyperdht::node::{Config, Event, HyperDht, OpId, OpResult};
use plures_hyperdht::storage::StorageConfig;
use plures_hyperdht::{KeyPair, Peer, crypto};
use plures_sim::{Host, HostId, LinkConfig, Loss, Sim, Transmit};

const NODES: usize = 40;
const UNIX_MS: u64 = 1_700_000_000_000;

struct SimNode {
    node: HyperDht,
    addr: SocketAddrV4,
    events: Vec<Event>,
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

fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8 + 1), 49737)
}

struct Net {
    sim: Sim,
    storage: Vec<HostId>,
    clients: Vec<HostId>,
}

fn network(seed: u64, loss: f64) -> Net {
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
    fn node(&mut self, h: HostId) -> &mut SimNode {
        self.sim.host_mut::<SimNode>(h)
    }

    /// Starts an operation on `h` and runs until it is done; returns its events.
    fn run(&mut self, h: HostId, start: impl FnOnce(&mut HyperDht, Instant) -> OpId) -> Vec<Event> {
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

    /// The 20 storage nodes closest to `target` by XOR distance of their ids.
    fn closest(&self, target: &[u8; 32]) -> BTreeSet<SocketAddrV4> {
        let t = NodeId::from(*target);
        let mut all: Vec<SocketAddrV4> = (0..NODES).map(addr).collect();
        all.sort_by_key(|a| t.distance(&NodeId::from_addr(*a)));
        all.into_iter().take(20).collect()
    }

    fn holders(&self, topic: &[u8; 32], pk: &[u8; 32]) -> BTreeSet<SocketAddrV4> {
        let _ = topic;
        self.storage
            .iter()
            .map(|&h| self.sim.host::<SimNode>(h))
            .filter(|n| n.node.storage().has_record(topic, pk))
            .map(|n| n.addr)
            .collect()
    }
}

fn done(events: &[Event]) -> &OpResult {
    match events.last() {
        Some(Event::Done { result: Ok(r), .. }) => r,
        other => panic!("operation failed: {other:?}"),
    }
}

fn looked_up(events: &[Event]) -> BTreeSet<[u8; 32]> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Lookup { peers, .. } => Some(peers.iter().map(|p| p.public_key)),
            _ => None,
        })
        .flatten()
        .collect()
}

fn storage_round_trip(seed: u64, loss: f64) {
    let mut net = network(seed, loss);
    let (a, b) = (net.clients[0], net.clients[1]);
    let topic = crypto::hash(b"plures sim topic");
    let alice = KeyPair::from_seed([1; 32]);
    let relay = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1234);

    let ev = net.run(a, |n, now| {
        n.announce(now, topic, alice.clone(), vec![relay])
            .expect("start")
    });
    let OpResult::Committed { nodes } = done(&ev) else {
        panic!("{ev:?}")
    };
    let closest = net.closest(&topic);
    let holders = net.holders(&topic, alice.public_key());
    assert!(holders.len() >= 15, "stored on {} nodes", holders.len());
    assert!(holders.is_subset(&closest), "only the closest store it");
    assert!(nodes.iter().all(|n| closest.contains(n)));

    let ev = net.run(b, |n, now| n.lookup(now, topic).expect("start"));
    assert_eq!(looked_up(&ev), BTreeSet::from([*alice.public_key()]));
    let record = ev.iter().find_map(|e| match e {
        Event::Lookup { peers, .. } => peers.first().cloned(),
        _ => None,
    });
    assert_eq!(
        record,
        Some(Peer {
            public_key: *alice.public_key(),
            relay_addresses: vec![relay]
        })
    );

    let ev = net.run(a, |n, now| {
        n.unannounce(now, topic, alice.clone()).expect("start")
    });
    let OpResult::Committed { nodes: removed } = done(&ev) else {
        panic!("{ev:?}")
    };
    // Every storage node whose LOOKUP reply listed the key got an UNANNOUNCE that took
    // effect; on clean links that is every holder. (Under loss a holder the query never
    // heard from keeps its record until it expires, as with the reference.)
    let listed: BTreeSet<SocketAddrV4> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Lookup { from, peers, .. }
                if peers.iter().any(|p| &p.public_key == alice.public_key()) =>
            {
                Some(*from)
            }
            _ => None,
        })
        .collect();
    let removed: BTreeSet<SocketAddrV4> = removed.iter().copied().collect();
    let left = net.holders(&topic, alice.public_key());
    assert!(listed.is_subset(&removed), "{listed:?} vs {removed:?}");
    assert!(left.is_disjoint(&listed), "{left:?}");
    assert!(
        removed.len() >= 15,
        "unannounced at {} nodes",
        removed.len()
    );
    if loss == 0.0 {
        assert!(left.is_empty(), "{left:?}");
    }
    if left.is_empty() {
        let ev = net.run(b, |n, now| n.lookup(now, topic).expect("start"));
        assert!(looked_up(&ev).is_empty());
    }

    // Mutable: seq 1, then 2; a reader asking for seq ≥ 0 gets the latest.
    let bob = KeyPair::from_seed([2; 32]);
    for (seq, value) in [(1, b"first".to_vec()), (2, b"second".to_vec())] {
        let ev = net.run(a, |n, now| {
            n.mutable_put(now, &bob, value, seq).expect("start")
        });
        assert!(matches!(done(&ev), OpResult::Committed { .. }));
    }
    let ev = net.run(b, |n, now| {
        n.mutable_get(now, bob.public_key(), 0).expect("start")
    });
    let OpResult::Mutable(Some(got)) = done(&ev) else {
        panic!("{ev:?}")
    };
    assert_eq!((got.seq, got.value.as_slice()), (2, &b"second"[..]));
    let ev = net.run(b, |n, now| {
        n.mutable_get(now, bob.public_key(), 3).expect("start")
    });
    assert_eq!(done(&ev), &OpResult::Mutable(None));

    let value = b"immutable bytes".to_vec();
    let ev = net.run(a, |n, now| {
        n.immutable_put(now, value.clone()).expect("start")
    });
    assert!(matches!(done(&ev), OpResult::Committed { .. }));
    let ev = net.run(b, |n, now| {
        n.immutable_get(now, crypto::hash(&value)).expect("start")
    });
    assert_eq!(done(&ev), &OpResult::Immutable(Some(value)));
}

#[test]
fn storage_operations_on_clean_links() {
    storage_round_trip(1, 0.0);
}

#[test]
fn storage_operations_with_five_percent_loss() {
    storage_round_trip(2, 0.05);
}
