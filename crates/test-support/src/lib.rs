//! Plumbing shared by the live tests that run the JS reference from `testnet/` as an
//! oracle: locating `testnet/` (and skipping with a printed reason when `node` or the
//! needed packages are missing), spawning a Node script that speaks JSON lines on
//! stdin/stdout, and bounding every wait with a time limit.
//!
//! It holds no protocol knowledge: each test's script defines its own events.
//! [`natlab`] does the same for processes in the network-namespace NAT lab.
//!
//! ```no_run
//! # async fn demo() {
//! use plures_test_support::{JsPeer, testnet_dir};
//! let Some(dir) = testnet_dir(&["udx-native"]) else { return };
//! let mut peer = JsPeer::spawn(&dir, "interop/udx-peer.mjs", &["--id", "1"]);
//! let listening = peer.event("listening").await;
//! peer.send(&serde_json::json!({ "port": 1234 })).await;
//! # let _ = listening;
//! # }
//! ```

pub mod natlab;

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The default bound on any single wait in a live test.
pub const LIMIT: Duration = Duration::from_secs(180);

/// The repository's `testnet/` directory, if `node` runs and every module in `modules`
/// is installed under `testnet/node_modules`; otherwise prints why the test is skipped
/// and returns `None`.
pub fn testnet_dir(modules: &[&str]) -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testnet");
    for module in modules {
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

/// Awaits `f`, panicking with `what` if it takes longer than [`LIMIT`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    within_for(LIMIT, what, f).await
}

/// Awaits `f`, panicking with `what` if it takes longer than `limit`.
pub async fn within_for<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// A Node process running one of `testnet/`'s scripts: JSON commands go to its stdin,
/// JSON events (objects with an `"event"` field) come from its stdout, one per line.
/// An `{"event":"error"}` line fails the test. The process is killed when dropped.
#[derive(Debug)]
pub struct JsPeer {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
    seen: HashMap<String, Value>,
}

impl JsPeer {
    /// Starts `node <script> <args..>` in `dir` (stderr is inherited).
    pub fn spawn(dir: &Path, script: &str, args: &[&str]) -> Self {
        let mut child = Command::new("node")
            .current_dir(dir)
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn node {script}: {e}"));
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        Self {
            child,
            stdin,
            lines: BufReader::new(stdout).lines(),
            seen: HashMap::new(),
        }
    }

    /// Writes `v` as one line on the script's stdin.
    pub async fn send(&mut self, v: &Value) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        let line = format!("{v}\n");
        within("write to JS stdin", stdin.write_all(line.as_bytes()))
            .await
            .expect("write JS stdin");
        within("flush JS stdin", stdin.flush())
            .await
            .expect("flush JS stdin");
    }

    /// The next line from the script, parsed; panics on EOF, on an `error` event and
    /// after [`LIMIT`].
    pub async fn next(&mut self) -> Value {
        self.try_next().await.expect("JS peer exited early")
    }

    /// The next line from the script, parsed, or `None` once it closed its stdout; panics
    /// on an `error` event and after [`LIMIT`].
    pub async fn try_next(&mut self) -> Option<Value> {
        let v = self.next_raw().await?;
        assert_ne!(v["event"], "error", "JS peer failed: {v}");
        Some(v)
    }

    /// Like [`try_next`](Self::try_next), but an `error` event is returned like any other
    /// (for tests that expect one).
    pub async fn next_raw(&mut self) -> Option<Value> {
        let line = within("JS stdout line", self.lines.next_line())
            .await
            .expect("read JS stdout")?;
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("JS peer printed a non-JSON line ({e}): {line}"));
        Some(v)
    }

    /// Waits for the event named `name`, keeping the others read on the way (the latest
    /// of each name), so events can be awaited in any order.
    pub async fn event(&mut self, name: &str) -> Value {
        loop {
            if let Some(v) = self.seen.remove(name) {
                return v;
            }
            let v = self.next().await;
            let ev = v["event"].as_str().unwrap_or_default().to_string();
            self.seen.insert(ev, v);
        }
    }

    /// Closes the script's stdin (the scripts take that as "exit now").
    pub fn close_stdin(&mut self) {
        self.stdin = None;
    }

    /// Closes stdin and waits for the process to exit, returning whether it exited 0.
    pub async fn finish(mut self) -> bool {
        self.close_stdin();
        within("JS peer exit", self.child.wait())
            .await
            .is_ok_and(|s| s.success())
    }
}

/// `len` bytes of a fixed xorshift64 sequence: deterministic payloads, so a mismatch is
/// reproducible.
pub fn pattern(len: usize) -> Vec<u8> {
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
