//! Suspend, resume and network changes of the tokio driver on 127.0.0.1 (spec
//! hyperdht §8 steps 3–4, dht-rpc §16): a suspended node withdraws its server's
//! announcement (a lookup of `hash(publicKey)` from another node no longer lists it),
//! refuses connects and operations with `OpError::Suspended`, and after `resume`
//! re-announces (the lookup lists it again) and accepts connections again. An explicit
//! `network_change` is reported to subscribers.

use std::net::Ipv4Addr;

use plures_hyperdht::driver::{HyperDhtNode, NodeEvent, testnet};
use plures_hyperdht::node::OpError;
use plures_hyperdht::{KeyPair, crypto};
use plures_test_support::within;

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// Whether a lookup of the server's key target from `node` lists `key`.
async fn listed(node: &HyperDhtNode, key: &[u8; 32]) -> bool {
    let peers = within("lookup", node.lookup(crypto::target(key)))
        .await
        .expect("lookup");
    peers.iter().any(|p| p.public_key == *key)
}

fn is_suspended_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<OpError>())
        .is_some_and(|op| *op == OpError::Suspended)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suspend_withdraws_the_server_and_resume_brings_it_back() {
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let server_key = KeyPair::from_seed([0x61; 32]);
    let key = *server_key.public_key();
    let mut server = within("listen", nodes[2].listen(server_key.clone()))
        .await
        .expect("listen");
    assert!(listed(&nodes[4], &key).await, "announced after listen");
    let mut events = within("subscribe", nodes[2].subscribe())
        .await
        .expect("subscribe");

    within("suspend", nodes[2].suspend())
        .await
        .expect("suspend");
    assert_eq!(
        within("suspended event", events.recv()).await,
        Ok(NodeEvent::Suspended)
    );
    // The UNANNOUNCE went out before the node fell silent.
    assert!(!listed(&nodes[4], &key).await, "withdrawn by suspend");
    // Suspending again is a no-op.
    within("suspend again", nodes[2].suspend())
        .await
        .expect("suspend again");
    // A suspended node refuses work with a typed error.
    let e = within("lookup while suspended", nodes[2].lookup([9; 32]))
        .await
        .expect_err("lookup while suspended");
    assert!(is_suspended_error(&e), "{e}");
    let e = within(
        "connect while suspended",
        nodes[2].connect(*nodes_key(0x70).public_key(), nodes_key(0x71)),
    )
    .await
    .expect_err("connect while suspended");
    assert!(is_suspended_error(&e), "{e}");

    assert!(within("resume", nodes[2].resume()).await.expect("resume"));
    assert_eq!(
        within("resumed event", events.recv()).await,
        Ok(NodeEvent::Resumed)
    );
    // The dht-rpc core ran its wake-up procedure (dht-rpc §16).
    assert_eq!(
        within("wakeup event", events.recv()).await,
        Ok(NodeEvent::Wakeup)
    );
    assert!(
        !within("resume again", nodes[2].resume())
            .await
            .expect("resume again")
    );
    // Re-announced: lookups (real queries, no sleeps) find it again within the bound.
    within("re-announce", async {
        while !listed(&nodes[4], &key).await {}
    })
    .await;
    let client_key = nodes_key(0x62);
    let _client = within("connect", nodes[4].connect(key, client_key.clone()))
        .await
        .expect("connect after resume");
    let incoming = within("accept", server.accept()).await.expect("incoming");
    assert_eq!(incoming.remote_public_key(), Some(client_key.public_key()));

    nodes[2].network_change().expect("network change");
    assert_eq!(
        within("network-change event", events.recv()).await,
        Ok(NodeEvent::NetworkChange)
    );
    assert!(listed(&nodes[4], &key).await, "still announced");
    for n in nodes {
        n.destroy().await;
    }
}

fn nodes_key(seed: u8) -> KeyPair {
    KeyPair::from_seed([seed; 32])
}
