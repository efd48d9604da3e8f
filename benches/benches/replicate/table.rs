//! The results table.

use crate::params::Params;
use serde_json::Value;
use std::collections::BTreeMap;

fn fmt_num(v: Option<&Value>, unit: &str) -> String {
    match v.and_then(Value::as_f64) {
        None => "–".to_owned(),
        Some(x) if unit == "k" => format!("{:.0}k", x / 1000.0),
        Some(x) if unit == "x" => format!("{x:.2}×"),
        Some(x) if unit == "MB" => format!("{x:.0} MB"),
        Some(x) => format!("{x:.1}"),
    }
}

pub(crate) fn table(
    p: &Params,
    systems: &[&str],
    r: &BTreeMap<String, serde_json::Map<String, Value>>,
) {
    let rows: [(&str, &str, &str, &str); 18] = [
        ("load writes/s (3 fields, 1 write/txn)", "load_wps", "k", ""),
        (
            "update writes/s (1 field, 1 write/txn)",
            "update_wps",
            "k",
            "≥ 200k",
        ),
        (
            "durable redb writes/s (fsync per commit, 1 write/commit)",
            "durable_update_wps",
            "",
            "",
        ),
        (
            "durable redb writes/s (fsync per commit, group commit)",
            "durable_group_update_wps",
            "k",
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
    println!(
        "plures-redb commits {} writes per redb transaction (`SyncEngine::set_group_commit`, flushed at the end of each burst; `REPLICATE_GROUP_COMMIT=0`: one per write); plures-mem applies each write on its own.",
        p.group
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
