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

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use plures_secret_stream::{Config, KeyPair, SecretStream};
use plures_udx::{UdxSocket, UdxStream};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(180);
const BYTES: usize = 16 << 20;
const RUST_ID: u32 = 0x5253_0001;
const JS_ID: u32 = 0x4a53_0002;

fn testnet() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testnet");
    for module in ["@hyperswarm/secret-stream", "udx-native", "sodium-native"] {
        if !dir.join("node_modules").join(module).is_dir() {
            println!(
                "skipping: {} has no node_modules/{module} (run npm install there)",
                dir.display()
            );
            return None;
        }
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        println!("skipping: `node` is not on PATH");
        return None;
    }
    Some(dir)
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    timeout(LIMIT, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

/// The JS peer process: JSON commands on stdin, JSON events on stdout.
struct Peer {
    _child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    seen: HashMap<String, Value>,
}

impl Peer {
    fn spawn(dir: &Path, role: &str, seed: [u8; 32], chunk: usize) -> Self {
        let mut child = Command::new("node")
            .current_dir(dir)
            .arg("interop/secret-stream-udx-peer.mjs")
            .args(["--role", role, "--id", &JS_ID.to_string()])
            .args(["--seed", &hex::encode(seed)])
            .args(["--bytes", &BYTES.to_string(), "--chunk", &chunk.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node");
        let stdin = child.stdin.take().expect("piped stdin");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            _child: child,
            stdin: Some(stdin),
            lines: BufReader::new(stdout).lines(),
            seen: HashMap::new(),
        }
    }

    async fn send(&mut self, v: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        let line = format!("{v}\n");
        within("write to JS stdin", stdin.write_all(line.as_bytes()))
            .await
            .expect("write JS stdin");
        within("flush JS stdin", stdin.flush())
            .await
            .expect("flush JS stdin");
    }

    /// Waits for the event named `name`, keeping the others it reads on the way.
    async fn event(&mut self, name: &str) -> Value {
        loop {
            if let Some(v) = self.seen.get(name) {
                return v.clone();
            }
            let line = within(&format!("JS event {name}"), self.lines.next_line())
                .await
                .expect("read JS stdout")
                .unwrap_or_else(|| panic!("JS peer exited before {name}"));
            let v: Value = serde_json::from_str(&line).expect("JSON line");
            let ev = v["event"].as_str().unwrap_or_default().to_string();
            assert_ne!(ev, "error", "JS peer failed: {line}");
            self.seen.insert(ev, v);
        }
    }
}

/// Deterministic filler (xorshift64), so a mismatch is reproducible.
fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

fn mib_per_s(bytes: usize, d: Duration) -> f64 {
    bytes as f64 / (1 << 20) as f64 / d.as_secs_f64()
}

async fn run(rust_initiator: bool, js_chunk: usize, spawn_writer: bool) {
    let Some(dir) = testnet() else { return };
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
    let mut js = Peer::spawn(&dir, js_role, js_seed, js_chunk);
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

    let out = data(BYTES);
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
    drop(js.stdin.take());

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
