//! Live interop with udx-native 1.21.3 (`testnet/interop/udx-peer.mjs`) over loopback.
//!
//! Skipped, with the reason printed, when `node` or `testnet/node_modules` is missing.
//! The bulk size is `UDX_INTEROP_BYTES` (default 16 MiB).
#![cfg(feature = "tokio")]

mod js_peer;

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use js_peer::{Peer, within};
use plures_udx::{UdxSocket, UdxStream};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const JS_ID: u32 = 0x0102_0304;
const RUST_ID: u32 = 0x0a0b_0c0d;

fn bulk_bytes() -> usize {
    std::env::var("UDX_INTEROP_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16 << 20)
}

/// Byte `i` is `i % 251`, as in the JS peer.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

/// A Rust socket and stream connected to a fresh JS peer whose stream is connected back.
async fn connected(mode: &str) -> Option<(UdxSocket, UdxStream, Peer)> {
    let mut peer = Peer::spawn("js").await?;
    let socket = UdxSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let stream = within("create", socket.create_stream(RUST_ID))
        .await
        .expect("create");
    within("connect", stream.connect(JS_ID, peer.addr()))
        .await
        .expect("connect");
    peer.command(json!({
        "cmd": "connect", "id": JS_ID, "remoteId": RUST_ID,
        "port": socket.local_addr().port(), "mode": mode,
    }))
    .await;
    peer.expect("connected").await;
    Some((socket, stream, peer))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn rust_to_js_bulk_with_end() {
    let Some((_socket, mut stream, mut peer)) = connected("sink").await else {
        return;
    };
    let len = bulk_bytes();
    let data = pattern(len);
    let want = hex(&Sha256::digest(&data));
    let started = Instant::now();
    within("write", stream.write_all(&data))
        .await
        .expect("write");
    within("shutdown", stream.shutdown())
        .await
        .expect("shutdown");
    let end = peer.expect("end").await;
    let elapsed = started.elapsed();
    assert_eq!(end["bytes"].as_u64(), Some(len as u64));
    assert_eq!(end["sha256"], want);
    // The JS side ends in turn: EOF here, then both close.
    let mut rest = Vec::new();
    within("read to end", stream.read_to_end(&mut rest))
        .await
        .expect("read");
    assert!(rest.is_empty());
    within("closed", stream.closed()).await.expect("closed");
    peer.expect("close").await;
    eprintln!(
        "Rust -> JS: {len} bytes in {elapsed:?} ({:.1} MiB/s)",
        len as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test]
async fn js_to_rust_bulk_with_end() {
    let Some((_socket, mut stream, mut peer)) = connected("sink").await else {
        return;
    };
    let len = bulk_bytes();
    let started = Instant::now();
    peer.command(json!({ "cmd": "send", "bytes": len })).await;
    let mut got = Vec::with_capacity(len);
    within("read to end", stream.read_to_end(&mut got))
        .await
        .expect("read");
    let elapsed = started.elapsed();
    let sent = peer.expect("sent").await;
    assert_eq!(got.len(), len);
    let digest = hex(&Sha256::digest(&got));
    assert_eq!(sent["sha256"], digest);
    assert_eq!(digest, hex(&Sha256::digest(pattern(len))));
    within("shutdown", stream.shutdown())
        .await
        .expect("shutdown");
    let end = peer.expect("end").await;
    assert_eq!(end["bytes"].as_u64(), Some(0));
    within("closed", stream.closed()).await.expect("closed");
    peer.expect("close").await;
    eprintln!(
        "JS -> Rust: {len} bytes in {elapsed:?} ({:.1} MiB/s)",
        len as f64 / (1 << 20) as f64 / elapsed.as_secs_f64()
    );
}

#[tokio::test]
async fn echo_through_js() {
    let Some((_socket, stream, mut peer)) = connected("echo").await else {
        return;
    };
    let len = 1 << 20;
    let (mut r, mut w) = tokio::io::split(stream);
    let send = async {
        w.write_all(&pattern(len)).await.expect("write");
        w.shutdown().await.expect("shutdown");
    };
    let recv = async {
        let mut got = Vec::new();
        r.read_to_end(&mut got).await.expect("read");
        got
    };
    let ((), got) = within("echo", async { tokio::join!(send, recv) }).await;
    assert_eq!(Sha256::digest(&got), Sha256::digest(pattern(len)));
    peer.expect("close").await;
}

#[tokio::test]
async fn messages_both_ways() {
    let Some((_socket, stream, mut peer)) = connected("sink").await else {
        return;
    };
    for msg in [&b"hello from rust"[..], b"", &[0xab; 1152]] {
        within("send", stream.send_message(msg))
            .await
            .expect("send");
        let got = peer.expect("message").await;
        assert_eq!(got["hex"], hex(msg));
    }
    for msg in [&b"hello from js"[..], b"", &[0xcd; 1000]] {
        peer.command(json!({ "cmd": "message", "hex": hex(msg) }))
            .await;
        let got = within("recv", stream.recv_message()).await.expect("recv");
        assert_eq!(got, msg);
    }
}

#[tokio::test]
async fn js_destroy_resets_rust() {
    let Some((_socket, mut stream, mut peer)) = connected("sink").await else {
        return;
    };
    peer.command(json!({ "cmd": "destroy" })).await;
    peer.expect("close").await;
    let mut buf = [0; 16];
    let err = within("read", stream.read(&mut buf))
        .await
        .expect_err("reset");
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
    let err = within("write", async {
        loop {
            if let Err(e) = stream.write_all(b"x").await {
                return e;
            }
        }
    })
    .await;
    assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
}

#[tokio::test]
async fn rust_destroy_resets_js() {
    let Some((_socket, stream, mut peer)) = connected("sink").await else {
        return;
    };
    // Some data first, so that the destroy follows a used stream.
    within("send", stream.send_message(b"before"))
        .await
        .expect("send");
    peer.expect("message").await;
    stream.destroy();
    let err = peer.expect("error").await;
    assert_eq!(err["code"], "ECONNRESET");
    peer.expect("close").await;
    within("closed", stream.closed()).await.expect("closed");
}
