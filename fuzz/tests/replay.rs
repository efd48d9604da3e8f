//! Replays every committed corpus file through its target with a plain `cargo test`, without
//! libFuzzer: the corpora double as regression tests.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

fn replay(name: &str) {
    let run = plures_fuzz::target(name).expect("known target");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(name);
    let files =
        plures_fuzz::input_files(&dir).unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()));
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    let mut failed = Vec::new();
    for file in &files {
        let data = std::fs::read(file).expect("corpus file");
        if catch_unwind(AssertUnwindSafe(|| run(&data))).is_err() {
            failed.push(file.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{name}: {} of {} corpus inputs fail:\n{}",
        failed.len(),
        files.len(),
        failed.join("\n")
    );
    println!("{name}: {} corpus inputs ok", files.len());
}

#[test]
fn every_target_has_a_replay_test() {
    let names: Vec<&str> = plures_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "compact_ops",
            "compact_roundtrip",
            "udx_packet",
            "noise_handshake",
            "dht_rpc_packet",
            "replicate_wire",
            "hyperdht_messages",
            "udx_endpoint",
            "dht_node",
            "secret_stream_session",
            "hyperdht_storage"
        ],
        "add a test below"
    );
}

#[test]
fn compact_ops_corpus() {
    replay("compact_ops");
}

#[test]
fn compact_roundtrip_corpus() {
    replay("compact_roundtrip");
}

#[test]
fn udx_packet_corpus() {
    replay("udx_packet");
}

#[test]
fn noise_handshake_corpus() {
    replay("noise_handshake");
}

#[test]
fn dht_rpc_packet_corpus() {
    replay("dht_rpc_packet");
}

#[test]
fn replicate_wire_corpus() {
    replay("replicate_wire");
}

#[test]
fn hyperdht_messages_corpus() {
    replay("hyperdht_messages");
}

#[test]
fn udx_endpoint_corpus() {
    replay("udx_endpoint");
}

#[test]
fn dht_node_corpus() {
    replay("dht_node");
}

#[test]
fn secret_stream_session_corpus() {
    replay("secret_stream_session");
}

#[test]
fn hyperdht_storage_corpus() {
    replay("hyperdht_storage");
}
