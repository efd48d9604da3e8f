//! loro and yrs behind one trait, synced by pull rounds.

use crate::net::{Counted, Inner, Net, pair};
use crate::params::Params;
use crate::process::announce_port;
use crate::workload::{Update, Written, ids, peak_rss_mb, rate, updates};
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub(crate) trait Crdt {
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

pub(crate) async fn crdt_child<C: Crdt>(p: &Params, mode: &str, arg: &str) -> Value {
    match mode {
        "incr" => crdt_incremental::<C>(p, Net::parse(arg)).await,
        "full" => crdt_full::<C>(p, Net::parse(arg)).await,
        "serve" => crdt_serve::<C>(p).await,
        "pull" => crdt_pull::<C>(p, arg.parse().expect("port")).await,
        "conc" => crdt_concurrent::<C>(p).await,
        _ => panic!("unknown mode {mode}"),
    }
}
