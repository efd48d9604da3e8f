//! `natlab-peer`: the Rust side of the NAT lab (`../shared/natlab`), one process per role,
//! speaking the role contract of `js-holepunch.mjs` (JSON lines on stdout, logs on stderr).
//!
//! ```text
//! natlab-peer [--role server] --bootstrap H:P,.. --seed <64 hex> [--open] [--seconds S]
//! natlab-peer [--role client] --bootstrap H:P,.. --key <64 hex> [--open] [--message TEXT] [--seconds S]
//! natlab-peer  --role boot --host IP --ports 49737,49738 [--bootstrap H:P,..] [--seconds S]
//! ```
//!
//! The role is `--role`, or else `server` when `--seed` is given and `client` when `--key`
//! is. The lab's orchestrator appends the role arguments to the command, so no `--role` is
//! needed there.
//!
//! * `server` bootstraps, listens on the key pair of the 32-byte seed (`DHT.keyPair(seed)`),
//!   prints `{"ev":"listening","publicKey":..}`, then echoes every chunk it receives on a
//!   connection prefixed with `echo:` (as the JS server role does) and prints
//!   `{"ev":"connection",..}` per connection.
//! * `client` bootstraps (`{"ev":"bootstrapped"}`), connects, writes the message, waits for
//!   the echo and prints exactly one `{"ev":"result","connected":true,"connect_ms":N,
//!   "echo":..,"path":"direct"|"holepunch"}` or
//!   `{"ev":"result","connected":false,"error":"CODE"}`, then exits (0 when connected, 1
//!   when not).
//! * `boot` runs one bootstrap node per port on `host` (the first one of the lab bootstraps
//!   from the ones before it on the same host) and prints `{"ev":"ready","nodes":[..]}`.
//!
//! `--open` pins the dht-rpc core to `firewalled: false` (hyperdht's `firewalled: false`).
//! Every role has a hard deadline (`--seconds`, default 120 for server and boot, 65 for the
//! client, as the JS roles); when it passes, the process exits with code 3.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use plures_hyperdht::KeyPair;
use plures_hyperdht::driver::{HyperDhtNode, NodeConfig, Stream};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DEFAULT_MESSAGE: &str = "hello from peer-b";
/// The prefix the JS server role puts in front of every echoed chunk.
const ECHO_PREFIX: &[u8] = b"echo:";

#[derive(Debug, Default)]
struct Args {
    role: Option<String>,
    bootstrap: Vec<SocketAddrV4>,
    seed: Option<[u8; 32]>,
    key: Option<[u8; 32]>,
    open: bool,
    message: Option<String>,
    host: Option<Ipv4Addr>,
    ports: Vec<u16>,
    seconds: Option<u64>,
}

fn hex32(what: &str, v: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(v).map_err(|e| format!("{what}: {e}"))?;
    bytes
        .try_into()
        .map_err(|_| format!("{what}: expected 32 bytes (64 hex digits)"))
}

fn parse_args(argv: &[String]) -> Result<Args, String> {
    let mut a = Args::default();
    let mut it = argv.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "--role" => a.role = Some(value()?),
            "--bootstrap" => {
                for s in value()?.split(',').filter(|s| !s.is_empty()) {
                    a.bootstrap
                        .push(s.parse().map_err(|e| format!("--bootstrap {s}: {e}"))?);
                }
            }
            "--seed" => a.seed = Some(hex32("--seed", &value()?)?),
            "--key" => a.key = Some(hex32("--key", &value()?)?),
            "--open" => a.open = true,
            "--message" => a.message = Some(value()?),
            "--host" => a.host = Some(value()?.parse().map_err(|e| format!("--host: {e}"))?),
            "--ports" => {
                for s in value()?.split(',').filter(|s| !s.is_empty()) {
                    a.ports
                        .push(s.parse().map_err(|e| format!("--ports {s}: {e}"))?);
                }
            }
            "--seconds" => {
                a.seconds = Some(value()?.parse().map_err(|e| format!("--seconds: {e}"))?)
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if a.role.is_none() {
        a.role = match (a.seed.is_some(), a.key.is_some()) {
            (true, false) => Some("server".into()),
            (false, true) => Some("client".into()),
            _ => None,
        };
    }
    Ok(a)
}

/// Prints one JSON line on stdout, with `t` = ms since the start, as the JS roles do.
fn out(t0: Instant, ev: &str, mut data: Value) {
    if let Some(m) = data.as_object_mut() {
        m.insert("ev".into(), ev.into());
        m.insert("t".into(), (t0.elapsed().as_millis() as u64).into());
    }
    println!("{data}");
}

/// The address this host uses towards `to` (a connected UDP socket sends nothing), so the
/// node binds to its LAN address and advertises it instead of 127.0.0.1.
fn local_ip_towards(to: Option<&SocketAddrV4>) -> Ipv4Addr {
    let probe = || -> std::io::Result<Ipv4Addr> {
        let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        s.connect(to.copied().ok_or(std::io::ErrorKind::NotFound)?)?;
        match s.local_addr()?.ip() {
            std::net::IpAddr::V4(ip) => Ok(ip),
            std::net::IpAddr::V6(_) => Err(std::io::ErrorKind::Unsupported.into()),
        }
    };
    probe().unwrap_or(Ipv4Addr::UNSPECIFIED)
}

fn peer_config(a: &Args) -> NodeConfig {
    let mut c = NodeConfig::new(a.bootstrap.clone());
    c.host = local_ip_towards(a.bootstrap.first());
    if a.open {
        c.dht.firewalled = false;
    }
    c
}

/// The error code of a failure: the `CODE: message` prefix of the driver's connect errors
/// (the reference's codes), the trailing `(ECODE)` of a UDX error, else the whole text.
fn error_code(e: &std::io::Error) -> String {
    let text = match e.get_ref() {
        Some(inner) => inner.to_string(),
        None => e.to_string(),
    };
    let is_code = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_uppercase() || c == '_');
    if let Some((code, _)) = text.split_once(':').filter(|(c, _)| is_code(c)) {
        return code.to_string();
    }
    // UDX errors end in "(ETIMEDOUT)" and the like.
    let last = text
        .rsplit_once('(')
        .and_then(|(_, r)| r.strip_suffix(')'))
        .filter(|c| is_code(c));
    last.map_or_else(|| text.clone(), String::from)
}

async fn role_boot(t0: Instant, a: &Args) -> Result<ExitCode, String> {
    let host = a.host.ok_or("--role boot needs --host")?;
    let ports = if a.ports.is_empty() {
        vec![49737]
    } else {
        a.ports.clone()
    };
    let mut nodes: Vec<HyperDhtNode> = Vec::new();
    for port in ports {
        let mut c = NodeConfig::bootstrapper(host, port);
        c.dht.bootstrap = if a.bootstrap.is_empty() {
            nodes.iter().map(HyperDhtNode::server_addr).collect()
        } else {
            a.bootstrap.clone()
        };
        let node = HyperDhtNode::bind(c).map_err(|e| format!("bind {host}:{port}: {e}"))?;
        node.ready().await.map_err(|e| format!("bootstrap: {e}"))?;
        nodes.push(node);
    }
    let addrs: Vec<String> = nodes.iter().map(|n| n.server_addr().to_string()).collect();
    out(t0, "ready", json!({ "nodes": addrs }));
    // Serve until the deadline (or until the lab kills us).
    std::future::pending::<()>().await;
    Ok(ExitCode::SUCCESS)
}

/// Echoes every chunk (prefixed with `echo:`) until the client ends or the stream fails.
async fn echo(t0: Instant, mut s: Stream) {
    let remote = s.remote_public_key().map(hex::encode);
    out(t0, "connection", json!({ "remotePublicKey": remote }));
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => break,
            Ok(n) => {
                let mut reply = ECHO_PREFIX.to_vec();
                reply.extend_from_slice(&buf[..n]);
                if let Err(e) = s.write_all(&reply).await {
                    tracing::warn!("echo write: {e}");
                    return;
                }
            }
            Err(e) => {
                out(t0, "conn-error", json!({ "message": e.to_string() }));
                return;
            }
        }
    }
    let _ = s.shutdown().await;
}

async fn role_server(t0: Instant, a: &Args) -> Result<ExitCode, String> {
    let seed = a.seed.ok_or("--role server needs --seed")?;
    let node = HyperDhtNode::bind(peer_config(a)).map_err(|e| format!("bind: {e}"))?;
    node.ready().await.map_err(|e| format!("bootstrap: {e}"))?;
    let key_pair = KeyPair::from_seed(seed);
    let mut server = node
        .listen(key_pair.clone())
        .await
        .map_err(|e| format!("listen: {e}"))?;
    let relays: Vec<String> = server.relays().iter().map(ToString::to_string).collect();
    out(
        t0,
        "listening",
        json!({ "publicKey": hex::encode(key_pair.public_key()), "relays": relays }),
    );
    while let Some(s) = server.accept().await {
        tokio::spawn(echo(t0, s));
    }
    Err("the node stopped".into())
}

/// Reads until the bytes received end with `message` (the echo, whatever its prefix), the
/// stream ends, or it fails.
async fn read_echo(s: &mut Stream, message: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.ends_with(message) {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

async fn role_client(t0: Instant, a: &Args, deadline: Instant) -> Result<ExitCode, String> {
    let key = a.key.ok_or("--role client needs --key")?;
    let message = a.message.as_deref().unwrap_or(DEFAULT_MESSAGE).as_bytes();
    let node = HyperDhtNode::bind(peer_config(a)).map_err(|e| format!("bind: {e}"))?;
    node.ready().await.map_err(|e| format!("bootstrap: {e}"))?;
    out(t0, "bootstrapped", json!({ "open": a.open }));
    let mut seed = [0u8; 32];
    seed[..16].copy_from_slice(&t0.elapsed().as_nanos().to_le_bytes());
    seed[16..20].copy_from_slice(&std::process::id().to_le_bytes());
    let key_pair = KeyPair::from_seed(seed);
    // Leave a second to report before the hard deadline.
    let budget = deadline
        .saturating_duration_since(Instant::now())
        .saturating_sub(Duration::from_secs(1));
    let started = Instant::now();
    let result = tokio::time::timeout(budget, async {
        let mut s = node
            .connect(key, key_pair)
            .await
            .map_err(|e| (error_code(&e), format!("connect: {e}")))?;
        let connect_ms = started.elapsed().as_millis() as u64;
        // A probe opened the path (holepunch), or the stream went straight to an address.
        let punched = node.stats().await.is_ok_and(|st| st.holepunched > 0);
        let path = if punched { "holepunch" } else { "direct" };
        s.write_all(message)
            .await
            .map_err(|e| (error_code(&e), format!("write: {e}")))?;
        let got = read_echo(&mut s, message)
            .await
            .map_err(|e| (error_code(&e), format!("read the echo: {e}")))?;
        let echo_ms = started.elapsed().as_millis() as u64 - connect_ms;
        let remote = s.remote_public_key().map(hex::encode);
        let _ = s.shutdown().await;
        Ok::<_, (String, String)>((connect_ms, echo_ms, got, remote, path))
    })
    .await
    .unwrap_or_else(|_| Err(("TIMEOUT".into(), format!("no result within {budget:?}"))));
    let after_ms = started.elapsed().as_millis() as u64;
    let code = match result {
        Ok((connect_ms, echo_ms, got, remote, path)) => {
            out(
                t0,
                "result",
                json!({
                    "connected": true,
                    "connect_ms": connect_ms,
                    "echo_ms": echo_ms,
                    "echo": String::from_utf8_lossy(&got),
                    "remotePublicKey": remote,
                    "path": path,
                }),
            );
            ExitCode::SUCCESS
        }
        Err((error, message)) => {
            out(
                t0,
                "result",
                json!({
                    "connected": false,
                    "error": error,
                    "message": message,
                    "after_ms": after_ms,
                }),
            );
            ExitCode::from(1)
        }
    };
    let _ = tokio::time::timeout(Duration::from_millis(1500), node.destroy()).await;
    Ok(code)
}

fn main() -> ExitCode {
    let t0 = Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let a = match parse_args(&argv) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("natlab-peer: {e}");
            return ExitCode::from(2);
        }
    };
    let role = a.role.clone().unwrap_or_default();
    let seconds = a.seconds.unwrap_or(if role == "client" { 65 } else { 120 });
    let deadline = t0 + Duration::from_secs(seconds);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("natlab-peer: tokio runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let run = async {
        match role.as_str() {
            "server" => role_server(t0, &a).await,
            "client" => role_client(t0, &a, deadline).await,
            "boot" => role_boot(t0, &a).await,
            _ => Err("give --role server|client|boot, --seed or --key".into()),
        }
    };
    let code = rt.block_on(async {
        match tokio::time::timeout_at(deadline.into(), run).await {
            Ok(Ok(code)) => code,
            Ok(Err(e)) => {
                eprintln!("natlab-peer {role}: {e}");
                if role == "client" {
                    out(
                        t0,
                        "result",
                        json!({ "connected": false, "error": "SETUP", "message": e }),
                    );
                }
                ExitCode::from(1)
            }
            Err(_) => {
                eprintln!("natlab-peer {role}: deadline of {seconds} s reached");
                if role == "client" {
                    out(
                        t0,
                        "result",
                        json!({ "connected": false, "error": "DEADLINE" }),
                    );
                }
                ExitCode::from(3)
            }
        }
    });
    // Do not wait for spawned tasks or sockets: the deadline is hard.
    rt.shutdown_timeout(Duration::from_millis(500));
    code
}
