//! Shared harness of the live JS interop tests: spawning the JS scripts of
//! `testnet/interop/` and talking JSON lines with them.
//!
//! Every JS child is `kill_on_drop`; every await has a timeout.

#![allow(dead_code)]

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::time::Duration;

use plures_dht_rpc::NodeId;
use plures_test_support::{JsPeer, testnet_dir, within_for};
use serde_json::{Value, json};

pub(crate) const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;
pub(crate) const LIMIT: Duration = Duration::from_secs(30);

pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    within_for(LIMIT, what, f).await
}

/// The `testnet/` directory if Node and the JS packages are there.
pub(crate) fn testnet() -> Option<PathBuf> {
    testnet_dir(&["dht-rpc", "hyperdht"])
}

/// A JS child speaking JSON lines: ops answered by a line with the op's `"id"`, events
/// (`{"event": ...}`) collected on the way.
pub(crate) struct Js {
    peer: JsPeer,
    next_id: u64,
    /// `{"event": ...}` lines seen while waiting for answers.
    pub(crate) events: Vec<Value>,
}

impl Js {
    pub(crate) fn spawn(dir: &Path, script: &str, args: &[String]) -> Self {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Self {
            peer: JsPeer::spawn(dir, script, &args),
            next_id: 0,
            events: Vec::new(),
        }
    }

    pub(crate) async fn line(&mut self) -> Value {
        within("a line from node", self.peer.next()).await
    }

    pub(crate) async fn op(&mut self, mut op: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        op["id"] = json!(id);
        self.send(&op).await;
        loop {
            let v = self.line().await;
            if v.get("event").is_some() {
                self.events.push(v);
            } else if v["id"] == json!(id) {
                assert!(v.get("fatal").is_none(), "{v}");
                return v;
            }
        }
    }

    /// Writes one JSON line without waiting for an answer (for scripts that answer with
    /// events).
    pub(crate) async fn send(&mut self, v: &Value) {
        within("write", self.peer.send(v)).await;
    }

    /// Closes stdin and reads the rest (events) until the child exits.
    pub(crate) async fn close(mut self) -> Vec<Value> {
        self.peer.close_stdin();
        while let Some(v) = within("drain", self.peer.try_next()).await {
            if v.get("event").is_some() {
                self.events.push(v);
            }
        }
        self.events
    }
}

pub(crate) fn addr_of(v: &Value) -> SocketAddrV4 {
    let host: Ipv4Addr = v["host"].as_str().expect("host").parse().expect("ip");
    SocketAddrV4::new(host, v["port"].as_u64().expect("port") as u16)
}

pub(crate) fn hex_id(id: &NodeId) -> String {
    hex::encode(id.as_bytes())
}
