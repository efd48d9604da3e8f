//! Holepunching against hyperdht 6.34.0 on 127.0.0.1 (spec §12): both ends firewalled
//! (the JS node with `--firewalled`, the Rust node with the quick firewall check off),
//! neither taking the LAN shortcut, so the only path is a holepunch through the Rust
//! relays: PEER_HOLEPUNCH rounds with secure payloads, 1-byte probes between pool
//! sockets, the stream on the socket that won. Checked both ways, with the echo of the
//! data and the holepunch counters of each side (Rust `NodeStats`, JS
//! `dht.stats.punches`). Skipped (with a printed reason) when `node` or
//! `testnet/node_modules` is missing.

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::testnet;
use plures_test_support::{JsPeer, pattern, testnet_dir, within};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod live;

use live::{LOCAL, echo_once, firewalled};

fn punches(v: &serde_json::Value) -> u64 {
    let p = &v["punches"];
    p["consistent"].as_u64().unwrap_or(0) + p["random"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewalled_rust_and_js_holepunch_both_ways() {
    both_ways(true).await;
}

/// Without the fast-open probe the path needs both rounds and the consistent strategy
/// (spec §12.4 "observed, `fastOpen: false`").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewalled_rust_and_js_holepunch_without_fast_open() {
    both_ways(false).await;
}

async fn both_ways(fast_open: bool) {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let boot = nodes[0].server_addr();
    let bootstrap = boot.to_string();
    let mut js = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap, "--firewalled"],
    );
    let ready = js.event("ready").await;
    assert_eq!(ready["firewalled"], true, "{ready}");
    let rust = firewalled(boot, fast_open);
    within("rust ready", rust.ready()).await.expect("ready");

    // A firewalled Rust client to a firewalled JS server.
    js.send(&json!({ "id": 1, "op": "listen", "seed": hex::encode([0xa1u8; 32]) }))
        .await;
    let r = js.event("result").await;
    let js_server = *KeyPair::from_seed([0xa1; 32]).public_key();
    assert_eq!(r["publicKey"], hex::encode(js_server));
    let client_key = KeyPair::from_seed([0xa2; 32]);
    let mut s = within("connect", rust.connect(js_server, client_key.clone()))
        .await
        .expect("holepunched to the JS server");
    assert_eq!(s.remote_public_key(), Some(&js_server));
    let out = pattern(16 * 1024);
    within("write", s.write_all(&out)).await.expect("write");
    let mut back = vec![0u8; out.len()];
    within("read echo", s.read_exact(&mut back))
        .await
        .expect("read");
    assert_eq!(back, out);
    let conn = js.event("connection").await;
    assert_eq!(
        conn["remotePublicKey"],
        hex::encode(client_key.public_key())
    );
    let stats = rust.stats().await.expect("stats");
    assert_eq!(
        stats.holepunched, 1,
        "the Rust client's path was opened by a probe"
    );
    drop(s);

    // With fast open the JS server's puncher echoes our TTL-5 probe and the client is
    // normally through before any punch round (0 punches started; 1 only if the probe
    // round's answer won the race on a loaded machine); without it the JS server started
    // exactly one consistent punch.
    js.send(&json!({ "id": 3, "op": "stats" })).await;
    let before = punches(&js.event("result").await);
    if fast_open {
        assert!(before <= 1, "JS server punches: {before}");
    } else {
        assert_eq!(before, 1, "JS server punches");
    }

    // A firewalled JS client to a firewalled Rust server.
    let server_key = KeyPair::from_seed([0xa3; 32]);
    let server = within("listen", rust.listen(server_key.clone()))
        .await
        .expect("listen");
    let echo = tokio::spawn(echo_once(server, 4096));
    let data = hex::encode(pattern(4096));
    js.send(&json!({
        "id": 2, "op": "connect", "publicKey": hex::encode(server_key.public_key()),
        "seed": hex::encode([0xa4u8; 32]), "data": data, "localConnection": false,
        "fastOpen": fast_open,
    }))
    .await;
    let r = js.event("result").await;
    assert!(r.get("error").is_none(), "{r}");
    assert!(r["echo"] == data, "echo differs");
    // `stats.punches` counts punches started: without fast open the JS client needs the
    // punch round; with it, our server's puncher echoes its fast-open probe and the
    // client is through before (or while) it punches.
    let started = punches(&r) - before;
    if fast_open {
        assert!(started <= 1, "{}", r["punches"]);
    } else {
        assert_eq!(started, 1, "the JS client punched: {}", r["punches"]);
    }
    let (seen, _server) = within("echo task", echo).await.expect("echo");
    assert_eq!(seen, Some(*KeyPair::from_seed([0xa4; 32]).public_key()));
    let stats = rust.stats().await.expect("stats");
    assert!(
        stats.probes_answered >= 1,
        "the Rust server answered a probe"
    );

    assert!(js.finish().await, "JS peer exited with an error");
    rust.destroy().await;
    for n in nodes {
        n.destroy().await;
    }
}
