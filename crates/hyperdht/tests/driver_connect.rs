//! The tokio driver end to end on 127.0.0.1: Rust hyperdht nodes form a network, a server
//! announces itself, a client on another node connects through the server's relays, and
//! bytes flow both ways over the secret-stream on UDX; a lookup finds an announced topic
//! record; connecting to an unknown key fails with `NotFound`.

use std::net::Ipv4Addr;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::testnet;
use plures_test_support::within;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_connects_and_exchanges_bytes() {
    let nodes = within("testnet", testnet(LOCAL, 6)).await.expect("testnet");
    let server_key = KeyPair::from_seed([0x51; 32]);
    let client_key = KeyPair::from_seed([0x52; 32]);
    let mut server = within("listen", nodes[1].listen(server_key.clone()))
        .await
        .expect("listen");
    assert_eq!(server.relays().len(), 3);

    let mut client = within(
        "connect",
        nodes[4].connect(*server_key.public_key(), client_key.clone()),
    )
    .await
    .expect("connect");
    let mut incoming = within("accept", server.accept()).await.expect("incoming");
    assert_eq!(client.remote_public_key(), Some(server_key.public_key()));
    assert_eq!(incoming.remote_public_key(), Some(client_key.public_key()));
    assert_eq!(client.handshake_hash(), incoming.handshake_hash());

    within("client write", client.write_all(b"hello server"))
        .await
        .expect("write");
    let mut buf = [0u8; 12];
    within("server read", incoming.read_exact(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf, b"hello server");
    within("server write", incoming.write_all(b"hello client"))
        .await
        .expect("write");
    within("client read", client.read_exact(&mut buf))
        .await
        .expect("read");
    assert_eq!(&buf, b"hello client");

    // Topic records.
    let topic = [0x33; 32];
    let stored = within(
        "announce",
        nodes[2].announce(topic, client_key.clone(), vec![]),
    )
    .await
    .expect("announce");
    assert!(!stored.is_empty());
    let found = within("lookup", nodes[5].lookup(topic))
        .await
        .expect("lookup");
    assert_eq!(found.len(), 1);
    assert_eq!(&found[0].public_key, client_key.public_key());

    // An unknown key, and one that is not a curve point.
    let unknown = *KeyPair::from_seed([0x99; 32]).public_key();
    let err = within(
        "connect unknown",
        nodes[3].connect(unknown, KeyPair::from_seed([0x53; 32])),
    )
    .await
    .expect_err("no such server");
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound, "{err}");
    let mut bad = [0u8; 32];
    bad[0] = 2; // y = 2 is not on the curve
    let err = nodes[3]
        .connect(bad, KeyPair::from_seed([0x53; 32]))
        .await
        .expect_err("not a point");
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");

    for n in nodes {
        n.destroy().await;
    }
}
