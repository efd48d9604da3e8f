//! A Rust server survives the death of one of its relays, against hyperdht 6.34.0 on
//! 127.0.0.1: on a network of 3 Rust nodes and 5 reachable JS nodes, the Rust server
//! announces itself to the 3 closest; one of them that is a JS node is killed; the
//! server's relay pings (every 3 s, spec §8 step 3) notice it and the server re-announces
//! to 3 live nodes within the spec's bound (one pause, one PING with its retries, one
//! update: well under 20 s); then a JS client connects to the server and gets its bytes
//! echoed. Skipped (with a printed reason) when `node` or `testnet/node_modules` is
//! missing.

use std::net::SocketAddrV4;
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::testnet;
use plures_test_support::{JsPeer, pattern, testnet_dir, within, within_for};
use serde_json::json;

mod live;

use live::{LOCAL, echo_once};

const JS_NODES: usize = 5;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_connects_after_a_relay_of_the_rust_server_died() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, 3)).await.expect("testnet");
    let bootstrap = nodes[0].server_addr().to_string();
    let mut js = Vec::new();
    for _ in 0..JS_NODES {
        let mut p = JsPeer::spawn(
            &dir,
            "interop/hyperdht-client.mjs",
            &["--bootstrap", &bootstrap, "--persistent"],
        );
        let ready = p.event("ready").await;
        let port = u16::try_from(ready["port"].as_u64().expect("port")).expect("port");
        js.push((Some(p), SocketAddrV4::new(LOCAL, port)));
    }

    // A server key whose relays include two JS nodes: one to kill, one that must later
    // accept the server's UNANNOUNCE.
    let mut found = None;
    for seed in 0u8..20 {
        let kp = KeyPair::from_seed([0xa0 ^ seed; 32]);
        let server = within("listen", nodes[1].listen(kp.clone()))
            .await
            .expect("listen");
        let relays = server.relays();
        assert_eq!(relays.len(), 3, "{relays:?}");
        let on_js: Vec<usize> = (0..JS_NODES)
            .filter(|&i| relays.contains(&js[i].1))
            .collect();
        if on_js.len() >= 2 {
            found = Some((kp, server, on_js[0], js[on_js[1]].1));
            break;
        }
    }
    let (kp, server, victim, js_relay) = found.expect("a key with two JS relays");
    let dead = js[victim].1;
    let mut watch = server.watch_relays();
    watch.borrow_and_update();
    // Kill the JS relay (its process is killed on drop).
    drop(js[victim].0.take());
    let killed = std::time::Instant::now();

    let moved = within_for(Duration::from_secs(20), "relays change", async {
        loop {
            watch.changed().await.expect("server alive");
            let now = watch.borrow_and_update().clone();
            if !now.contains(&dead) {
                return now;
            }
        }
    })
    .await;
    eprintln!("relays moved {:?} after the kill", killed.elapsed());
    assert_eq!(moved.len(), 3, "{moved:?}");
    assert_eq!(server.relays(), moved);
    assert!(moved.contains(&js_relay), "a live relay is kept");

    // A JS client finds the server through its live relays and connects.
    let mut client = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap],
    );
    client.event("ready").await;
    let echo = tokio::spawn(echo_once(server, 4096));
    let data = hex::encode(pattern(4096));
    client
        .send(&json!({
            "id": 1, "op": "connect", "publicKey": hex::encode(kp.public_key()),
            "seed": hex::encode([0xb1u8; 32]), "data": data,
        }))
        .await;
    let r = client.event("result").await;
    assert!(r.get("error").is_none(), "{r}");
    assert_eq!(r["echo"], data);
    let (seen, server) = within("echo task", echo).await.expect("echo");
    assert_eq!(seen, Some(*KeyPair::from_seed([0xb1; 32]).public_key()));

    // Closing the server withdraws its record from every relay (FIND_PEER for a token,
    // then UNANNOUNCE, spec §8 step 4), the JS one included: a JS FIND_PEER finds none.
    let find = json!({ "id": 2, "op": "findPeer", "publicKey": hex::encode(kp.public_key()) });
    client.send(&find).await;
    let r = client.event("result").await;
    assert!(r["repliesWithPeer"].as_u64() >= Some(2), "{r}");
    drop(server);
    let gone = within("record withdrawn", async {
        for _ in 0..10 {
            client.send(&find).await;
            let r = client.event("result").await;
            if r["repliesWithPeer"] == 0 {
                return true;
            }
        }
        false
    })
    .await;
    assert!(gone, "the relays still hold the closed server's record");

    assert!(client.finish().await);
    for (p, _) in js {
        if let Some(p) = p {
            assert!(p.finish().await);
        }
    }
    for n in nodes {
        n.destroy().await;
    }
}
