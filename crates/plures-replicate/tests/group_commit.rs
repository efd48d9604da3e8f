//! Group commit in `SyncEngine`: buffered writes are applied as one batch per flush, are
//! visible to reads, survive a failing store, reach peers, and are durable exactly once a
//! flush returned (checked by aborting a child process and reopening its redb file).
#![cfg(feature = "tokio")]

use plures_replicate::sync::{SyncEngine, SyncEvent, SyncOptions, connect_memory, memory_source};
use plures_replicate::{
    MemoryStore, Op, Record, RedbStore, ReplicaId, Store, StoreError, SyncKey, VersionVector,
};
use serde_json::json;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A `MemoryStore` that records the size of every applied batch and can be made to fail.
#[derive(Default)]
struct Counting {
    inner: MemoryStore,
    batches: Arc<Mutex<Vec<usize>>>,
    fail: Arc<Mutex<bool>>,
}

impl Store for Counting {
    fn get(&self, c: &str, id: &str) -> Result<Option<Record>, StoreError> {
        self.inner.get(c, id)
    }
    fn apply(&mut self, ops: &[Op]) -> Result<usize, StoreError> {
        if *self.fail.lock().unwrap() {
            return Err(StoreError::Inconsistent("test failure"));
        }
        self.batches.lock().unwrap().push(ops.len());
        self.inner.apply(ops)
    }
    fn ops_since(&self, c: &str, since: &VersionVector, n: usize) -> Result<Vec<Op>, StoreError> {
        self.inner.ops_since(c, since, n)
    }
    fn version_vector(&self, c: &str) -> Result<VersionVector, StoreError> {
        self.inner.version_vector(c)
    }
    fn collections(&self) -> Result<Vec<String>, StoreError> {
        self.inner.collections()
    }
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.meta(name)
    }
    fn set_meta(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        self.inner.set_meta(name, value)
    }
}

fn rid(n: u8) -> ReplicaId {
    ReplicaId::from_bytes([n; 16])
}

#[test]
fn writes_are_batched_per_flush_and_visible_to_reads() {
    let store = Counting::default();
    let (batches, fail) = (Arc::clone(&store.batches), Arc::clone(&store.fail));
    let db = SyncEngine::new(store, rid(1)).unwrap();
    db.set_group_commit(100).unwrap();
    for i in 0..250u64 {
        db.set("c", &format!("r{}", i % 7), "n", json!(i)).unwrap();
    }
    // Two full batches were applied inside `write`; 50 writes wait in the buffer.
    assert_eq!(*batches.lock().unwrap(), [100, 100]);
    // A read applies them first.
    let r = db.get("c", "r4").unwrap().unwrap();
    assert_eq!(r.data().unwrap()["n"], json!(249));
    assert_eq!(*batches.lock().unwrap(), [100, 100, 50]);

    // A failing flush applies nothing and keeps the writes; the next one retries.
    *fail.lock().unwrap() = true;
    db.set("c", "r0", "n", json!("late")).unwrap();
    assert!(db.flush().is_err());
    *fail.lock().unwrap() = false;
    db.flush().unwrap();
    assert_eq!(*batches.lock().unwrap(), [100, 100, 50, 1]);
    assert_eq!(
        db.get("c", "r0").unwrap().unwrap().data().unwrap()["n"],
        json!("late")
    );
    // Write-through again: one batch per write.
    db.set_group_commit(0).unwrap();
    db.set("c", "r1", "n", json!(1)).unwrap();
    assert_eq!(batches.lock().unwrap().last(), Some(&1));
}

#[tokio::test(flavor = "current_thread")]
async fn buffered_writes_flush_at_the_end_of_a_burst_and_reach_peers() {
    let key = SyncKey::from_bytes([5; 32]);
    let a = SyncEngine::new(MemoryStore::new(), rid(1)).unwrap();
    let b = SyncEngine::new(MemoryStore::new(), rid(2)).unwrap();
    a.set_group_commit(1_000).unwrap();
    let (da, sa) = memory_source(b"a");
    let (db_, sb) = memory_source(b"b");
    let opts = SyncOptions {
        key: Some(key),
        ..Default::default()
    };
    a.enable_sync(opts.clone(), sa).unwrap();
    b.enable_sync(opts, sb).unwrap();
    let mut events = b.events();
    connect_memory(&da, &db_, [3; 32]);
    let complete = async {
        while let Ok(e) = events.recv().await {
            if matches!(e, SyncEvent::SyncComplete { .. }) {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), complete)
        .await
        .unwrap();
    // A burst of writes without any flush call: the scheduled flush applies and pushes it
    // once this task yields.
    let mut changes = b.changes();
    for i in 0..300u64 {
        a.set("c", &format!("r{i}"), "n", json!(i)).unwrap();
    }
    let caught_up = async {
        loop {
            if b.get("c", "r299").unwrap().is_some() {
                return;
            }
            changes.changed().await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(20), caught_up)
        .await
        .unwrap();
    for i in (0..300u64).step_by(37) {
        assert_eq!(
            b.get("c", &format!("r{i}")).unwrap(),
            a.get("c", &format!("r{i}")).unwrap()
        );
    }
}

const CHILD_ENV: &str = "PLURES_REPLICATE_GROUP_CHILD";
const READY: &str = "plures-replicate: flushed";

/// Not a test on its own: the child of the durability test. Writes 120 records with group
/// commit, flushes, writes 30 more (buffered only), reports, and waits to be killed.
#[test]
fn group_commit_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let db = SyncEngine::new(RedbStore::open(path).unwrap(), rid(1)).unwrap();
    db.set_group_commit(1_000).unwrap();
    for i in 0..120u64 {
        db.set("c", &format!("r{i}"), "n", json!(i)).unwrap();
    }
    db.flush().unwrap();
    for i in 120..150u64 {
        db.set("c", &format!("r{i}"), "n", json!(i)).unwrap();
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "{READY}").unwrap();
    out.flush().unwrap();
    // Killed here: the 30 buffered writes were never applied. The parent holds our
    // stdin open until it kills us; should it vanish instead, end without flushing.
    let mut rest = Vec::new();
    let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut rest);
    std::process::abort();
}

#[test]
fn flushed_writes_survive_sigkill_and_buffered_ones_do_not() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("group.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "group_commit_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut ready = false;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().contains(READY) {
            child.kill().unwrap();
            ready = true;
            break;
        }
    }
    child.wait().unwrap();
    assert!(ready, "child never flushed");
    let store = RedbStore::open(&path).unwrap();
    let all = store
        .ops_since("c", &VersionVector::new(), usize::MAX)
        .unwrap();
    assert_eq!(all.len(), 120);
    for i in 0..150u64 {
        let got = store.get("c", &format!("r{i}")).unwrap();
        assert_eq!(got.is_some(), i < 120, "record r{i}");
    }
}
