//! Suspend and resume against a live JS hyperswarm 4.17.2 peer
//! (`testnet/interop/hyperswarm-peer.mjs`, ops `suspend` / `resume`) on a network of Rust
//! hyperdht nodes (spec hyperswarm §12):
//!
//! * the Rust swarm suspends: the JS peer sees the connection close and a lookup of the
//!   topic no longer lists the Rust key; it resumes: the JS peer sees it connect again,
//!   without a new join;
//! * the reverse: the JS peer suspends, the Rust swarm sees the close and the JS record
//!   go; the JS peer resumes and the two connect again.
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.

mod js_net;

use std::sync::Arc;
use std::time::Duration;

use plures_hyperdht::driver::HyperDhtNode;
use plures_swarm::{PeerConnection, Swarm, SwarmConfig, SwarmEvent};
use plures_test_support::{JsPeer, within};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use js_net::{Net, echo, start, swarm};

fn quick() -> SwarmConfig {
    let ms = Duration::from_millis;
    SwarmConfig {
        backoffs: Some([ms(200), ms(400), ms(800), ms(5000)]),
        jitter: Duration::ZERO,
        ..SwarmConfig::default()
    }
}

/// Reads JS events in order until one satisfies `pick`.
async fn js_until(js: &mut JsPeer, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    within(what, async {
        loop {
            let v = js.next().await;
            if pick(&v) {
                return v;
            }
        }
    })
    .await
}

fn is(v: &Value, event: &str, key: &[u8; 32]) -> bool {
    v["event"] == event && v["remotePublicKey"] == hex::encode(key)
}

/// The next Rust connection to `remote`.
async fn connection_to(s: &mut Swarm, remote: [u8; 32]) -> PeerConnection {
    within("connection", async {
        loop {
            match s.next_event().await.expect("swarm alive") {
                SwarmEvent::Connection(c) if c.remote_public_key == remote => return c,
                _ => {}
            }
        }
    })
    .await
}

async fn lookup(node: &HyperDhtNode, topic: [u8; 32]) -> Vec<[u8; 32]> {
    within("lookup", node.lookup(topic))
        .await
        .expect("lookup")
        .into_iter()
        .map(|p| p.public_key)
        .collect()
}

/// Joins the JS peer first, then the Rust swarm (which dials it); returns the Rust side
/// of the connection after the JS side reported it.
async fn connected(net: &mut Net, swarm: &mut Swarm, topic: [u8; 32]) -> PeerConnection {
    net.js
        .send(&json!({ "op": "join", "topic": hex::encode(topic) }))
        .await;
    net.js.event("flushed").await;
    swarm.join(topic).expect("join");
    assert!(within("flush", swarm.flush()).await);
    let mut conn = connection_to(swarm, net.js_key).await;
    let rust_key = *swarm.public_key();
    js_until(&mut net.js, "JS connection", |v| {
        is(v, "connection", &rust_key)
    })
    .await;
    echo(&mut conn, 1024).await;
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_hyperswarm_sees_a_suspended_rust_swarm_leave_and_come_back() {
    let Some(mut net) = start([0x21; 32]).await else {
        return;
    };
    let topic = [0x4a; 32];
    let mut swarm = swarm(&Arc::clone(&net.nodes[3]), [0x22; 32], quick()).await;
    let rust_key = *swarm.public_key();
    let _conn = connected(&mut net, &mut swarm, topic).await;
    assert!(lookup(&net.nodes[1], topic).await.contains(&rust_key));

    within("suspend", swarm.suspend()).await.expect("suspend");
    js_until(&mut net.js, "JS sees the close", |v| {
        is(v, "connection-closed", &rust_key)
    })
    .await;
    let found = lookup(&net.nodes[1], topic).await;
    assert!(!found.contains(&rust_key), "Rust record withdrawn");
    assert!(found.contains(&net.js_key), "JS record stays");

    within("resume", swarm.resume()).await.expect("resume");
    // Back without a new join: the resumed discovery finds the JS peer (or the JS
    // peer's retry reaches the Rust swarm's re-announced server).
    js_until(&mut net.js, "JS sees it again", |v| {
        is(v, "connection", &rust_key)
    })
    .await;
    let mut again = connection_to(&mut swarm, net.js_key).await;
    echo(&mut again, 1024).await;
    announced_again(&net.nodes[1], topic, &rust_key).await;
    assert!(net.js.finish().await, "JS peer exited with an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rust_swarm_sees_a_suspended_js_hyperswarm_leave_and_come_back() {
    let Some(mut net) = start([0x23; 32]).await else {
        return;
    };
    let topic = [0x4b; 32];
    let mut swarm = swarm(&Arc::clone(&net.nodes[3]), [0x24; 32], quick()).await;
    let js_key = net.js_key;
    let mut conn = connected(&mut net, &mut swarm, topic).await;
    // No automatic redial while the JS peer is away: only its resume reconnects them.
    swarm.set_reconnect(js_key, false).expect("set_reconnect");

    net.js.send(&json!({ "op": "suspend" })).await;
    net.js.event("suspended").await;
    let mut buf = [0u8; 1];
    let r = within("Rust sees the close", conn.stream.read(&mut buf)).await;
    assert!(matches!(r, Ok(0) | Err(_)), "{r:?}");
    let found = lookup(&net.nodes[1], topic).await;
    assert!(
        !found.contains(&js_key),
        "JS record withdrawn by its suspend"
    );

    net.js.send(&json!({ "op": "resume" })).await;
    net.js.event("resumed").await;
    // The JS discovery refreshes on resume and finds, then dials, the Rust swarm.
    let mut again = connection_to(&mut swarm, js_key).await;
    echo(&mut again, 1024).await;
    announced_again(&net.nodes[1], topic, &js_key).await;
    assert!(net.js.finish().await, "JS peer exited with an error");
}

/// Waits until a lookup of `topic` from `node` finds `key`. A resumed swarm's refresh dials
/// what it finds and re-announces in parallel, so its record may come back just after the
/// connection: each try is a whole lookup (a network round trip, not a sleep).
async fn announced_again(node: &HyperDhtNode, topic: [u8; 32], key: &[u8; 32]) {
    within("record announced again after the resume", async {
        while !lookup(node, topic).await.contains(key) {}
    })
    .await;
}

async fn js_raw_read(js: &mut JsPeer, key: &[u8; 32]) -> i64 {
    js.send(&json!({ "op": "rawBytes", "remotePublicKey": hex::encode(key) }))
        .await;
    let v = js_until(js, "rawBytes", |v| v["event"] == "rawBytes").await;
    v["read"].as_i64().expect("read counter")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_network_change_sends_a_keepalive_that_the_js_peer_receives() {
    let Some(mut net) = start([0x25; 32]).await else {
        return;
    };
    let topic = [0x4c; 32];
    let mut swarm = swarm(&Arc::clone(&net.nodes[3]), [0x26; 32], quick()).await;
    let rust_key = *swarm.public_key();
    let mut conn = connected(&mut net, &mut swarm, topic).await;
    // The echo is over; the Rust stream sends nothing by itself (no periodic keepalive
    // is configured on the Rust side), so the JS read counter stays put until the
    // network change's keepalive arrives.
    let before = js_raw_read(&mut net.js, &rust_key).await;
    assert!(before > 0);
    assert_eq!(js_raw_read(&mut net.js, &rust_key).await, before);
    swarm.network_change().expect("network change");
    within("network-change event", async {
        loop {
            if let SwarmEvent::NetworkChange = swarm.next_event().await.expect("alive") {
                break;
            }
        }
    })
    .await;
    // Polls the JS counter (each poll is a round trip to the script, not a sleep).
    let after = within("keepalive arrives", async {
        loop {
            let n = js_raw_read(&mut net.js, &rust_key).await;
            if n != before {
                return n;
            }
        }
    })
    .await;
    // Exactly one empty message: what a data message of n bytes adds beyond its n
    // bytes (the per-message overhead the JS counter sees, measured here with a 64-byte
    // write).
    let keepalive = after - before;
    echo(&mut conn, 64).await;
    let end = js_raw_read(&mut net.js, &rust_key).await;
    assert_eq!(keepalive, end - after - 64, "one empty message");
    assert!(net.js.finish().await, "JS peer exited with an error");
}
