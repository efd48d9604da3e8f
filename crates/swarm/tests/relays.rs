//! A swarm's topic announces carry its server's *current* relays (hyperswarm §4.2 step 3
//! reads `server.relayAddresses` at every refresh): after one of the server's relays dies
//! and the server moves to live ones (hyperdht §8), a topic joined afterwards is announced
//! with the new relay set, not the one the swarm started with. Every wait is for an
//! event or a bounded poll.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_swarm::{Swarm, SwarmConfig};
use plures_test_support::{within, within_for};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// The relay addresses `key` is announced with under `topic`, as `by` looks them up.
async fn announced_relays(by: &HyperDhtNode, topic: [u8; 32], key: &[u8; 32]) -> Vec<SocketAddrV4> {
    let peers = within("lookup", by.lookup(topic)).await.expect("lookup");
    peers
        .into_iter()
        .find(|p| &p.public_key == key)
        .map(|p| p.relay_addresses)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn topics_are_announced_with_the_servers_current_relays() {
    let mut nodes: Vec<Option<Arc<HyperDhtNode>>> = within("testnet", testnet(LOCAL, 9))
        .await
        .expect("testnet")
        .into_iter()
        .map(|n| Some(Arc::new(n)))
        .collect();
    let own = Arc::clone(nodes[8].as_ref().expect("node"));
    let kp = KeyPair::from_seed([0x31; 32]);
    let key = *kp.public_key();
    let swarm = within(
        "swarm",
        Swarm::new(Arc::clone(&own), kp, SwarmConfig::default()),
    )
    .await
    .expect("swarm");
    let first = [0x51; 32];
    swarm.join(first).expect("join");
    assert!(within("flush", swarm.flush()).await);
    let asker = Arc::clone(nodes[1].as_ref().expect("node"));
    let before = announced_relays(&asker, first, &key).await;
    assert_eq!(before.len(), 3, "{before:?}");

    // Kill a relay that is neither the bootstrapper nor the asker.
    let index = |a: &SocketAddrV4| {
        nodes
            .iter()
            .position(|n| n.as_ref().is_some_and(|n| n.server_addr() == *a))
    };
    let (dead, i) = before
        .iter()
        .find_map(|a| index(a).filter(|&i| i > 1 && i < 8).map(|i| (*a, i)))
        .expect("a relay to kill");
    let node = Arc::into_inner(nodes[i].take().expect("node")).expect("sole owner");
    node.destroy().await;

    // Topics joined from now on: once the server moved, their records list live relays.
    let moved = within_for(Duration::from_secs(30), "announce with new relays", async {
        for n in 0u32.. {
            let mut topic = [0x60; 32];
            topic[..4].copy_from_slice(&n.to_le_bytes());
            swarm.join(topic).expect("join");
            assert!(swarm.flush().await);
            let relays = announced_relays(&asker, topic, &key).await;
            if !relays.is_empty() && !relays.contains(&dead) {
                return relays;
            }
        }
        unreachable!()
    })
    .await;
    assert_eq!(moved.len(), 3, "{moved:?}");
    let live: BTreeSet<SocketAddrV4> = nodes.iter().flatten().map(|n| n.server_addr()).collect();
    assert!(moved.iter().all(|a| live.contains(a)), "{moved:?}");
    swarm.destroy().await;
    drop(asker);
    drop(own);
    for n in nodes.into_iter().flatten() {
        if let Some(n) = Arc::into_inner(n) {
            n.destroy().await;
        }
    }
}
