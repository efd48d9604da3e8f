//! Network health on a simulated network (dht-rpc §15, hyperdht §8 step 3): a server
//! whose network goes dark (every datagram to and from it dropped) turns offline, with
//! one `NetworkUpdate`; its router records at the relays expire meanwhile (at most 27 min); when
//! the network returns it turns online and re-announces itself at once, so a client's
//! FIND_PEER finds it again within two ticks.
//!
//! Independent truth: the simulated network (partition, record expiry at the storage
//! nodes) and a FIND_PEER run by another node.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use plures_hyperdht::KeyPair;
use plures_hyperdht::node::Event;
use plures_sim::{HostId, Partition};

mod simnet;

use simnet::{Net, SimNode, network};

const TICK: Duration = Duration::from_secs(5);

fn health(events: &[(Instant, Event)]) -> Vec<(Instant, bool)> {
    events
        .iter()
        .filter_map(|(at, e)| match e {
            Event::Dht(plures_dht_rpc::Event::NetworkUpdate { online, .. }) => Some((*at, *online)),
            _ => None,
        })
        .collect()
}

/// Runs `d` in tick steps, issuing a lookup from `h` each tick (application traffic),
/// and collects `h`'s events with the time they were seen.
fn run_with_traffic(net: &mut Net, h: HostId, d: Duration, log: &mut Vec<(Instant, Event)>) {
    let end = net.sim.now() + d;
    while net.sim.now() < end {
        let now = net.sim.now();
        let _ = net.node(h).node.lookup(now, [0x42; 32]);
        net.sim.run_for(TICK).expect("run");
        let at = net.sim.now();
        let events = std::mem::take(&mut net.node(h).events);
        log.extend(events.into_iter().map(|e| (at, e)));
    }
}

fn found(net: &mut Net, client: HostId, key: &[u8; 32]) -> bool {
    net.run(client, |n, now| n.find_peer(now, key).expect("find_peer"))
        .iter()
        .any(|e| matches!(e, Event::PeerFound { .. }))
}

#[test]
fn dark_server_goes_offline_and_reannounces_when_back_online() {
    let mut net = network(71, 0.0);
    let server = net.storage[7];
    let client = net.clients[0];
    let kp = KeyPair::from_seed([0x5a; 32]);
    let key = *kp.public_key();
    let now = net.sim.now();
    net.node(server).node.listen(now, kp).expect("listen");
    net.sim
        .run_until_cond(|s| {
            s.host::<SimNode>(server)
                .events
                .iter()
                .any(|e| matches!(e, Event::Listening { .. }))
        })
        .expect("listening");
    assert!(found(&mut net, client, &key), "announced");
    let mut log = Vec::new();
    run_with_traffic(&mut net, server, 4 * TICK, &mut log);
    assert!(net.node(server).node.online());
    assert!(health(&log).is_empty());

    // Dark for 28 minutes: longer than a router record lives at its relays (at most
    // 4/3 of its 20 minutes).
    let server_ip = IpAddr::V4(*net.node(server).addr.ip());
    let others: Vec<IpAddr> = net
        .storage
        .iter()
        .chain(&net.clients)
        .filter(|&&h| h != server)
        .map(|&h| IpAddr::V4(*net.sim.host::<SimNode>(h).addr.ip()))
        .collect();
    let dark = Duration::from_secs(28 * 60);
    let from = net.sim.elapsed();
    net.sim.add_partition(Partition::between(
        vec![server_ip],
        others,
        from..from + dark,
    ));
    let dark_at = net.sim.now();
    log.clear();
    run_with_traffic(&mut net, server, dark, &mut log);
    assert!(!net.node(server).node.online());
    let updates = health(&log);
    assert_eq!(
        updates.len(),
        1,
        "one NetworkUpdate while dark: {updates:?}"
    );
    assert!(!updates[0].1);
    assert!(
        updates[0].0 - dark_at <= 6 * TICK,
        "{:?}",
        updates[0].0 - dark_at
    );
    assert!(
        !found(&mut net, client, &key),
        "the records expired while dark"
    );

    // The network returns.
    let back_at = net.sim.now();
    log.clear();
    run_with_traffic(&mut net, server, 3 * TICK, &mut log);
    let updates = health(&log);
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert!(updates[0].1, "online again");
    let online_at = updates[0].0;
    assert!(online_at - back_at <= 2 * TICK);
    assert!(
        found(&mut net, client, &key),
        "re-announced after coming back online"
    );
}
