//! The swarm's firewall and ban list act on the hyperdht server's handshakes (spec
//! `hyperswarm.md` §9): a client the firewall rejects, or a banned one, gets no handshake
//! reply, so neither side ever has a connection, and the server's node counts each
//! rejected handshake. Unbanning lets the next dial through. Every wait is for an event
//! or a flush, bounded by `within`.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_swarm::{JoinOptions, Swarm, SwarmConfig, SwarmEvent};
use plures_test_support::within;

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

async fn swarm(node: &Arc<HyperDhtNode>, seed: u8, config: SwarmConfig) -> Swarm {
    within(
        "swarm",
        Swarm::new(Arc::clone(node), KeyPair::from_seed([seed; 32]), config),
    )
    .await
    .expect("swarm")
}

/// The server swarm's node: handshakes rejected so far.
async fn rejected(node: &HyperDhtNode) -> u64 {
    node.stats().await.expect("stats").handshakes_rejected
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn firewalled_and_banned_peers_get_no_handshake_reply() {
    let nodes: Vec<Arc<HyperDhtNode>> = within("testnet", testnet(LOCAL, 7))
        .await
        .expect("testnet")
        .into_iter()
        .map(Arc::new)
        .collect();
    let topic = [0x4f; 32];
    let kc = *KeyPair::from_seed([0x12; 32]).public_key();
    // The server's firewall rejects the client while `reject` is set; it counts calls.
    let reject = Arc::new(AtomicBool::new(true));
    let calls = Arc::new(AtomicU32::new(0));
    let (r, n) = (Arc::clone(&reject), Arc::clone(&calls));
    let config = SwarmConfig {
        firewall: Some(Arc::new(move |k: &[u8; 32]| {
            n.fetch_add(1, Ordering::SeqCst);
            *k == kc && r.load(Ordering::SeqCst)
        })),
        ..SwarmConfig::default()
    };
    let mut server = swarm(&nodes[5], 0x11, config).await;
    server
        .join_with(topic, JoinOptions::server_only())
        .expect("join");
    assert!(within("server flush", server.flush()).await);
    let mut client = swarm(&nodes[6], 0x12, SwarmConfig::default()).await;
    assert_eq!(*client.public_key(), kc);

    // 1. The firewall rejects the client's handshake: no reply, no connection anywhere,
    // the peer banned at the server.
    client
        .join_with(topic, JoinOptions::client_only())
        .expect("join");
    assert!(within("client flush", client.flush()).await);
    let ev = within("ban event", server.next_event())
        .await
        .expect("event");
    assert!(matches!(ev, SwarmEvent::Ban(k) if k == kc), "{ev:?}");
    assert_eq!(rejected(&nodes[5]).await, 1);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    let (s, c) = (
        server.status().await.expect("status"),
        client.status().await.expect("status"),
    );
    assert_eq!((s.connections, c.connections), (0, 0));
    assert_eq!(s.stats.server_opened, 0, "no incoming connection came up");
    assert_eq!(c.stats.client_opened, 0);
    assert!(c.stats.client_attempted >= 1, "the client dialled");
    assert_eq!(s.stats.banned_peers, 1);
    let peers = server.peers().await.expect("peers");
    assert!(peers.iter().any(|p| p.public_key == kc && p.banned));

    // 2. The firewall would accept now, but the peer is banned: the ban list rejects the
    // handshake without asking the firewall.
    reject.store(false, Ordering::SeqCst);
    assert!(within("client refresh", client.refresh(topic)).await);
    assert_eq!(rejected(&nodes[5]).await, 2, "the ban rejected the dial");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the firewall was not asked"
    );
    let (s, c) = (
        server.status().await.expect("status"),
        client.status().await.expect("status"),
    );
    assert_eq!((s.connections, c.connections), (0, 0));

    // 3. Unbanned, the next dial connects on both sides.
    server.ban(kc, false).expect("unban");
    assert!(within("client refresh", client.refresh(topic)).await);
    let conn = within("client conn", client.next()).await.expect("conn");
    assert_eq!(conn.remote_public_key, *server.public_key());
    let conn = within("server conn", server.next()).await.expect("conn");
    assert_eq!(conn.remote_public_key, kc);
    assert_eq!(rejected(&nodes[5]).await, 2);

    client.destroy().await;
    server.destroy().await;
}
