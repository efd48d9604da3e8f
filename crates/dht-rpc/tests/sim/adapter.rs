//! `Host` for a `Dht` core, plus helpers to build networks and run lookups.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_dht_rpc::node::{Peer, QueryId, QueryStats};
use plures_dht_rpc::{Config, Dht, Event, NodeId, Socket};
use plures_sim::{Host, HostId, Sim, Transmit};

/// The user command every simulated node handles.
pub(crate) const COMMAND: u64 = 16;

/// A node on one public address; `dead` models a crashed machine (no input, no output).
pub(crate) struct SimNode {
    pub dht: Dht,
    pub addr: SocketAddrV4,
    pub dead: bool,
    pub done: Vec<(QueryId, Vec<Peer>, QueryStats)>,
    pub ready: bool,
    /// Token-carrying user requests received.
    pub commits: usize,
}

impl SimNode {
    fn drain_events(&mut self) {
        while let Some(e) = self.dht.poll_event() {
            match e {
                Event::QueryDone {
                    query,
                    closest,
                    stats,
                    ..
                } => self.done.push((query, closest, stats)),
                Event::Ready => self.ready = true,
                Event::Request(r) => {
                    // Command 16 (registered on every node) is answered with "v"; requests
                    // carrying a (validated) token are commits.
                    if r.token.is_some() {
                        self.commits += 1;
                    }
                    let _ = self.dht.reply(&r.handle, Some(b"v"));
                }
                _ => {}
            }
        }
    }
}

impl Host for SimNode {
    fn handle_datagram(&mut self, now: Instant, _local: SocketAddr, from: SocketAddr, data: &[u8]) {
        if self.dead {
            return;
        }
        if let SocketAddr::V4(from) = from {
            let _ = self.dht.handle_datagram(now, Socket::Server, from, data);
        }
        self.drain_events();
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.dead {
            return;
        }
        self.dht.handle_timeout(now);
        self.drain_events();
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        if self.dead {
            return None;
        }
        let t = self.dht.poll_transmit()?;
        Some(Transmit {
            source: self.addr.into(),
            destination: t.destination.into(),
            contents: t.contents,
            ttl: None,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.dead {
            None
        } else {
            self.dht.poll_timeout()
        }
    }
}

pub(crate) fn addr(i: usize) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(10, (i >> 16) as u8, (i >> 8) as u8, i as u8 + 1),
        49737,
    )
}

/// Node 0 is a bootstrapper; the others are persistent, unfirewalled nodes that join one by
/// one, `gap` apart, and then the network settles for `settle`.
pub(crate) fn network(
    sim: &mut Sim,
    n: usize,
    gap: Duration,
    settle: Duration,
    sorted: bool,
) -> Vec<HostId> {
    let boot = addr(0);
    let mut hosts = Vec::with_capacity(n);
    for i in 0..n {
        let seed = sim.derive_seed();
        let mut config = if i == 0 {
            Config::bootstrapper(boot, seed)
        } else {
            Config {
                bootstrap: vec![boot],
                ephemeral: Some(false),
                firewalled: false,
                ..Config::new(seed)
            }
        };
        config.sorted_closer_nodes = sorted;
        config.commands = vec![COMMAND];
        let node = SimNode {
            dht: Dht::new(config, sim.now()),
            addr: addr(i),
            dead: false,
            done: Vec::new(),
            ready: false,
            commits: 0,
        };
        hosts.push(sim.add_host(node, &[addr(i).into()]));
        sim.run_for(gap).unwrap();
    }
    sim.run_for(settle).unwrap();
    for &h in &hosts {
        let node = sim.host::<SimNode>(h);
        assert!(
            node.ready && node.dht.is_persistent(),
            "node {:?} not ready",
            node.addr
        );
        assert_eq!(node.dht.id(), NodeId::from_addr(node.addr));
    }
    hosts
}

/// The true `k` closest live nodes to `target`, excluding `except`.
pub(crate) fn brute_force(
    sim: &Sim,
    hosts: &[HostId],
    target: &NodeId,
    except: HostId,
) -> Vec<SocketAddrV4> {
    let mut live: Vec<SocketAddrV4> = hosts
        .iter()
        .filter(|&&h| h != except && !sim.host::<SimNode>(h).dead)
        .map(|&h| sim.host::<SimNode>(h).addr)
        .collect();
    live.sort_by_key(|a| target.distance(&NodeId::from_addr(*a)));
    live.truncate(20);
    live
}

/// Outcome of one lookup.
pub(crate) struct Lookup {
    pub exact: bool,
    /// How many of the true 20 closest were found.
    pub found: usize,
    pub stats: QueryStats,
    pub requests: u64,
    pub datagrams: u64,
}

/// Runs a FIND_NODE from `from` toward `target` and compares with brute force.
pub(crate) fn lookup(sim: &mut Sim, hosts: &[HostId], from: HostId, target: NodeId) -> Lookup {
    let before_tx = sim.host::<SimNode>(from).dht.transmissions();
    let before_dg = sim.stats().total().sent;
    let now = sim.now();
    let q = sim
        .host_mut::<SimNode>(from)
        .dht
        .find_node(now, target)
        .unwrap();
    sim.run_until_cond(|s| s.host::<SimNode>(from).done.iter().any(|d| d.0 == q))
        .unwrap();
    let node = sim.host_mut::<SimNode>(from);
    let i = node.done.iter().position(|d| d.0 == q).unwrap();
    let (_, closest, stats) = node.done.swap_remove(i);
    let requests = node.dht.transmissions() - before_tx;
    let got: Vec<SocketAddrV4> = closest.iter().map(|p| p.addr).collect();
    let want = brute_force(sim, hosts, &target, from);
    let found = want.iter().filter(|a| got.contains(a)).count();
    Lookup {
        exact: got == want,
        found,
        stats,
        requests,
        datagrams: sim.stats().total().sent - before_dg,
    }
}

/// A deterministic target from a counter.
pub(crate) fn target(i: u64) -> NodeId {
    let mut t = [0u8; 32];
    for (j, chunk) in t.chunks_mut(8).enumerate() {
        let x = (i + 1)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(j as u32 * 13)
            ^ (j as u64);
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    NodeId(t)
}
