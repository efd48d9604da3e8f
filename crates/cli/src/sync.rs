//! `plures-sync sync`: one replica process. A crash-safe redb store, the group's sync key
//! (kept in the store's metadata), a hyperdht node, a swarm joined to the key's topic, and
//! the replication engine fed by the swarm's connections. Driven by JSON lines on stdin
//! (see [`protocol`]); replies and events are JSON lines on stdout, logs go to stderr.
//!
//! Startup prints `{"ev":"ready","public_key":..,"replica":..,"topic":..,"records":N}`
//! once the node is bootstrapped and the topic joined, then `{"ev":"announced"}` once a
//! lookup of the topic finds this replica's own announcement (others can find it now).
//! Engine events follow as `peer_connected`, `sync_complete`, `peer_disconnected`,
//! `peer_rejected` (a peer with another key), and every new swarm connection as
//! `connection`. On stdin EOF, Ctrl-C or `--seconds` it flushes the store, closes its
//! connections and prints `{"ev":"stopped"}`.
//!
//! The swarm key pair is fresh per run (the replica id and the data persist), so a
//! restarted replica is a new peer to the swarm and never races its own stale connection.

mod counted;
mod ops;
mod protocol;

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig};
use plures_replicate::sync::{Connection, MemoryDialer, SyncEvent, SyncOptions, memory_source};
use plures_replicate::{Collections, Role, SyncKey};
use plures_swarm::{Swarm, SwarmConfig, SwarmStream};
use rand_core::{OsRng, UnwrapErr};
use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, info, warn};

use crate::dht::{self, PUBLIC_BOOTSTRAP};
use counted::{Counted, Registry};
use ops::Engine;
use protocol::Command;

/// Arguments of `plures-sync sync`.
#[derive(clap::Args, Debug)]
pub(crate) struct SyncArgs {
    /// The group's sync key: 64 hex digits, or `@FILE` holding them. Stored in the
    /// store's metadata; when omitted, the stored key is used.
    #[arg(long)]
    key: Option<String>,
    /// The redb file of this replica (created if missing).
    #[arg(long)]
    store: PathBuf,
    /// Bootstrap node, `HOST:PORT` or `SUGGESTED_IP@HOST:PORT`; repeat or separate with
    /// commas. Default: the public hyperdht bootstrap nodes.
    #[arg(long, value_delimiter = ',', default_values_t = PUBLIC_BOOTSTRAP.map(String::from))]
    bootstrap: Vec<String>,
    /// Sync only these collections (comma-separated). Default: all.
    #[arg(long, value_delimiter = ',')]
    collections: Vec<String>,
    /// Also keep a connection to this swarm public key (64 hex), dialled directly;
    /// repeatable.
    #[arg(long)]
    peer: Vec<String>,
    /// Stop after this many seconds.
    #[arg(long)]
    seconds: Option<u64>,
    /// Run the DHT node as not firewalled (for a host with a public address).
    #[arg(long)]
    open: bool,
    /// Address to bind (default: the local address that routes to the first bootstrap
    /// node).
    #[arg(long)]
    host: Option<Ipv4Addr>,
    /// Seconds between two refreshes (announce + lookup) of the topic.
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..))]
    refresh_seconds: u64,
}

/// How long bootstrapping may take.
const STARTUP: Duration = Duration::from_secs(60);

/// Prints one JSON line on stdout (one locked write per line, so lines from several
/// tasks never interleave). A closed stdout is ignored: the replica keeps syncing.
fn emit(v: &Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}").and_then(|()| out.flush());
}

/// The address this host uses towards `to` (connecting a UDP socket sends nothing).
fn local_ip_towards(to: SocketAddrV4) -> Ipv4Addr {
    let probe = || -> std::io::Result<Ipv4Addr> {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.connect(to)?;
        match s.local_addr()?.ip() {
            std::net::IpAddr::V4(ip) => Ok(ip),
            std::net::IpAddr::V6(_) => Err(std::io::ErrorKind::Unsupported.into()),
        }
    };
    probe().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn hex32(what: &str, s: &str) -> Result<[u8; 32], String> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| format!("{what}: expected 64 hex digits"))
}

/// Stdin lines on a channel; the channel closes at end of file. A plain thread, so a
/// pending read never holds up the runtime's shutdown.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (tx, rx) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Runs the replica; errors before it is up are returned as text.
pub(crate) async fn run(args: SyncArgs) -> Result<(), String> {
    let (store, replica) = ops::open_store(&args.store)?;
    let engine = Engine::new(store, replica).map_err(|e| e.to_string())?;
    // Writes are buffered and committed per run of put/delete lines (see `control`).
    engine
        .set_group_commit(GROUP_COMMIT_OPS)
        .map_err(|e| e.to_string())?;
    let key = match &args.key {
        Some(k) => ops::read_key(k)?,
        None => engine
            .sync_key()
            .ok_or("no sync key in the store: give --key (see `plures-sync keygen`)")?,
    };
    let topic = key.topic();
    let collections = if args.collections.is_empty() {
        Collections::all()
    } else {
        Collections::only(args.collections.iter().filter(|c| !c.is_empty()))
    };
    let peers = args
        .peer
        .iter()
        .map(|p| hex32("--peer", p))
        .collect::<Result<Vec<_>, _>>()?;
    let mut bootstrap = Vec::new();
    for entry in &args.bootstrap {
        match dht::resolve(entry) {
            Ok(a) => bootstrap.push(a),
            Err(e) => warn!(%entry, error = %e, "skipping bootstrap entry"),
        }
    }
    let first = *bootstrap.first().ok_or("no usable bootstrap node")?;

    // The engine first, so that no connection arrives before it can take it.
    let key_pair = KeyPair::generate(&mut UnwrapErr(OsRng));
    let (dialer, source) = memory_source::<Counted<SwarmStream>>(key_pair.public_key());
    let registry = Registry::default();
    let options = SyncOptions {
        key: Some(key),
        collections,
        ..SyncOptions::default()
    };
    engine
        .enable_sync(options, source)
        .map_err(|e| format!("enable sync: {e}"))?;
    let engine = Arc::new(engine);
    let records = ops::dump(&engine)?.values().map(|r| r.len()).sum::<usize>();

    let mut config = NodeConfig::new(bootstrap);
    config.host = args.host.unwrap_or_else(|| local_ip_towards(first));
    if args.open {
        config.dht.firewalled = false;
    }
    let node = HyperDhtNode::bind(config).map_err(|e| format!("bind: {e}"))?;
    info!(server = %node.server_addr(), "bootstrapping");
    tokio::time::timeout(STARTUP, node.ready())
        .await
        .map_err(|_| format!("bootstrap: no DHT node answered within {STARTUP:?}"))?
        .map_err(|e| format!("bootstrap: {e}"))?;
    let node = Arc::new(node);
    let swarm_config = SwarmConfig {
        refresh_interval: Duration::from_secs(args.refresh_seconds),
        ..SwarmConfig::default()
    };
    let mut swarm = Swarm::new(Arc::clone(&node), key_pair.clone(), swarm_config)
        .await
        .map_err(|e| format!("listen: {e}"))?;
    swarm.join(topic).map_err(|e| format!("join: {e}"))?;
    for p in &peers {
        swarm.join_peer(*p).map_err(|e| format!("--peer: {e}"))?;
    }
    info!(replica = %hex::encode(replica.as_bytes()), records, "joined the topic");
    emit(&json!({
        "ev": "ready",
        "public_key": hex::encode(key_pair.public_key()),
        "replica": hex::encode(replica.as_bytes()),
        "topic": hex::encode(topic),
        "records": records,
        "addr": node.server_addr().to_string(),
    }));

    let announce = tokio::spawn(watch_announce(
        Arc::clone(&node),
        topic,
        *key_pair.public_key(),
    ));
    let peers = Arc::new(AtomicUsize::new(0));
    let events = tokio::spawn(forward_events(engine.events(), Arc::clone(&peers)));
    let (stop_tx, stop_rx) = oneshot::channel();
    let control = tokio::spawn(control(
        Arc::clone(&engine),
        peers,
        registry.clone(),
        stop_tx,
    ));

    let deadline = async {
        match args.seconds {
            Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
            None => std::future::pending().await,
        }
    };
    let reason = tokio::select! {
        _ = stop_rx => "stdin closed",
        () = deadline => "deadline",
        _ = tokio::signal::ctrl_c() => "interrupted",
        () = serve(&mut swarm, &dialer, &registry) => "swarm stopped",
    };
    info!(reason, "stopping");
    control.abort();
    announce.abort();
    let _ = announce.await;
    let flushed = engine.flush().map_err(|e| e.to_string());
    engine.disable_sync();
    let _ = tokio::time::timeout(Duration::from_secs(5), swarm.destroy()).await;
    if let Ok(node) = Arc::try_unwrap(node) {
        let _ = tokio::time::timeout(Duration::from_secs(3), node.destroy()).await;
    }
    drop(engine);
    // The last events (disconnections) are still on their way; the channel closes once
    // the connection tasks let go of the engine.
    if tokio::time::timeout(Duration::from_millis(500), events)
        .await
        .is_err()
    {
        warn!("events still pending at exit");
    }
    flushed?;
    emit(&json!({ "ev": "stopped", "reason": reason }));
    Ok(())
}

/// Looks the topic up until the lookup finds this swarm's own announcement, then prints
/// `{"ev":"announced","others":N}` (N: other announcers found). Gives up after two
/// minutes.
async fn watch_announce(node: Arc<HyperDhtNode>, topic: [u8; 32], me: [u8; 32]) {
    for _ in 0..120 {
        match node.lookup(topic).await {
            Ok(peers) if peers.iter().any(|p| p.public_key == me) => {
                let others = peers.len() - 1;
                info!(others, "announced");
                emit(&json!({ "ev": "announced", "others": others }));
                return;
            }
            Ok(_) => {}
            Err(e) => debug!(error = %e, "lookup of the own topic"),
        }
        // Not there yet: the swarm's first announce is still running.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    warn!("the own announcement was not found on the topic");
}

/// Hands every swarm connection to the engine.
async fn serve(
    swarm: &mut Swarm,
    dialer: &MemoryDialer<Counted<SwarmStream>>,
    registry: &Registry,
) {
    while let Some(conn) = swarm.next().await {
        let Some(hash) = conn.stream.handshake_hash().map(|h| h.to_vec()) else {
            continue;
        };
        emit(&json!({
            "ev": "connection",
            "remote_public_key": hex::encode(conn.remote_public_key),
            "initiator": conn.initiator,
        }));
        let role = if conn.initiator {
            Role::Initiator
        } else {
            Role::Responder
        };
        let offered = dialer.offer(Connection {
            stream: registry.wrap(conn.stream, conn.remote_public_key),
            handshake_hash: hash,
            role,
            remote: conn.remote_public_key.to_vec(),
        });
        if !offered {
            return;
        }
    }
}

/// Prints the engine's events until it stops, counting the verified peers.
async fn forward_events(mut rx: broadcast::Receiver<SyncEvent>, peers: Arc<AtomicUsize>) {
    loop {
        match rx.recv().await {
            Ok(e) => {
                match e {
                    SyncEvent::PeerConnected { .. } => {
                        peers.fetch_add(1, Ordering::Relaxed);
                    }
                    SyncEvent::PeerDisconnected { .. } => {
                        let _ = peers.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                            n.checked_sub(1)
                        });
                    }
                    _ => {}
                }
                if let Some(v) = ops::event_line(&e) {
                    emit(&v);
                }
            }
            Err(broadcast::error::RecvError::Lagged(n)) => {
                warn!(missed = n, "engine events lagged");
                emit(&json!({ "ev": "events_lost", "count": n }));
            }
            Err(broadcast::error::RecvError::Closed) => return,
        }
    }
}

/// The engine's group-commit bound: more buffered operations than this are applied at
/// once even inside a run of writes (a put writes one operation per field).
const GROUP_COMMIT_OPS: usize = 16_384;

/// At most this many stdin lines already waiting are taken together, so that a run of
/// `put`/`delete` lines among them is one group commit (one durable transaction).
const MAX_LINES_AT_ONCE: usize = 1024;

/// Executes stdin commands until end of file, then signals `stop`. Lines that are already
/// waiting are taken together: a run of consecutive writes among them is committed at
/// once ([`ops::execute_writes`]), every reply still in command order.
async fn control(
    engine: Arc<Engine>,
    peers: Arc<AtomicUsize>,
    registry: Registry,
    stop: oneshot::Sender<()>,
) {
    let mut lines = stdin_lines();
    let mut writes = Vec::new();
    while let Some(first) = lines.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_LINES_AT_ONCE {
            match lines.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        for line in batch {
            if line.trim().is_empty() {
                continue;
            }
            match protocol::parse(&line) {
                Ok((cmd, req)) if ops::is_write(&cmd) => writes.push((cmd, req)),
                Ok((cmd, req)) => {
                    commit(&engine, &mut writes);
                    run_one(&engine, &peers, &registry, cmd, req);
                }
                Err(reply) => {
                    commit(&engine, &mut writes);
                    emit(&reply);
                }
            }
        }
        commit(&engine, &mut writes);
    }
    let _ = stop.send(());
}

/// Commits the pending writes (if any) and prints their replies.
fn commit(engine: &Engine, writes: &mut Vec<(Command, Option<Value>)>) {
    if !writes.is_empty() {
        for reply in ops::execute_writes(engine, std::mem::take(writes)) {
            emit(&reply);
        }
    }
}

/// Runs one command that is not a write.
fn run_one(
    engine: &Arc<Engine>,
    peers: &AtomicUsize,
    registry: &Registry,
    cmd: Command,
    req: Option<Value>,
) {
    if let Command::Wait {
        collection,
        id,
        data,
        timeout,
    } = cmd
    {
        let engine = Arc::clone(engine);
        tokio::spawn(async move {
            emit(&ops::wait(engine, collection, id, data, timeout, req).await);
        });
        return;
    }
    let mut reply = ops::execute(engine, cmd, req.as_ref());
    if reply["ev"] == "status" {
        reply["peers"] = json!(peers.load(Ordering::Relaxed));
        reply["connections"] = registry.to_json();
    }
    emit(&reply);
}

/// `plures-sync keygen`: a fresh sync key.
pub(crate) fn keygen() -> String {
    SyncKey::generate(&mut UnwrapErr(OsRng)).to_hex()
}
