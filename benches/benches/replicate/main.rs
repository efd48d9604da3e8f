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

mod crdt;
mod loro;
mod net;
mod params;
mod plures;
mod process;
mod table;
mod workload;
mod yrs;

use params::Params;
use process::{child, run_one, run_serve_pull};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use table::table;

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
