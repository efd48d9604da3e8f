//! Connections between the Rust driver and hyperdht 6.34.0 on 127.0.0.1, on a network of
//! Rust nodes that a JS node (reachable: `ephemeral: false, firewalled: false`) joins:
//! a JS client connects to a Rust server through the Rust relays and gets its bytes
//! echoed, and a Rust client connects to a JS server (announced to Rust relays) likewise.
//! Both sides check each other's public key. Skipped (with a printed reason) when `node`
//! or `testnet/node_modules` is missing.

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::testnet;
use plures_test_support::{JsPeer, pattern, testnet_dir, within};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod live;

use live::{LOCAL, echo_once};
const BYTES: usize = 64 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_and_js_connect_both_ways() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let bootstrap = nodes[0].server_addr().to_string();
    let mut js = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap, "--persistent"],
    );
    js.event("ready").await;

    // A JS client connects to a Rust server.
    let server_key = KeyPair::from_seed([0x71; 32]);
    let server = within("listen", nodes[1].listen(server_key.clone()))
        .await
        .expect("listen");
    let echo = tokio::spawn(echo_once(server, BYTES));
    let data = hex::encode(pattern(BYTES));
    let js_client_key = KeyPair::from_seed([0x72; 32]);
    js.send(&json!({
        "id": 1, "op": "connect", "publicKey": hex::encode(server_key.public_key()),
        "seed": hex::encode([0x72u8; 32]), "data": data,
    }))
    .await;
    let r = js.event("result").await;
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["remotePublicKey"], hex::encode(server_key.public_key()));
    assert_eq!(r["echo"], data);
    let (seen, _server) = within("echo task", echo).await.expect("echo");
    assert_eq!(seen, Some(*js_client_key.public_key()));

    // A Rust client connects to a JS server.
    js.send(&json!({ "id": 2, "op": "listen", "seed": hex::encode([0x73u8; 32]) }))
        .await;
    let r = js.event("result").await;
    let js_server = *KeyPair::from_seed([0x73; 32]).public_key();
    assert_eq!(r["publicKey"], hex::encode(js_server));
    let rust_client_key = KeyPair::from_seed([0x74; 32]);
    let mut s = within(
        "connect",
        nodes[4].connect(js_server, rust_client_key.clone()),
    )
    .await
    .expect("connect to the JS server");
    assert_eq!(s.remote_public_key(), Some(&js_server));
    let out = pattern(BYTES);
    within("write", s.write_all(&out)).await.expect("write");
    let mut back = vec![0u8; BYTES];
    within("read echo", s.read_exact(&mut back))
        .await
        .expect("read");
    assert_eq!(back, out);
    let conn = js.event("connection").await;
    assert_eq!(
        conn["remotePublicKey"],
        hex::encode(rust_client_key.public_key())
    );

    assert!(js.finish().await, "JS peer exited with an error");
    for n in nodes {
        n.destroy().await;
    }
}

/// A JS client (ephemeral) connects to a JS server through relays that are all Rust
/// nodes: the server's announce-self and the PEER_HANDSHAKE relaying run on the Rust side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_relays_carry_a_js_to_js_connection() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let bootstrap = nodes[0].server_addr().to_string();
    let mut server = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap, "--persistent"],
    );
    server.event("ready").await;
    // The client is ephemeral, so it stores nothing; the server never stores its own
    // announce: every router record and relay is a Rust node.
    let mut client = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap],
    );
    client.event("ready").await;

    server
        .send(&json!({ "id": 1, "op": "listen", "seed": hex::encode([0x81u8; 32]) }))
        .await;
    let r = server.event("result").await;
    let server_pk = *KeyPair::from_seed([0x81; 32]).public_key();
    assert_eq!(r["publicKey"], hex::encode(server_pk));

    let data = hex::encode(pattern(4096));
    client
        .send(&json!({
            "id": 2, "op": "connect", "publicKey": hex::encode(server_pk),
            "seed": hex::encode([0x82u8; 32]), "data": data,
        }))
        .await;
    let r = client.event("result").await;
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["echo"], data);
    let conn = server.event("connection").await;
    assert_eq!(
        conn["remotePublicKey"],
        hex::encode(KeyPair::from_seed([0x82; 32]).public_key())
    );
    // The handshake went through Rust nodes: at least one relayed it to the server and
    // back (two routed messages per relay hop pair).
    let mut routed = 0;
    for n in &nodes {
        routed += n.stats().await.expect("stats").handshakes_routed;
    }
    assert!(
        routed >= 2,
        "handshake messages routed by Rust nodes: {routed}"
    );
    assert!(client.finish().await && server.finish().await);
    for n in nodes {
        n.destroy().await;
    }
}

/// An ephemeral, firewalled JS client (it says firewall UNKNOWN) connects to a Rust
/// server: the server cannot connect to it, so its stream waits for the client's first
/// UDX datagram and binds to that source (hyperdht's firewall hook).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_firewalled_js_client_reaches_a_rust_server() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let bootstrap = nodes[0].server_addr().to_string();
    let mut js = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap, "--firewalled"],
    );
    let ready = js.event("ready").await;
    assert_eq!(
        ready["firewalled"], true,
        "the JS client must be firewalled: {ready}"
    );

    let server_key = KeyPair::from_seed([0x91; 32]);
    let server = within("listen", nodes[2].listen(server_key.clone()))
        .await
        .expect("listen");
    let echo = tokio::spawn(echo_once(server, 4096));
    let data = hex::encode(pattern(4096));
    js.send(&json!({
        "id": 1, "op": "connect", "publicKey": hex::encode(server_key.public_key()),
        "seed": hex::encode([0x92u8; 32]), "data": data,
    }))
    .await;
    let r = js.event("result").await;
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["echo"], data);
    within("echo task", echo).await.expect("echo");
    assert!(js.finish().await);
    for n in nodes {
        n.destroy().await;
    }
}
