//! Live interop with the JS reference (`@hyperswarm/secret-stream` 6.9.2) over TCP on
//! 127.0.0.1: `testnet/interop/secret-stream-peer.mjs` runs standalone XX as one role,
//! this test as the other; 16 MiB each way with SHA-256 checks, and both sides' view of
//! the keys and handshake hash compared.
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.
#![cfg(feature = "tokio")]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use plures_secret_stream::{Config, KeyPair, SecretStream};
use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpListener;
use tokio::process::{Child, ChildStdout, Command};
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(180);
const BYTES: usize = 16 << 20;

fn testnet() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testnet");
    if !dir.join("node_modules/@hyperswarm/secret-stream").is_dir() {
        println!(
            "skipping: {} has no node_modules (run npm install there)",
            dir.display()
        );
        return None;
    }
    let node = std::process::Command::new("node").arg("--version").output();
    if !node.is_ok_and(|o| o.status.success()) {
        println!("skipping: `node` is not on PATH");
        return None;
    }
    Some(dir)
}

struct Peer {
    _child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: HashMap<String, Value>,
}

impl Peer {
    fn spawn(dir: &PathBuf, port: u16, role: &str, seed: [u8; 32], chunk: usize) -> Self {
        let mut child = Command::new("node")
            .current_dir(dir)
            .arg("interop/secret-stream-peer.mjs")
            .args(["--port", &port.to_string(), "--role", role])
            .args(["--seed", &hex::encode(seed)])
            .args(["--bytes", &BYTES.to_string(), "--chunk", &chunk.to_string()])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn node");
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            _child: child,
            lines: BufReader::new(stdout).lines(),
            seen: HashMap::new(),
        }
    }

    /// Waits for the event named `name` (reading and keeping the others).
    async fn event(&mut self, name: &str) -> Value {
        loop {
            if let Some(v) = self.seen.get(name) {
                return v.clone();
            }
            let line = timeout(LIMIT, self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for JS event {name}"))
                .expect("read JS stdout")
                .unwrap_or_else(|| panic!("JS peer exited before {name}"));
            let v: Value = serde_json::from_str(&line).expect("JSON line");
            let ev = v["event"].as_str().unwrap_or_default().to_string();
            assert_ne!(ev, "error", "JS peer failed: {line}");
            self.seen.insert(ev, v);
        }
    }
}

fn data(len: usize) -> Vec<u8> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

async fn run(rust_initiator: bool, js_chunk: usize) {
    let Some(dir) = testnet() else { return };
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (rust_seed, js_seed) = ([0x11; 32], [0x22; 32]);
    let js_role = if rust_initiator {
        "responder"
    } else {
        "initiator"
    };
    let mut js = Peer::spawn(&dir, port, js_role, js_seed, js_chunk);
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

    let out = data(BYTES);
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
