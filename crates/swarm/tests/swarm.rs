//! Swarms on a local network of Rust hyperdht nodes: discovery and flush, duplicate
//! resolution when two swarms dial each other at once, leave, reconnect after a drop,
//! firewall bans and destroy. Every wait is for an event, bounded by `within`.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_swarm::{PeerConnection, Swarm, SwarmConfig, SwarmEvent};
use plures_test_support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;
const SWARMS: usize = 4;

async fn nodes(n: usize) -> Vec<Arc<HyperDhtNode>> {
    within("testnet", testnet(LOCAL, n))
        .await
        .expect("testnet")
        .into_iter()
        .map(Arc::new)
        .collect()
}

async fn swarm(node: &Arc<HyperDhtNode>, seed: u8, config: SwarmConfig) -> Swarm {
    within(
        "swarm",
        Swarm::new(Arc::clone(node), KeyPair::from_seed([seed; 32]), config),
    )
    .await
    .expect("swarm")
}

/// Fast retries so reconnect tests finish quickly: S, M, L, X = 200 ms, 400 ms, 800 ms, 5 s.
fn quick() -> SwarmConfig {
    let ms = Duration::from_millis;
    SwarmConfig {
        backoffs: Some([ms(200), ms(400), ms(800), ms(5000)]),
        jitter: Duration::ZERO,
        ..SwarmConfig::default()
    }
}

/// Writes `own` and reads the peer's key back on `c` (both sides run this).
async fn exchange(mut c: PeerConnection, own: [u8; 32]) -> PeerConnection {
    c.stream.write_all(&own).await.expect("write");
    let mut got = [0u8; 32];
    c.stream.read_exact(&mut got).await.expect("read");
    assert_eq!(got, c.remote_public_key);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarms_that_join_one_after_another_connect_once_per_pair() {
    let nodes = nodes(5 + SWARMS).await;
    let topic = [0x42; 32];
    let mut swarms = Vec::new();
    for i in 0..SWARMS {
        let s = swarm(&nodes[5 + i], i as u8 + 1, SwarmConfig::default()).await;
        s.join(topic).expect("join");
        // Announced, looked up, and every peer found so far tried.
        assert!(within("flush", s.flush()).await);
        assert_eq!(s.connected(), i, "swarm {i} reached every earlier one");
        swarms.push(s);
    }

    let mut conns: BTreeMap<([u8; 32], [u8; 32]), PeerConnection> = BTreeMap::new();
    for (i, s) in swarms.iter_mut().enumerate() {
        let own = *s.public_key();
        for _ in 0..SWARMS - 1 {
            let c = within("connection", s.next()).await.expect("connection");
            assert!(
                conns.insert((own, c.remote_public_key), c).is_none(),
                "duplicate"
            );
        }
        assert_eq!(s.connected(), SWARMS - 1);
        let peers = within("peers", s.peers()).await.expect("peers");
        assert_eq!(peers.len(), SWARMS - 1);
        for p in &peers {
            // The later swarm discovered the earlier one on the topic and dialled it.
            assert_eq!(p.client, p.topics.contains(&topic), "swarm {i}: {p:?}");
        }
    }
    // Both ends agree who dialled, and the later joiner did.
    let order: BTreeMap<[u8; 32], usize> = swarms
        .iter()
        .enumerate()
        .map(|(i, s)| (*s.public_key(), i))
        .collect();
    let pairs: BTreeSet<_> = conns
        .iter()
        .map(|((a, b), c)| {
            let back = &conns[&(*b, *a)];
            assert_ne!(c.initiator, back.initiator);
            assert_eq!(c.initiator, order[a] > order[b]);
            if a < b { (*a, *b) } else { (*b, *a) }
        })
        .collect();
    assert_eq!(pairs.len(), SWARMS * (SWARMS - 1) / 2);

    let mut tasks = Vec::new();
    for ((own, _), c) in conns {
        tasks.push(tokio::spawn(exchange(c, own)));
    }
    let mut keep = Vec::new();
    for t in tasks {
        keep.push(within("exchange", t).await.expect("task"));
    }
    drop(keep);
}

/// Waits on `s` for the connection to `remote` in which `initiator` holds.
async fn connection_where(s: &mut Swarm, remote: [u8; 32], initiator: bool) -> PeerConnection {
    loop {
        let c = within("connection", s.next()).await.expect("connection");
        if c.remote_public_key == remote && c.initiator == initiator {
            return c;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_dials_keep_the_connection_the_larger_key_initiated() {
    let nodes = nodes(7).await;
    for (sa, sb) in [(1u8, 2u8), (2, 1)] {
        let mut a = swarm(&nodes[5], sa, SwarmConfig::default()).await;
        let mut b = swarm(&nodes[6], sb, SwarmConfig::default()).await;
        let (ka, kb) = (*a.public_key(), *b.public_key());
        // Both dial the other at the same moment.
        a.join_peer(kb).expect("join_peer");
        b.join_peer(ka).expect("join_peer");
        let ca = connection_where(&mut a, kb, ka > kb).await;
        let cb = connection_where(&mut b, ka, kb > ka).await;
        let (ca, cb) = tokio::join!(exchange(ca, ka), exchange(cb, kb));
        assert_eq!(a.connected(), 1);
        assert_eq!(b.connected(), 1);
        let (sta, stb) = (a.status().await.expect("a"), b.status().await.expect("b"));
        assert_eq!(sta.stats.client_attempted, 1, "a dialled");
        assert_eq!(stb.stats.client_attempted, 1, "b dialled");
        // The larger key's side rejected the incoming one; the smaller key's side
        // replaced its own dial with the incoming one.
        let (big, small) = if ka > kb { (sta, stb) } else { (stb, sta) };
        assert_eq!((big.stats.server_opened, big.stats.client_opened), (0, 1));
        assert_eq!(small.stats.server_opened, 1);
        assert_eq!(small.stats.client_closed, 1);
        drop((ca, cb));
        a.destroy().await;
        b.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_is_redialled_and_a_deliberate_close_is_not() {
    let nodes = nodes(7).await;
    let topic = [0x43; 32];
    let mut server = swarm(&nodes[5], 1, SwarmConfig::default()).await;
    server.join(topic).expect("join");
    assert!(within("flush", server.flush()).await);
    let mut client = swarm(&nodes[6], 2, quick()).await;
    client
        .join_with(topic, plures_swarm::JoinOptions::client_only())
        .expect("join");
    assert!(within("flush", client.flush()).await);
    let (ks, kc) = (*server.public_key(), *client.public_key());

    let first = within("client conn", client.next()).await.expect("conn");
    assert!(first.initiator);
    let s1 = within("server conn", server.next()).await.expect("conn");
    assert_eq!(s1.remote_public_key, kc);
    // The server drops it: the client notices without reading and redials.
    s1.stream.destroy();
    let second = within("redial", client.next()).await.expect("conn");
    assert_eq!((second.remote_public_key, second.initiator), (ks, true));
    let s2 = within("server conn 2", server.next()).await.expect("conn");
    let (second, s2) = tokio::join!(exchange(second, kc), exchange(s2, ks));
    let info = within("peers", client.peers()).await.expect("peers");
    assert_eq!(info.len(), 1);
    assert!(info[0].proven && info[0].client);
    let stats = client.status().await.expect("status").stats;
    assert_eq!((stats.client_attempted, stats.client_opened), (2, 2));
    drop(first);

    // The client closes deliberately: no redial; the server sees the close.
    drop(second);
    loop {
        match within("update", server.next_event()).await.expect("event") {
            SwarmEvent::Update if server.connected() == 0 => break,
            SwarmEvent::Connection(c) => panic!("unexpected connection {c:?}"),
            _ => {}
        }
    }
    assert!(within("flush", client.flush()).await);
    assert_eq!(
        client
            .status()
            .await
            .expect("status")
            .stats
            .client_attempted,
        2
    );
    assert!(
        within("peers", client.peers())
            .await
            .expect("peers")
            .is_empty()
    );
    drop(s2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leave_keeps_connections_and_firewall_bans() {
    let nodes = nodes(8).await;
    let topic = [0x44; 32];
    let mut a = swarm(&nodes[5], 1, SwarmConfig::default()).await;
    a.join(topic).expect("join");
    assert!(within("flush", a.flush()).await);
    let mut b = swarm(&nodes[6], 2, SwarmConfig::default()).await;
    b.join(topic).expect("join");
    assert!(within("flush", b.flush()).await);
    let ca = within("a conn", a.next()).await.expect("conn");
    let cb = within("b conn", b.next()).await.expect("conn");

    within("leave", b.leave(topic)).await.expect("leave");
    let st = b.status().await.expect("status");
    assert!(st.topics.is_empty());
    assert_eq!(st.connections, 1, "leave keeps connections");
    let (ca, cb) = tokio::join!(exchange(ca, *a.public_key()), exchange(cb, *b.public_key()));
    assert!(!b.refresh(topic).await, "not joined any more");

    // Leaving removed b's record from the storage nodes (UNANNOUNCE runs in the
    // background, so look until it is gone); a's record stays.
    let kb = *b.public_key();
    let left = within("unannounced", async {
        loop {
            let peers = nodes[0].lookup(topic).await.expect("lookup");
            if !peers.iter().any(|p| p.public_key == kb) {
                break peers;
            }
        }
    })
    .await;
    assert!(left.iter().any(|p| p.public_key == *a.public_key()));

    // A third swarm whose firewall rejects `a`: it bans `a` instead of dialling it, and
    // its flush still resolves.
    let ka = *a.public_key();
    let config = SwarmConfig {
        firewall: Some(Arc::new(move |k: &[u8; 32]| *k == ka)),
        ..SwarmConfig::default()
    };
    let mut c = swarm(&nodes[7], 3, config).await;
    c.join(topic).expect("join");
    assert!(within("flush", c.flush()).await);
    let mut banned = false;
    while !banned {
        match within("event", c.next_event()).await.expect("event") {
            SwarmEvent::Ban(k) => banned = k == ka,
            SwarmEvent::Connection(conn) => {
                assert_ne!(conn.remote_public_key, ka, "a banned peer is not dialled");
            }
            _ => {}
        }
    }
    let peers = c.peers().await.expect("peers");
    assert!(peers.iter().any(|p| p.public_key == ka && p.banned));
    assert_eq!(c.status().await.expect("status").stats.banned_peers, 1);
    // Destroy withdraws c's announcement before it returns (spec §14).
    let kc = *c.public_key();
    let found = nodes[0].lookup(topic).await.expect("lookup");
    assert!(found.iter().any(|p| p.public_key == kc), "c announced");
    c.destroy().await;
    let found = nodes[0].lookup(topic).await.expect("lookup");
    assert!(!found.iter().any(|p| p.public_key == kc), "c unannounced");

    // Destroy closes every connection, including the one the test still holds: the
    // other side sees it end.
    b.destroy().await;
    let mut buf = [0u8; 1];
    let mut ca = ca;
    let n = within("closed", ca.stream.read(&mut buf)).await;
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    drop(cb);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_peers_are_redialled_until_left() {
    let nodes = nodes(7).await;
    let mut a = swarm(&nodes[5], 1, quick()).await;
    let mut b = swarm(&nodes[6], 2, SwarmConfig::default()).await;
    let (ka, kb) = (*a.public_key(), *b.public_key());
    a.join_peer(kb).expect("join_peer");
    let first = within("connection", a.next()).await.expect("conn");
    assert!(first.initiator);
    let b1 = within("b conn", b.next()).await.expect("conn");
    assert_eq!(b1.remote_public_key, ka);
    let info = &a.peers().await.expect("peers")[0];
    assert!(info.explicit && info.topics.is_empty());

    // b drops it: an explicit peer is redialled although no topic is joined.
    b1.stream.destroy();
    let second = within("redial", a.next()).await.expect("conn");
    assert_eq!((second.remote_public_key, second.initiator), (kb, true));
    let b2 = within("b conn 2", b.next()).await.expect("conn");

    // After leave_peer the connection stays, but a drop is no longer retried.
    a.leave_peer(kb).expect("leave_peer");
    let (second, b2) = tokio::join!(exchange(second, ka), exchange(b2, kb));
    b2.stream.destroy();
    loop {
        match within("update", a.next_event()).await.expect("event") {
            SwarmEvent::Update if a.connected() == 0 => break,
            SwarmEvent::Connection(c) => panic!("unexpected connection {c:?}"),
            _ => {}
        }
    }
    assert!(
        a.peers().await.expect("peers").is_empty(),
        "nothing waits for a retry"
    );
    assert_eq!(a.status().await.expect("status").stats.client_attempted, 2);
    drop((first, second));
}
