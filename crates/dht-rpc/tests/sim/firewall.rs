//! Firewall detection (spec §11 `quickFirewall`, §13): a node with both sockets, public or
//! behind one of plures-sim's NAT models, joins a network of public persistent nodes.
//!
//! The truth is the network model: a NAT forwards only datagrams that match a mapping the
//! inner socket opened by sending, so PING_NAT replies aimed at the never-used server socket
//! are dropped there and nowhere else.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_dht_rpc::{Config, Dht, Event, NodeId, Socket};
use plures_sim::{Host, HostId, LinkConfig, NatConfig, NatType, Sim, Transmit, sim_test};

use crate::adapter::{SimNode, addr, network};

const SERVER_PORT: u16 = 49737;
const CLIENT_PORT: u16 = 50000;
/// Past the adaptive countdown (240 ticks of 5 s) with margin.
const STABLE_PERIOD: Duration = Duration::from_secs(240 * 5 + 60);

/// A node with a server and a client socket on one IP.
struct TwoSockets {
    dht: Dht,
    ip: Ipv4Addr,
    ready: bool,
    persistent: Option<NodeId>,
}

impl TwoSockets {
    fn new(config: Config, ip: Ipv4Addr, now: Instant) -> Self {
        Self {
            dht: Dht::new(config, now),
            ip,
            ready: false,
            persistent: None,
        }
    }

    fn drain(&mut self) {
        while let Some(e) = self.dht.poll_event() {
            match e {
                Event::Ready => self.ready = true,
                Event::Persistent { id } => self.persistent = Some(id),
                _ => {}
            }
        }
    }

    fn addrs(ip: Ipv4Addr) -> [SocketAddr; 2] {
        [
            SocketAddrV4::new(ip, SERVER_PORT).into(),
            SocketAddrV4::new(ip, CLIENT_PORT).into(),
        ]
    }
}

impl Host for TwoSockets {
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        let socket = if local.port() == SERVER_PORT {
            Socket::Server
        } else {
            Socket::Client
        };
        if let SocketAddr::V4(from) = from {
            let _ = self.dht.handle_datagram(now, socket, from, data);
        }
        self.drain();
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.dht.handle_timeout(now);
        self.drain();
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        let t = self.dht.poll_transmit()?;
        let port = match t.socket {
            Socket::Server => SERVER_PORT,
            _ => CLIENT_PORT,
        };
        Some(Transmit {
            source: SocketAddrV4::new(self.ip, port).into(),
            destination: t.destination.into(),
            contents: t.contents,
            ttl: None,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.dht.poll_timeout()
    }
}

/// `ephemeral`: the option as the reference takes it (`None` = adaptive).
fn config(sim: &mut Sim, ephemeral: Option<bool>) -> Config {
    Config {
        bootstrap: vec![addr(0)],
        ephemeral,
        server_port: SERVER_PORT,
        ..Config::new(sim.derive_seed())
    }
}

/// Twelve public persistent nodes, 30 ms apart.
fn setup(sim: &mut Sim) -> Vec<HostId> {
    sim.set_default_link(LinkConfig {
        jitter: Duration::from_millis(10),
        ..LinkConfig::with_latency(Duration::from_millis(30))
    });
    network(
        sim,
        12,
        Duration::from_millis(100),
        Duration::from_secs(30),
        false,
    )
}

/// How many of the network's tables hold `id`.
fn listed_by(sim: &Sim, hosts: &[HostId], id: &NodeId) -> usize {
    hosts
        .iter()
        .filter(|&&h| sim.host::<SimNode>(h).dht.table().contains(id))
        .count()
}

fn run_until_ready(sim: &mut Sim, h: HostId) {
    sim.run_until_cond(|s| s.host::<TwoSockets>(h).ready)
        .expect("bootstrap finishes");
}

/// A node that asks to be persistent (`ephemeral: false`) behind each NAT type: its server
/// socket never opened a mapping, so no PING_NAT reply reaches it; it learns its public
/// address but stays firewalled, ephemeral, and out of every table.
#[test]
fn behind_a_nat_a_node_stays_firewalled_and_ephemeral() {
    for (i, kind) in [
        NatType::FullCone,
        NatType::RestrictedCone,
        NatType::PortRestrictedCone,
        NatType::Symmetric,
    ]
    .into_iter()
    .enumerate()
    {
        sim_test(20 + i as u64, |sim: &mut Sim| {
            let hosts = setup(sim);
            let public = Ipv4Addr::new(198, 51, 100, 1);
            let nat = sim.add_nat(NatConfig::new(IpAddr::V4(public), kind));
            let inner = Ipv4Addr::new(192, 168, 1, 2);
            let c = config(sim, Some(false));
            let node = TwoSockets::new(c, inner, sim.now());
            let h = sim.add_host_behind(nat, node, &TwoSockets::addrs(inner));
            run_until_ready(sim, h);
            // The adaptive schedule does not apply to a forced-persistent node, but run
            // through the period anyway: nothing may flip later.
            sim.run_for(Duration::from_secs(120)).expect("run");
            let n = sim.host::<TwoSockets>(h);
            assert!(n.dht.is_firewalled(), "{kind:?}");
            assert!(!n.dht.is_persistent(), "{kind:?}");
            assert_eq!(n.persistent, None);
            if kind != NatType::Symmetric {
                // The probe failed for reachability, not for lack of a NAT estimate.
                assert_eq!(n.dht.nat().host(), Some(public), "{kind:?}");
                assert_eq!(n.dht.nat().port(), CLIENT_PORT, "{kind:?}");
            }
            let id = n.dht.id();
            assert_ne!(
                id,
                NodeId::from_addr(SocketAddrV4::new(public, SERVER_PORT))
            );
            assert_eq!(listed_by(sim, &hosts, &id), 0, "{kind:?}");
        });
    }
}

/// An adaptive node (the reference's default options) behind a NAT: the quick bootstrap
/// test fails, the countdown check ~20 minutes later fails too; it stays firewalled and
/// ephemeral.
#[test]
fn adaptive_node_behind_a_nat_stays_ephemeral() {
    sim_test(30, |sim: &mut Sim| {
        setup(sim);
        let public = Ipv4Addr::new(198, 51, 100, 7);
        let nat = sim.add_nat(NatConfig::new(
            IpAddr::V4(public),
            NatType::PortRestrictedCone,
        ));
        let inner = Ipv4Addr::new(192, 168, 1, 2);
        let c = config(sim, None);
        let h = sim.add_host_behind(
            nat,
            TwoSockets::new(c, inner, sim.now()),
            &TwoSockets::addrs(inner),
        );
        run_until_ready(sim, h);
        sim.run_for(STABLE_PERIOD).expect("run");
        let n = sim.host::<TwoSockets>(h);
        assert!(n.dht.is_firewalled());
        assert!(!n.dht.is_persistent());
        assert_eq!(n.dht.nat().host(), Some(public));
    });
}

/// Without a NAT, `ephemeral: false` makes the node pass the firewall check right after
/// the first bootstrap query and become persistent with `id(publicHost, serverPort)`; the
/// network then lists it.
#[test]
fn public_node_asking_for_persistence_becomes_persistent() {
    sim_test(40, |sim: &mut Sim| {
        let hosts = setup(sim);
        // The address of spec §18.1's recorded id vector.
        let ip = Ipv4Addr::new(88, 99, 3, 86);
        let c = config(sim, Some(false));
        let h = sim.add_host(TwoSockets::new(c, ip, sim.now()), &TwoSockets::addrs(ip));
        run_until_ready(sim, h);
        let want = NodeId::from_addr(SocketAddrV4::new(ip, SERVER_PORT));
        assert_eq!(
            hex::encode(want.as_bytes()),
            "54d4b9c6441048061f80cf69564cee46a5730adfcd59fbe6c056bb49af771546"
        );
        let n = sim.host::<TwoSockets>(h);
        assert!(!n.dht.is_firewalled());
        assert!(n.dht.is_persistent());
        assert_eq!(n.persistent, Some(want));
        assert_eq!(n.dht.id(), want);
        // The probe sampler (server port) replaced the main one (client port).
        assert_eq!(n.dht.nat().port(), SERVER_PORT);
        sim.run_for(Duration::from_secs(60)).expect("run");
        assert!(listed_by(sim, &hosts, &want) >= 6);
    });
}

/// Without a NAT and with the default (adaptive) options: the quick PING_NAT during
/// bootstrap is answered, so the node stops being firewalled at once but stays ephemeral;
/// after the stable period (240 ticks) it becomes persistent with `id(publicHost, port)`.
#[test]
fn public_adaptive_node_becomes_persistent_after_the_stable_period() {
    sim_test(50, |sim: &mut Sim| {
        let hosts = setup(sim);
        let ip = Ipv4Addr::new(10, 200, 0, 2);
        let c = config(sim, None);
        let h = sim.add_host(TwoSockets::new(c, ip, sim.now()), &TwoSockets::addrs(ip));
        run_until_ready(sim, h);
        let want = NodeId::from_addr(SocketAddrV4::new(ip, SERVER_PORT));
        let ready_at = sim.now();
        {
            let n = sim.host::<TwoSockets>(h);
            assert!(!n.dht.is_firewalled(), "quick firewall test passed");
            assert!(!n.dht.is_persistent());
            // The id already follows the public address (the second bootstrap query used
            // it), but the node does not send it yet.
            assert_eq!(n.dht.id(), want);
        }
        assert_eq!(listed_by(sim, &hosts, &want), 0);
        sim.run_until_cond(|s| s.host::<TwoSockets>(h).persistent.is_some())
            .expect("becomes persistent");
        let waited = sim.now() - ready_at;
        assert!(
            waited >= Duration::from_secs(230 * 5) && waited <= STABLE_PERIOD,
            "{waited:?}"
        );
        assert_eq!(sim.host::<TwoSockets>(h).persistent, Some(want));
        sim.run_for(Duration::from_secs(60)).expect("run");
        assert!(listed_by(sim, &hosts, &want) >= 6);
    });
}

/// `ephemeral: true` (forced ephemeral): the quick test still clears the firewall flag, but
/// the node never turns persistent.
#[test]
fn forced_ephemeral_node_never_becomes_persistent() {
    sim_test(60, |sim: &mut Sim| {
        setup(sim);
        let ip = Ipv4Addr::new(10, 200, 0, 3);
        let c = config(sim, Some(true));
        let h = sim.add_host(TwoSockets::new(c, ip, sim.now()), &TwoSockets::addrs(ip));
        run_until_ready(sim, h);
        sim.run_for(STABLE_PERIOD).expect("run");
        let n = sim.host::<TwoSockets>(h);
        assert!(!n.dht.is_firewalled());
        assert!(!n.dht.is_persistent());
        assert_eq!(n.persistent, None);
    });
}
