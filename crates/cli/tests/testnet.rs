//! `plures-sync testnet` against a JS dht-rpc client (skipped without Node or
//! `testnet/node_modules`).

#![allow(missing_docs)]

use std::process::Stdio;
use std::time::Duration;

use plures_test_support::testnet_dir;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn js_client_bootstraps_from_the_rust_testnet() {
    let Some(dir) = testnet_dir(&["dht-rpc"]) else {
        return;
    };
    let mut net = Command::new(env!("CARGO_BIN_EXE_plures-sync"))
        .args(["testnet", "--nodes", "5", "--port", "0", "--seconds", "60"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn plures-sync");
    let stdin = net.stdin.take().expect("stdin");
    let mut lines = BufReader::new(net.stdout.take().expect("stdout")).lines();
    let line = timeout(LIMIT, lines.next_line())
        .await
        .expect("JSON line in time")
        .expect("read")
        .expect("a line");
    let v: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["nodes"], 5);
    let host = v["bootstrap"][0]["host"].as_str().expect("host");
    let port = v["bootstrap"][0]["port"].as_u64().expect("port");
    assert_eq!(host, "127.0.0.1");
    assert_ne!(port, 0);
    let boot = format!("{host}:{port}");

    // A JS client bootstraps from it and runs findNode for the bootstrapper's id.
    let probe = Command::new("node")
        .arg(dir.join("interop/dht-probe.mjs"))
        .args(["--bootstrap", &boot, "--node", &boot])
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output();
    let probe = timeout(LIMIT, probe)
        .await
        .expect("probe in time")
        .expect("probe");
    assert!(probe.status.success(), "{probe:?}");
    let found: Value = serde_json::from_slice(&probe.stdout).expect("probe JSON");
    assert!(found["replies"].as_u64().expect("replies") >= 5, "{found}");
    assert_eq!(found["replied"], true, "{found}");
    assert_eq!(
        found["closest"].as_array().expect("closest").len(),
        5,
        "{found}"
    );

    drop(stdin);
    let status = timeout(LIMIT, net.wait())
        .await
        .expect("exit in time")
        .expect("wait");
    assert!(status.success(), "{status}");
}
