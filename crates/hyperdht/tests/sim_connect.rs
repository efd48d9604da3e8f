//! Connection set-up in the hyperdht core (spec §8–§11) on a simulated network: a server
//! announces itself to the 3 storage nodes closest to `hash(publicKey)`, a client finds
//! them with FIND_PEER, its Noise message 1 is relayed to the server and the reply back
//! (one tid, bare response from the addressed node), and both ends report the same
//! finished handshake with crossed stream ids and each other's address — directly between
//! persistent (OPEN) nodes, from an ephemeral client, under 5 % loss (retransmitted
//! message 1 answered from the server's memory, one connection only), and failing with
//! PEER_NOT_FOUND for an unknown key.

use std::collections::BTreeSet;
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::node::{ConnectError, Event, StreamSetup};
use plures_sim::HostId;

mod simnet;

use simnet::{Net, SimNode, network};

/// Connects `client` to `server_kp`'s server; returns (client setup, server setups).
fn connect(
    net: &mut Net,
    client: HostId,
    server: HostId,
    server_kp: &KeyPair,
) -> Result<(StreamSetup, Vec<StreamSetup>), ConnectError> {
    let now = net.sim.now();
    let me = KeyPair::from_seed([0x77; 32]);
    let conn = net
        .node(client)
        .node
        .connect(now, *server_kp.public_key(), me)
        .expect("start");
    let ended = |e: &Event| matches!(e, Event::Connected { conn: c, .. } | Event::ConnectFailed { conn: c, .. } if *c == conn);
    net.sim
        .run_until_cond(|s| s.host::<SimNode>(client).events.iter().any(ended))
        .expect("connect ends");
    // Let retransmissions and late relays settle, then collect the server's side.
    net.sim.run_for(Duration::from_secs(5)).expect("settle");
    let events = std::mem::take(&mut net.node(client).events);
    let outcome = events.into_iter().find(ended).expect("outcome");
    let setups: Vec<StreamSetup> = std::mem::take(&mut net.node(server).events)
        .into_iter()
        .filter_map(|e| match e {
            Event::Connection { setup, .. } => Some(setup),
            _ => None,
        })
        .collect();
    match outcome {
        Event::Connected { setup, .. } => Ok((setup, setups)),
        Event::ConnectFailed { error, .. } => Err(error),
        _ => unreachable!(),
    }
}

fn check_pair(
    net: &Net,
    client: HostId,
    server: HostId,
    c: &StreamSetup,
    s: &[StreamSetup],
    server_kp: &KeyPair,
) {
    assert_eq!(s.len(), 1, "exactly one connection at the server");
    let s = &s[0];
    assert_eq!(c.keys.handshake_hash, s.keys.handshake_hash);
    assert_eq!(c.keys.tx, s.keys.rx);
    assert_eq!(c.keys.rx, s.keys.tx);
    assert!(c.keys.is_initiator && !s.keys.is_initiator);
    assert_eq!(c.holepunch_secret, s.holepunch_secret);
    assert_eq!(c.remote_public_key, *server_kp.public_key());
    assert_eq!(
        s.remote_public_key,
        *KeyPair::from_seed([0x77; 32]).public_key()
    );
    assert_eq!(c.remote_stream_id, s.local_stream_id);
    assert_eq!(s.remote_stream_id, c.local_stream_id);
    let server_addr = net.sim.host::<SimNode>(server).addr;
    let client_addr = net.sim.host::<SimNode>(client).addr;
    assert_eq!(c.remote_addr, Some(server_addr));
    if let Some(a) = s.remote_addr {
        assert_eq!(a, client_addr);
    }
}

#[test]
fn a_client_connects_to_a_server_through_its_relays() {
    let mut net = network(11, 0.0);
    let (server, client) = (net.storage[5], net.storage[9]);
    let kp = KeyPair::from_seed([0x55; 32]);
    let (_, relays) = net.listen(server, &kp);
    let relays: BTreeSet<_> = relays.into_iter().collect();
    let target = plures_hyperdht::crypto::target(kp.public_key());
    assert_eq!(relays.len(), 3);
    // The relays are the 3 closest storage nodes to the target (the server excluded: it
    // does not answer its own query).
    let server_addr = net.sim.host::<SimNode>(server).addr;
    let mut expected: Vec<_> = net.closest_all(&target);
    expected.retain(|a| *a != server_addr);
    expected.truncate(3);
    assert_eq!(relays, expected.into_iter().collect());

    let (c, s) = connect(&mut net, client, server, &kp).expect("connected");
    check_pair(&net, client, server, &c, &s, &kp);
    // Both OPEN: the server connects at once too.
    assert!(s[0].remote_addr.is_some());

    // An ephemeral client: the server connects at once only if the client knows its
    // public address (firewall OPEN), else it waits for the client's first datagram.
    let eph = net.clients[0];
    let open = net.node(eph).node.remote_address().is_some();
    let (c, s) = connect(&mut net, eph, server, &kp).expect("connected");
    check_pair(&net, eph, server, &c, &s, &kp);
    let eph_addr = net.sim.host::<SimNode>(eph).addr;
    assert_eq!(s[0].remote_addr, open.then_some(eph_addr));
}

#[test]
fn connecting_under_loss_yields_one_connection() {
    let mut net = network(12, 0.05);
    let (server, client) = (net.storage[3], net.storage[17]);
    let kp = KeyPair::from_seed([0x56; 32]);
    net.listen(server, &kp);
    for _ in 0..3 {
        let (c, s) = connect(&mut net, client, server, &kp).expect("connected");
        check_pair(&net, client, server, &c, &s, &kp);
    }
}

#[test]
fn an_unknown_key_is_not_found() {
    let mut net = network(13, 0.0);
    let client = net.clients[1];
    let server = net.storage[2];
    let kp = KeyPair::from_seed([0x57; 32]);
    assert_eq!(
        connect(&mut net, client, server, &kp).map(|_| ()),
        Err(ConnectError::PeerNotFound)
    );
}
