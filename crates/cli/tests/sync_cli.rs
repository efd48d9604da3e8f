//! `plures-sync sync` end to end on 127.0.0.1: a `plures-sync testnet` process (hyperdht
//! nodes) and replica processes with stores in a temporary directory, driven through
//! their JSON-lines protocol. The truth is a model of what was written: every replica
//! must end up holding exactly the model's live records (the record written concurrently
//! on both sides: one of the two values, the same everywhere), must keep its data and
//! replica id across a restart from its redb file, and a process with another key must
//! never see the group's records nor give it its own. Waits are on JSON events (the
//! `wait` command resolves on the engine's change notifications), never sleeps.

#![allow(missing_docs)]

use std::collections::VecDeque;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::timeout;

const LIMIT: Duration = Duration::from_secs(60);
const BIN: &str = env!("CARGO_BIN_EXE_plures-sync");

/// A child process speaking JSON lines.
struct Proc {
    name: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<Value>,
    /// Lines read while looking for something else, oldest first.
    backlog: VecDeque<Value>,
}

impl Proc {
    fn spawn(name: &str, args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn plures-sync");
        let stdin = child.stdin.take();
        let mut out = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let (tx, lines) = mpsc::unbounded_channel();
        let tag = name.to_string();
        tokio::spawn(async move {
            while let Ok(Some(line)) = out.next_line().await {
                eprintln!("[{tag} out] {line}");
                let v: Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("{tag}: stdout line is not JSON ({e}): {line}"));
                if tx.send(v).is_err() {
                    break;
                }
            }
        });
        Self {
            name: name.to_string(),
            child,
            stdin,
            lines,
            backlog: VecDeque::new(),
        }
    }

    /// The first line, kept or new, for which `pred` holds; the others stay kept.
    async fn next_matching(&mut self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(i) = self.backlog.iter().position(&pred) {
            return self.backlog.remove(i).expect("index in range");
        }
        let name = self.name.clone();
        timeout(LIMIT, async {
            loop {
                let v = self
                    .lines
                    .recv()
                    .await
                    .unwrap_or_else(|| panic!("{name}: exited while waiting for {what}"));
                if pred(&v) {
                    return v;
                }
                self.backlog.push_back(v);
            }
        })
        .await
        .unwrap_or_else(|_| panic!("{name}: no {what} within {LIMIT:?}"))
    }

    async fn send(&mut self, cmd: Value) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        stdin
            .write_all(format!("{cmd}\n").as_bytes())
            .await
            .expect("write a command");
    }

    /// The next event `ev` for which `pred` holds.
    async fn wait(&mut self, ev: &str, pred: impl Fn(&Value) -> bool) -> Value {
        self.next_matching(&format!("{ev:?}"), |v| v["ev"] == ev && pred(v))
            .await
    }

    async fn ev(&mut self, ev: &str) -> Value {
        self.wait(ev, |_| true).await
    }

    /// Sends a command tagged with `req` and returns its reply.
    async fn call(&mut self, mut cmd: Value, req: &str) -> Value {
        cmd["req"] = json!(req);
        self.send(cmd).await;
        let v = self
            .next_matching(&format!("the reply to {req}"), |v| v["req"] == req)
            .await;
        assert_ne!(v["ev"], "error", "{}: {v}", self.name);
        v
    }

    async fn put(&mut self, id: &str, data: Value) {
        let v = self
            .call(
                json!({"op":"put","collection":"notes","id":id,"data":data}),
                id,
            )
            .await;
        assert_eq!(v["ev"], "put");
    }

    async fn delete(&mut self, id: &str) {
        let v = self
            .call(json!({"op":"delete","collection":"notes","id":id}), id)
            .await;
        assert_eq!(v["ev"], "deleted");
    }

    /// Waits until record `id` holds `data` (null: absent or deleted).
    async fn wait_record(&mut self, id: &str, data: Value) {
        let v = self
            .call(
                json!({"op":"wait","collection":"notes","id":id,"data":data,"timeout_ms":50_000}),
                &format!("wait-{id}"),
            )
            .await;
        if v["ok"] != true {
            // Say whether the connections still moved bytes (transport or session stall).
            let status = self.call(json!({"op":"status"}), "status").await;
            panic!("{}: {id} never became {data}: {v}; {status}", self.name);
        }
    }

    async fn dump(&mut self) -> Value {
        let v = self.call(json!({"op":"dump"}), "dump").await;
        v["records"].clone()
    }

    /// Closes stdin and waits for `stopped` and the clean exit.
    async fn stop(mut self) {
        drop(self.stdin.take());
        self.ev("stopped").await;
        self.exit().await;
    }

    /// Closes stdin and waits for a clean exit.
    async fn exit(mut self) {
        drop(self.stdin.take());
        let status = timeout(LIMIT, self.child.wait())
            .await
            .expect("exit in time")
            .expect("wait");
        assert!(status.success(), "{}: {status}", self.name);
    }
}

/// A `plures-sync testnet` of 4 nodes; returns it and its bootstrap address.
async fn testnet() -> (Proc, String) {
    let mut net = Proc::spawn("net", &["testnet", "--nodes", "4", "--seconds", "300"]);
    let v = net
        .next_matching("the bootstrap line", |v| v["bootstrap"].is_array())
        .await;
    let host = v["bootstrap"][0]["host"].as_str().expect("host");
    let port = v["bootstrap"][0]["port"].as_u64().expect("port");
    (net, format!("{host}:{port}"))
}

fn keygen() -> String {
    let out = std::process::Command::new(BIN)
        .arg("keygen")
        .output()
        .expect("run keygen");
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string();
    assert_eq!(key.len(), 64, "{key}");
    assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
    key
}

fn replica(name: &str, key: Option<&str>, store: &Path, boot: &str, extra: &[&str]) -> Proc {
    let store = store.display().to_string();
    let mut args = vec!["sync", "--store", &store, "--bootstrap", boot];
    if !extra.contains(&"--seconds") {
        args.extend(["--seconds", "240"]);
    }
    if let Some(k) = key {
        args.extend(["--key", k]);
    }
    args.extend(extra);
    Proc::spawn(name, &args)
}

/// The model's live records as a dump (`{"notes": {id: data}}`).
fn model_dump(model: &Map<String, Value>) -> Value {
    json!({ "notes": model })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_converge_and_one_resumes_from_its_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (net, boot) = testnet().await;
    let key = keygen();
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, format!("{key}\n")).expect("write key file");
    let key_arg = format!("@{}", key_file.display());
    let (a_store, b_store) = (dir.path().join("a.redb"), dir.path().join("b.redb"));

    let mut a = replica("a", Some(&key), &a_store, &boot, &[]);
    let a_ready = a.ev("ready").await;
    assert_eq!(a_ready["records"], 0);
    // A has announced itself before B looks the topic up.
    a.ev("announced").await;
    let mut b = replica("b", Some(&key_arg), &b_store, &boot, &[]);
    let b_ready = b.ev("ready").await;
    assert_eq!(b_ready["topic"], a_ready["topic"], "same key, same topic");
    let b_replica = b_ready["replica"].clone();
    a.wait("peer_connected", |v| v["peer"] == b_replica).await;
    b.wait("peer_connected", |v| v["peer"] == a_ready["replica"])
        .await;

    // Writes on both sides, and one record written on both at once.
    let mut model = Map::new();
    for (p, who) in [(&mut a, "a"), (&mut b, "b")] {
        for n in 1..=3 {
            let id = format!("{who}{n}");
            let data = json!({ "by": who, "n": n });
            p.put(&id, data.clone()).await;
            model.insert(id, data);
        }
        p.put("both", json!({ "by": who })).await;
    }
    // A put replaces the whole record: the field `n` goes.
    a.put("a3", json!({ "by": "a", "edited": true })).await;
    model.insert("a3".into(), json!({ "by": "a", "edited": true }));
    // Deletes on both sides, of the other side's records.
    a.delete("b1").await;
    b.delete("a1").await;
    model.remove("b1");
    model.remove("a1");

    for p in [&mut a, &mut b] {
        for (id, data) in &model {
            p.wait_record(id, data.clone()).await;
        }
        p.wait_record("a1", Value::Null).await;
        p.wait_record("b1", Value::Null).await;
    }
    // The concurrent record converged to one of the two writes, the same on both.
    let (da, db) = (a.dump().await, b.dump().await);
    assert_eq!(da, db, "replicas differ");
    let both = da["notes"]["both"].clone();
    assert!(
        both == json!({"by": "a"}) || both == json!({"by": "b"}),
        "{both}"
    );
    model.insert("both".into(), both);
    assert_eq!(da, model_dump(&model));
    // One verified peer each, over one open connection that carried bytes both ways.
    for p in [&mut a, &mut b] {
        let st = p.call(json!({"op":"status"}), "status").await;
        assert_eq!(st["peers"], 1, "{st}");
        let open: Vec<&Value> = st["connections"]
            .as_array()
            .expect("connections")
            .iter()
            .filter(|c| c["open"] == true)
            .collect();
        assert_eq!(open.len(), 1, "{st}");
        assert!(open[0]["read"].as_u64() > Some(0) && open[0]["written"].as_u64() > Some(0));
    }

    // B stops; A writes while it is away; B comes back from its file with the key read
    // from the store (no --key).
    b.stop().await;
    a.wait("peer_disconnected", |v| v["peer"] == b_replica)
        .await;
    a.put("while-away", json!({ "by": "a" })).await;
    model.insert("while-away".into(), json!({ "by": "a" }));
    let mut b = replica("b2", None, &b_store, &boot, &[]);
    let again = b.ev("ready").await;
    assert_eq!(again["replica"], b_replica, "same replica after a restart");
    assert_eq!(again["records"], model.len() - 1, "B's records survived");
    b.wait_record("while-away", json!({ "by": "a" })).await;
    b.put("after-restart", json!({ "by": "b" })).await;
    model.insert("after-restart".into(), json!({ "by": "b" }));
    a.wait_record("after-restart", json!({ "by": "b" })).await;
    let (da, db) = (a.dump().await, b.dump().await);
    assert_eq!(da, model_dump(&model));
    assert_eq!(db, model_dump(&model));

    a.stop().await;
    b.stop().await;
    net.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_with_another_key_gets_no_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (net, boot) = testnet().await;
    let (key, wrong) = (keygen(), keygen());
    assert_ne!(key, wrong);

    let mut a = replica("a", Some(&key), &dir.path().join("a.redb"), &boot, &[]);
    let a_ready = a.ev("ready").await;
    a.put("secret", json!({ "text": "for the group only" }))
        .await;
    a.ev("announced").await;
    // C has another key (so another topic) and dials A's swarm key directly: the
    // connection opens, but neither side's capability proof verifies.
    let a_key = a_ready["public_key"].as_str().expect("public key");
    let mut c = replica(
        "c",
        Some(&wrong),
        &dir.path().join("c.redb"),
        &boot,
        &["--peer", a_key],
    );
    let c_ready = c.ev("ready").await;
    assert_ne!(c_ready["topic"], a_ready["topic"]);
    c.put("intruder", json!({ "text": "from c" })).await;
    c.wait("connection", |v| v["remote_public_key"] == a_key)
        .await;
    c.wait("peer_rejected", |v| v["reason"] == "Capability")
        .await;
    a.wait("peer_rejected", |v| v["reason"] == "Capability")
        .await;

    // Meanwhile a replica with the right key does get A's record, so A was serving.
    let mut b = replica("b", Some(&key), &dir.path().join("b.redb"), &boot, &[]);
    b.ev("ready").await;
    b.wait_record("secret", json!({ "text": "for the group only" }))
        .await;

    assert_eq!(
        c.dump().await,
        json!({ "notes": { "intruder": { "text": "from c" } } })
    );
    assert_eq!(
        a.dump().await,
        json!({ "notes": { "secret": { "text": "for the group only" } } })
    );
    assert_eq!(
        b.dump().await,
        json!({ "notes": { "secret": { "text": "for the group only" } } })
    );
    c.stop().await;
    b.stop().await;
    a.stop().await;
    net.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_and_the_deadline_stop_a_replica_with_its_writes_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (net, boot) = testnet().await;
    let key = keygen();
    let store = dir.path().join("a.redb");

    let mut a = replica("a", Some(&key), &store, &boot, &[]);
    a.ev("ready").await;
    a.put("kept", json!({ "n": 1 })).await;
    let pid = a.child.id().expect("pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill");
    assert!(kill.success());
    assert_eq!(a.ev("stopped").await["reason"], "interrupted");
    a.exit().await;

    // Back from the file (key from the store) with a deadline of one second.
    let mut a = replica("a2", None, &store, &boot, &["--seconds", "1"]);
    assert_eq!(
        a.ev("ready").await["records"],
        1,
        "the write survived Ctrl-C"
    );
    assert_eq!(a.ev("stopped").await["reason"], "deadline");
    a.exit().await;
    net.exit().await;
}

#[tokio::test]
async fn sync_without_a_key_in_a_new_store_fails_cleanly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = dir.path().join("s.redb").display().to_string();
    let out = Command::new(BIN)
        .args(["sync", "--store", &store, "--bootstrap", "127.0.0.1:9"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no sync key"), "{err}");
    // A malformed key is refused without being repeated.
    let bad = "zz".repeat(32);
    let out = Command::new(BIN)
        .args(["sync", "--store", &store, "--bootstrap", "127.0.0.1:9"])
        .args(["--key", &bad])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("run");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("64 hex digits") && !err.contains(&bad),
        "{err}"
    );
}
