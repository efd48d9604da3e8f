//! The server firewall (spec §11 step 2) in the hyperdht core on a simulated network: a
//! handshake the firewall rejects gets no reply datagram at all (the truth is the
//! server's outgoing traffic, decoded), the client fails the way the reference's client
//! does against a rejecting server (PEER_CONNECTION_FAILED, spec §10.2), retransmitted
//! copies of the same Noise message are dropped without asking the firewall again until
//! the 10 s dedupe window passed, no holepunch slot is opened, the rejection is counted,
//! and other clients of the same server connect as before.

use std::net::SocketAddrV4;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use plures_compact::{Decode, Encode};
use plures_dht_rpc::Socket;
use plures_dht_rpc::wire::{Packet, Request};
use plures_hyperdht::constants::{command, mode};
use plures_hyperdht::node::{ConnectError, Event, HyperDht, ServerConfig, StreamSetup};
use plures_hyperdht::{Handshake, KeyPair};
use plures_sim::{HostId, NatType, Sim};

mod simnet;

use simnet::natnet::nat_network;
use simnet::{SimNode, network};

/// (client key, client payload version, client address) per firewall call.
type Calls = Arc<Mutex<Vec<([u8; 32], u64, SocketAddrV4)>>>;

/// A server config whose firewall rejects `banned` and records every call.
fn rejecting(banned: [u8; 32]) -> (ServerConfig, Calls) {
    let calls: Calls = Arc::default();
    let seen = Arc::clone(&calls);
    let config = ServerConfig {
        firewall: Some(Arc::new(move |key, payload, addr| {
            seen.lock()
                .expect("lock")
                .push((*key, payload.version, addr));
            *key == banned
        })),
    };
    (config, calls)
}

fn listen(sim: &mut Sim, server: HostId, kp: &KeyPair, config: ServerConfig) {
    let now = sim.now();
    sim.host_mut::<SimNode>(server)
        .node
        .listen_with(now, kp.clone(), config)
        .expect("listen");
    sim.run_until_cond(|s| {
        s.host::<SimNode>(server)
            .events
            .iter()
            .any(|e| matches!(e, Event::Listening { .. }))
    })
    .expect("listening");
    sim.host_mut::<SimNode>(server).events.clear();
}

/// Connects `client` as `me` to the server `kp`; returns the client's outcome and the
/// server's connections.
fn connect(
    sim: &mut Sim,
    client: HostId,
    server: HostId,
    kp: &KeyPair,
    me: [u8; 32],
) -> (Result<StreamSetup, ConnectError>, Vec<StreamSetup>) {
    let now = sim.now();
    let conn = sim
        .host_mut::<SimNode>(client)
        .node
        .connect(now, *kp.public_key(), KeyPair::from_seed(me))
        .expect("start");
    let ended = |e: &Event| matches!(e, Event::Connected { conn: c, .. } | Event::ConnectFailed { conn: c, .. } if *c == conn);
    sim.run_until_cond(|s| s.host::<SimNode>(client).events.iter().any(ended))
        .expect("connect ends");
    sim.run_for(Duration::from_secs(2)).expect("settle");
    let events = std::mem::take(&mut sim.host_mut::<SimNode>(client).events);
    let outcome = match events.into_iter().find(ended) {
        Some(Event::Connected { setup, .. }) => Ok(setup),
        Some(Event::ConnectFailed { error, .. }) => Err(error),
        _ => unreachable!(),
    };
    let setups = std::mem::take(&mut sim.host_mut::<SimNode>(server).events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Connection { setup, .. } => Some(setup),
            _ => None,
        })
        .collect();
    (outcome, setups)
}

/// The hyperdht `Handshake` a dht-rpc datagram carries, if any.
fn handshake_of(data: &[u8]) -> Option<(bool, Handshake)> {
    let (is_request, value) = match Packet::decode(data).ok()? {
        Packet::Request(r) if !r.internal && r.command == command::PEER_HANDSHAKE => {
            (true, r.value?)
        }
        Packet::Request(_) => return None,
        Packet::Response(r) => (false, r.value?),
    };
    Handshake::from_bytes(value).ok().map(|h| (is_request, h))
}

/// Handshake replies among the datagrams a node sent (REPLY to a direct client,
/// FROM_SERVER through a relay).
fn handshake_replies(sent: &[(SocketAddrV4, Vec<u8>)]) -> usize {
    sent.iter()
        .filter_map(|(_, d)| handshake_of(d))
        .filter(|(_, h)| h.mode == mode::REPLY || h.mode == mode::FROM_SERVER)
        .count()
}

/// Client handshakes (relayed or direct) among the datagrams a node received.
fn handshake_requests(received: &[(SocketAddrV4, Vec<u8>)]) -> Vec<(SocketAddrV4, Vec<u8>)> {
    received
        .iter()
        .filter(|(_, d)| {
            handshake_of(d).is_some_and(|(req, h)| {
                req && matches!(
                    h.mode,
                    mode::FROM_CLIENT | mode::FROM_RELAY | mode::FROM_SECOND_RELAY
                )
            })
        })
        .cloned()
        .collect()
}

/// Feeds a recorded datagram to `node` again, as a retransmission; returns what it sent.
fn replay(
    node: &mut HyperDht,
    sim_now: std::time::Instant,
    from: SocketAddrV4,
    data: &[u8],
) -> Vec<(SocketAddrV4, Vec<u8>)> {
    let _ = node.handle_datagram(sim_now, Socket::Server, from, data);
    std::iter::from_fn(|| node.poll_transmit())
        .map(|t| (t.destination, t.contents))
        .collect()
}

/// The relayed PEER_HANDSHAKE request `data` turned into a direct one (FROM_CLIENT, no
/// addresses) with the same Noise message.
fn as_direct(data: &[u8]) -> Vec<u8> {
    let Ok(Packet::Request(r)) = Packet::decode(data) else {
        panic!("not a request");
    };
    let hs = Handshake::from_bytes(r.value.expect("value")).expect("handshake");
    let value = Handshake {
        mode: mode::FROM_CLIENT,
        noise: hs.noise,
        peer_address: None,
        relay_address: None,
    }
    .to_bytes()
    .expect("encode");
    Request {
        id: None,
        token: None,
        value: Some(&value),
        ..r
    }
    .to_bytes()
    .expect("encode")
}

#[test]
fn a_rejected_handshake_gets_no_reply_and_others_connect() {
    let mut net = network(14, 0.0);
    let (server, client) = (net.storage[5], net.storage[9]);
    let kp = KeyPair::from_seed([0x58; 32]);
    let banned = *KeyPair::from_seed([0x77; 32]).public_key();
    let (config, calls) = rejecting(banned);
    listen(&mut net.sim, server, &kp, config);
    net.node(server).trace = true;

    let (outcome, conns) = connect(&mut net.sim, client, server, &kp, [0x77; 32]);
    assert_eq!(outcome.map(|_| ()), Err(ConnectError::PeerConnectionFailed));
    assert!(conns.is_empty(), "no connection at the server");
    let node = net.node(server);
    let requests = handshake_requests(&node.received);
    assert!(!requests.is_empty(), "the handshake reached the server");
    assert_eq!(
        handshake_replies(&node.sent),
        0,
        "no handshake reply left the server"
    );
    let client_addr = net.sim.host::<SimNode>(client).addr;
    {
        let calls = calls.lock().expect("lock");
        assert_eq!(calls.len(), 1, "the firewall is asked once per handshake");
        // Relayed: the client's address is the peerAddress the relay saw.
        assert_eq!(calls[0], (banned, 1, client_addr));
    }
    assert_eq!(net.node(server).node.stats().handshakes_rejected, 1);
    // Every copy of the message (retries, other relays) was dropped without a reply.
    let copies = requests.len();

    // A retransmission inside the dedupe window: dropped, the firewall not asked.
    let (from, bytes) = requests[0].clone();
    let now = net.sim.now();
    let out = replay(&mut net.node(server).node, now, from, &bytes);
    assert_eq!(handshake_replies(&out), 0);
    assert_eq!(calls.lock().expect("lock").len(), 1);
    assert_eq!(net.node(server).node.stats().handshakes_rejected, 1);

    // After the window the same Noise message is a new handshake: asked and rejected
    // again. Sent directly this time (mode FROM_CLIENT, as to a server that is its own
    // relay), the client address the firewall sees is the datagram's source.
    net.sim
        .run_for(Duration::from_secs(11))
        .expect("window passes");
    let direct_from = SocketAddrV4::new(std::net::Ipv4Addr::new(10, 9, 9, 9), 4321);
    let direct = as_direct(&bytes);
    let now = net.sim.now();
    let out = replay(&mut net.node(server).node, now, direct_from, &direct);
    assert_eq!(handshake_replies(&out), 0);
    assert!(
        out.iter().all(|(to, _)| *to != direct_from),
        "nothing to the client"
    );
    assert_eq!(calls.lock().expect("lock")[1], (banned, 1, direct_from));
    assert_eq!(net.node(server).node.stats().handshakes_rejected, 2);
    assert_eq!(net.node(server).node.stats().pool_sockets, 0, "no slot");

    // Another client key of the same host is accepted and connects; the detector sees
    // its reply.
    net.node(server).sent.clear();
    let (outcome, conns) = connect(&mut net.sim, client, server, &kp, [0x78; 32]);
    let c = outcome.expect("accepted peer connects");
    assert_eq!(conns.len(), 1);
    assert_eq!(c.keys.handshake_hash, conns[0].keys.handshake_hash);
    assert!(handshake_replies(&net.node(server).sent) >= 1);
    assert_eq!(calls.lock().expect("lock").len(), 3);
    assert_eq!(net.node(server).node.stats().handshakes_rejected, 2);
    eprintln!("copies of the rejected message 1 that reached the server: {copies}");
}

#[test]
fn retransmissions_under_loss_are_rejected_once() {
    let mut net = network(15, 0.2);
    let (server, client) = (net.storage[7], net.storage[21]);
    let kp = KeyPair::from_seed([0x59; 32]);
    let banned = *KeyPair::from_seed([0x79; 32]).public_key();
    let (config, calls) = rejecting(banned);
    listen(&mut net.sim, server, &kp, config);
    net.node(server).trace = true;
    let (outcome, conns) = connect(&mut net.sim, client, server, &kp, [0x79; 32]);
    assert_eq!(outcome.map(|_| ()), Err(ConnectError::PeerConnectionFailed));
    assert!(conns.is_empty());
    let node = net.node(server);
    let requests = handshake_requests(&node.received);
    let distinct: std::collections::BTreeSet<Vec<u8>> = requests
        .iter()
        .filter_map(|(_, d)| handshake_of(d).map(|(_, h)| h.noise))
        .collect();
    assert_eq!(distinct.len(), 1, "one Noise message 1");
    assert!(requests.len() >= 2, "copies: {}", requests.len());
    assert_eq!(handshake_replies(&node.sent), 0);
    assert_eq!(calls.lock().expect("lock").len(), 1);
    assert_eq!(node.node.stats().handshakes_rejected, 1);
}

/// A firewalled server behind a NAT would open a holepunch slot (a pool socket) for a
/// relayed, firewalled client; a rejected one gets none.
#[test]
fn a_rejected_client_gets_no_holepunch_slot() {
    let cone = Some(NatType::PortRestrictedCone);
    let mut net = nat_network(41, 0.0, cone, cone, Default::default());
    let (server, client) = (net.server, net.client);
    let kp = KeyPair::from_seed([0x5a; 32]);
    let banned = *KeyPair::from_seed([0x7a; 32]).public_key();
    let (config, calls) = rejecting(banned);
    listen(&mut net.sim, server, &kp, config);
    let (outcome, conns) = connect(&mut net.sim, client, server, &kp, [0x7a; 32]);
    assert_eq!(outcome.map(|_| ()), Err(ConnectError::PeerConnectionFailed));
    assert!(conns.is_empty());
    let s = net.sim.host::<SimNode>(server);
    assert_eq!(s.max_pool, 0, "no pool socket was opened");
    assert_eq!(s.node.stats().handshakes_rejected, 1);
    assert_eq!(calls.lock().expect("lock").len(), 1);

    let (outcome, conns) = connect(&mut net.sim, client, server, &kp, [0x7b; 32]);
    outcome.expect("accepted peer holepunches");
    assert_eq!(conns.len(), 1);
    assert!(net.sim.host::<SimNode>(server).max_pool >= 1, "a slot now");
}
