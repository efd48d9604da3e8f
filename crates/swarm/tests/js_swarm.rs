//! A Rust swarm and a JS hyperswarm 4.17.2 peer join one topic on a network of Rust
//! hyperdht nodes and end up with exactly one connection between them, over which the JS
//! side echoes what the Rust side writes. The side with the larger public key joins
//! second, so it is the one that discovers the other and dials: with the Rust key larger
//! the Rust swarm dials the JS server, with the JS key larger the JS swarm dials the Rust
//! server. The JS node is reachable (`ephemeral: false, firewalled: false`): paths that
//! need holepunching are not implemented on the Rust side yet. Skipped (with a printed
//! reason) when `node` or `testnet/node_modules` is missing.

use std::net::Ipv4Addr;
use std::sync::Arc;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_swarm::{Swarm, SwarmConfig};
use plures_test_support::{JsPeer, pattern, testnet_dir, within};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

async fn run(rust_seed: [u8; 32], js_seed: [u8; 32]) {
    let Some(dir) = testnet_dir(&["hyperswarm", "hyperdht"]) else {
        return;
    };
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

    let rust_kp = KeyPair::from_seed(rust_seed);
    let rust_key = *rust_kp.public_key();
    let mut swarm = within(
        "swarm",
        Swarm::new(Arc::clone(&nodes[3]), rust_kp, SwarmConfig::default()),
    )
    .await
    .expect("swarm");
    let topic = [0x5c; 32];
    // The larger key joins second: it is the side that discovers the other and dials.
    let rust_dials = rust_key > js_key;
    if rust_dials {
        js.send(&json!({ "op": "join", "topic": hex::encode(topic) }))
            .await;
        js.event("flushed").await;
        within("refresh", swarm.refresh(topic)).await;
    } else {
        within("refresh", swarm.refresh(topic)).await;
        js.send(&json!({ "op": "join", "topic": hex::encode(topic) }))
            .await;
        js.event("flushed").await;
    }

    let mut conn = within("connection", swarm.next())
        .await
        .expect("connection");
    assert_eq!(conn.remote_public_key, js_key);
    assert_eq!(conn.initiator, rust_dials, "the larger key initiates");
    let js_conn = js.event("connection").await;
    assert_eq!(js_conn["remotePublicKey"], hex::encode(rust_key));
    assert_eq!(js_conn["initiator"], js_key > rust_key);

    let data = pattern(32 * 1024);
    within("write", conn.stream.write_all(&data))
        .await
        .expect("write");
    let mut back = vec![0u8; data.len()];
    within("echo", conn.stream.read_exact(&mut back))
        .await
        .expect("read");
    assert_eq!(back, data);
    assert_eq!(swarm.connected(), 1);
    conn.stream.shutdown().await.expect("end");
    assert!(js.finish().await, "JS peer exited with an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_swarm_and_js_hyperswarm_connect_once() {
    // Find seeds for both key orders.
    let key = |s: u8| *KeyPair::from_seed([s; 32]).public_key();
    let (lo, hi) = if key(1) < key(2) { (1, 2) } else { (2, 1) };
    run([hi; 32], [lo; 32]).await; // Rust key larger: Rust dials.
    run([lo; 32], [hi; 32]).await; // JS key larger: JS dials.
}
