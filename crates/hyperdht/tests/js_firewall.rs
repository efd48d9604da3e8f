//! The server firewall (spec §11 step 2) and the holepunch veto (spec §12.4) against
//! hyperdht 6.34.0 on 127.0.0.1. The truth is what JS reports in the same run:
//!
//! * a JS client that a JS server's firewall rejects fails with some error code; the same
//!   JS client against a Rust server whose firewall rejects it must fail with the same
//!   code, and so must a Rust client against the JS server;
//! * a JS client (firewalled, no LAN shortcut, no fast open, so only a holepunch can
//!   connect it) against a firewalled JS server that vetoes the punch fails with some
//!   code; the same client against a Rust server that vetoes, and a Rust client against
//!   the vetoing JS server, must fail with the same code.
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.

use std::sync::{Arc, Mutex};

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig, testnet};
use plures_hyperdht::node::{ConnectError, HolepunchConfig, ServerConfig};
use plures_test_support::{JsPeer, testnet_dir, within};
use serde_json::{Value, json};

mod live;

use live::{LOCAL, firewalled};

/// (client key, payload version) per call of the Rust server's firewall.
type Asked = Arc<Mutex<Vec<([u8; 32], u64)>>>;

/// The reference's error code of a failed Rust connect (`CODE: text`).
fn rust_code(e: &std::io::Error) -> String {
    let inner = e
        .get_ref()
        .and_then(|i| i.downcast_ref::<ConnectError>())
        .unwrap_or_else(|| panic!("not a connect error: {e}"));
    inner
        .to_string()
        .split(':')
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Sends a JS `connect` and returns its error code (panics if it connected).
async fn js_connect_code(
    js: &mut JsPeer,
    id: u64,
    server: &[u8; 32],
    seed: u8,
    extra: Value,
) -> String {
    let mut op = json!({
        "id": id, "op": "connect", "publicKey": hex::encode(server),
        "seed": hex::encode([seed; 32]), "data": "00",
    });
    if let (Some(o), Some(e)) = (op.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    js.send(&op).await;
    let r = js.event("result").await;
    assert_eq!(r["id"], id, "{r}");
    r["code"]
        .as_str()
        .unwrap_or_else(|| panic!("JS connect did not fail: {r}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rejected_clients_fail_alike_against_js_and_rust_servers() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let bootstrap = nodes[0].server_addr().to_string();
    let mut js_server = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap],
    );
    let mut js_client = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap],
    );
    js_server.event("ready").await;
    js_client.event("ready").await;

    // A JS server whose firewall rejects everyone.
    js_server
        .send(&json!({ "id": 1, "op": "listen", "seed": hex::encode([0xc1u8; 32]), "firewall": true }))
        .await;
    js_server.event("result").await;
    let js_key = *KeyPair::from_seed([0xc1; 32]).public_key();

    // A Rust server whose firewall rejects everyone and records who asked.
    let asked: Asked = Arc::default();
    let seen = Arc::clone(&asked);
    let config = ServerConfig {
        firewall: Some(Arc::new(move |key, payload, _addr| {
            seen.lock().expect("lock").push((*key, payload.version));
            true
        })),
    };
    let rust_key = KeyPair::from_seed([0xc2; 32]);
    let mut rust_server = within("listen", nodes[1].listen_with(rust_key.clone(), config))
        .await
        .expect("listen");

    // The Rust client against the JS server runs while the JS client makes its two
    // attempts (each takes the reference's ≈ 8 s).
    let rust_client = nodes.last().expect("nodes");
    let rust_client_key = KeyPair::from_seed([0xc3; 32]);
    let rust_attempt = rust_client.connect(js_key, rust_client_key.clone());
    let js_attempts = async {
        let js_js = js_connect_code(&mut js_client, 2, &js_key, 0xc4, json!({})).await;
        let js_rust =
            js_connect_code(&mut js_client, 3, rust_key.public_key(), 0xc4, json!({})).await;
        (js_js, js_rust)
    };
    let (rust_js, (js_js, js_rust)) = within("attempts", async {
        tokio::join!(rust_attempt, js_attempts)
    })
    .await;
    let rust_js = rust_code(&rust_js.map(|_| ()).expect_err("the JS server rejects"));
    eprintln!("JS→JS {js_js}, JS→Rust {js_rust}, Rust→JS {rust_js}");
    assert_eq!(
        js_rust, js_js,
        "a JS client fails alike against both servers"
    );
    assert_eq!(rust_js, js_js, "a Rust client fails like a JS client");

    // Both firewalls were asked about the right clients, and nothing got through.
    let js_client_key = *KeyPair::from_seed([0xc4; 32]).public_key();
    assert_eq!(*asked.lock().expect("lock"), vec![(js_client_key, 1)]);
    let stats = nodes[1].stats().await.expect("stats");
    assert_eq!(stats.handshakes_rejected, 1);
    // The JS firewall was asked too (its latest call is one of the two clients).
    let ev = js_server.event("firewall").await;
    let clients = [
        hex::encode(rust_client_key.public_key()),
        hex::encode(js_client_key),
    ];
    assert!(clients.iter().any(|k| ev["remotePublicKey"] == *k), "{ev}");
    assert!(
        tokio::time::timeout(std::time::Duration::ZERO, rust_server.accept())
            .await
            .is_err(),
        "no connection at the Rust server"
    );

    assert!(js_server.finish().await);
    assert!(js_client.finish().await);
    drop(rust_server);
    for n in nodes {
        n.destroy().await;
    }
}

/// A firewalled Rust node (no fast open, no LAN shortcut) whose every punch is vetoed.
fn vetoing(bootstrap: std::net::SocketAddrV4, calls: Arc<Mutex<u32>>) -> HyperDhtNode {
    let mut c = NodeConfig::new(vec![bootstrap]);
    c.host = LOCAL;
    c.dht.ephemeral = Some(true);
    c.dht.quick_firewall = false;
    c.holepunch = HolepunchConfig {
        local_connection: false,
        fast_open: false,
        allow: Some(Arc::new(move |_, _, _, _| {
            *calls.lock().expect("lock") += 1;
            false
        })),
        ..HolepunchConfig::default()
    };
    HyperDhtNode::bind(c).expect("bind")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vetoed_holepunches_fail_alike_against_js_and_rust() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let boot = nodes[0].server_addr();
    let bootstrap = boot.to_string();
    let args = ["--bootstrap", bootstrap.as_str(), "--firewalled"];
    let mut js_server = JsPeer::spawn(&dir, "interop/hyperdht-client.mjs", &args);
    let mut js_client = JsPeer::spawn(&dir, "interop/hyperdht-client.mjs", &args);
    assert_eq!(js_server.event("ready").await["firewalled"], true);
    assert_eq!(js_client.event("ready").await["firewalled"], true);
    // Two JS servers in one process: one vetoes every punch, one does not.
    js_server
        .send(&json!({ "id": 1, "op": "listen", "seed": hex::encode([0xd1u8; 32]), "holepunch": false }))
        .await;
    js_server.event("result").await;
    js_server
        .send(&json!({ "id": 2, "op": "listen", "seed": hex::encode([0xd2u8; 32]) }))
        .await;
    js_server.event("result").await;
    let (js_veto, js_plain) = (
        *KeyPair::from_seed([0xd1; 32]).public_key(),
        *KeyPair::from_seed([0xd2; 32]).public_key(),
    );
    let server_calls: Arc<Mutex<u32>> = Arc::default();
    let rust_server_node = vetoing(boot, Arc::clone(&server_calls));
    let client_calls: Arc<Mutex<u32>> = Arc::default();
    let rust_veto_client = vetoing(boot, Arc::clone(&client_calls));
    let rust_client = firewalled(boot, false);
    for n in [&rust_server_node, &rust_veto_client, &rust_client] {
        within("rust ready", n.ready()).await.expect("ready");
    }
    let rust_key = KeyPair::from_seed([0xd3; 32]);
    let _rust_server = within("listen", rust_server_node.listen(rust_key.clone()))
        .await
        .expect("listen");
    let only_punch = json!({ "localConnection": false, "fastOpen": false });

    // The server vetoes.
    let js_js = js_connect_code(&mut js_client, 3, &js_veto, 0xd4, only_punch.clone()).await;
    let js_rust = js_connect_code(
        &mut js_client,
        4,
        rust_key.public_key(),
        0xd4,
        only_punch.clone(),
    )
    .await;
    let rust_js = within(
        "connect",
        rust_client.connect(js_veto, KeyPair::from_seed([0xd5; 32])),
    )
    .await
    .map(|_| ())
    .expect_err("the JS server vetoes");
    eprintln!("Rust client against the vetoing JS server: {rust_js}");
    let rust_js = rust_code(&rust_js);
    eprintln!("server veto: JS→JS {js_js}, JS→Rust {js_rust}, Rust→JS {rust_js}");
    assert_eq!(
        js_rust, js_js,
        "a JS client fails alike against both vetoing servers"
    );
    assert_eq!(rust_js, js_js, "a Rust client fails like a JS client");
    assert!(
        *server_calls.lock().expect("lock") >= 1,
        "the Rust server was asked"
    );

    // The client vetoes.
    let mut client_veto = only_punch.clone();
    client_veto["holepunch"] = json!(false);
    let js_js = js_connect_code(&mut js_client, 5, &js_plain, 0xd6, client_veto).await;
    let rust_js = within(
        "connect",
        rust_veto_client.connect(js_plain, KeyPair::from_seed([0xd7; 32])),
    )
    .await
    .map(|_| ())
    .expect_err("the Rust client vetoes");
    let rust_js = rust_code(&rust_js);
    eprintln!("client veto: JS→JS {js_js}, Rust→JS {rust_js}");
    assert_eq!(
        rust_js, js_js,
        "a vetoing Rust client fails like a vetoing JS client"
    );
    assert_eq!(*client_calls.lock().expect("lock"), 1, "asked once");

    assert!(js_server.finish().await);
    assert!(js_client.finish().await);
    for n in [rust_server_node, rust_veto_client, rust_client] {
        n.destroy().await;
    }
    for n in nodes {
        n.destroy().await;
    }
}
