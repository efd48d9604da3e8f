//! Rust swarms against a live JS hyperswarm 4.17.2 peer (`testnet/interop/hyperswarm-peer.mjs`)
//! on a network of Rust hyperdht nodes:
//!
//! * discovery both ways: the side that joins second finds and dials the other; its
//!   `flush` resolves only after that connection opened;
//! * leave: leaving keeps the connection on both implementations, and after the JS peer
//!   left, a new Rust client finds nobody on the topic;
//! * duplicates: both sides dial each other at once; with either key order both end with
//!   the one connection the larger key initiated;
//! * reconnect: when the JS peer destroys the connection a Rust swarm dialled, the Rust
//!   swarm dials again after its back-off.
//!
//! The JS node is reachable (`ephemeral: false, firewalled: false`), except in the
//! holepunch test, where both sides are firewalled. Skipped (with a printed reason)
//! when `node` or `testnet/node_modules` is missing.

mod js_net;

use std::sync::Arc;
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig, testnet};
use plures_swarm::{JoinOptions, SwarmConfig};
use plures_test_support::{JsPeer, testnet_dir, within};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use js_net::{LOCAL, Net, echo, start, swarm};

/// Seeds of a smaller and a larger key.
fn ordered_seeds() -> ([u8; 32], [u8; 32]) {
    let key = |s: u8| *KeyPair::from_seed([s; 32]).public_key();
    if key(1) < key(2) {
        ([1; 32], [2; 32])
    } else {
        ([2; 32], [1; 32])
    }
}

async fn js_status(js: &mut JsPeer) -> Value {
    js.send(&json!({ "op": "status" })).await;
    js.event("status").await
}

/// Reads JS events in order until `name`, returning the events seen before it.
async fn js_until(js: &mut JsPeer, name: &str) -> (Vec<Value>, Value) {
    let mut before = Vec::new();
    loop {
        let v = within(name, js.next()).await;
        if v["event"] == name {
            return (before, v);
        }
        before.push(v);
    }
}

async fn discovery(rust_seed: [u8; 32], js_seed: [u8; 32]) {
    let Some(Net {
        nodes,
        mut js,
        js_key,
    }) = start(js_seed).await
    else {
        return;
    };
    let rust_kp = KeyPair::from_seed(rust_seed);
    let rust_key = *rust_kp.public_key();
    let mut swarm = swarm(&nodes[3], rust_seed, SwarmConfig::default()).await;
    let topic = [0x5c; 32];
    let join = json!({ "op": "join", "topic": hex::encode(topic) });
    // The larger key joins second: it is the side that discovers the other and dials.
    let rust_dials = rust_key > js_key;
    let mut js_conn = None;
    if rust_dials {
        js.send(&join).await;
        js.event("flushed").await;
        swarm.join(topic).expect("join");
        assert!(within("flush", swarm.flush()).await);
        // flush() waited for the dial.
        assert_eq!(swarm.connected(), 1);
    } else {
        swarm.join(topic).expect("join");
        assert!(within("flush", swarm.flush()).await);
        assert_eq!(swarm.connected(), 0, "nobody there yet");
        js.send(&join).await;
        js.send(&json!({ "op": "flush" })).await;
        let (before, flush) = js_until(&mut js, "flush").await;
        assert_eq!(flush["ok"], true);
        // The JS flush resolved only after its dial opened.
        js_conn = before.into_iter().find(|e| e["event"] == "connection");
        assert!(js_conn.is_some(), "no connection before the JS flush");
    }

    let mut conn = within("connection", swarm.next())
        .await
        .expect("connection");
    assert_eq!(conn.remote_public_key, js_key);
    assert_eq!(conn.initiator, rust_dials, "the later joiner dials");
    let js_conn = match js_conn {
        Some(c) => c,
        None => js.event("connection").await,
    };
    assert_eq!(js_conn["remotePublicKey"], hex::encode(rust_key));
    assert_eq!(js_conn["initiator"], !rust_dials);
    echo(&mut conn, 32 * 1024).await;
    assert_eq!(swarm.connected(), 1);
    let peers = swarm.peers().await.expect("peers");
    assert_eq!(peers.len(), 1);
    assert_eq!(peers[0].client, rust_dials);
    assert_eq!(peers[0].topics.contains(&topic), rust_dials);
    conn.stream.shutdown().await.expect("end");
    assert!(js.finish().await, "JS peer exited with an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_swarm_and_js_hyperswarm_discover_each_other_and_flush() {
    let (lo, hi) = ordered_seeds();
    discovery(hi, lo).await; // Rust key larger: Rust joins second and dials.
    discovery(lo, hi).await; // JS key larger: JS joins second and dials.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leaving_keeps_connections_and_a_left_js_peer_is_not_found() {
    let (lo, hi) = ordered_seeds();
    let Some(Net {
        nodes,
        mut js,
        js_key,
    }) = start(lo).await
    else {
        return;
    };
    let topic = [0x5d; 32];
    js.send(&json!({ "op": "join", "topic": hex::encode(topic) }))
        .await;
    js.event("flushed").await;
    let mut a = swarm(&nodes[3], hi, SwarmConfig::default()).await;
    a.join_with(topic, JoinOptions::client_only())
        .expect("join");
    assert!(within("flush", a.flush()).await);
    let mut conn = within("connection", a.next()).await.expect("connection");
    assert_eq!((conn.remote_public_key, conn.initiator), (js_key, true));

    // Rust leaves: discovery stops, the connection stays.
    within("leave", a.leave(topic)).await.expect("leave");
    assert!(a.status().await.expect("status").topics.is_empty());
    echo(&mut conn, 1024).await;
    // JS leaves (unannounces): its connection stays too.
    js.send(&json!({ "op": "leave", "topic": hex::encode(topic) }))
        .await;
    js.event("left").await;
    echo(&mut conn, 1024).await;
    assert_eq!(js_status(&mut js).await["connections"], 1);

    // A new client on the topic finds nobody: the JS record was withdrawn.
    let b = swarm(&nodes[4], [9; 32], SwarmConfig::default()).await;
    b.join_with(topic, JoinOptions::client_only())
        .expect("join");
    assert!(within("flush", b.flush()).await);
    assert_eq!(b.connected(), 0);
    assert_eq!(b.status().await.expect("status").stats.client_attempted, 0);
    conn.stream.shutdown().await.expect("end");
    assert!(js.finish().await, "JS peer exited with an error");
}

async fn simultaneous(rust_seed: [u8; 32], js_seed: [u8; 32]) {
    let Some(Net {
        nodes,
        mut js,
        js_key,
    }) = start(js_seed).await
    else {
        return;
    };
    js.send(&json!({ "op": "listen" })).await;
    js.event("listening").await;
    let mut swarm = swarm(&nodes[3], rust_seed, SwarmConfig::default()).await;
    let rust_key = *swarm.public_key();
    // Both dial at once: the JS command goes first (it takes longer to start its dial),
    // the Rust dial starts right after.
    js.send(&json!({ "op": "joinPeer", "publicKey": hex::encode(rust_key) }))
        .await;
    swarm.join_peer(js_key).expect("join_peer");
    let rust_larger = rust_key > js_key;
    let mut conn = loop {
        let c = within("connection", swarm.next())
            .await
            .expect("connection");
        if c.initiator == rust_larger {
            break c;
        }
    };
    assert_eq!(conn.remote_public_key, js_key);
    echo(&mut conn, 4096).await;
    assert_eq!(swarm.connected(), 1);
    let status = js_status(&mut js).await;
    assert_eq!(status["connections"], 1, "{status}");
    // Both sides really dialled: the duplicate rule, not timing, chose the survivor.
    assert_eq!(status["clientAttempted"], 1, "{status}");
    let stats = swarm.status().await.expect("status").stats;
    assert_eq!(stats.client_attempted, 1, "{stats:?}");
    if rust_larger {
        assert_eq!((stats.client_opened, stats.server_opened), (1, 0));
    } else {
        assert_eq!(stats.server_opened, 1);
    }
    conn.stream.shutdown().await.expect("end");
    assert!(js.finish().await, "JS peer exited with an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_with_js_keep_the_larger_keys_connection() {
    let (lo, hi) = ordered_seeds();
    simultaneous(hi, lo).await; // Rust key larger: Rust's dial survives.
    simultaneous(lo, hi).await; // JS key larger: JS's dial survives.
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_the_js_peer_drops_is_redialled() {
    let (lo, hi) = ordered_seeds();
    let Some(Net {
        nodes,
        mut js,
        js_key,
    }) = start(lo).await
    else {
        return;
    };
    let topic = [0x5e; 32];
    js.send(&json!({ "op": "join", "topic": hex::encode(topic) }))
        .await;
    js.event("flushed").await;
    let ms = Duration::from_millis;
    let config = SwarmConfig {
        backoffs: Some([ms(300), ms(600), ms(1000), ms(5000)]),
        ..SwarmConfig::default()
    };
    let mut swarm = swarm(&nodes[3], hi, config).await;
    let rust_key = *swarm.public_key();
    swarm
        .join_with(topic, JoinOptions::client_only())
        .expect("join");
    assert!(within("flush", swarm.flush()).await);
    let mut first = within("connection", swarm.next())
        .await
        .expect("connection");
    assert!(first.initiator);
    echo(&mut first, 1024).await;
    js.event("connection").await;

    // JS destroys it; the Rust swarm notices without reading and dials again.
    js.send(&json!({ "op": "drop", "remotePublicKey": hex::encode(rust_key) }))
        .await;
    let mut second = within("redial", swarm.next()).await.expect("connection");
    assert_eq!((second.remote_public_key, second.initiator), (js_key, true));
    let again = js.event("connection").await;
    assert_eq!(again["remotePublicKey"], hex::encode(rust_key));
    echo(&mut second, 1024).await;
    let stats = swarm.status().await.expect("status").stats;
    assert_eq!((stats.client_opened, stats.client_closed), (2, 1));
    let peer = &swarm.peers().await.expect("peers")[0];
    assert!(peer.proven && peer.client);
    drop(first);
    second.stream.shutdown().await.expect("end");
    assert!(js.finish().await, "JS peer exited with an error");
}

/// Both sides firewalled (ephemeral, no quick firewall check, no LAN shortcut): the
/// connection can only come up by holepunching, through the Rust relays of the testnet.
async fn firewalled_pair(rust_seed: [u8; 32], js_seed: [u8; 32]) {
    let Some(dir) = testnet_dir(&["hyperswarm", "hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let bootstrap = nodes[0].server_addr();
    let mut js = JsPeer::spawn(
        &dir,
        "interop/hyperswarm-peer.mjs",
        &[
            "--bootstrap",
            &bootstrap.to_string(),
            "--seed",
            &hex::encode(js_seed),
            "--firewalled",
        ],
    );
    js.event("ready").await;
    let js_key = *KeyPair::from_seed(js_seed).public_key();

    let mut config = NodeConfig::new(vec![bootstrap]);
    config.host = LOCAL;
    config.dht.ephemeral = Some(true);
    config.dht.quick_firewall = false;
    config.holepunch.local_connection = false;
    let node = Arc::new(HyperDhtNode::bind(config).expect("bind"));
    within("ready", node.ready()).await.expect("ready");
    let mut swarm = swarm(&node, rust_seed, SwarmConfig::default()).await;

    let topic = [0x5d; 32];
    js.send(&json!({ "op": "join", "topic": hex::encode(topic) }))
        .await;
    js.event("flushed").await;
    swarm.join(topic).expect("join");
    let mut conn = within("connection", swarm.next())
        .await
        .expect("connection");
    assert_eq!(conn.remote_public_key, js_key);
    let js_conn = js.event("connection").await;
    assert_eq!(
        js_conn["remotePublicKey"],
        hex::encode(KeyPair::from_seed(rust_seed).public_key())
    );
    echo(&mut conn, 64 * 1024).await;
    let stats = within("stats", node.stats()).await.expect("stats");
    assert!(stats.holepunched >= 1, "not holepunched: {stats:?}");
    conn.stream.shutdown().await.expect("end");
    assert!(js.finish().await, "JS peer exited with an error");
    drop(nodes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewalled_rust_swarm_and_firewalled_js_hyperswarm_connect_by_holepunch() {
    let (lo, hi) = ordered_seeds();
    firewalled_pair(hi, lo).await;
    firewalled_pair(lo, hi).await;
}
