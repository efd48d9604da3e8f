//! Profiling driver for `RedbStore` writes (not a benchmark table: see
//! `benches/run-replicate.sh`): the replication benchmark's workload shape, applied straight
//! to the store in batches as `SyncEngine` group commit does.
//!
//! ```text
//! cargo run --release -p plures-replicate --example redb_writes -- [records] [updates] [batch] [durable 0/1]
//! valgrind --tool=callgrind target/release/examples/redb_writes 10000 50000
//! ```

use plures_replicate::{Action, Hlc, Op, RedbStore, ReplicaId, Stamp, Store};
use std::time::Instant;

const FIELDS: [&str; 3] = ["title", "done", "rank"];

fn arg(i: usize, default: usize) -> usize {
    std::env::args()
        .nth(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let (records, updates, batch) = (arg(1, 100_000), arg(2, 1_000_000), arg(3, 1_000));
    let durable = arg(4, 0) == 1;
    let dir = std::env::temp_dir().join(format!("plures-redb-writes-{}", std::process::id()));
    let _ = std::fs::remove_file(&dir);
    let mut store = RedbStore::open(&dir).expect("open");
    store.set_durable(durable);
    let replica = ReplicaId::from_bytes([1; 16]);
    let mut ms = 1_700_000_000_000u64;
    let mut stamp = || {
        ms += 1;
        Stamp::new(Hlc::new(ms, 0).expect("hlc"), replica)
    };
    let ids: Vec<String> = (0..records).map(|i| format!("r{i}")).collect();
    let mut pending = Vec::with_capacity(batch + 3);
    let t = Instant::now();
    for (i, id) in ids.iter().enumerate() {
        let s = stamp();
        for (k, f) in FIELDS.iter().enumerate() {
            pending.push(Op {
                collection: "records".into(),
                id: id.clone(),
                stamp: s,
                action: Action::Set {
                    field: (*f).into(),
                    value: ((i * 3 + k) % 100).into(),
                },
            });
        }
        if pending.len() >= batch {
            store.apply(&pending).expect("apply");
            pending.clear();
        }
    }
    store.apply(&pending).expect("apply");
    pending.clear();
    let load = t.elapsed();
    let mut x = 1u64;
    let t = Instant::now();
    for _ in 0..updates {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        pending.push(Op {
            collection: "records".into(),
            id: ids[(x % records as u64) as usize].clone(),
            stamp: stamp(),
            action: Action::Set {
                field: FIELDS[((x >> 32) % 3) as usize].into(),
                value: ((x >> 40) % 100).into(),
            },
        });
        if pending.len() >= batch {
            store.apply(&pending).expect("apply");
            pending.clear();
        }
    }
    store.apply(&pending).expect("apply");
    let upd = t.elapsed();
    println!(
        "load {:.0} writes/s, updates {:.0} writes/s",
        records as f64 / load.as_secs_f64(),
        updates as f64 / upd.as_secs_f64()
    );
    drop(store);
    let _ = std::fs::remove_file(&dir);
}
