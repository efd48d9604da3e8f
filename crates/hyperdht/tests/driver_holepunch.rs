//! The tokio driver's holepunch on 127.0.0.1: two firewalled Rust nodes (quick firewall
//! check off, LAN shortcut off) connect through PEER_HOLEPUNCH rounds relayed by Rust
//! storage nodes and probes between pool sockets, with and without the fast-open probe;
//! bytes flow both ways, the client's path was opened by a probe (its counter), the
//! server's puncher answered one, and the pool sockets are gone afterwards.

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::testnet;
use plures_test_support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod live;

use live::{LOCAL, firewalled};

async fn punch(fast_open: bool, seed: u8) {
    let nodes = within("testnet", testnet(LOCAL, 5)).await.expect("testnet");
    let boot = nodes[0].server_addr();
    let a = firewalled(boot, fast_open);
    let b = firewalled(boot, fast_open);
    within("a ready", a.ready()).await.expect("ready");
    within("b ready", b.ready()).await.expect("ready");
    let server_key = KeyPair::from_seed([seed; 32]);
    let client_key = KeyPair::from_seed([seed + 1; 32]);
    let mut server = within("listen", a.listen(server_key.clone()))
        .await
        .expect("listen");
    let mut client = within(
        "connect",
        b.connect(*server_key.public_key(), client_key.clone()),
    )
    .await
    .expect("holepunched");
    let mut incoming = within("accept", server.accept()).await.expect("incoming");
    assert_eq!(incoming.remote_public_key(), Some(client_key.public_key()));
    within("write", client.write_all(b"through the punch"))
        .await
        .expect("write");
    let mut buf = [0u8; 17];
    within("read", incoming.read_exact(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf, b"through the punch");
    within("write back", incoming.write_all(b"and back again!!!"))
        .await
        .expect("write");
    within("read back", client.read_exact(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf, b"and back again!!!");
    let (sa, sb) = (
        a.stats().await.expect("stats"),
        b.stats().await.expect("stats"),
    );
    assert_eq!(sb.holepunched, 1, "the client's path was opened by a probe");
    assert!(
        sa.probes_answered >= 1,
        "the server's puncher answered a probe"
    );
    // The client handed the winning socket to its stream and released the rest.
    assert_eq!(sb.pool_sockets, 0);
    drop((client, incoming, server));
    a.destroy().await;
    b.destroy().await;
    for n in nodes {
        n.destroy().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_firewalled_rust_nodes_holepunch_with_fast_open() {
    punch(true, 0xb1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_firewalled_rust_nodes_holepunch_without_fast_open() {
    punch(false, 0xb3).await;
}
