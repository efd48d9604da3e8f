//! plures-replicate through its SyncEngine.

use crate::net::{Counted, Inner, Net, pair};
use crate::params::Params;
use crate::process::announce_port;
use crate::workload::{
    COLL, FIELDS, Update, Written, ids, initial_value, peak_rss_mb, rate, updates,
};
use plures_replicate::sync::{
    Connection, MemoryDialer, SyncEngine, SyncEvent, SyncOptions, memory_source,
};
use plures_replicate::wire::{Batch, Message};
use plures_replicate::{
    Action, MemoryStore, RedbStore, ReplicaId, Role, Store, SyncKey, VersionVector,
};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::net::{TcpListener, TcpStream};

const HASH: [u8; 32] = [9; 32];
const WAIT: Duration = Duration::from_secs(900);

type Dialer = MemoryDialer<Counted>;

fn rid(n: u8) -> ReplicaId {
    ReplicaId::from_bytes([n; 16])
}

fn sync_opts(p: &Params) -> SyncOptions {
    SyncOptions {
        key: Some(SyncKey::from_bytes([7; 32])),
        batch_ops: p.chunk,
        window_ops: p.chunk as u64,
        ..Default::default()
    }
}

/// Which store a plures-replicate replica uses.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Kind {
    Mem,
    Redb { durable: bool },
}

/// Either store, so one code path serves both.
enum AnyStore {
    Mem(MemoryStore),
    Redb(Box<RedbStore>, std::path::PathBuf),
}

impl AnyStore {
    fn open(kind: Kind, tag: &str) -> Self {
        match kind {
            Kind::Mem => Self::Mem(MemoryStore::new()),
            Kind::Redb { durable } => {
                let path = std::env::temp_dir()
                    .join(format!("plures-bench-{}-{tag}.redb", std::process::id()));
                let _ = std::fs::remove_file(&path);
                let mut s = RedbStore::open(&path).expect("open redb");
                s.set_durable(durable);
                Self::Redb(Box::new(s), path)
            }
        }
    }
}

impl Drop for AnyStore {
    fn drop(&mut self) {
        if let Self::Redb(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Store for AnyStore {
    fn get(
        &self,
        c: &str,
        id: &str,
    ) -> Result<Option<plures_replicate::Record>, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.get(c, id),
            Self::Redb(s, _) => s.get(c, id),
        }
    }
    fn apply(
        &mut self,
        ops: &[plures_replicate::Op],
    ) -> Result<usize, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.apply(ops),
            Self::Redb(s, _) => s.apply(ops),
        }
    }
    fn apply_packed(
        &mut self,
        batch: &plures_replicate::wire::PackedBatch,
    ) -> Result<usize, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.apply_packed(batch),
            Self::Redb(s, _) => s.apply_packed(batch),
        }
    }
    fn ops_since(
        &self,
        c: &str,
        since: &VersionVector,
        limit: usize,
    ) -> Result<Vec<plures_replicate::Op>, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.ops_since(c, since, limit),
            Self::Redb(s, _) => s.ops_since(c, since, limit),
        }
    }
    fn version_vector(&self, c: &str) -> Result<VersionVector, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.version_vector(c),
            Self::Redb(s, _) => s.version_vector(c),
        }
    }
    fn collections(&self) -> Result<Vec<String>, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.collections(),
            Self::Redb(s, _) => s.collections(),
        }
    }
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.meta(name),
            Self::Redb(s, _) => s.meta(name),
        }
    }
    fn set_meta(
        &mut self,
        name: &str,
        value: Option<&[u8]>,
    ) -> Result<(), plures_replicate::StoreError> {
        match self {
            Self::Mem(s) => s.set_meta(name, value),
            Self::Redb(s, _) => s.set_meta(name, value),
        }
    }
}

type Engine = SyncEngine<AnyStore>;

/// A replica; plures-redb batches `p.group` writes per redb transaction (group commit).
fn engine(kind: Kind, n: u8, p: &Params) -> Engine {
    let e = SyncEngine::new(AnyStore::open(kind, &format!("r{n}")), rid(n)).expect("engine");
    if matches!(kind, Kind::Redb { .. }) {
        e.set_group_commit(p.group).expect("group commit");
    }
    e
}

fn create(e: &Engine, rec: usize, id: &str) {
    let actions = FIELDS
        .iter()
        .enumerate()
        .map(|(k, f)| Action::Set {
            field: (*f).to_owned(),
            value: json!(initial_value(rec, k)),
        })
        .collect();
    e.write(COLL, id, actions).expect("write");
}

fn update(e: &Engine, u: Update, ids: &[String]) {
    e.set(
        COLL,
        &ids[u.rec as usize],
        FIELDS[u.field as usize],
        json!(u.value),
    )
    .expect("write");
}

fn vv(e: &Engine) -> VersionVector {
    e.with_store(|s| s.version_vector(COLL)).expect("vv")
}

fn covers(have: &VersionVector, want: &VersionVector) -> bool {
    want.iter().all(|(r, h)| have.get(&r) >= h)
}

/// Waits until `e` has seen everything `target` names.
async fn caught_up(e: &Engine, target: &VersionVector) {
    let mut changes = e.changes();
    let wait = async {
        loop {
            changes.borrow_and_update();
            if covers(&vv(e), target) {
                return;
            }
            changes.changed().await.expect("engine gone");
        }
    };
    tokio::time::timeout(WAIT, wait)
        .await
        .expect("sync timed out");
}

fn enable(e: &Engine, p: &Params, name: &[u8]) -> Dialer {
    let (dial, source) = memory_source::<Counted>(name);
    e.enable_sync(sync_opts(p), source).expect("enable sync");
    dial
}

/// Connects two engines' sources with counted streams; returns the (a→b, b→a) counters.
async fn link(a: &Dialer, b: &Dialer, net: Net) -> (Arc<AtomicU64>, Arc<AtomicU64>) {
    let (sa, sb) = pair(net).await;
    let counters = (Arc::clone(&sa.sent), Arc::clone(&sb.sent));
    offer(a, sa, Role::Initiator, &b.id);
    offer(b, sb, Role::Responder, &a.id);
    counters
}

fn offer(d: &Dialer, stream: Counted, role: Role, remote: &[u8]) {
    assert!(d.offer(Connection {
        stream,
        handshake_hash: HASH.to_vec(),
        role,
        remote: remote.to_vec(),
    }));
}

fn plures_check(a: &Engine, b: &Engine, ids: &[String]) {
    for i in (0..ids.len()).step_by((ids.len() / 97).max(1)) {
        let ra = a.get(COLL, &ids[i]).expect("get");
        let rb = b.get(COLL, &ids[i]).expect("get");
        assert_eq!(ra, rb, "record {i}");
    }
}

fn plures_write_all(a: &Engine, p: &Params, ids: &[String]) -> Written {
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        create(a, i, id);
    }
    a.flush().expect("flush");
    let load = t.elapsed();
    let ups = updates(p.seed, p.updates, p.records);
    let t = Instant::now();
    for u in &ups {
        update(a, *u, ids);
    }
    a.flush().expect("flush");
    Written {
        load_wps: rate(ids.len(), load),
        update_wps: rate(ups.len(), t.elapsed()),
    }
}

pub(crate) async fn plures_incremental(p: &Params, kind: Kind, net: Net) -> Value {
    let ids = ids(p.records);
    let (a, b) = (engine(kind, 1, p), engine(kind, 2, p));
    let (da, db) = (enable(&a, p, b"a"), enable(&b, p, b"b"));
    let (ab, ba) = link(&da, &db, net).await;
    let mut load_sync = Duration::ZERO;
    for (c, chunk) in ids.chunks(p.chunk).enumerate() {
        for (i, id) in chunk.iter().enumerate() {
            create(&a, c * p.chunk + i, id);
        }
        a.flush().expect("flush");
        let t = Instant::now();
        caught_up(&b, &vv(&a)).await;
        load_sync += t.elapsed();
    }
    let (a0, b0) = (ab.load(Ordering::Relaxed), ba.load(Ordering::Relaxed));
    let ups = updates(p.seed, p.updates, p.records);
    let (mut write, mut sync) = (Duration::ZERO, Duration::ZERO);
    for chunk in ups.chunks(p.chunk) {
        let t = Instant::now();
        for u in chunk {
            update(&a, *u, &ids);
        }
        a.flush().expect("flush");
        write += t.elapsed();
        let t = Instant::now();
        caught_up(&b, &vv(&a)).await;
        sync += t.elapsed();
    }
    plures_check(&a, &b, &ids);
    let a_b = ab.load(Ordering::Relaxed) - a0;
    let b_a = ba.load(Ordering::Relaxed) - b0;
    json!({
        "incr_load_sync_ops_s": rate(ids.len(), load_sync),
        "incr_update_wps": rate(ups.len(), write),
        "incr_sync_ops_s": rate(ups.len(), sync),
        "incr_bytes_per_op": a_b as f64 / ups.len() as f64,
        "incr_bytes_per_op_both": (a_b + b_a) as f64 / ups.len() as f64,
        "incr_rss_mb": peak_rss_mb(),
    })
}

pub(crate) async fn plures_full(p: &Params, kind: Kind) -> Value {
    let ids = ids(p.records);
    let a = engine(kind, 1, p);
    let w = plures_write_all(&a, p, &ids);
    let b = engine(kind, 2, p);
    let (da, db) = (enable(&a, p, b"a"), enable(&b, p, b"b"));
    let target = vv(&a);
    let t = Instant::now();
    let (ab, _) = link(&da, &db, Net::Mem).await;
    caught_up(&b, &target).await;
    let took = t.elapsed();
    plures_check(&a, &b, &ids);
    let ops = p.records + p.updates;
    json!({
        "load_wps": w.load_wps,
        "update_wps": w.update_wps,
        "full_mem_ops_s": rate(ops, took),
        "full_bytes_per_op": ab.load(Ordering::Relaxed) as f64 / ops as f64,
        "full_mem_rss_mb": peak_rss_mb(),
    })
}

pub(crate) async fn plures_serve(p: &Params, kind: Kind) -> Value {
    let ids = ids(p.records);
    let a = engine(kind, 1, p);
    let w = plures_write_all(&a, p, &ids);
    let mut events = a.events();
    let da = enable(&a, p, b"a");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    announce_port(&listener);
    let (s, _) = listener.accept().await.expect("accept");
    s.set_nodelay(true).expect("nodelay");
    offer(&da, Counted::new(Inner::Tcp(s)), Role::Responder, b"b");
    let done = async {
        loop {
            if let Ok(SyncEvent::PeerDisconnected { .. } | SyncEvent::PeerRejected { .. }) =
                events.recv().await
            {
                return;
            }
        }
    };
    tokio::time::timeout(WAIT, done)
        .await
        .expect("serve timed out");
    json!({
        "load_wps": w.load_wps,
        "update_wps": w.update_wps,
        "writer_rss_mb": peak_rss_mb(),
    })
}

pub(crate) async fn plures_pull(p: &Params, kind: Kind, port: u16) -> Value {
    let b = engine(kind, 2, p);
    let mut events = b.events();
    let db = enable(&b, p, b"b");
    let t = Instant::now();
    let s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    offer(&db, Counted::new(Inner::Tcp(s)), Role::Initiator, b"a");
    let done = async {
        loop {
            match events.recv().await {
                Ok(SyncEvent::SyncComplete { .. }) => return,
                Ok(SyncEvent::PeerDisconnected { reason, .. }) => panic!("dropped: {reason:?}"),
                _ => {}
            }
        }
    };
    tokio::time::timeout(WAIT, done)
        .await
        .expect("pull timed out");
    let took = t.elapsed();
    assert!(
        b.get(COLL, &format!("r{}", p.records - 1))
            .expect("get")
            .is_some()
    );
    b.disable_sync();
    tokio::time::sleep(Duration::from_millis(50)).await;
    json!({
        "full_tcp_ops_s": rate(p.records + p.updates, took),
        "receiver_rss_mb": peak_rss_mb(),
    })
}

pub(crate) async fn plures_concurrent(p: &Params, kind: Kind) -> Value {
    let ids = ids(p.records);
    let reps = [engine(kind, 1, p), engine(kind, 2, p), engine(kind, 3, p)];
    for (i, id) in ids.iter().enumerate() {
        create(&reps[0], i, id);
    }
    let base = vv(&reps[0]);
    {
        let d: Vec<Dialer> = reps.iter().map(|e| enable(e, p, b"x")).collect();
        link(&d[0], &d[1], Net::Mem).await;
        link(&d[0], &d[2], Net::Mem).await;
        caught_up(&reps[1], &base).await;
        caught_up(&reps[2], &base).await;
        for e in &reps {
            e.disable_sync();
        }
        // Let the drivers see the shutdown before anything new is written.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for (k, e) in reps.iter().enumerate() {
        for u in updates(p.seed + 100 + k as u64, p.concurrent, p.records) {
            update(e, u, &ids);
        }
        e.flush().expect("flush");
    }
    // The minimum: each replica's own winning updates as OPS batches, sent to two peers.
    let mut minimum = 0usize;
    for e in &reps {
        let ops = e
            .with_store(|s| s.ops_since(COLL, &base, usize::MAX))
            .expect("ops");
        for (seq, chunk) in ops.chunks(p.chunk).enumerate() {
            let batch = Batch {
                seq: seq as u64 + 1,
                collection: COLL.to_owned(),
                ops: chunk.to_vec(),
            };
            minimum += 2 * Message::Ops(batch).to_frame().expect("frame").len();
        }
    }
    let d: Vec<Dialer> = reps.iter().map(|e| enable(e, p, b"y")).collect();
    let mut counters = Vec::new();
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        let (x, y) = link(&d[i], &d[j], Net::Mem).await;
        counters.extend([x, y]);
    }
    // Version vectors are no finish line here: an update that lost its merge everywhere
    // is never sent on, so a receiver's entry for its writer can stay below it. Wait until
    // the links fall silent instead, then compare every record.
    let total = quiet(&counters).await;
    for id in &ids {
        let r = reps[0].get(COLL, id).expect("get");
        assert_eq!(r, reps[1].get(COLL, id).expect("get"), "{id}");
        assert_eq!(r, reps[2].get(COLL, id).expect("get"), "{id}");
    }
    json!({
        "conc_bytes": total,
        "conc_min_bytes": minimum,
        "conc_ratio": total as f64 / minimum as f64,
    })
}

/// The bytes written on `counters` once they stopped growing for 500 ms.
async fn quiet(counters: &[Arc<AtomicU64>]) -> u64 {
    let sum = || {
        counters
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum::<u64>()
    };
    let (mut last, mut still) = (u64::MAX, 0);
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let now = sum();
        still = if now == last { still + 1 } else { 0 };
        if still >= 5 {
            return now;
        }
        last = now;
    }
}

pub(crate) fn plures_durable(p: &Params) -> Value {
    let mut v = durable_run(p, 0);
    let group = durable_run(p, p.group.max(1));
    v["durable_group_update_wps"] = group["durable_update_wps"].clone();
    v["durable_group_load_wps"] = group["durable_load_wps"].clone();
    v
}

/// Fsync per commit; `group` writes per commit (0: one write per commit).
fn durable_run(p: &Params, group: usize) -> Value {
    let ids = ids(p.records.min(p.durable_updates));
    let a = engine(Kind::Redb { durable: true }, 1, p);
    a.set_group_commit(group).expect("group commit");
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        create(&a, i, id);
    }
    a.flush().expect("flush");
    let load = t.elapsed();
    let ups = updates(p.seed, p.durable_updates, ids.len());
    let t = Instant::now();
    for u in &ups {
        update(&a, *u, &ids);
    }
    a.flush().expect("flush");
    json!({
        "durable_load_wps": rate(ids.len(), load),
        "durable_update_wps": rate(ups.len(), t.elapsed()),
        "durable_updates": ups.len(),
    })
}
