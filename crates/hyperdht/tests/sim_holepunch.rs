//! Holepunching (spec §12) in the hyperdht core on a simulated network with NAT models:
//! a client and a server, each behind its own NAT, connect through PEER_HOLEPUNCH rounds
//! relayed by the server's announce relays and 1-byte probes between pool sockets. The
//! truth is the simulator's NAT model: a connection counts only if a probe from the
//! peer's public address actually reached the socket the client connects on. Also: the
//! user's holepunch veto on either side (HOLEPUNCH_ABORTED, nobody punches) and the
//! server's re-open of a puncher whose NAT class stayed UNKNOWN.

use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plures_dht_rpc::Socket;
use plures_hyperdht::KeyPair;
use plures_hyperdht::constants::firewall;
use plures_hyperdht::node::{ConnectError, Event, HolepunchConfig, StreamSetup};
use plures_sim::NatType;

mod simnet;

use simnet::SimNode;
use simnet::natnet::{NatNet, nat_network, nat_network_with};

const CONE: Option<NatType> = Some(NatType::PortRestrictedCone);
const RANDOM: Option<NatType> = Some(NatType::Symmetric);

fn listen(net: &mut NatNet, kp: &KeyPair) {
    let now = net.sim.now();
    let server = net.server;
    net.sim
        .host_mut::<SimNode>(server)
        .node
        .listen(now, kp.clone())
        .expect("listen");
    net.sim
        .run_until_cond(|s| {
            s.host::<SimNode>(server)
                .events
                .iter()
                .any(|e| matches!(e, Event::Listening { .. }))
        })
        .expect("listening");
}

/// Connects the client to the server; returns the client's outcome and the server's
/// set-ups.
fn connect(net: &mut NatNet) -> (Result<StreamSetup, ConnectError>, Vec<StreamSetup>) {
    let kp = KeyPair::from_seed([0x61; 32]);
    listen(net, &kp);
    connect_again(net, &kp)
}

/// Connects the client to the (listening) server `kp` once more.
fn connect_again(
    net: &mut NatNet,
    kp: &KeyPair,
) -> (Result<StreamSetup, ConnectError>, Vec<StreamSetup>) {
    let now = net.sim.now();
    let client = net.client;
    let conn = net
        .sim
        .host_mut::<SimNode>(client)
        .node
        .connect(now, *kp.public_key(), KeyPair::from_seed([0x62; 32]))
        .expect("start");
    let ended = |e: &Event| matches!(e, Event::Connected { conn: c, .. } | Event::ConnectFailed { conn: c, .. } if *c == conn);
    net.sim
        .run_until_cond(|s| s.host::<SimNode>(client).events.iter().any(ended))
        .expect("connect ends");
    let events = std::mem::take(&mut net.sim.host_mut::<SimNode>(client).events);
    let outcome = match events.into_iter().find(ended) {
        Some(Event::Connected { setup, .. }) => Ok(setup),
        Some(Event::ConnectFailed { error, .. }) => Err(error),
        _ => unreachable!(),
    };
    // The server's connections; its other events stay for the test to look at.
    let server = net.sim.host_mut::<SimNode>(net.server);
    let (conns, rest): (Vec<Event>, Vec<Event>) = std::mem::take(&mut server.events)
        .into_iter()
        .partition(|e| matches!(e, Event::Connection { .. }));
    server.events = rest;
    let setups = conns
        .into_iter()
        .filter_map(|e| match e {
            Event::Connection { setup, .. } => Some(setup),
            _ => None,
        })
        .collect();
    (outcome, setups)
}

/// The client connected on a pool socket to the server NAT's public address, and the NAT
/// model delivered probes both ways on that path.
fn check_punched(net: &NatNet, c: &StreamSetup, s: &[StreamSetup]) -> SocketAddrV4 {
    assert_eq!(s.len(), 1, "one connection at the server");
    assert_eq!(c.keys.handshake_hash, s[0].keys.handshake_hash);
    assert_eq!(c.remote_stream_id, s[0].local_stream_id);
    assert_eq!(s[0].remote_stream_id, c.local_stream_id);
    let Socket::Other(n) = c.socket else {
        panic!("client stream not on a pool socket: {:?}", c.socket);
    };
    assert!(
        matches!(s[0].socket, Socket::Other(_)),
        "server slot socket"
    );
    assert_eq!(
        s[0].remote_addr, None,
        "the server binds on the first datagram"
    );
    let remote = c.remote_addr.expect("client connects to an address");
    assert_eq!(*remote.ip(), net.server_ip, "through the server's NAT");
    let client = net.sim.host::<SimNode>(net.client);
    let local = client.pool[&n];
    assert!(
        client.probes_in.contains(&(local, remote)),
        "a probe from {remote} reached {local}"
    );
    // The server probed the client's NAT from the address the client connects to, so
    // its NAT lets the client's datagrams in.
    let server = net.sim.host::<SimNode>(net.server);
    assert!(
        server
            .probes
            .iter()
            .any(|(_, to, _)| *to.ip() == net.client_ip),
        "the server probed the client"
    );
    remote
}

fn no_fast_open() -> HolepunchConfig {
    HolepunchConfig {
        fast_open: false,
        ..HolepunchConfig::default()
    }
}

#[test]
fn cone_to_cone_connects_by_fast_open() {
    let mut net = nat_network(31, 0.0, CONE, CONE, HolepunchConfig::default());
    let (c, s) = connect(&mut net);
    let c = c.expect("connected");
    check_punched(&net, &c, &s);
    // The pool sockets other than the winner are released.
    assert_eq!(net.sim.host::<SimNode>(net.client).node.pool_sockets(), 0);
}

#[test]
fn cone_to_cone_connects_by_the_consistent_strategy_without_fast_open() {
    let mut net = nat_network(32, 0.0, CONE, CONE, no_fast_open());
    let (c, s) = connect(&mut net);
    let c = c.expect("connected");
    check_punched(&net, &c, &s);
    // Every probe of the consistent strategy has TTL 64; session probes are TTL 5.
    let client = net.sim.host::<SimNode>(net.client);
    assert!(!client.probes.is_empty());
    assert!(client.probes.iter().all(|p| p.2 == 64));
}

#[test]
fn full_cone_client_to_port_restricted_server() {
    let mut net = nat_network(33, 0.0, Some(NatType::FullCone), CONE, no_fast_open());
    let (c, s) = connect(&mut net);
    check_punched(&net, &c.expect("connected"), &s);
}

#[test]
fn cone_to_cone_under_loss() {
    for seed in [34, 35] {
        let mut net = nat_network(seed, 0.05, CONE, CONE, HolepunchConfig::default());
        let (c, s) = connect(&mut net);
        check_punched(&net, &c.expect("connected"), &s);
    }
}

#[test]
fn cone_client_to_random_server_connects_by_the_birthday_strategy() {
    let mut net = nat_network(36, 0.0, CONE, RANDOM, HolepunchConfig::default());
    let (c, s) = connect(&mut net);
    let c = c.expect("connected");
    check_punched(&net, &c, &s);
    // The server opened up to 256 sockets; the client probed random ports.
    let server = net.sim.host::<SimNode>(net.server);
    assert!(
        server.max_pool >= 200,
        "birthday sockets: {}",
        server.max_pool
    );
    let client = net.sim.host::<SimNode>(net.client);
    let ports: std::collections::BTreeSet<u16> = client
        .probes
        .iter()
        .filter(|p| *p.1.ip() == net.server_ip)
        .map(|p| p.1.port())
        .collect();
    assert!(ports.len() > 10, "random-port probes: {}", ports.len());
    // The client's probe reached one of the birthday sockets, not the slot's own: the
    // server reports it, so that its driver also listens there for the client's stream.
    let Socket::Other(slot) = s[0].socket else {
        panic!("server slot socket: {:?}", s[0].socket);
    };
    let reached: Vec<u32> = server
        .events
        .iter()
        .filter_map(|e| match e {
            Event::PunchSocket {
                slot_socket,
                socket,
                ..
            } if *slot_socket == slot => Some(*socket),
            _ => None,
        })
        .collect();
    assert!(!reached.is_empty(), "no PunchSocket event");
    for n in reached {
        let local = server.pool[&n];
        assert!(
            server
                .probes_in
                .iter()
                .any(|(l, from)| *l == local && *from.ip() == net.client_ip),
            "no probe from the client reached socket {n}"
        );
    }
}

#[test]
fn random_client_to_cone_server_connects_by_the_birthday_strategy() {
    let mut net = nat_network(37, 0.0, RANDOM, CONE, HolepunchConfig::default());
    let (c, s) = connect(&mut net);
    let c = c.expect("connected");
    check_punched(&net, &c, &s);
    let client = net.sim.host::<SimNode>(net.client);
    assert!(
        client.max_pool >= 200,
        "birthday sockets: {}",
        client.max_pool
    );
}

#[test]
fn random_to_random_fails_with_double_randomized_nats() {
    let mut net = nat_network(38, 0.0, RANDOM, RANDOM, HolepunchConfig::default());
    let (c, s) = connect(&mut net);
    assert_eq!(
        c.map(|_| ()),
        Err(ConnectError::HolepunchDoubleRandomizedNats)
    );
    // The server made a slot for the handshake, but no probe path.
    assert_eq!(s.len(), 1);
    // Everything is released once the server's slot memory (10 s) ran out.
    net.sim.run_for(Duration::from_secs(15)).expect("run");
    assert_eq!(net.sim.host::<SimNode>(net.client).node.pool_sockets(), 0);
    assert_eq!(net.sim.host::<SimNode>(net.server).node.pool_sockets(), 0);
}

#[test]
fn random_punches_are_throttled_to_one_per_20_seconds() {
    let mut net = nat_network(39, 0.0, CONE, RANDOM, HolepunchConfig::default());
    let kp = KeyPair::from_seed([0x61; 32]);
    listen(&mut net, &kp);
    let (c, s) = connect_again(&mut net, &kp);
    check_punched(&net, &c.expect("first random punch"), &s);
    // Right after it, the client refuses a second random punch (spec §12.6).
    let (c, _) = connect_again(&mut net, &kp);
    assert_eq!(c.map(|_| ()), Err(ConnectError::HolepunchAborted));
    // 20 s after the first one ended, it may punch again.
    net.sim.run_for(Duration::from_secs(21)).expect("run");
    let (c, _) = connect_again(&mut net, &kp);
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn birthday_punch_under_loss() {
    let mut net = nat_network(40, 0.05, CONE, RANDOM, HolepunchConfig::default());
    let (c, s) = connect(&mut net);
    check_punched(&net, &c.expect("connected"), &s);
}

/// Seed 110 once made the random client count one relay's repeated answers as three
/// samples and call its NAT CONSISTENT; samples are one per responder.
#[test]
fn random_client_birthday_punch_under_loss() {
    let mut net = nat_network(110, 0.05, RANDOM, CONE, HolepunchConfig::default());
    let (c, s) = connect(&mut net);
    check_punched(&net, &c.expect("connected"), &s);
    let client = net.sim.host::<SimNode>(net.client);
    assert!(
        client.max_pool >= 200,
        "birthday sockets: {}",
        client.max_pool
    );
}

/// (remote class, own class, remote addresses, own addresses) per veto call.
type VetoCalls = Arc<Mutex<Vec<(u64, u64, Vec<SocketAddrV4>, Vec<SocketAddrV4>)>>>;

/// No fast open, and every punch vetoed (recorded in `calls`).
fn vetoing(calls: &VetoCalls) -> HolepunchConfig {
    let calls = Arc::clone(calls);
    HolepunchConfig {
        allow: Some(Arc::new(move |remote_fw, local_fw, remote, local| {
            calls.lock().expect("lock").push((
                remote_fw,
                local_fw,
                remote.to_vec(),
                local.to_vec(),
            ));
            false
        })),
        ..no_fast_open()
    }
}

/// The veto saw both NATs as consistent, with `remote_ip`'s and `local_ip`'s addresses.
fn check_veto_call(calls: &VetoCalls, remote_ip: std::net::Ipv4Addr, local_ip: std::net::Ipv4Addr) {
    let calls = calls.lock().expect("lock");
    assert_eq!(calls.len(), 1, "asked once");
    let (remote_fw, local_fw, remote, local) = &calls[0];
    assert_eq!(
        (*remote_fw, *local_fw),
        (firewall::CONSISTENT, firewall::CONSISTENT)
    );
    assert!(
        !remote.is_empty() && remote.iter().all(|a| *a.ip() == remote_ip),
        "{remote:?}"
    );
    assert!(
        !local.is_empty() && local.iter().all(|a| *a.ip() == local_ip),
        "{local:?}"
    );
}

/// Seed 32 without a veto connects by the consistent strategy
/// (`cone_to_cone_connects_by_the_consistent_strategy_without_fast_open`); a client
/// veto ends the attempt with HOLEPUNCH_ABORTED (as the reference's client) before the
/// punch round: the server never punches and drops its slot on the abort message.
#[test]
fn a_client_veto_aborts_before_the_punch_round() {
    let calls = VetoCalls::default();
    let mut net = nat_network_with(32, 0.0, CONE, CONE, vetoing(&calls), no_fast_open());
    let (c, s) = connect(&mut net);
    assert_eq!(c.map(|_| ()), Err(ConnectError::HolepunchAborted));
    assert_eq!(s.len(), 1, "the handshake completed");
    check_veto_call(&calls, net.server_ip, net.client_ip);
    net.sim.run_for(Duration::from_secs(1)).expect("run");
    let server = net.sim.host::<SimNode>(net.server);
    assert!(
        server.probes.iter().all(|p| *p.1.ip() != net.client_ip),
        "the server never probed the client"
    );
    assert_eq!(server.node.pool_sockets(), 0, "the slot's puncher is gone");
    assert_eq!(net.sim.host::<SimNode>(net.client).node.pool_sockets(), 0);
}

/// A server veto answers the punch round with an abort: the client fails with
/// HOLEPUNCH_ABORTED (what the reference's client reports, observed), nobody punches.
#[test]
fn a_server_veto_aborts_the_punch_round() {
    let calls = VetoCalls::default();
    let mut net = nat_network_with(32, 0.0, CONE, CONE, no_fast_open(), vetoing(&calls));
    let (c, s) = connect(&mut net);
    assert_eq!(c.map(|_| ()), Err(ConnectError::HolepunchAborted));
    assert_eq!(s.len(), 1, "the handshake completed");
    check_veto_call(&calls, net.client_ip, net.server_ip);
    net.sim.run_for(Duration::from_secs(1)).expect("run");
    let server = net.sim.host::<SimNode>(net.server);
    assert!(server.probes.iter().all(|p| *p.1.ip() != net.client_ip));
    assert_eq!(server.node.pool_sockets(), 0);
    let client = net.sim.host::<SimNode>(net.client);
    assert!(client.probes.iter().all(|p| *p.1.ip() != net.server_ip));
    assert_eq!(client.node.pool_sockets(), 0);
}

/// The server's first puncher gets no NAT sample back (its PINGs are lost): when the
/// probe round arrives its class is still UNKNOWN after sampling `req.to`, so it re-opens
/// (a new pool socket and sampler, spec §12.4 step 3) and the punch goes through the new
/// socket. Without the re-open the server would answer with an abort.
#[test]
fn a_server_puncher_without_samples_is_reopened() {
    let mut net = nat_network(32, 0.0, CONE, CONE, no_fast_open());
    net.sim.host_mut::<SimNode>(net.server).mute_first_puncher = true;
    let (c, s) = connect(&mut net);
    let c = c.expect("connected after the re-open");
    let remote = check_punched(&net, &c, &s);
    let server = net.sim.host::<SimNode>(net.server);
    let muted = server.muted.expect("the first puncher sampled");
    assert_eq!(s[0].socket, Socket::Other(muted), "the slot's own socket");
    // The server punched from the re-opened socket only, and that probe opened the
    // client's path (check_punched: it reached the client's stream socket from `remote`).
    let muted_addr = server.pool[&muted];
    let to_client: Vec<SocketAddrV4> = server
        .probes
        .iter()
        .filter(|p| *p.1.ip() == net.client_ip)
        .map(|p| p.0)
        .collect();
    assert!(!to_client.is_empty(), "the server punched");
    assert!(to_client.iter().all(|a| *a != muted_addr), "{to_client:?}");
    assert!(server.max_pool >= 2, "a second pool socket");
    assert_eq!(*remote.ip(), net.server_ip);
}
