//! The udx-native peer process of the live tests (`testnet/interop/udx-peer.mjs`), on the
//! shared JS-harness plumbing of `plures-test-support`.
#![allow(dead_code)]

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use plures_test_support::{JsPeer, testnet_dir, within_for};
use serde_json::Value;

/// The bound on every wait of these tests.
pub(crate) const LIMIT: Duration = Duration::from_secs(120);

pub(crate) async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    within_for(LIMIT, what, f).await
}

/// `testnet/` if `node` and udx-native are there (else the reason is printed).
pub(crate) fn testnet() -> Option<PathBuf> {
    testnet_dir(&["udx-native"])
}

/// One udx-native peer: a socket on 127.0.0.1 with commands on stdin, events on stdout.
pub(crate) struct Peer {
    name: &'static str,
    js: JsPeer,
    port: u16,
}

impl Peer {
    /// Starts the peer and waits for its `listening` event.
    pub(crate) async fn spawn(name: &'static str) -> Option<Self> {
        let dir = testnet()?;
        let mut peer = Self {
            name,
            js: JsPeer::spawn(&dir, "interop/udx-peer.mjs", &[]),
            port: 0,
        };
        let listening = peer.expect("listening").await;
        peer.port = u16::try_from(listening["port"].as_u64().expect("port")).expect("port");
        Some(peer)
    }

    pub(crate) fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub(crate) async fn command(&mut self, cmd: Value) {
        within("write to node", self.js.send(&cmd)).await;
    }

    /// The next event, whatever it is; an `error` event fails the test.
    pub(crate) async fn next(&mut self) -> Value {
        let name = self.name;
        within(&format!("{name}: next event"), self.js.next()).await
    }

    /// Reads events until one named `event`, dropping the others; an unexpected `error`
    /// event fails the test.
    pub(crate) async fn expect(&mut self, event: &str) -> Value {
        let name = self.name;
        loop {
            let v = within(&format!("{name}: event {event}"), self.js.next_raw())
                .await
                .unwrap_or_else(|| panic!("{name}: node exited before {event}"));
            if v["event"] == event {
                return v;
            }
            assert_ne!(
                v["event"], "error",
                "{name}: node reported {v} while waiting for {event}"
            );
        }
    }
}
