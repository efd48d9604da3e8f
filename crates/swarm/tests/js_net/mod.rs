//! Shared set-up of the live tests against JS hyperswarm (`js_swarm.rs`, `js_suspend.rs`):
//! a Rust hyperdht testnet on 127.0.0.1 with one JS hyperswarm peer
//! (`testnet/interop/hyperswarm-peer.mjs`) bootstrapped from it, Rust swarms on its nodes,
//! and the echo the JS peer answers.

use std::net::Ipv4Addr;
use std::sync::Arc;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_swarm::{PeerConnection, Swarm, SwarmConfig};
use plures_test_support::{JsPeer, pattern, testnet_dir, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Six Rust DHT nodes and the JS peer.
pub(crate) struct Net {
    pub(crate) nodes: Vec<Arc<HyperDhtNode>>,
    pub(crate) js: JsPeer,
    pub(crate) js_key: [u8; 32],
}

/// Starts the testnet and the JS peer with key seed `js_seed`, or `None` where the pinned
/// JS packages are not installed (the test is then skipped).
pub(crate) async fn start(js_seed: [u8; 32]) -> Option<Net> {
    let dir = testnet_dir(&["hyperswarm", "hyperdht"])?;
    let nodes: Vec<Arc<HyperDhtNode>> = within("testnet", testnet(LOCAL, 6))
        .await
        .expect("testnet")
        .into_iter()
        .map(Arc::new)
        .collect();
    let bootstrap = nodes[0].server_addr().to_string();
    let mut js = JsPeer::spawn(
        &dir,
        "interop/hyperswarm-peer.mjs",
        &["--bootstrap", &bootstrap, "--seed", &hex::encode(js_seed)],
    );
    let ready = js.event("ready").await;
    let js_key = *KeyPair::from_seed(js_seed).public_key();
    assert_eq!(ready["publicKey"], hex::encode(js_key));
    Some(Net { nodes, js, js_key })
}

/// A Rust swarm on `node` with key seed `seed`.
pub(crate) async fn swarm(node: &Arc<HyperDhtNode>, seed: [u8; 32], config: SwarmConfig) -> Swarm {
    within(
        "swarm",
        Swarm::new(Arc::clone(node), KeyPair::from_seed(seed), config),
    )
    .await
    .expect("swarm")
}

/// Writes `len` bytes and reads them back (the JS peer echoes).
pub(crate) async fn echo(conn: &mut PeerConnection, len: usize) {
    let data = pattern(len);
    within("write", conn.stream.write_all(&data))
        .await
        .expect("write");
    let mut back = vec![0u8; data.len()];
    within("echo", conn.stream.read_exact(&mut back))
        .await
        .expect("read");
    assert_eq!(back, data);
}
