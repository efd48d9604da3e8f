//! Smoke test of the whole-stack benchmark's Rust ends (`stack_bench serve` / `client`,
//! benches/run-stack.sh) at a tiny size, on an in-process testnet on 127.0.0.1: the server
//! announces the key of its seed, the client's connects and round trips all complete, and
//! the SHA-256 the server computed over the bulk bytes it received equals the one the
//! client computed over the bytes it sent. No timing is checked.

use std::io::{BufRead, BufReader};
use std::net::Ipv4Addr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::testnet;
use serde_json::Value;

/// Kills the child when the test ends, however it ends.
struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const LIMIT: Duration = Duration::from_secs(120);

#[tokio::test]
async fn stack_bench_ends_run_at_a_tiny_size() {
    let nodes = tokio::time::timeout(LIMIT, testnet(Ipv4Addr::LOCALHOST, 4))
        .await
        .expect("testnet in time")
        .expect("testnet");
    let boot = nodes[0].server_addr().to_string();
    let exe = env!("CARGO_BIN_EXE_stack_bench");
    let seed = [0x11u8; 32];
    let mut server = Kill(
        Command::new(exe)
            .args(["serve", "--bootstrap", &boot, "--seed", &hex::encode(seed)])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn the server"),
    );
    let stdout = server.0.stdout.take().expect("server stdout");
    // The server's lines, read on a blocking thread while the runtime drives the testnet.
    let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel::<Value>();
    tokio::task::spawn_blocking(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Ok(v) = serde_json::from_str(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let mut next = async || {
        tokio::time::timeout(LIMIT, lines.recv())
            .await
            .expect("a server line in time")
            .expect("the server is running")
    };
    let listening = next().await;
    let key = hex::encode(KeyPair::from_seed(seed).public_key());
    assert_eq!(listening["publicKey"], key.as_str());

    let boot2 = boot.clone();
    let client = tokio::task::spawn_blocking(move || {
        Command::new(exe)
            .args(["client", "--bootstrap", &boot2, "--key", &key])
            .args(["--connects", "3", "--bytes", "300000", "--pings", "20"])
            .stderr(Stdio::inherit())
            .output()
            .expect("run the client")
    });
    let out = tokio::time::timeout(LIMIT, client)
        .await
        .expect("client in time")
        .expect("client thread");
    let result: Value =
        serde_json::from_slice(&out.stdout).expect("one JSON result line from the client");
    assert!(result.get("error").is_none(), "{result}");
    assert_eq!(result["connect_ms"].as_array().map(Vec::len), Some(3));
    assert_eq!(result["ping_us"].as_array().map(Vec::len), Some(20));
    assert_eq!(result["bulk"]["bytes"], 300_000);
    assert_eq!(result["bulk"]["ok"], true, "digests differ: {result}");
    let received = next().await;
    assert_eq!(received["ev"], "bulk");
    assert_eq!(received["bytes"], 300_000);

    drop(server);
    for n in nodes {
        n.destroy().await;
    }
}
