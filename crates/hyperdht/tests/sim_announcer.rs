//! The server announcer between updates (spec §8 steps 2–4) on a simulated network: the
//! server PINGs its relays every 3 s (3 retries each); when fewer than
//! `min(#relays, 3)` answer it updates at once — FIND_PEER toward its key, ANNOUNCE to
//! the 3 closest live nodes — and clients connect through the new relays; a relay that an
//! update drops gets a FIND_PEER for a fresh token and then an UNANNOUNCE (seen on the
//! wire and in its storage); the relay sets of the last three updates count as relays
//! (`isRelay`). The first ping follows the announce at once (`cap#39`/`cap#40`).
//!
//! Independent truth: the spec's rules, checked against the simulated datagrams and the
//! brute-force closest nodes; every bound below is simulated time.

use std::collections::BTreeSet;
use std::net::SocketAddrV4;
use std::time::Duration;

use plures_dht_rpc::wire::Packet;
use plures_dht_rpc::{Config as DhtConfig, NodeId};
use plures_hyperdht::KeyPair;
use plures_hyperdht::constants::command;
use plures_hyperdht::node::{
    Config, ConnectError, Event, HyperDht, RELAY_PING_INTERVAL, StreamSetup,
};
use plures_hyperdht::storage::StorageConfig;
use plures_sim::HostId;

mod simnet;

use simnet::{NODES, Net, SimNode, UNIX_MS, addr, network};

/// Runs in 1 s steps until the server reports new relays; `None` after `limit`.
fn wait_relays_changed(
    net: &mut Net,
    server: HostId,
    limit: Duration,
) -> Option<(Duration, Vec<SocketAddrV4>)> {
    let start = net.sim.now();
    while net.sim.now() - start < limit {
        net.sim.run_for(Duration::from_secs(1)).expect("run");
        let events = std::mem::take(&mut net.node(server).events);
        if let Some(relays) = events.into_iter().find_map(|e| match e {
            Event::RelaysChanged { relays, .. } => Some(relays),
            _ => None,
        }) {
            return Some((net.sim.now() - start, relays));
        }
    }
    None
}

fn host_of(net: &Net, a: SocketAddrV4) -> HostId {
    let i = (0..NODES).find(|&i| addr(i) == a).expect("a storage node");
    net.storage[i]
}

/// The 3 storage nodes closest to `target`, leaving out `skip` (the server, dead nodes).
fn expected_relays(net: &Net, target: &[u8; 32], skip: &[SocketAddrV4]) -> BTreeSet<SocketAddrV4> {
    let mut all = net.closest_all(target);
    all.retain(|a| !skip.contains(a));
    all.into_iter().take(3).collect()
}

fn connect(net: &mut Net, client: HostId, kp: &KeyPair) -> Result<StreamSetup, ConnectError> {
    let now = net.sim.now();
    let conn = net
        .node(client)
        .node
        .connect(now, *kp.public_key(), KeyPair::from_seed([0x78; 32]))
        .expect("start");
    let ended = |e: &Event| matches!(e, Event::Connected { conn: c, .. } | Event::ConnectFailed { conn: c, .. } if *c == conn);
    net.sim
        .run_until_cond(|s| s.host::<SimNode>(client).events.iter().any(ended))
        .expect("connect ends");
    let events = std::mem::take(&mut net.node(client).events);
    match events.into_iter().find(ended) {
        Some(Event::Connected { setup, .. }) => Ok(setup),
        Some(Event::ConnectFailed { error, .. }) => Err(error),
        _ => unreachable!(),
    }
}

/// Requests of `command` (a hyperdht user command) that the traced node sent to `to`.
fn sent_requests(n: &SimNode, to: SocketAddrV4, command: u64) -> usize {
    n.sent
        .iter()
        .filter(|(d, data)| {
            *d == to
                && matches!(Packet::decode(data), Ok(Packet::Request(r)) if !r.internal && r.command == command)
        })
        .count()
}

/// Internal PING requests (dht-rpc command 0) that the traced node sent to `to`, with when.
fn pings(n: &SimNode, to: SocketAddrV4) -> usize {
    n.sent
        .iter()
        .filter(|(d, data)| {
            *d == to
                && matches!(Packet::decode(data), Ok(Packet::Request(r)) if r.internal && r.command == 0)
        })
        .count()
}

#[test]
fn a_dead_relay_is_replaced_within_the_ping_rounds() {
    let mut net = network(21, 0.0);
    let server = net.storage[6];
    let server_addr = addr(6);
    let kp = KeyPair::from_seed([0x61; 32]);
    let target = plures_hyperdht::crypto::target(kp.public_key());
    let (id, relays) = net.listen(server, &kp);
    assert_eq!(
        relays.iter().copied().collect::<BTreeSet<_>>(),
        expected_relays(&net, &target, &[server_addr])
    );
    // The relays are pinged right after the announce and every 3 s after that.
    net.node(server).trace = true;
    net.sim.run_for(RELAY_PING_INTERVAL * 5).expect("run");
    for r in &relays {
        let n = pings(net.node(server), *r);
        assert!((4..=7).contains(&n), "{n} pings of {r} in 15 s");
    }
    assert!(
        !net.node(server)
            .events
            .iter()
            .any(|e| matches!(e, Event::RelaysChanged { .. })),
        "live relays are kept"
    );

    // Kill one relay: 2 of 3 answer, fewer than min(3, 3), so the server updates.
    let dead = relays[0];
    net.node(host_of(&net, dead)).down = true;
    net.node(server).sent.clear();
    let (after, new) = wait_relays_changed(&mut net, server, Duration::from_secs(20))
        .expect("the server moves off the dead relay");
    // A round of PINGs with 3 retries gives up after ≈ 4 s; one pause of 3 s before it.
    assert!(after <= Duration::from_secs(12), "took {after:?}");
    let new_set: BTreeSet<_> = new.iter().copied().collect();
    assert_eq!(
        new_set,
        expected_relays(&net, &target, &[server_addr, dead])
    );
    assert!(
        !net.node(server)
            .node
            .server_relays(id)
            .expect("server")
            .contains(&dead)
    );
    // The dropped relay is asked for a token (FIND_PEER) to withdraw the record; dead, it
    // never answers, so no UNANNOUNCE follows.
    assert!(sent_requests(net.node(server), dead, command::FIND_PEER) >= 1);
    assert_eq!(
        sent_requests(net.node(server), dead, command::UNANNOUNCE),
        0
    );
    // The previous relay set still counts as relays (three generations).
    assert!(net.node(server).node.is_relay(id, dead));

    // A client finds the server through the live relays and connects.
    let client = net.clients[0];
    connect(&mut net, client, &kp).expect("connected past the dead relay");
}

#[test]
fn losing_every_relay_moves_the_server_to_new_ones() {
    let mut net = network(22, 0.0);
    let server = net.storage[8];
    let kp = KeyPair::from_seed([0x62; 32]);
    let target = plures_hyperdht::crypto::target(kp.public_key());
    let (_, relays) = net.listen(server, &kp);
    net.sim.run_for(Duration::from_secs(2)).expect("run");
    for r in &relays {
        net.node(host_of(&net, *r)).down = true;
    }
    let (_, new) =
        wait_relays_changed(&mut net, server, Duration::from_secs(20)).expect("new relays");
    let mut skip = relays.clone();
    skip.push(addr(8));
    let new_set: BTreeSet<_> = new.iter().copied().collect();
    assert_eq!(new_set, expected_relays(&net, &target, &skip));
    // Every old relay is dead: the handshake can only go through a new one.
    let client = net.clients[1];
    connect(&mut net, client, &kp).expect("connected through a new relay");
    let routed: u64 = new
        .iter()
        .map(|r| {
            let h = host_of(&net, *r);
            net.sim.host::<SimNode>(h).node.stats().handshakes_routed
        })
        .sum();
    assert!(routed >= 1, "a new relay routed the handshake");
}

/// Whether the storage node at `at` answers a FIND_PEER for `target` (asked by `asker`)
/// with the server's record.
fn router_record_at(net: &mut Net, asker: HostId, at: SocketAddrV4, target: [u8; 32]) -> bool {
    let now = net.sim.now();
    let request = net
        .node(asker)
        .node
        .dht_mut()
        .request(
            now,
            at,
            plures_dht_rpc::Command::User(command::FIND_PEER),
            Some(target.into()),
            None,
            None,
        )
        .expect("request");
    let answered = |e: &Event| matches!(e, Event::Dht(plures_dht_rpc::Event::Response { request: r, .. }) if *r == request);
    net.sim
        .run_until_cond(|s| s.host::<SimNode>(asker).events.iter().any(answered))
        .expect("answer");
    let events = std::mem::take(&mut net.node(asker).events);
    events.into_iter().any(|e| {
        matches!(e, Event::Dht(plures_dht_rpc::Event::Response { request: r, reply }) if r == request && reply.value.is_some())
    })
}

/// A persistent storage node at `address`, bootstrapped from node 0, on the network.
fn add_storage_node(net: &mut Net, i: usize) -> HostId {
    let seed = net.sim.derive_seed();
    let dht = DhtConfig {
        bootstrap: vec![addr(0)],
        ephemeral: Some(false),
        firewalled: false,
        server_port: 49737,
        ..DhtConfig::new(seed)
    };
    let config = Config {
        dht,
        storage: StorageConfig::default(),
        unix_ms: UNIX_MS,
        entropy: [i as u8; 32],
        local_addresses: vec![*addr(i).ip()],
        holepunch: Default::default(),
    };
    let node = SimNode::new(HyperDht::new(config, net.sim.now()), addr(i));
    let h = net.sim.add_host(node, &[addr(i).into()]);
    net.sim.run_for(Duration::from_secs(30)).expect("settle");
    assert!(net.sim.host::<SimNode>(h).node.dht().is_persistent());
    h
}

#[test]
fn a_refresh_that_drops_a_live_relay_unannounces_there() {
    let mut net = network(23, 0.0);
    let server = net.storage[4];
    let kp = KeyPair::from_seed([0x63; 32]);
    let target = plures_hyperdht::crypto::target(kp.public_key());
    let (id, relays) = net.listen(server, &kp);
    let asker = net.clients[0];
    for r in &relays {
        assert!(
            router_record_at(&mut net, asker, *r, target),
            "{r} holds the record"
        );
    }

    // A new node closer to the target than the farthest relay joins.
    let t = NodeId::from(target);
    let far = relays
        .iter()
        .map(|r| t.distance(&NodeId::from_addr(*r)))
        .max()
        .expect("relays");
    let i = (NODES + 2..NODES + 3000)
        .filter(|i| i % 256 != 255)
        .find(|&i| t.distance(&NodeId::from_addr(addr(i))) < far)
        .expect("a closer address");
    let closer = addr(i);
    add_storage_node(&mut net, i);
    let dropped: Vec<SocketAddrV4> = {
        let mut all = relays.clone();
        all.push(closer);
        all.sort_by_key(|a| t.distance(&NodeId::from_addr(*a)));
        all.truncate(3);
        relays
            .iter()
            .copied()
            .filter(|r| !all.contains(r))
            .collect()
    };
    assert_eq!(dropped.len(), 1);
    let dropped = dropped[0];

    net.node(server).trace = true;
    net.sim.run_for(Duration::from_secs(1)).expect("run");
    net.node(server).events.clear();
    let now = net.sim.now();
    assert!(net.node(server).node.refresh_server(now, id));
    let (_, new) = wait_relays_changed(&mut net, server, Duration::from_secs(20))
        .expect("the refresh finds the closer node");
    assert!(new.contains(&closer));
    assert!(!new.contains(&dropped));
    net.sim.run_for(Duration::from_secs(5)).expect("settle");
    // FIND_PEER for a token, then the signed UNANNOUNCE, which the node accepted.
    let n = net.node(server);
    assert!(sent_requests(n, dropped, command::FIND_PEER) >= 1);
    assert_eq!(sent_requests(n, dropped, command::UNANNOUNCE), 1);
    assert_eq!(n.node.relay_unannounces(), 1);
    assert!(
        !router_record_at(&mut net, asker, dropped, target),
        "the record is gone at the dropped relay"
    );
    assert!(router_record_at(&mut net, asker, closer, target));
    // Kept relays get no UNANNOUNCE.
    for r in relays.iter().filter(|r| **r != dropped) {
        assert_eq!(sent_requests(net.node(server), *r, command::UNANNOUNCE), 0);
    }
    assert!(net.node(server).node.is_relay(id, dropped));
}

#[test]
fn three_generations_of_relays_count() {
    // Kill a relay three times over: after each update the set changes; the dead relays
    // of the last two updates still count, the oldest no longer does.
    let mut net = network(24, 0.0);
    let server = net.storage[10];
    let kp = KeyPair::from_seed([0x64; 32]);
    let (id, relays) = net.listen(server, &kp);
    let mut gone = Vec::new();
    let mut current = relays;
    for _ in 0..3 {
        let dead = current[0];
        net.node(host_of(&net, dead)).down = true;
        gone.push(dead);
        let (_, new) =
            wait_relays_changed(&mut net, server, Duration::from_secs(20)).expect("new relays");
        current = new;
    }
    let n = &net.node(server).node;
    assert!(!n.is_relay(id, gone[0]), "three updates ago: forgotten");
    assert!(n.is_relay(id, gone[1]));
    assert!(n.is_relay(id, gone[2]));
    assert!(current.iter().all(|r| n.is_relay(id, *r)));
}

#[test]
fn a_suspend_cancels_a_running_announce() {
    // An update that is committing when the node suspends sends no more ANNOUNCEs: its
    // commits are cancelled before the withdrawal starts. The node it sent the first
    // ANNOUNCE to dies at that moment, so that ANNOUNCE would be retransmitted.
    let mut net = network(25, 0.0);
    let server = net.storage[12];
    let kp = KeyPair::from_seed([0x65; 32]);
    let (id, _) = net.listen(server, &kp);
    net.sim.run_for(Duration::from_secs(2)).expect("run");
    // A slow network (300 ms each way), so that the suspend's withdrawal query outlasts
    // the ANNOUNCE's 1 s retransmission timer.
    net.sim
        .set_default_link(plures_sim::LinkConfig::with_latency(Duration::from_millis(
            300,
        )));
    let now = net.sim.now();
    assert!(net.node(server).node.refresh_server(now, id));
    // Run until the update sent its first ANNOUNCE, then suspend at once.
    net.node(server).trace = true;
    let announcing = |s: &plures_sim::Sim| {
        let n = s.host::<SimNode>(server);
        n.sent.iter().any(|(_, d)| {
            matches!(Packet::decode(d), Ok(Packet::Request(r)) if !r.internal && r.command == command::ANNOUNCE)
        })
    };
    net.sim.run_until_cond(announcing).expect("announcing");
    let first = net
        .node(server)
        .sent
        .iter()
        .find(|(_, d)| {
            matches!(Packet::decode(d), Ok(Packet::Request(r)) if !r.internal && r.command == command::ANNOUNCE)
        })
        .map(|(to, _)| *to)
        .expect("an ANNOUNCE");
    net.node(host_of(&net, first)).down = true;
    let at = net.sim.now();
    net.node(server).node.suspend(at);
    let sent_at_suspend = net.node(server).sent.len();
    net.sim.run_for(Duration::from_secs(10)).expect("run");
    let n = net.node(server);
    let later: Vec<_> = n.sent[sent_at_suspend..]
        .iter()
        .filter(|(_, d)| {
            matches!(Packet::decode(d), Ok(Packet::Request(r)) if !r.internal && r.command == command::ANNOUNCE)
        })
        .collect();
    assert!(
        later.is_empty(),
        "{} ANNOUNCEs after the suspend",
        later.len()
    );
}

#[test]
fn a_cancelled_topic_announce_stops_its_writes() {
    // A topic announce cancelled mid-commit (the swarm left the topic) retransmits
    // nothing and reports nothing: its ANNOUNCE to a node that stopped answering is not
    // sent again.
    let mut net = network(26, 0.0);
    let client = net.storage[15];
    let kp = KeyPair::from_seed([0x66; 32]);
    net.node(client).trace = true;
    let now = net.sim.now();
    let op = net
        .node(client)
        .node
        .announce(now, [0x4c; 32], kp, Vec::new())
        .expect("announce");
    let is_announce = |d: &[u8]| matches!(Packet::decode(d), Ok(Packet::Request(r)) if !r.internal && r.command == command::ANNOUNCE);
    net.sim
        .run_until_cond(|s| {
            s.host::<SimNode>(client)
                .sent
                .iter()
                .any(|(_, d)| is_announce(d))
        })
        .expect("committing");
    let first = net
        .node(client)
        .sent
        .iter()
        .find(|(_, d)| is_announce(d))
        .map(|(to, _)| *to)
        .expect("an ANNOUNCE");
    net.node(host_of(&net, first)).down = true;
    // Let the other commits go out, then cancel before the 1 s retransmission.
    net.sim.run_for(Duration::from_millis(100)).expect("run");
    assert!(net.node(client).node.cancel(op));
    assert!(!net.node(client).node.cancel(op), "cancelled once");
    let before = sent_requests(net.node(client), first, command::ANNOUNCE);
    net.sim.run_for(Duration::from_secs(6)).expect("run");
    let n = net.node(client);
    assert_eq!(sent_requests(n, first, command::ANNOUNCE), before);
    assert!(
        !n.events
            .iter()
            .any(|e| matches!(e, Event::Done { op: o, .. } if *o == op))
    );
}

#[test]
fn closing_a_server_withdraws_its_record_everywhere_then_reports() {
    // Spec §8 step 4: FIND_PEER then UNANNOUNCE at every relay; the core reports
    // ServerClosed once those ended, and no relay answers with the record any more.
    let mut net = network(27, 0.0);
    let server = net.storage[14];
    let kp = KeyPair::from_seed([0x67; 32]);
    let target = plures_hyperdht::crypto::target(kp.public_key());
    let (id, relays) = net.listen(server, &kp);
    let asker = net.clients[1];
    for r in &relays {
        assert!(router_record_at(&mut net, asker, *r, target));
    }
    net.node(server).events.clear();
    assert!(net.node(server).node.close_server(id));
    let closed = |e: &Event| matches!(e, Event::ServerClosed { server: s } if *s == id);
    net.sim
        .run_until_cond(|s| s.host::<SimNode>(server).events.iter().any(closed))
        .expect("closed");
    assert_eq!(net.node(server).node.relay_unannounces(), 3);
    for r in &relays {
        assert!(!router_record_at(&mut net, asker, *r, target), "{r}");
    }
}
