//! Storage nodes (spec §6) live against the JS reference: a network whose only storage
//! nodes are Rust `DhtNode`s answering hyperdht's commands 2–10 through
//! [`plures_hyperdht::storage::Storage`], and a hyperdht 6.34.0 client (ephemeral, so it
//! stores nothing itself) that bootstraps from them and runs its own storage operations:
//! announce / lookup / unannounce with per-node signatures, a server's announce-self and
//! `findPeer`, mutable put/get with the seq rules, immutable put/get. Every answer the
//! JS client accepts was produced by the Rust nodes; the Rust side checks what they
//! stored.
//!
//! The glue between node and storage here is test scaffolding (the hyperdht driver does
//! not exist yet); bare replies (spec: ANNOUNCE / UNANNOUNCE carry no token and no closer
//! nodes) go out as plain replies, which the JS client accepts. Skipped (with a printed
//! reason) when `node` or `testnet/node_modules` is missing.

use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use plures_dht_rpc::driver::{DhtNode, NodeConfig};
use plures_hyperdht::storage::{Answer, Request, Storage, StorageConfig};
use plures_hyperdht::{KeyPair, crypto};
use plures_test_support::{JsPeer, testnet_dir, within};
use serde_json::{Value, json};

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;
const NODES: usize = 5;

type Shared = Arc<Mutex<Storage>>;

/// Serves the storage commands of `node` from `storage` until the node is destroyed.
fn serve(node: Arc<DhtNode>, storage: Shared) {
    for command in 2..=10 {
        node.register(command).expect("register");
    }
    tokio::spawn(async move {
        while let Some(inbound) = node.next_request().await {
            let r = &inbound.request;
            let own_id = node.status().persistent.then(|| *node.id().as_bytes());
            let unix_ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            let req = Request {
                command: r.command,
                from: r.from,
                target: r.target.map(|t| *t.as_bytes()),
                token: r.token.as_ref().map(|t| &t[..]),
                value: r.value.as_deref(),
            };
            let answer = storage.lock().expect("storage lock").handle(
                Instant::now(),
                unix_ms,
                own_id.as_ref(),
                &req,
            );
            let sent = match answer {
                Answer::Reply { value, .. } => inbound.reply(value.as_deref()),
                Answer::Error(code) => inbound.error(code),
                Answer::Ignore => Ok(()),
            };
            if sent.is_err() {
                break;
            }
        }
    });
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
    let boot = Arc::new(DhtNode::bind(NodeConfig::bootstrapper(LOCAL, 0)).expect("bind"));
    let boot_addr = boot.server_addr();
    let mut nodes = vec![boot];
    for _ in 1..NODES {
        let c = NodeConfig::persistent(LOCAL, 0, vec![boot_addr]);
        nodes.push(Arc::new(DhtNode::bind(c).expect("bind")));
    }
    let mut stores = Vec::new();
    for n in &nodes {
        within(
            "bootstrapped",
            n.wait_status(|s| s.bootstrapped && s.persistent),
        )
        .await
        .expect("status");
        let s: Shared = Arc::new(Mutex::new(Storage::new(
            StorageConfig::default(),
            Instant::now(),
        )));
        serve(Arc::clone(n), Arc::clone(&s));
        stores.push(s);
    }
    let records = |stores: &[Shared]| -> usize {
        stores
            .iter()
            .map(|s| s.lock().expect("lock").record_count())
            .sum()
    };

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
    let stored = records(&stores);
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
    let own = crypto::target(&public_key(3));
    let routers = stores
        .iter()
        .filter(|s| {
            s.lock()
                .expect("lock")
                .router_record(Instant::now(), &own)
                .is_some()
        })
        .count();
    assert!(routers >= 3, "router records on {routers} nodes");
    let fp = c
        .op(json!({ "op": "findPeer", "publicKey": hex::encode(public_key(3)) }))
        .await;
    assert_eq!(
        fp["peers"].as_array().expect("peers")[0]["publicKey"],
        hex::encode(public_key(3))
    );

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

    let ignored: u64 = stores
        .iter()
        .map(|s| s.lock().expect("lock").stats().ignored)
        .sum();
    assert_eq!(
        ignored, 0,
        "every JS request was well-formed and correctly signed"
    );
    assert!(c.js.finish().await, "JS client exited with an error");
    for n in nodes {
        if let Ok(n) = Arc::try_unwrap(n) {
            n.destroy().await;
        }
    }
}
