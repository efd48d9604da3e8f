//! `plures-sync demo`: the whole stack on 127.0.0.1. A local testnet of Rust hyperdht
//! nodes; replicas, each with its own hyperdht node, swarm key pair and in-memory store,
//! that share one freshly generated sync key; each joins the key's topic, finds the others
//! through the DHT, connects (Noise IK inside PEER_HANDSHAKE through the DHT relays, then
//! secret-stream over UDX) and replicates. Every replica writes its own records; the demo
//! ends when every replica holds every record with identical contents.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig, testnet};
use plures_replicate::sync::{Connection, SyncEngine, SyncEvent, SyncOptions, memory_source};
use plures_replicate::{MemoryStore, ReplicaId, Role, SyncKey};
use plures_swarm::{Swarm, SwarmConfig, SwarmStream};
use rand_core::{OsRng, UnwrapErr};
use serde_json::json;

const LOCAL: std::net::Ipv4Addr = std::net::Ipv4Addr::LOCALHOST;
const COLLECTION: &str = "notes";

/// What `demo` runs.
pub(crate) struct DemoArgs {
    pub(crate) replicas: usize,
    pub(crate) nodes: usize,
    pub(crate) records: usize,
    pub(crate) seconds: u64,
}

type Engine = SyncEngine<MemoryStore>;

fn say(msg: &str) {
    eprintln!("[demo] {msg}");
}

/// One replica: its node, swarm and engine, with the swarm's connections fed to the
/// engine.
async fn replica(
    index: usize,
    bootstrap: std::net::SocketAddrV4,
    key: &SyncKey,
) -> Result<(Arc<HyperDhtNode>, Engine), String> {
    let node = HyperDhtNode::bind(NodeConfig::persistent(LOCAL, 0, vec![bootstrap]))
        .map_err(|e| format!("replica {index}: bind: {e}"))?;
    node.wait_status(|s| s.bootstrapped && s.persistent)
        .await
        .map_err(|e| format!("replica {index}: {e}"))?;
    let node = Arc::new(node);
    let key_pair = KeyPair::generate(&mut UnwrapErr(OsRng));
    let config = SwarmConfig {
        refresh_interval: Duration::from_secs(2),
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(Arc::clone(&node), key_pair.clone(), config)
        .await
        .map_err(|e| format!("replica {index}: listen: {e}"))?;
    swarm
        .join(key.topic())
        .map_err(|e| format!("replica {index}: join: {e}"))?;

    let engine = SyncEngine::new(
        MemoryStore::new(),
        ReplicaId::generate(&mut UnwrapErr(OsRng)),
    )
    .map_err(|e| format!("replica {index}: {e}"))?;
    let (dialer, source) = memory_source::<SwarmStream>(key_pair.public_key());
    let options = SyncOptions {
        key: Some(key.clone()),
        ..SyncOptions::default()
    };
    engine
        .enable_sync(options, source)
        .map_err(|e| format!("replica {index}: enable_sync: {e}"))?;
    tokio::spawn(async move {
        while let Some(conn) = swarm.next().await {
            let Some(hash) = conn.stream.handshake_hash().map(|h| h.to_vec()) else {
                continue;
            };
            let role = if conn.initiator {
                Role::Initiator
            } else {
                Role::Responder
            };
            say(&format!(
                "replica {index}: connected to peer {} ({})",
                hex_prefix(&conn.remote_public_key),
                if conn.initiator {
                    "dialled"
                } else {
                    "incoming"
                }
            ));
            let offered = dialer.offer(Connection {
                stream: conn.stream,
                handshake_hash: hash,
                role,
                remote: conn.remote_public_key.to_vec(),
            });
            if !offered {
                return;
            }
        }
    });
    Ok((node, engine))
}

fn hex_prefix(key: &[u8; 32]) -> String {
    key[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// How many of all replicas' records `engine` holds, and whether each matches its writer.
fn count(engine: &Engine, replicas: usize, records: usize) -> usize {
    let mut have = 0;
    for r in 0..replicas {
        for n in 0..records {
            let id = format!("r{r}-{n}");
            let data = engine
                .get(COLLECTION, &id)
                .ok()
                .flatten()
                .and_then(|r| r.data());
            if data.map(serde_json::Value::Object) == Some(json!({ "replica": r, "n": n })) {
                have += 1;
            }
        }
    }
    have
}

/// Runs the demo; exit 0 when every replica converged in time.
pub(crate) async fn run(args: DemoArgs) -> ExitCode {
    let started = Instant::now();
    say(&format!(
        "starting a testnet of {} hyperdht nodes on 127.0.0.1",
        args.nodes
    ));
    let nodes = match testnet(LOCAL, args.nodes).await {
        Ok(n) => n,
        Err(e) => {
            say(&format!("testnet failed: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let bootstrap = nodes[0].server_addr();
    say(&format!("testnet up, bootstrap {bootstrap}"));

    let key = SyncKey::generate(&mut UnwrapErr(OsRng));
    say(&format!(
        "sync key generated; topic {}…",
        hex_prefix(&key.topic())
    ));
    let mut replicas = Vec::new();
    for i in 0..args.replicas {
        match replica(i, bootstrap, &key).await {
            Ok(r) => replicas.push(r),
            Err(e) => {
                say(&e);
                return ExitCode::FAILURE;
            }
        }
        say(&format!("replica {i} joined the topic"));
    }
    let mut events: Vec<_> = replicas.iter().map(|(_, e)| e.events()).collect();

    for (i, (_, engine)) in replicas.iter().enumerate() {
        for n in 0..args.records {
            let id = format!("r{i}-{n}");
            let set = engine
                .set(COLLECTION, &id, "replica", json!(i))
                .and_then(|_| engine.set(COLLECTION, &id, "n", json!(n)));
            if let Err(e) = set {
                say(&format!("replica {i}: write failed: {e}"));
                return ExitCode::FAILURE;
            }
        }
    }
    say(&format!(
        "each replica wrote {} records; waiting for every replica to hold all {}",
        args.records,
        args.records * args.replicas
    ));

    let total = args.records * args.replicas;
    let deadline = started + Duration::from_secs(args.seconds);
    let mut completes = 0usize;
    let mut last = Vec::new();
    loop {
        for rx in &mut events {
            while let Ok(e) = rx.try_recv() {
                if matches!(e, SyncEvent::SyncComplete { .. }) {
                    completes += 1;
                }
            }
        }
        let counts: Vec<usize> = replicas
            .iter()
            .map(|(_, e)| count(e, args.replicas, args.records))
            .collect();
        if counts != last {
            say(&format!("records per replica: {counts:?} of {total}"));
            last = counts.clone();
        }
        if counts.iter().all(|&c| c == total) {
            break;
        }
        if Instant::now() >= deadline {
            say(&format!("not converged after {} s", args.seconds));
            return ExitCode::FAILURE;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let summary = json!({
        "replicas": args.replicas,
        "dht_nodes": args.nodes,
        "records": total,
        "converged": true,
        "sync_complete_events": completes,
        "ms": started.elapsed().as_millis() as u64,
    });
    println!("{summary}");
    for (node, engine) in replicas {
        engine.disable_sync();
        drop(engine);
        if let Ok(node) = Arc::try_unwrap(node) {
            node.destroy().await;
        }
    }
    ExitCode::SUCCESS
}
