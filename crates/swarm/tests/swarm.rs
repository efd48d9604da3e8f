//! Four swarms on a local network of Rust hyperdht nodes join one topic: after two
//! refresh rounds every pair is connected exactly once, the larger public key is the
//! initiator of each connection (the spec's duplicate rule, §11), and bytes flow on every
//! connection in both directions.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_swarm::{PeerConnection, Swarm, SwarmConfig};
use plures_test_support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SWARMS: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_pair_connects_once_with_the_larger_key_initiating() {
    let nodes: Vec<Arc<HyperDhtNode>> = within("testnet", testnet(LOCAL, 5 + SWARMS))
        .await
        .expect("testnet")
        .into_iter()
        .map(Arc::new)
        .collect();
    let topic = [0x42; 32];
    let mut swarms = Vec::new();
    for i in 0..SWARMS {
        let kp = KeyPair::from_seed([i as u8 + 1; 32]);
        let node = Arc::clone(&nodes[5 + i]);
        swarms.push(
            within("swarm", Swarm::new(node, kp, SwarmConfig::default()))
                .await
                .expect("swarm"),
        );
    }
    for _round in 0..2 {
        for s in &swarms {
            within("refresh", s.refresh(topic)).await;
        }
    }

    // Each swarm ends up with a connection to every other one.
    let mut conns: BTreeMap<([u8; 32], [u8; 32]), PeerConnection> = BTreeMap::new();
    for s in &mut swarms {
        let own = *s.public_key();
        for _ in 0..SWARMS - 1 {
            let c = within("connection", s.next()).await.expect("connection");
            assert_eq!(
                c.initiator,
                own > c.remote_public_key,
                "larger key initiates"
            );
            assert!(
                conns.insert((own, c.remote_public_key), c).is_none(),
                "duplicate"
            );
        }
        assert_eq!(s.connected(), SWARMS - 1);
    }
    let pairs: BTreeSet<_> = conns
        .keys()
        .map(|(a, b)| if a < b { (*a, *b) } else { (*b, *a) })
        .collect();
    assert_eq!(pairs.len(), SWARMS * (SWARMS - 1) / 2);

    // Bytes both ways on every connection: each side writes its key, reads the peer's.
    let mut tasks = Vec::new();
    for ((own, remote), mut c) in conns {
        tasks.push(tokio::spawn(async move {
            c.stream.write_all(&own).await.expect("write");
            let mut got = [0u8; 32];
            c.stream.read_exact(&mut got).await.expect("read");
            assert_eq!(got, remote);
            c
        }));
    }
    let mut keep = Vec::new();
    for t in tasks {
        keep.push(within("exchange", t).await.expect("task"));
    }
    drop(keep);
}
