//! Live interop with the JS reference (`@hyperswarm/secret-stream` 6.9.2 over udx-native
//! 1.21.3) on 127.0.0.1: `testnet/interop/secret-stream-udx-peer.mjs` wraps a udx-native
//! stream in `NoiseSecretStream` (its own XX handshake) as one role, this test wraps a
//! `plures_udx::UdxStream` in `SecretStream::xx_*` as the other. 16 MiB each way with
//! SHA-256 checks, both sides' view of the keys and handshake hash compared, and a clean
//! end (secret-stream end, then both UDX ENDs acknowledged) on both sides.
//!
//! UDX drops packets for a stream that is not connected yet, so both UDX streams are
//! connected before the first handshake byte: the JS peer prints its port and stream id,
//! this side connects, sends its own port and id on the peer's stdin and waits for the
//! peer's `connected` line before the handshake starts.
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.
#![cfg(feature = "tokio")]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use plures_secret_stream::{Config, KeyPair, SecretStream};
use plures_test_support::{JsPeer, pattern, testnet_dir, within};
use plures_udx::{UdxSocket, UdxStream};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYTES: usize = 16 << 20;
const RUST_ID: u32 = 0x5253_0001;
const JS_ID: u32 = 0x4a53_0002;

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

async fn run(rust_initiator: bool, js_chunk: usize, spawn_writer: bool) {
    let Some(dir) = testnet_dir(&["@hyperswarm/secret-stream", "udx-native", "sodium-native"])
    else {
        return;
    };
    let label = if rust_initiator {
        "rust initiator <-> js responder"
    } else {
        "js initiator <-> rust responder"
    };
    let (rust_seed, js_seed) = ([0x31; 32], [0x42; 32]);
    let js_role = if rust_initiator {
        "responder"
    } else {
        "initiator"
    };

    let socket = UdxSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("bind UDX");
    let raw: UdxStream = within("create stream", socket.create_stream(RUST_ID))
        .await
        .expect("create stream");

    // Exchange ports and ids, and connect both UDX streams before any byte flows.
    let args = [
        "--role".to_string(),
        js_role.into(),
        "--id".into(),
        JS_ID.to_string(),
        "--seed".into(),
        hex::encode(js_seed),
        "--bytes".into(),
        BYTES.to_string(),
        "--chunk".into(),
        js_chunk.to_string(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut js = JsPeer::spawn(&dir, "interop/secret-stream-udx-peer.mjs", &args);
    let listening = js.event("listening").await;
    let js_port = u16::try_from(listening["port"].as_u64().expect("port")).expect("port u16");
    assert_eq!(listening["id"], JS_ID);
    let js_addr = SocketAddr::from(([127, 0, 0, 1], js_port));
    within("connect", raw.connect(JS_ID, js_addr))
        .await
        .expect("connect");
    js.send(&json!({ "port": socket.local_addr().port(), "id": RUST_ID }))
        .await;
    js.event("connected").await;

    let t0 = Instant::now();
    let kp = KeyPair::from_seed(rust_seed);
    let pk = *kp.public_key();
    let stream = if rust_initiator {
        within(
            "handshake",
            SecretStream::xx_initiator(raw, kp, Config::default()),
        )
        .await
    } else {
        within(
            "handshake",
            SecretStream::xx_responder(raw, kp, Config::default()),
        )
        .await
    }
    .expect("handshake");
    let t_hs = t0.elapsed();

    let hs = js.event("handshake").await;
    let js_pk = *KeyPair::from_seed(js_seed).public_key();
    assert_eq!(stream.remote_public_key(), Some(&js_pk));
    assert_eq!(stream.public_key(), Some(&pk));
    assert_eq!(hs["remotePublicKey"], hex::encode(pk));
    assert_eq!(hs["publicKey"], hex::encode(js_pk));
    assert_eq!(hs["isInitiator"], !rust_initiator);
    assert_eq!(stream.is_initiator(), Some(rust_initiator));
    let hash = hex::encode(stream.handshake_hash().expect("handshake hash"));
    assert_eq!(hs["handshakeHash"], hash);

    let out = pattern(BYTES);
    let out_hash = hex::encode(Sha256::digest(&out));
    let t1 = Instant::now();
    let (mut rd, mut wr) = tokio::io::split(stream);
    let write = async move {
        wr.write_all(&out).await.expect("write");
        wr.shutdown().await.expect("shutdown");
        (wr, t1.elapsed())
    };
    let mut got = Vec::with_capacity(BYTES);
    let read = async {
        rd.read_to_end(&mut got).await.expect("read");
        t1.elapsed()
    };
    let (t_read, (wr, t_write)) = if spawn_writer {
        // The halves polled from two tasks (the usual way to use a split stream).
        let writer = tokio::spawn(write);
        let t_read = within("read to end", read).await;
        (t_read, within("writer", writer).await.expect("writer task"))
    } else {
        // Both halves polled from this task: any wake-up reaches both.
        within("read and write", async { tokio::join!(read, write) }).await
    };

    let sent = js.event("sent").await;
    assert_eq!(sent["bytes"], BYTES);
    assert_eq!(got.len(), BYTES);
    assert_eq!(sent["sha256"], hex::encode(Sha256::digest(&got)));
    let received = js.event("received").await;
    assert_eq!(received["bytes"], BYTES);
    assert_eq!(received["sha256"], out_hash);

    // Clean end: the UDX stream under the secret stream closes gracefully here (both ENDs
    // acknowledged, no DESTROY), and the JS secret stream and UDX stream both close.
    let stream = rd.unsplit(wr);
    within("UDX close", stream.get_ref().closed())
        .await
        .expect("UDX stream closed gracefully");
    let t_close = t1.elapsed();
    js.event("close").await;
    js.event("raw-close").await;
    js.close_stdin();

    println!(
        "{label}: handshake {t_hs:?}; {BYTES} B each way: rust wrote+ended in {t_write:?}, \
         read {BYTES} B in {t_read:?} ({:.1} MiB/s), JS sent in {} ms, UDX closed after \
         {t_close:?}; handshake hash {}..",
        mib_per_s(BYTES, t_read),
        sent["ms"],
        &hash[..16],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_initiator_js_responder() {
    run(true, 64 * 1024, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_initiator_rust_responder() {
    run(false, 1 << 20, false).await;
}

// The same with the writer half in its own task. This once hung about half the time:
// when the read half saw the raw EOF, its poll had just registered the reader's waker on
// the inner `UdxStream`'s pending write (replacing the writer's) without marking progress,
// so the writer was never woken. The driver now counts EOF as progress.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_tasks_rust_initiator_js_responder() {
    run(true, 64 * 1024, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_tasks_js_initiator_rust_responder() {
    run(false, 1 << 20, true).await;
}
