//! Live interop with the JS reference (`@hyperswarm/secret-stream` 6.9.2) over TCP on
//! 127.0.0.1: `testnet/interop/secret-stream-peer.mjs` runs standalone XX as one role,
//! this test as the other; 16 MiB each way with SHA-256 checks, and both sides' view of
//! the keys and handshake hash compared.
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.
#![cfg(feature = "tokio")]

use std::time::Duration;

use plures_secret_stream::{Config, KeyPair, SecretStream};
use plures_test_support::{JsPeer, pattern, testnet_dir};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(180);
const BYTES: usize = 16 << 20;

async fn run(rust_initiator: bool, js_chunk: usize) {
    let Some(dir) = testnet_dir(&["@hyperswarm/secret-stream"]) else {
        return;
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (rust_seed, js_seed) = ([0x11; 32], [0x22; 32]);
    let js_role = if rust_initiator {
        "responder"
    } else {
        "initiator"
    };
    let args = [
        "--port".to_string(),
        port.to_string(),
        "--role".into(),
        js_role.into(),
        "--seed".into(),
        hex::encode(js_seed),
        "--bytes".into(),
        BYTES.to_string(),
        "--chunk".into(),
        js_chunk.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut js = JsPeer::spawn(&dir, "interop/secret-stream-peer.mjs", &args);
    let (tcp, _) = timeout(LIMIT, listener.accept())
        .await
        .expect("accept timed out")
        .expect("accept");
    let kp = KeyPair::from_seed(rust_seed);
    let pk = *kp.public_key();
    let stream = if rust_initiator {
        timeout(
            LIMIT,
            SecretStream::xx_initiator(tcp, kp, Config::default()),
        )
        .await
    } else {
        timeout(
            LIMIT,
            SecretStream::xx_responder(tcp, kp, Config::default()),
        )
        .await
    }
    .expect("handshake timed out")
    .expect("handshake");

    let hs = js.event("handshake").await;
    let js_pk = KeyPair::from_seed(js_seed).public_key().to_owned();
    assert_eq!(stream.remote_public_key(), Some(&js_pk));
    assert_eq!(hs["remotePublicKey"], hex::encode(pk));
    assert_eq!(hs["publicKey"], hex::encode(js_pk));
    assert_eq!(hs["isInitiator"], !rust_initiator);
    assert_eq!(
        hs["handshakeHash"],
        hex::encode(stream.handshake_hash().expect("hash"))
    );
    assert_eq!(stream.is_initiator(), Some(rust_initiator));

    let out = pattern(BYTES);
    let out_hash = hex::encode(Sha256::digest(&out));
    let (mut rd, mut wr) = tokio::io::split(stream);
    let writer = tokio::spawn(async move {
        wr.write_all(&out).await.expect("write");
        wr.shutdown().await.expect("shutdown");
    });
    let mut got = Vec::with_capacity(BYTES);
    timeout(LIMIT, rd.read_to_end(&mut got))
        .await
        .expect("read timed out")
        .expect("read");
    timeout(LIMIT, writer)
        .await
        .expect("write timed out")
        .expect("writer task");

    let sent = js.event("sent").await;
    assert_eq!(sent["bytes"], BYTES);
    assert_eq!(got.len(), BYTES);
    assert_eq!(sent["sha256"], hex::encode(Sha256::digest(&got)));
    let received = js.event("received").await;
    assert_eq!(received["bytes"], BYTES);
    assert_eq!(received["sha256"], out_hash);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_initiator_js_responder() {
    run(true, 64 * 1024).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_initiator_rust_responder() {
    run(false, 4 << 20).await;
}
