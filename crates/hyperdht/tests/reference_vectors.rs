//! Every vector of `hyperdht-messages.json`, `hashes-and-signatures.json` and
//! `hyperdht-secure-payload.json` must pass.

mod common;

use common::js::{Case, check_hash, check_message, check_secure_payload};
use plures_hyperdht::KeyPair;
use serde_json::Value;

fn run(file: &str, expected: usize, check: fn(&Case<'_>) -> Result<(), String>) {
    let Some(doc) = common::load(file) else {
        return;
    };
    let vectors = doc["vectors"].as_array().expect("vectors");
    assert_eq!(vectors.len(), expected, "{file}: vector count");
    // Secret keys recorded anywhere in the file, for vectors that only list a public key.
    let keys: Vec<KeyPair> = vectors
        .iter()
        .filter_map(|v| v["input"]["secretKey"].as_str())
        .filter_map(|s| <[u8; 64]>::try_from(hex::decode(s).ok()?).ok())
        .filter_map(|sk| KeyPair::from_secret_key(&sk).ok())
        .collect();
    let mut failures = Vec::new();
    for v in vectors {
        let case = Case {
            func: v["fn"].as_str().expect("fn"),
            input: &v["input"],
            hex: v["hex"].as_str(),
            output: v.get("output"),
            decoded: v.get("decoded"),
            known_keys: &keys,
        };
        if let Err(why) = check(&case) {
            failures.push(format!("{}: {why}", v["name"]));
        }
    }
    assert!(failures.is_empty(), "{file}:\n{}", failures.join("\n"));
}

#[test]
fn hyperdht_messages() {
    run("hyperdht-messages.json", 27, check_message);
}

#[test]
fn hashes_and_signatures() {
    run("hashes-and-signatures.json", 16, check_hash);
}

#[test]
fn secure_payload() {
    run("hyperdht-secure-payload.json", 1, check_secure_payload);
}

#[test]
fn constants_match_the_recorded_ones() {
    use plures_hyperdht::constants::{command, error_code, firewall, mode};
    let Some(doc) = common::load("hyperdht-messages.json") else {
        return;
    };
    let c = &doc["constants"];
    let table: &[(&str, &str, u64)] = &[
        ("COMMANDS", "PEER_HANDSHAKE", command::PEER_HANDSHAKE),
        ("COMMANDS", "PEER_HOLEPUNCH", command::PEER_HOLEPUNCH),
        ("COMMANDS", "FIND_PEER", command::FIND_PEER),
        ("COMMANDS", "LOOKUP", command::LOOKUP),
        ("COMMANDS", "ANNOUNCE", command::ANNOUNCE),
        ("COMMANDS", "UNANNOUNCE", command::UNANNOUNCE),
        ("COMMANDS", "MUTABLE_PUT", command::MUTABLE_PUT),
        ("COMMANDS", "MUTABLE_GET", command::MUTABLE_GET),
        ("COMMANDS", "IMMUTABLE_PUT", command::IMMUTABLE_PUT),
        ("COMMANDS", "IMMUTABLE_GET", command::IMMUTABLE_GET),
        ("COMMANDS", "PLUGIN", command::PLUGIN),
        ("FIREWALL", "UNKNOWN", firewall::UNKNOWN),
        ("FIREWALL", "OPEN", firewall::OPEN),
        ("FIREWALL", "CONSISTENT", firewall::CONSISTENT),
        ("FIREWALL", "RANDOM", firewall::RANDOM),
        ("ERROR", "NONE", error_code::NONE),
        ("ERROR", "ABORTED", error_code::ABORTED),
        ("ERROR", "VERSION_MISMATCH", error_code::VERSION_MISMATCH),
        ("ERROR", "TRY_LATER", error_code::TRY_LATER),
        ("ERROR", "SEQ_REUSED", error_code::SEQ_REUSED),
        ("ERROR", "SEQ_TOO_LOW", error_code::SEQ_TOO_LOW),
        ("handshakeModes", "FROM_CLIENT", mode::FROM_CLIENT),
        ("handshakeModes", "FROM_SERVER", mode::FROM_SERVER),
        ("handshakeModes", "FROM_RELAY", mode::FROM_RELAY),
        (
            "handshakeModes",
            "FROM_SECOND_RELAY",
            mode::FROM_SECOND_RELAY,
        ),
        ("handshakeModes", "REPLY", mode::REPLY),
    ];
    for &(group, name, value) in table {
        assert_eq!(c[group][name], Value::from(value), "{group}.{name}");
    }
    let recorded: usize = ["COMMANDS", "FIREWALL", "ERROR", "handshakeModes"]
        .iter()
        .map(|g| c[g].as_object().map_or(0, |o| o.len()))
        .sum();
    assert_eq!(recorded, table.len(), "a recorded constant is not checked");
}
