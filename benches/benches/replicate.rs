//! plures-replicate against the `loro` and `yrs` CRDTs on the workload of the replication
//! issue's performance section (`benches/run-replicate.sh`).
//!
//! Workload, seeded and identical for every system: `RECORDS` records of three small integer
//! fields (one write each, three fields per write), then `UPDATES` writes that each set one
//! field of a random record to a small integer, one write per transaction.
//!
//! Configurations, each in its own child process (this binary re-run as `child ...`), so the
//! peak RSS (`VmHWM`) of one never includes another's:
//!
//! - `serve` + `pull`: the writer does the whole workload (local writes/s), then one full sync
//!   over loopback TCP to a receiver in a second process: per-replica peak RSS and full-sync
//!   ops/s measured by the receiver from connect to "everything applied".
//! - `incr mem|tcp`: replica 2 starts empty and catches up after every `CHUNK` writes (load
//!   and updates); the figures are for the update phase: sync ops/s (encode + transfer +
//!   apply, the writer idle meanwhile) and wire bytes per op.
//! - `full mem`: the full sync in one process over an in-memory duplex.
//! - `conc`: 3 replicas share the records, each makes `CONCURRENT` updates while apart, then
//!   all three sync in a full mesh; bytes exchanged against the minimum (each replica's own
//!   updates, encoded by the same system, delivered once to each of the two others).
//! - `durable`: plures-replicate on a redb file that fsyncs every commit, `DURABLE_UPDATES`
//!   updates only (the other redb runs use `set_durable(false)`: one write per transaction
//!   all the same, crash-consistent, but only every 256th commit is fsynced).
//!
//! plures-replicate runs through its `SyncEngine` (sessions, flow control, tokio driver);
//! loro and yrs through a pull round per sync: the receiver sends its version vector, the
//! sender exports what it lacks, the receiver imports it. Every byte written to a stream is
//! counted, framing included. Environment: `REPLICATE_RECORDS` (100 000), `REPLICATE_UPDATES`
//! (1 000 000), `REPLICATE_CONCURRENT` (100 000), `REPLICATE_CHUNK` (1 000),
//! `REPLICATE_DURABLE_UPDATES` (2 000), `REPLICATE_SYSTEMS` (`plures-mem,plures-redb,loro,yrs`),
//! `REPLICATE_SEED` (1).

use plures_replicate::sync::{
    Connection, MemoryDialer, SyncEngine, SyncEvent, SyncOptions, memory_source,
};
use plures_replicate::wire::{Batch, Message};
use plures_replicate::{
    Action, MemoryStore, RedbStore, ReplicaId, Role, Store, SyncKey, VersionVector,
};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

const COLL: &str = "records";
const FIELDS: [&str; 3] = ["title", "done", "rank"];
const HASH: [u8; 32] = [9; 32];
const WAIT: Duration = Duration::from_secs(900);

#[derive(Clone, Debug)]
struct Params {
    records: usize,
    updates: usize,
    concurrent: usize,
    chunk: usize,
    durable_updates: usize,
    seed: u64,
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

impl Params {
    fn from_env() -> Self {
        Self {
            records: env_usize("REPLICATE_RECORDS", 100_000),
            updates: env_usize("REPLICATE_UPDATES", 1_000_000),
            concurrent: env_usize("REPLICATE_CONCURRENT", 100_000),
            chunk: env_usize("REPLICATE_CHUNK", 1_000).max(1),
            durable_updates: env_usize("REPLICATE_DURABLE_UPDATES", 2_000),
            seed: env_usize("REPLICATE_SEED", 1) as u64,
        }
    }
}

/// SplitMix64: a small deterministic generator for the workload.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// One update: set field `field` of record `rec` to `value`.
#[derive(Clone, Copy, Debug)]
struct Update {
    rec: u32,
    field: u8,
    value: u8,
}

fn updates(seed: u64, n: usize, records: usize) -> Vec<Update> {
    let mut rng = Rng(seed);
    (0..n)
        .map(|_| {
            let r = rng.next();
            Update {
                rec: (r % records as u64) as u32,
                field: ((r >> 32) % 3) as u8,
                value: ((r >> 40) % 100) as u8,
            }
        })
        .collect()
}

fn initial_value(rec: usize, field: usize) -> i64 {
    ((rec * 3 + field) % 100) as i64
}

fn ids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("r{i}")).collect()
}

/// Peak resident set of this process in MB, from `/proc/self/status`.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// Streams that count the bytes written to them.

enum Inner {
    Mem(DuplexStream),
    Tcp(TcpStream),
}

/// A duplex stream (in-memory or TCP) that counts every byte written to it.
struct Counted {
    inner: Inner,
    sent: Arc<AtomicU64>,
}

impl Counted {
    fn new(inner: Inner) -> Self {
        Self {
            inner,
            sent: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Mem(s) => Pin::new(s).poll_read(cx, buf),
            Inner::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let r = match &mut this.inner {
            Inner::Mem(s) => Pin::new(s).poll_write(cx, buf),
            Inner::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        };
        if let Poll::Ready(Ok(n)) = &r {
            this.sent.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Mem(s) => Pin::new(s).poll_flush(cx),
            Inner::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match &mut self.get_mut().inner {
            Inner::Mem(s) => Pin::new(s).poll_shutdown(cx),
            Inner::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Net {
    Mem,
    Tcp,
}

impl Net {
    fn parse(s: &str) -> Self {
        if s == "tcp" { Self::Tcp } else { Self::Mem }
    }
}

/// A connected pair of counted streams.
async fn pair(net: Net) -> (Counted, Counted) {
    match net {
        Net::Mem => {
            let (a, b) = tokio::io::duplex(256 * 1024);
            (Counted::new(Inner::Mem(a)), Counted::new(Inner::Mem(b)))
        }
        Net::Tcp => {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr = listener.local_addr().expect("addr");
            let (a, b) = tokio::join!(TcpStream::connect(addr), listener.accept());
            let (a, (b, _)) = (a.expect("connect"), b.expect("accept"));
            a.set_nodelay(true).expect("nodelay");
            b.set_nodelay(true).expect("nodelay");
            (Counted::new(Inner::Tcp(a)), Counted::new(Inner::Tcp(b)))
        }
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

// ---------------------------------------------------------------------------------------
// loro and yrs behind one trait, synced by pull rounds.

trait Crdt {
    fn new(peer: u64) -> Self;
    /// One transaction: a new record with its three fields.
    fn create(&mut self, rec: usize, id: &str);
    /// One transaction: one field of a record.
    fn update(&mut self, u: Update, id: &str);
    /// Caches handles of records that arrived by sync (`create` caches its own).
    fn attach(&mut self, ids: &[String]);
    fn version(&self) -> Vec<u8>;
    fn diff(&self, version: &[u8]) -> Vec<u8>;
    /// What a fresh replica is sent.
    fn full(&self) -> Vec<u8>;
    fn apply(&mut self, bytes: &[u8]);
    fn field(&self, id: &str, field: usize) -> Option<i64>;
}

struct LoroReplica {
    doc: loro::LoroDoc,
    root: loro::LoroMap,
    recs: Vec<loro::LoroMap>,
}

impl Crdt for LoroReplica {
    fn new(peer: u64) -> Self {
        let doc = loro::LoroDoc::new();
        doc.set_peer_id(peer).expect("peer id");
        let root = doc.get_map(COLL);
        Self {
            doc,
            root,
            recs: Vec::new(),
        }
    }

    fn create(&mut self, rec: usize, id: &str) {
        let m = self
            .root
            .insert_container(id, loro::LoroMap::new())
            .expect("insert");
        for (k, f) in FIELDS.iter().enumerate() {
            m.insert(f, initial_value(rec, k)).expect("insert");
        }
        self.doc.commit();
        self.recs.push(m);
    }

    fn update(&mut self, u: Update, _id: &str) {
        self.recs[u.rec as usize]
            .insert(FIELDS[u.field as usize], i64::from(u.value))
            .expect("insert");
        self.doc.commit();
    }

    fn attach(&mut self, ids: &[String]) {
        self.recs = ids
            .iter()
            .map(|id| match self.root.get(id) {
                Some(loro::ValueOrContainer::Container(loro::Container::Map(m))) => m,
                _ => panic!("record {id} missing"),
            })
            .collect();
    }

    fn version(&self) -> Vec<u8> {
        self.doc.oplog_vv().encode()
    }

    fn diff(&self, version: &[u8]) -> Vec<u8> {
        let vv = loro::VersionVector::decode(version).expect("version");
        self.doc
            .export(loro::ExportMode::updates(&vv))
            .expect("export")
    }

    fn full(&self) -> Vec<u8> {
        self.doc.export(loro::ExportMode::Snapshot).expect("export")
    }

    fn apply(&mut self, bytes: &[u8]) {
        self.doc.import(bytes).expect("import");
    }

    fn field(&self, id: &str, field: usize) -> Option<i64> {
        match self.root.get(id)? {
            loro::ValueOrContainer::Container(loro::Container::Map(m)) => {
                match m.get(FIELDS[field])? {
                    loro::ValueOrContainer::Value(loro::LoroValue::I64(v)) => Some(v),
                    _ => None,
                }
            }
            _ => None,
        }
    }
}

struct YrsReplica {
    doc: yrs::Doc,
    root: yrs::MapRef,
    recs: Vec<yrs::MapRef>,
}

impl Crdt for YrsReplica {
    fn new(peer: u64) -> Self {
        let doc = yrs::Doc::with_client_id(peer);
        let root = doc.get_or_insert_map(COLL);
        Self {
            doc,
            root,
            recs: Vec::new(),
        }
    }

    fn create(&mut self, rec: usize, id: &str) {
        use yrs::{Any, Map, MapPrelim, Number, Transact};
        let prelim = MapPrelim::from([
            (FIELDS[0], Any::Number(Number::Int(initial_value(rec, 0)))),
            (FIELDS[1], Any::Number(Number::Int(initial_value(rec, 1)))),
            (FIELDS[2], Any::Number(Number::Int(initial_value(rec, 2)))),
        ]);
        let mut txn = self.doc.transact_mut();
        let m = self.root.insert(&mut txn, id, prelim);
        drop(txn);
        self.recs.push(m);
    }

    fn update(&mut self, u: Update, _id: &str) {
        use yrs::{Any, Map, Number, Transact};
        let mut txn = self.doc.transact_mut();
        self.recs[u.rec as usize].insert(
            &mut txn,
            FIELDS[u.field as usize],
            Any::Number(Number::Int(i64::from(u.value))),
        );
    }

    fn attach(&mut self, ids: &[String]) {
        use yrs::{Map, Out, Transact};
        let txn = self.doc.transact();
        self.recs = ids
            .iter()
            .map(|id| match self.root.get(&txn, id) {
                Some(Out::YMap(m)) => m,
                _ => panic!("record {id} missing"),
            })
            .collect();
    }

    fn version(&self) -> Vec<u8> {
        use yrs::updates::encoder::Encode;
        use yrs::{ReadTxn, Transact};
        self.doc.transact().state_vector().encode_v1()
    }

    fn diff(&self, version: &[u8]) -> Vec<u8> {
        use yrs::updates::decoder::Decode;
        use yrs::{ReadTxn, StateVector, Transact};
        let sv = StateVector::decode_v1(version).expect("state vector");
        self.doc.transact().encode_state_as_update_v2(&sv)
    }

    fn full(&self) -> Vec<u8> {
        use yrs::{ReadTxn, StateVector, Transact};
        self.doc
            .transact()
            .encode_state_as_update_v2(&StateVector::default())
    }

    fn apply(&mut self, bytes: &[u8]) {
        use yrs::updates::decoder::Decode;
        use yrs::{Transact, Update};
        let update = Update::decode_v2(bytes).expect("update");
        self.doc
            .transact_mut()
            .apply_update(update)
            .expect("apply update");
    }

    fn field(&self, id: &str, field: usize) -> Option<i64> {
        use yrs::{Any, Map, Out, Transact};
        let txn = self.doc.transact();
        match self.root.get(&txn, id)? {
            Out::YMap(m) => match m.get(&txn, FIELDS[field])? {
                Out::Any(Any::Number(v)) => v.as_i64(),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Writes one length-prefixed frame on `tx` and reads it on `rx`.
async fn carry(tx: &mut Counted, rx: &mut Counted, msg: &[u8]) -> Vec<u8> {
    let len = u32::try_from(msg.len()).expect("frame size").to_le_bytes();
    let write = async {
        tx.write_all(&len).await.expect("write");
        tx.write_all(msg).await.expect("write");
        tx.flush().await.expect("flush");
    };
    let read = async {
        let mut l = [0u8; 4];
        rx.read_exact(&mut l).await.expect("read");
        let mut buf = vec![0u8; u32::from_le_bytes(l) as usize];
        rx.read_exact(&mut buf).await.expect("read");
        buf
    };
    tokio::join!(write, read).1
}

/// One pull: `b` sends its version over `sb`, `a` answers with what `b` lacks.
async fn pull<C: Crdt>(a: &C, b: &mut C, sa: &mut Counted, sb: &mut Counted) {
    let v = carry(sb, sa, &b.version()).await;
    let d = carry(sa, sb, &a.diff(&v)).await;
    b.apply(&d);
}

fn crdt_check<C: Crdt>(a: &C, b: &C, ids: &[String]) {
    for i in (0..ids.len()).step_by((ids.len() / 97).max(1)) {
        for f in 0..3 {
            assert_eq!(a.field(&ids[i], f), b.field(&ids[i], f), "record {i}");
        }
    }
}

struct Written {
    load_wps: f64,
    update_wps: f64,
}

fn crdt_write_all<C: Crdt>(a: &mut C, p: &Params, ids: &[String]) -> Written {
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        a.create(i, id);
    }
    let load = t.elapsed();
    let ups = updates(p.seed, p.updates, p.records);
    let t = Instant::now();
    for u in &ups {
        a.update(*u, &ids[u.rec as usize]);
    }
    Written {
        load_wps: rate(ids.len(), load),
        update_wps: rate(ups.len(), t.elapsed()),
    }
}

async fn crdt_incremental<C: Crdt>(p: &Params, net: Net) -> Value {
    let ids = ids(p.records);
    let (mut a, mut b) = (C::new(1), C::new(2));
    let (mut sa, mut sb) = pair(net).await;
    let mut load_sync = Duration::ZERO;
    for (c, chunk) in ids.chunks(p.chunk).enumerate() {
        for (i, id) in chunk.iter().enumerate() {
            a.create(c * p.chunk + i, id);
        }
        let t = Instant::now();
        pull(&a, &mut b, &mut sa, &mut sb).await;
        load_sync += t.elapsed();
    }
    b.attach(&ids);
    let (a0, b0) = (
        sa.sent.load(Ordering::Relaxed),
        sb.sent.load(Ordering::Relaxed),
    );
    let ups = updates(p.seed, p.updates, p.records);
    let (mut write, mut sync) = (Duration::ZERO, Duration::ZERO);
    for chunk in ups.chunks(p.chunk) {
        let t = Instant::now();
        for u in chunk {
            a.update(*u, &ids[u.rec as usize]);
        }
        write += t.elapsed();
        let t = Instant::now();
        pull(&a, &mut b, &mut sa, &mut sb).await;
        sync += t.elapsed();
    }
    crdt_check(&a, &b, &ids);
    let a_b = sa.sent.load(Ordering::Relaxed) - a0;
    let b_a = sb.sent.load(Ordering::Relaxed) - b0;
    json!({
        "incr_load_sync_ops_s": rate(ids.len(), load_sync),
        "incr_update_wps": rate(ups.len(), write),
        "incr_sync_ops_s": rate(ups.len(), sync),
        "incr_bytes_per_op": a_b as f64 / ups.len() as f64,
        "incr_bytes_per_op_both": (a_b + b_a) as f64 / ups.len() as f64,
        "incr_rss_mb": peak_rss_mb(),
    })
}

async fn crdt_full<C: Crdt>(p: &Params, net: Net) -> Value {
    let ids = ids(p.records);
    let mut a = C::new(1);
    let w = crdt_write_all(&mut a, p, &ids);
    let mut b = C::new(2);
    let (mut sa, mut sb) = pair(net).await;
    let t = Instant::now();
    let v = carry(&mut sb, &mut sa, &b.version()).await;
    drop(v);
    let d = carry(&mut sa, &mut sb, &a.full()).await;
    b.apply(&d);
    let took = t.elapsed();
    crdt_check(&a, &b, &ids);
    let ops = p.records + p.updates;
    json!({
        "load_wps": w.load_wps,
        "update_wps": w.update_wps,
        "full_mem_ops_s": rate(ops, took),
        "full_bytes_per_op": sa.sent.load(Ordering::Relaxed) as f64 / ops as f64,
        "full_mem_rss_mb": peak_rss_mb(),
    })
}

async fn crdt_serve<C: Crdt>(p: &Params) -> Value {
    let ids = ids(p.records);
    let mut a = C::new(1);
    let w = crdt_write_all(&mut a, p, &ids);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    announce_port(&listener);
    let (s, _) = listener.accept().await.expect("accept");
    s.set_nodelay(true).expect("nodelay");
    let mut s = Counted::new(Inner::Tcp(s));
    let mut l = [0u8; 4];
    s.read_exact(&mut l).await.expect("read");
    let mut v = vec![0u8; u32::from_le_bytes(l) as usize];
    s.read_exact(&mut v).await.expect("read");
    let full = a.full();
    let len = u32::try_from(full.len()).expect("size").to_le_bytes();
    s.write_all(&len).await.expect("write");
    s.write_all(&full).await.expect("write");
    s.flush().await.expect("flush");
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest).await;
    json!({
        "load_wps": w.load_wps,
        "update_wps": w.update_wps,
        "writer_rss_mb": peak_rss_mb(),
    })
}

async fn crdt_pull<C: Crdt>(p: &Params, port: u16) -> Value {
    let mut b = C::new(2);
    let t = Instant::now();
    let s = TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    s.set_nodelay(true).expect("nodelay");
    let mut s = Counted::new(Inner::Tcp(s));
    let v = b.version();
    s.write_all(&u32::try_from(v.len()).expect("size").to_le_bytes())
        .await
        .expect("write");
    s.write_all(&v).await.expect("write");
    let mut l = [0u8; 4];
    s.read_exact(&mut l).await.expect("read");
    let mut d = vec![0u8; u32::from_le_bytes(l) as usize];
    s.read_exact(&mut d).await.expect("read");
    b.apply(&d);
    let took = t.elapsed();
    drop(d);
    let got = b.field(&format!("r{}", p.records - 1), 0).is_some();
    assert!(got, "full sync incomplete");
    json!({
        "full_tcp_ops_s": rate(p.records + p.updates, took),
        "receiver_rss_mb": peak_rss_mb(),
    })
}

async fn crdt_concurrent<C: Crdt>(p: &Params) -> Value {
    let ids = ids(p.records);
    let mut reps = [C::new(1), C::new(2), C::new(3)];
    for (i, id) in ids.iter().enumerate() {
        reps[0].create(i, id);
    }
    let base = reps[0].full();
    for r in &mut reps[1..] {
        r.apply(&base);
        r.attach(&ids);
    }
    let base_version = reps[0].version();
    for (k, r) in reps.iter_mut().enumerate() {
        for u in updates(p.seed + 100 + k as u64, p.concurrent, p.records) {
            r.update(u, &ids[u.rec as usize]);
        }
    }
    let minimum: usize = reps
        .iter()
        .map(|r| 2 * (r.diff(&base_version).len() + 4))
        .sum();
    // Every pair exchanges both ways from the versions all three held before the round.
    let versions: Vec<Vec<u8>> = reps.iter().map(Crdt::version).collect();
    let mut total = 0usize;
    let mut incoming: Vec<Vec<Vec<u8>>> = vec![Vec::new(); 3];
    for (dst, version) in versions.iter().enumerate() {
        for (src, rep) in reps.iter().enumerate() {
            if src != dst {
                let d = rep.diff(version);
                total += version.len() + 4 + d.len() + 4;
                incoming[dst].push(d);
            }
        }
    }
    for (dst, ds) in incoming.iter().enumerate() {
        for d in ds {
            reps[dst].apply(d);
        }
    }
    crdt_check(&reps[0], &reps[1], &ids);
    crdt_check(&reps[0], &reps[2], &ids);
    json!({
        "conc_bytes": total,
        "conc_min_bytes": minimum,
        "conc_ratio": total as f64 / minimum as f64,
    })
}

// ---------------------------------------------------------------------------------------
// plures-replicate through its SyncEngine.

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
enum Kind {
    Mem,
    Redb { durable: bool },
}

/// Either store, so one code path serves both.
enum AnyStore {
    Mem(MemoryStore),
    Redb(RedbStore, std::path::PathBuf),
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
                Self::Redb(s, path)
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

fn engine(kind: Kind, n: u8) -> Engine {
    SyncEngine::new(AnyStore::open(kind, &format!("r{n}")), rid(n)).expect("engine")
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
    let load = t.elapsed();
    let ups = updates(p.seed, p.updates, p.records);
    let t = Instant::now();
    for u in &ups {
        update(a, *u, ids);
    }
    Written {
        load_wps: rate(ids.len(), load),
        update_wps: rate(ups.len(), t.elapsed()),
    }
}

async fn plures_incremental(p: &Params, kind: Kind, net: Net) -> Value {
    let ids = ids(p.records);
    let (a, b) = (engine(kind, 1), engine(kind, 2));
    let (da, db) = (enable(&a, p, b"a"), enable(&b, p, b"b"));
    let (ab, ba) = link(&da, &db, net).await;
    let mut load_sync = Duration::ZERO;
    for (c, chunk) in ids.chunks(p.chunk).enumerate() {
        for (i, id) in chunk.iter().enumerate() {
            create(&a, c * p.chunk + i, id);
        }
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

async fn plures_full(p: &Params, kind: Kind) -> Value {
    let ids = ids(p.records);
    let a = engine(kind, 1);
    let w = plures_write_all(&a, p, &ids);
    let b = engine(kind, 2);
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

fn announce_port(listener: &TcpListener) {
    let port = listener.local_addr().expect("addr").port();
    let mut out = std::io::stdout().lock();
    writeln!(out, "PORT {port}").expect("stdout");
    out.flush().expect("stdout");
}

async fn plures_serve(p: &Params, kind: Kind) -> Value {
    let ids = ids(p.records);
    let a = engine(kind, 1);
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

async fn plures_pull(p: &Params, kind: Kind, port: u16) -> Value {
    let b = engine(kind, 2);
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

async fn plures_concurrent(p: &Params, kind: Kind) -> Value {
    let ids = ids(p.records);
    let reps = [engine(kind, 1), engine(kind, 2), engine(kind, 3)];
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

fn plures_durable(p: &Params) -> Value {
    let ids = ids(p.records.min(p.durable_updates));
    let a = engine(Kind::Redb { durable: true }, 1);
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        create(&a, i, id);
    }
    let load = t.elapsed();
    let ups = updates(p.seed, p.durable_updates, ids.len());
    let t = Instant::now();
    for u in &ups {
        update(&a, *u, &ids);
    }
    json!({
        "durable_load_wps": rate(ids.len(), load),
        "durable_update_wps": rate(ups.len(), t.elapsed()),
        "durable_updates": ups.len(),
    })
}

// ---------------------------------------------------------------------------------------
// Children and the table.

fn kind_of(system: &str) -> Option<Kind> {
    match system {
        "plures-mem" => Some(Kind::Mem),
        "plures-redb" => Some(Kind::Redb { durable: false }),
        _ => None,
    }
}

fn child(args: &[String]) -> Value {
    let p = Params::from_env();
    let (mode, system) = (args[0].as_str(), args[1].as_str());
    let arg = args.get(2).map(String::as_str).unwrap_or("mem");
    let rt = runtime();
    if mode == "durable" {
        return plures_durable(&p);
    }
    match kind_of(system) {
        Some(kind) => rt.block_on(async {
            match mode {
                "incr" => plures_incremental(&p, kind, Net::parse(arg)).await,
                "full" => plures_full(&p, kind).await,
                "serve" => plures_serve(&p, kind).await,
                "pull" => plures_pull(&p, kind, arg.parse().expect("port")).await,
                "conc" => plures_concurrent(&p, kind).await,
                _ => panic!("unknown mode {mode}"),
            }
        }),
        None if system == "loro" => rt.block_on(crdt_child::<LoroReplica>(&p, mode, arg)),
        None if system == "yrs" => rt.block_on(crdt_child::<YrsReplica>(&p, mode, arg)),
        None => panic!("unknown system {system}"),
    }
}

async fn crdt_child<C: Crdt>(p: &Params, mode: &str, arg: &str) -> Value {
    match mode {
        "incr" => crdt_incremental::<C>(p, Net::parse(arg)).await,
        "full" => crdt_full::<C>(p, Net::parse(arg)).await,
        "serve" => crdt_serve::<C>(p).await,
        "pull" => crdt_pull::<C>(p, arg.parse().expect("port")).await,
        "conc" => crdt_concurrent::<C>(p).await,
        _ => panic!("unknown mode {mode}"),
    }
}

fn spawn(args: &[&str]) -> std::process::Child {
    let exe = std::env::current_exe().expect("current exe");
    Command::new(exe)
        .arg("child")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Reads the child's `RESULT` line (passing `PORT` lines to `on_port`).
fn collect(child: std::process::Child, mut on_port: impl FnMut(u16)) -> Value {
    let mut child = child;
    let out = child.stdout.take().expect("stdout");
    let mut result = json!({});
    for line in BufReader::new(out).lines() {
        let line = line.expect("child output");
        if let Some(port) = line.strip_prefix("PORT ") {
            on_port(port.parse().expect("port"));
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            result = serde_json::from_str(r).expect("result json");
        }
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "child failed: {status}");
    result
}

fn run_one(
    results: &mut BTreeMap<String, serde_json::Map<String, Value>>,
    system: &str,
    args: &[&str],
) {
    eprintln!("-- {system}: {}", args.join(" "));
    let t = Instant::now();
    let mut full_args = vec![args[0], system];
    full_args.extend(&args[1..]);
    let v = collect(spawn(&full_args), |_| {});
    merge(results, system, v, args);
    eprintln!("   {:.1} s", t.elapsed().as_secs_f64());
}

fn merge(
    results: &mut BTreeMap<String, serde_json::Map<String, Value>>,
    system: &str,
    v: Value,
    args: &[&str],
) {
    let entry = results.entry(system.to_owned()).or_default();
    if let Value::Object(m) = v {
        for (k, v) in m {
            // `incr tcp` reports under its own names.
            let k = if args == ["incr", "tcp"] {
                k.replace("incr_", "incr_tcp_")
            } else {
                k
            };
            entry.insert(k, v);
        }
    }
}

fn run_serve_pull(results: &mut BTreeMap<String, serde_json::Map<String, Value>>, system: &str) {
    eprintln!("-- {system}: serve + pull over TCP");
    let t = Instant::now();
    let server = spawn(&["serve", system]);
    let mut pulled = json!({});
    let served = collect(server, |port| {
        let port = port.to_string();
        pulled = collect(spawn(&["pull", system, &port]), |_| {});
    });
    merge(results, system, served, &["serve"]);
    merge(results, system, pulled, &["pull"]);
    eprintln!("   {:.1} s", t.elapsed().as_secs_f64());
}

fn fmt_num(v: Option<&Value>, unit: &str) -> String {
    match v.and_then(Value::as_f64) {
        None => "–".to_owned(),
        Some(x) if unit == "k" => format!("{:.0}k", x / 1000.0),
        Some(x) if unit == "x" => format!("{x:.2}×"),
        Some(x) if unit == "MB" => format!("{x:.0} MB"),
        Some(x) => format!("{x:.1}"),
    }
}

fn table(p: &Params, systems: &[&str], r: &BTreeMap<String, serde_json::Map<String, Value>>) {
    let rows: [(&str, &str, &str, &str); 17] = [
        ("load writes/s (3 fields, 1 write/txn)", "load_wps", "k", ""),
        (
            "update writes/s (1 field, 1 write/txn)",
            "update_wps",
            "k",
            "≥ 200k",
        ),
        (
            "durable redb writes/s (fsync per commit)",
            "durable_update_wps",
            "",
            "",
        ),
        (
            "incremental sync ops/s, in-memory duplex",
            "incr_sync_ops_s",
            "k",
            "≥ 400k",
        ),
        (
            "incremental sync ops/s, loopback TCP",
            "incr_tcp_sync_ops_s",
            "k",
            "≥ 400k",
        ),
        (
            "incremental sync of the load, records/s (mem)",
            "incr_load_sync_ops_s",
            "k",
            "",
        ),
        (
            "full sync ops/s, in-memory duplex",
            "full_mem_ops_s",
            "k",
            "",
        ),
        (
            "full sync ops/s, loopback TCP (2 processes)",
            "full_tcp_ops_s",
            "k",
            "",
        ),
        (
            "wire bytes/op incremental (sender → receiver)",
            "incr_bytes_per_op",
            "",
            "≤ 12",
        ),
        (
            "wire bytes/op incremental (both directions)",
            "incr_bytes_per_op_both",
            "",
            "",
        ),
        (
            "wire bytes/op full (per write of the history)",
            "full_bytes_per_op",
            "",
            "",
        ),
        (
            "peak RSS writer (serve process)",
            "writer_rss_mb",
            "MB",
            "≤ 300 MB",
        ),
        (
            "peak RSS receiver, full sync (pull process)",
            "receiver_rss_mb",
            "MB",
            "≤ 300 MB",
        ),
        (
            "peak RSS incremental run (both replicas)",
            "incr_rss_mb",
            "MB",
            "",
        ),
        (
            "peak RSS full sync in one process (both)",
            "full_mem_rss_mb",
            "MB",
            "",
        ),
        (
            "3 replicas: bytes exchanged / minimum",
            "conc_ratio",
            "x",
            "≤ 1.05×",
        ),
        ("3 replicas: bytes exchanged (MB)", "conc_bytes_mb", "", ""),
    ];
    println!(
        "Workload: {} records × 3 fields, {} single-field updates, sync batches of {}, {} concurrent updates per replica (3 replicas), seed {}.",
        p.records, p.updates, p.chunk, p.concurrent, p.seed
    );
    println!();
    print!("| metric |");
    for s in systems {
        print!(" {s} |");
    }
    println!(" target |");
    print!("| --- |");
    for _ in systems {
        print!(" ---: |");
    }
    println!(" --- |");
    for (label, key, unit, target) in rows {
        if systems
            .iter()
            .all(|s| r.get(*s).and_then(|m| m.get(key)).is_none())
        {
            continue;
        }
        print!("| {label} |");
        for s in systems {
            print!(" {} |", fmt_num(r.get(*s).and_then(|m| m.get(key)), unit));
        }
        println!(" {target} |");
    }
}

fn main() {
    let raw: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<String> = raw
        .iter()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .collect();
    if args.first().map(String::as_str) == Some("child") {
        let v = child(&args[1..]);
        println!("RESULT {v}");
        return;
    }
    // `cargo bench` passes `--bench`; `cargo test --all-targets` runs bench targets
    // without it, in a debug build, where the full workload would take hours.
    if !raw.iter().any(|a| a == "--bench") {
        eprintln!("replicate bench: not run outside `cargo bench` (see benches/run-replicate.sh)");
        return;
    }
    let p = Params::from_env();
    let list = std::env::var("REPLICATE_SYSTEMS")
        .unwrap_or_else(|_| "plures-mem,plures-redb,loro,yrs".to_owned());
    let systems: Vec<&str> = list.split(',').filter(|s| !s.is_empty()).collect();
    let mut results = BTreeMap::new();
    for s in &systems {
        run_serve_pull(&mut results, s);
        run_one(&mut results, s, &["incr", "mem"]);
        run_one(&mut results, s, &["incr", "tcp"]);
        run_one(&mut results, s, &["full", "mem"]);
        run_one(&mut results, s, &["conc"]);
        if *s == "plures-redb" {
            run_one(&mut results, s, &["durable"]);
        }
    }
    for m in results.values_mut() {
        if let Some(b) = m.get("conc_bytes").and_then(Value::as_f64) {
            m.insert("conc_bytes_mb".to_owned(), json!(b / 1e6));
        }
    }
    table(&p, &systems, &results);
    let raw = serde_json::to_string(&results).unwrap_or_default();
    eprintln!("raw: {raw}");
}
