//! A stream relayed by the Rust driver between two udx-native 1.21.3 endpoints
//! (`testnet/interop/udx-peer.mjs`), over loopback.
//!
//! The Rust socket holds two streams, one connected to each JS peer, and relays each to
//! the other (`relay_to` both ways, as blind-relay does). The JS peers then talk to each
//! other through it without knowing about the relay.
//!
//! Skipped, with the reason printed, when `node` or `testnet/node_modules` is missing.
//! The bulk size is `UDX_RELAY_BYTES` (default 16 MiB each way).
#![cfg(feature = "tokio")]

mod js_peer;

use std::net::SocketAddr;
use std::time::Instant;

use js_peer::{Peer, within};
use plures_udx::{UdxSocket, UdxStream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Stream ids: the JS endpoints and the two relay-side streams on the Rust socket.
const JS_A: u32 = 0x0a00_0001;
const JS_B: u32 = 0x0b00_0002;
const RELAY_A: u32 = 0x00ff_0001;
const RELAY_B: u32 = 0x00ff_0002;

fn bulk_bytes() -> usize {
    std::env::var("UDX_RELAY_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(16 << 20)
}

/// Two JS peers whose streams are connected to each other through a Rust relay.
struct Relayed {
    a: Peer,
    b: Peer,
    /// The relay: dropping the socket or a stream would end it, so the tests keep these.
    socket: UdxSocket,
    relay: (UdxStream, UdxStream),
}

async fn relayed(auto_end: bool) -> Option<Relayed> {
    let (a, b) = tokio::join!(Peer::spawn("js-a"), Peer::spawn("js-b"));
    let (mut a, mut b) = (a?, b?);
    let socket = UdxSocket::bind(SocketAddr::from(([127, 0, 0, 1], 0))).expect("bind");
    let to_a = within("create", socket.create_stream(RELAY_A))
        .await
        .expect("create");
    let to_b = within("create", socket.create_stream(RELAY_B))
        .await
        .expect("create");
    within("connect", to_a.connect(JS_A, a.addr()))
        .await
        .expect("connect");
    within("connect", to_b.connect(JS_B, b.addr()))
        .await
        .expect("connect");
    within("relay", to_a.relay_to(&to_b)).await.expect("relay");
    within("relay", to_b.relay_to(&to_a)).await.expect("relay");
    let port = socket.local_addr().port();
    a.command(json!({
        "cmd": "connect", "id": JS_A, "remoteId": RELAY_A, "port": port, "autoEnd": auto_end,
    }))
    .await;
    b.command(json!({
        "cmd": "connect", "id": JS_B, "remoteId": RELAY_B, "port": port, "autoEnd": auto_end,
    }))
    .await;
    a.expect("connected").await;
    b.expect("connected").await;
    Some(Relayed {
        a,
        b,
        socket,
        relay: (to_a, to_b),
    })
}

/// Waits for a peer's `sent` and `end` (in either order), then its `close`.
async fn sent_end_close(p: &mut Peer) -> (Value, Value, Value) {
    let (mut sent, mut end) = (None, None);
    while sent.is_none() || end.is_none() {
        let v = p.next().await;
        match v["event"].as_str() {
            Some("sent") => sent = Some(v),
            Some("end") => end = Some(v),
            _ => {}
        }
    }
    let close = p.expect("close").await;
    (sent.expect("sent"), end.expect("end"), close)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Byte `i` is `i % 251`, as in the JS peer.
fn pattern_sha256(len: usize) -> String {
    let mut h = Sha256::new();
    let period: Vec<u8> = (0..251u8).collect();
    let mut left = len;
    while left > 0 {
        let n = left.min(period.len());
        h.update(&period[..n]);
        left -= n;
    }
    hex(&h.finalize())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_to_js_bulk_both_ways_through_rust_relay() {
    let Some(Relayed {
        mut a,
        mut b,
        socket: _socket,
        relay: _relay,
    }) = relayed(false).await
    else {
        return;
    };
    let len = bulk_bytes();
    let want = pattern_sha256(len);
    let started = Instant::now();
    // Both send at once; each ends its side after its last byte (autoEnd is off, so the
    // peer's END does not cut a send short).
    a.command(json!({ "cmd": "send", "bytes": len })).await;
    b.command(json!({ "cmd": "send", "bytes": len })).await;
    let check = |p: &'static str, sent: &Value, end: &Value| {
        assert_eq!(sent["bytes"].as_u64(), Some(len as u64), "{p} sent");
        assert_eq!(sent["sha256"], want, "{p} sent hash");
        assert_eq!(end["bytes"].as_u64(), Some(len as u64), "{p} received");
        assert_eq!(end["sha256"], want, "{p} received hash");
    };
    let ((sent_a, end_a, close_a), (sent_b, end_b, close_b)) = within("bulk both ways", async {
        tokio::join!(sent_end_close(&mut a), sent_end_close(&mut b))
    })
    .await;
    let elapsed = started.elapsed();
    check("js-a", &sent_a, &end_a);
    check("js-b", &sent_b, &end_b);
    eprintln!(
        "JS <-> Rust relay <-> JS: {len} bytes each way in {elapsed:?} ({:.1} MiB/s each way); \
         retransmits a={} b={}",
        len as f64 / (1 << 20) as f64 / elapsed.as_secs_f64(),
        close_a["stats"]["retransmits"],
        close_b["stats"]["retransmits"],
    );
}

#[tokio::test]
async fn messages_through_rust_relay() {
    let Some(Relayed {
        mut a,
        mut b,
        socket: _socket,
        relay: _relay,
    }) = relayed(true).await
    else {
        return;
    };
    for msg in [&b"from a"[..], b"", &[0xab; 1152]] {
        a.command(json!({ "cmd": "message", "hex": hex(msg) }))
            .await;
        let got = b.expect("message").await;
        assert_eq!(got["hex"], hex(msg));
    }
    for msg in [&b"from b"[..], &[0xcd; 1000][..]] {
        b.command(json!({ "cmd": "message", "hex": hex(msg) }))
            .await;
        let got = a.expect("message").await;
        assert_eq!(got["hex"], hex(msg));
    }
}

#[tokio::test]
async fn js_destroy_through_rust_relay_resets_other_js() {
    let Some(Relayed {
        mut a,
        mut b,
        socket: _socket,
        relay: _relay,
    }) = relayed(false).await
    else {
        return;
    };
    // Reliable data a → b first (a ends after it; b stays open), so that the DESTROY
    // follows a used stream and a is still waiting for b's END.
    a.command(json!({ "cmd": "send", "bytes": 100_000 })).await;
    a.expect("sent").await;
    let end = b.expect("end").await;
    assert_eq!(end["bytes"].as_u64(), Some(100_000));
    assert_eq!(end["sha256"], pattern_sha256(100_000));
    b.command(json!({ "cmd": "destroy" })).await;
    b.expect("close").await;
    let err = a.expect("error").await;
    assert_eq!(err["code"], "ECONNRESET");
    a.expect("close").await;
}
