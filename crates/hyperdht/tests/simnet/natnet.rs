//! A small simulated network for holepunching: public storage nodes plus a client and a
//! server, each on the LAN of its own NAT (or public), with ports free for pool sockets.

use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use plures_dht_rpc::Config as DhtConfig;
use plures_hyperdht::node::{Config, HolepunchConfig, HyperDht};
use plures_hyperdht::storage::StorageConfig;
use plures_sim::{HostId, LinkConfig, Loss, NatConfig, NatType, Sim};

use super::{SimNode, UNIX_MS, addr};

/// Storage nodes of the NAT network.
pub(crate) const NAT_NODES: usize = 12;
/// Ports a NATed node may use for pool sockets (birthday punching needs 256).
/// The NATed nodes' client socket port.
pub(crate) const CLIENT_PORT: u16 = 40_000;
pub(crate) const POOL_PORTS: std::ops::Range<u16> = 50_000..50_300;

pub(crate) struct NatNet {
    pub(crate) sim: Sim,
    pub(crate) storage: Vec<HostId>,
    pub(crate) client: HostId,
    pub(crate) server: HostId,
    /// Public IPs of the client's and server's NATs (their own address if public).
    pub(crate) client_ip: Ipv4Addr,
    pub(crate) server_ip: Ipv4Addr,
}

/// Public storage nodes, then the client behind `client_nat` and the server behind
/// `server_nat` (`None`: public but firewalled), settled for 25 s so that the random-punch
/// throttle (20 s after start) is open.
pub(crate) fn nat_network(
    seed: u64,
    loss: f64,
    client_nat: Option<NatType>,
    server_nat: Option<NatType>,
    holepunch: HolepunchConfig,
) -> NatNet {
    nat_network_with(
        seed,
        loss,
        client_nat,
        server_nat,
        holepunch.clone(),
        holepunch,
    )
}

/// [`nat_network`] with the client's and the server's own connection options (the
/// storage nodes take the client's).
pub(crate) fn nat_network_with(
    seed: u64,
    loss: f64,
    client_nat: Option<NatType>,
    server_nat: Option<NatType>,
    holepunch: HolepunchConfig,
    server_holepunch: HolepunchConfig,
) -> NatNet {
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
    let config = |i: usize, dht: DhtConfig, ip: Ipv4Addr| Config {
        dht,
        storage: StorageConfig::default(),
        unix_ms: UNIX_MS,
        entropy: [i as u8; 32],
        local_addresses: vec![ip],
        holepunch: if i == 102 {
            server_holepunch.clone()
        } else {
            holepunch.clone()
        },
    };
    let mut storage = Vec::new();
    for i in 0..NAT_NODES {
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
        let node = HyperDht::new(config(i, dht, *addr(i).ip()), sim.now());
        storage.push(sim.add_host(SimNode::new(node, addr(i)), &[addr(i).into()]));
        sim.run_for(Duration::from_millis(200)).expect("run");
    }
    sim.run_for(Duration::from_secs(10)).expect("settle");
    let add = |sim: &mut Sim, i: usize, nat: Option<NatType>| {
        let public = Ipv4Addr::new(198, 51, 100, i as u8);
        let inner = match nat {
            Some(_) => Ipv4Addr::new(192, 168, i as u8, 2),
            None => public,
        };
        let me = SocketAddrV4::new(inner, 49737);
        let dht = DhtConfig {
            bootstrap: vec![boot],
            ephemeral: Some(true),
            server_port: 49737,
            ..DhtConfig::new(sim.derive_seed())
        };
        let node = HyperDht::new(config(100 + i, dht, inner), sim.now());
        let mut node = SimNode::with_pool(node, me, POOL_PORTS.collect());
        let client_socket = SocketAddrV4::new(inner, CLIENT_PORT);
        node.client_addr = Some(client_socket);
        let mut addrs: Vec<std::net::SocketAddr> = vec![me.into(), client_socket.into()];
        addrs.extend(POOL_PORTS.map(|p| std::net::SocketAddr::from(SocketAddrV4::new(inner, p))));
        let h = match nat {
            Some(kind) => {
                let n = sim.add_nat(NatConfig::new(IpAddr::V4(public), kind));
                sim.add_host_behind(n, node, &addrs)
            }
            None => sim.add_host(node, &addrs),
        };
        (h, public)
    };
    let (client, client_ip) = add(&mut sim, 1, client_nat);
    let (server, server_ip) = add(&mut sim, 2, server_nat);
    sim.run_for(Duration::from_secs(25)).expect("settle");
    NatNet {
        sim,
        storage,
        client,
        server,
        client_ip,
        server_ip,
    }
}
