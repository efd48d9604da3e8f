//! Storage nodes (spec §6) live against the JS reference: a network whose only storage
//! nodes are Rust `HyperDhtNode`s, and a hyperdht 6.34.0 client (ephemeral, so it stores
//! nothing itself) that bootstraps from them and runs its own storage operations:
//! announce / lookup / unannounce with per-node signatures, a server's announce-self and
//! `findPeer`, mutable put/get with the seq rules, immutable put/get. Every answer the
//! JS client accepts was produced by the Rust nodes (ANNOUNCE / UNANNOUNCE answered bare,
//! as the spec says), and no request of the JS client was dropped as malformed or badly
//! signed. Skipped (with a printed reason) when `node` or `testnet/node_modules` is
//! missing.

use std::net::Ipv4Addr;

use plures_hyperdht::driver::{HyperDhtNode, testnet};
use plures_hyperdht::{KeyPair, crypto};
use plures_test_support::{JsPeer, testnet_dir, within};
use serde_json::{Value, json};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;
const NODES: usize = 5;

/// Topic records held and requests dropped, summed over the nodes.
async fn totals(nodes: &[HyperDhtNode]) -> (usize, u64) {
    let mut out = (0, 0);
    for n in nodes {
        let stats = n.stats().await.expect("stats");
        out.0 += stats.records;
        out.1 += stats.storage.ignored;
    }
    out
}

struct Client {
    js: JsPeer,
    next: u64,
}

impl Client {
    async fn op(&mut self, mut op: Value) -> Value {
        self.next += 1;
        op["id"] = json!(self.next);
        self.js.send(&op).await;
        let v = self.js.event("result").await;
        assert_eq!(v["id"], self.next);
        assert!(v.get("error").is_none(), "{op} failed: {v}");
        v
    }
}

fn seed(n: u8) -> String {
    hex::encode([n; 32])
}

fn public_key(n: u8) -> [u8; 32] {
    *KeyPair::from_seed([n; 32]).public_key()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_js_client_stores_and_finds_records_on_rust_storage_nodes() {
    let Some(dir) = testnet_dir(&["hyperdht"]) else {
        return;
    };
    let nodes = within("testnet", testnet(LOCAL, NODES))
        .await
        .expect("testnet");
    let boot_addr = nodes[0].server_addr();
    let bootstrap = format!("{boot_addr}");
    let js = JsPeer::spawn(
        &dir,
        "interop/hyperdht-client.mjs",
        &["--bootstrap", &bootstrap],
    );
    let mut c = Client { js, next: 0 };
    c.js.event("ready").await;

    // Announce two peers on a topic; the commits land on the Rust nodes, whose signature
    // checks accepted the JS client's per-node signatures.
    let topic = hex::encode([0x5a; 32]);
    let relays = json!([{ "host": "10.0.0.1", "port": 4001 }]);
    let a = c
        .op(json!({ "op": "announce", "seed": seed(1), "topic": topic, "relays": relays }))
        .await;
    assert!(a["closest"].as_u64().expect("closest") >= 3, "{a}");
    c.op(json!({ "op": "announce", "seed": seed(2), "topic": topic }))
        .await;
    let (stored, _) = totals(&nodes).await;
    assert!(
        stored >= 6,
        "each announce stored on the closest nodes: {stored}"
    );

    let found = c.op(json!({ "op": "lookup", "topic": topic })).await;
    let mut peers: Vec<Value> = found["peers"].as_array().expect("peers").clone();
    peers.sort_by_key(|p| p["publicKey"].as_str().map(str::to_string));
    let mut expected = vec![
        json!({ "publicKey": hex::encode(public_key(1)), "relayAddresses": relays }),
        json!({ "publicKey": hex::encode(public_key(2)), "relayAddresses": [] }),
    ];
    expected.sort_by_key(|p| p["publicKey"].as_str().map(str::to_string));
    assert_eq!(peers, expected);

    // Unannounce one; lookups no longer return it anywhere.
    c.op(json!({ "op": "unannounce", "seed": seed(1), "topic": topic }))
        .await;
    let found = c.op(json!({ "op": "lookup", "topic": topic })).await;
    assert_eq!(
        found["peers"],
        json!([{ "publicKey": hex::encode(public_key(2)), "relayAddresses": [] }])
    );

    // A server announces itself: the Rust nodes keep a router record that findPeer reads.
    let listened = c.op(json!({ "op": "listen", "seed": seed(3) })).await;
    assert_eq!(listened["publicKey"], hex::encode(public_key(3)));
    let fp = c
        .op(json!({ "op": "findPeer", "publicKey": hex::encode(public_key(3)) }))
        .await;
    assert_eq!(
        fp["peers"].as_array().expect("peers")[0]["publicKey"],
        hex::encode(public_key(3))
    );
    // The server announced itself to the 3 closest nodes, whose router records answer.
    let with_record = fp["repliesWithPeer"].as_u64().expect("count");
    assert!(with_record >= 3, "router records on {with_record} nodes");

    // Mutable values: put seq 1, read it back, a newer seq wins, an older one is refused
    // by every Rust node (SEQ_TOO_LOW), so the latest value stays.
    let put = c
        .op(json!({ "op": "mutablePut", "seed": seed(4), "value": "6869", "seq": 1 }))
        .await;
    assert!(put["closest"].as_u64().expect("closest") >= 3, "{put}");
    let pk4 = hex::encode(public_key(4));
    let got = c
        .op(json!({ "op": "mutableGet", "publicKey": pk4, "seq": 0 }))
        .await;
    assert_eq!(
        (
            got["found"].clone(),
            got["value"].clone(),
            got["seq"].clone()
        ),
        (json!(true), json!("6869"), json!(1))
    );
    c.op(json!({ "op": "mutablePut", "seed": seed(4), "value": "7468657265", "seq": 2 }))
        .await;
    c.op(json!({ "op": "mutablePut", "seed": seed(4), "value": "6f6c64", "seq": 1 }))
        .await;
    let got = c
        .op(json!({ "op": "mutableGet", "publicKey": pk4, "seq": 0 }))
        .await;
    assert_eq!(
        (got["value"].clone(), got["seq"].clone()),
        (json!("7468657265"), json!(2))
    );
    let none = c
        .op(json!({ "op": "mutableGet", "publicKey": pk4, "seq": 3 }))
        .await;
    assert_eq!(none["found"], false);

    // Immutable values are found under their hash.
    let value = hex::encode(b"an immutable value");
    let put = c.op(json!({ "op": "immutablePut", "value": value })).await;
    assert_eq!(
        put["hash"],
        hex::encode(crypto::hash(b"an immutable value"))
    );
    let got = c
        .op(json!({ "op": "immutableGet", "hash": put["hash"] }))
        .await;
    assert_eq!(
        (got["found"].clone(), got["value"].clone()),
        (json!(true), json!(value))
    );
    let missing = hex::encode(crypto::hash(b"never stored"));
    let got = c.op(json!({ "op": "immutableGet", "hash": missing })).await;
    assert_eq!(got["found"], false);

    let (_, ignored) = totals(&nodes).await;
    assert_eq!(
        ignored, 0,
        "every JS request was well-formed and correctly signed"
    );
    assert!(c.js.finish().await, "JS client exited with an error");
    for n in nodes {
        n.destroy().await;
    }
}
