//! `plures-sync demo` end to end: the binary starts a local hyperdht testnet and three
//! replicas that must find each other through the DHT, connect and replicate; it exits 0
//! only when every replica holds every record with the contents its writer gave it, and
//! prints a JSON summary saying so.

#![allow(missing_docs)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use tokio::time::timeout;

#[tokio::test]
async fn three_replicas_converge_through_the_local_dht() {
    let run = Command::new(env!("CARGO_BIN_EXE_plures-sync"))
        .args(["demo", "--replicas", "3", "--nodes", "6", "--records", "40"])
        .args(["--seconds", "90"])
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let out = timeout(Duration::from_secs(120), run)
        .await
        .expect("demo finishes")
        .expect("run demo");
    assert!(out.status.success(), "demo failed: {out:?}");
    let line = String::from_utf8(out.stdout).expect("utf-8");
    let v: Value = serde_json::from_str(line.trim()).expect("one JSON line");
    assert_eq!(v["converged"], true);
    assert_eq!(v["replicas"], 3);
    assert_eq!(v["records"], 120);
}
