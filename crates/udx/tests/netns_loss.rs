//! Live interop with udx-native 1.21.3 under 2 % packet loss, in network namespaces.
//!
//! The test creates two namespaces (names carry the pid) joined by a veth pair with
//! 10.200.0.1 (JS) and 10.200.0.2 (Rust), and nothing else: no traffic leaves them. In the
//! JS namespace iptables drops 2 % of the UDP packets in each direction (the `statistic`
//! match; this kernel has no netem, so there is no added delay). The JS peer
//! (`testnet/interop/udx-peer.mjs`) runs in one namespace, and this test binary, re-run
//! with `UDX_NETNS_ROLE` set, is the Rust side in the other. 64 MiB go each way (one
//! phase per direction, each on a fresh stream), with SHA-256 checks and END and close
//! seen on both sides.
//!
//! Needs root, `ip` and `iptables`, `node` and `testnet/node_modules`; without them it
//! prints why and passes, except on CI (`CI=true`) as root, where it fails instead.
//! `UDX_NETNS_BYTES` overrides the size per direction.
#![cfg(feature = "tokio")]

use std::future::Future;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use plures_udx::UdxSocket;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

/// Bound on every single wait (a whole 64 MiB transfer is one wait).
const LIMIT: Duration = Duration::from_secs(240);
const LOSS: &str = "0.02";
const JS_ID: u32 = 0x0102_0304;
const RUST_ID: u32 = 0x0a0b_0c0d;
const JS_ADDR: &str = "10.200.0.1";
const RUST_ADDR: &str = "10.200.0.2";
/// The Rust side's port; the namespace is fresh, so it is free.
const RUST_PORT: u16 = 40_000;
/// UDP packets at least this long (IP length) are counted as DATA; ACKs with SACK
/// blocks stay well below it, full DATA packets are about 1200 bytes.
const DATA_MIN_LEN: u32 = 600;
/// IPv4 + UDP + UDX headers of a DATA packet.
const DATA_OVERHEAD: u64 = 20 + 8 + 20;

const ROLE_ENV: &str = "UDX_NETNS_ROLE";
const PEER_ENV: &str = "UDX_NETNS_PEER";

fn testnet() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testnet")
}

fn bulk_bytes() -> usize {
    std::env::var("UDX_NETNS_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(64 << 20)
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    match timeout(LIMIT, f).await {
        Ok(v) => v,
        Err(_) => panic!("timed out after {LIMIT:?}: {what}"),
    }
}

/// Byte `i` is `i % 251`, as in the JS peer.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn mib_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / f64::from(1 << 20) / elapsed.as_secs_f64()
}

// ---------------------------------------------------------------------------------------
// Preconditions

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            == Some("0")
    })
}

fn runs(cmd: &str, arg: &str) -> bool {
    std::process::Command::new(cmd)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Why the test cannot run here, if it cannot; panics on CI as root instead.
fn missing() -> Option<String> {
    let root = is_root();
    let reason = if !root {
        Some("needs root (network namespaces, veth, iptables)".to_string())
    } else if !runs("ip", "-V") {
        Some("`ip` (iproute2) is not installed".into())
    } else if !runs("iptables", "-V") {
        Some("`iptables` is not installed".into())
    } else if !runs("node", "--version") {
        Some("`node` is not on PATH".into())
    } else if !testnet().join("node_modules/udx-native").is_dir() {
        Some("testnet/node_modules is missing (run `npm install` in testnet/)".into())
    } else {
        None
    }?;
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(!(ci && root), "CI=true as root, but {reason}");
    Some(reason)
}

// ---------------------------------------------------------------------------------------
// The namespaces

/// Runs a command and panics with its stderr if it fails; returns stdout.
fn run(args: &[&str]) -> String {
    let out = std::process::Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Packet and byte counters of one direction, read in the JS namespace.
#[derive(Debug, Default, Clone, Copy)]
struct Counters {
    packets: u64,
    data_packets: u64,
    data_bytes: u64,
    dropped: u64,
}

/// Two namespaces and a veth pair; deleted on drop, also when the test fails.
struct Lab {
    js: String,
    rust: String,
}

impl Lab {
    fn up() -> Self {
        let pid = std::process::id();
        let lab = Self {
            js: format!("udxloss{pid}js"),
            rust: format!("udxloss{pid}rs"),
        };
        // Leftovers of an earlier process with the same pid.
        lab.delete();
        run(&["ip", "netns", "add", &lab.js]);
        run(&["ip", "netns", "add", &lab.rust]);
        run(&[
            "ip", "link", "add", "veth-js", "netns", &lab.js, "type", "veth", "peer", "name",
            "veth-rs", "netns", &lab.rust,
        ]);
        for (ns, dev, addr) in [
            (&lab.js, "veth-js", JS_ADDR),
            (&lab.rust, "veth-rs", RUST_ADDR),
        ] {
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{addr}/24"),
                "dev",
                dev,
            ]);
            // The Rust driver sends with UDP GSO; a GSO batch would cross the veth as one
            // skb, and one DROP would lose the whole batch. One segment per skb makes the
            // loss per packet, as on a real link.
            run(&["ip", "-n", ns, "link", "set", dev, "gso_max_segs", "1"]);
            run(&["ip", "-n", ns, "link", "set", dev, "up"]);
        }
        for chain in ["INPUT", "OUTPUT"] {
            let ipt = |rule: &[&str]| {
                let mut args = vec!["ip", "netns", "exec", &lab.js, "iptables", "-A", chain];
                args.extend_from_slice(rule);
                run(&args);
            };
            // Rule 1 counts every UDP packet, rule 2 the DATA-sized ones, rule 3 drops.
            ipt(&["-p", "udp"]);
            ipt(&[
                "-p",
                "udp",
                "-m",
                "length",
                "--length",
                &format!("{DATA_MIN_LEN}:65535"),
            ]);
            ipt(&[
                "-p",
                "udp",
                "-m",
                "statistic",
                "--mode",
                "random",
                "--probability",
                LOSS,
                "-j",
                "DROP",
            ]);
        }
        lab
    }

    fn exec(&self, ns: &str, program: &str) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", ns, program]);
        cmd
    }

    fn zero_counters(&self) {
        run(&["ip", "netns", "exec", &self.js, "iptables", "-Z"]);
    }

    /// `INPUT` is Rust → JS, `OUTPUT` is JS → Rust.
    fn counters(&self, chain: &str) -> Counters {
        let out = run(&["ip", "netns", "exec", &self.js, "iptables", "-nvxL", chain]);
        // Two header lines, then one line per rule: pkts bytes target ...
        let rules: Vec<(u64, u64)> = out
            .lines()
            .skip(2)
            .map(|l| {
                let mut f = l
                    .split_whitespace()
                    .map(|x| x.parse::<u64>().expect("counter"));
                (f.next().expect("pkts"), f.next().expect("bytes"))
            })
            .collect();
        assert_eq!(rules.len(), 3, "unexpected {chain} chain:\n{out}");
        Counters {
            packets: rules[0].0,
            data_packets: rules[1].0,
            data_bytes: rules[1].1,
            dropped: rules[2].0,
        }
    }

    fn delete(&self) {
        for ns in [&self.js, &self.rust] {
            let _ = std::process::Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        self.delete();
        let left = run(&["ip", "netns", "list"]);
        for ns in [&self.js, &self.rust] {
            if left.split_whitespace().any(|n| n == ns) {
                eprintln!("warning: namespace {ns} is still there");
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes in the namespaces

/// A child process that speaks JSON lines on stdin/stdout.
struct Proc {
    name: &'static str,
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        let stdin = child.stdin.take().expect("stdin");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        Self {
            name,
            child,
            stdin,
            lines,
        }
    }

    async fn send(&mut self, line: &str) {
        let line = format!("{line}\n");
        within("write to child", self.stdin.write_all(line.as_bytes()))
            .await
            .expect("write to child");
    }

    /// Reads JSON lines (other output is skipped) until the event `event`; an `error`
    /// event fails the test.
    async fn expect(&mut self, event: &str) -> Value {
        let name = self.name;
        loop {
            let line = within(&format!("{name}: event {event}"), self.lines.next_line())
                .await
                .expect("read from child")
                .unwrap_or_else(|| panic!("{name} exited before {event}"));
            // libtest prints `test rust_side ... ` in front of the child's first line.
            let json = line.find('{').map_or("", |i| &line[i..]);
            let Ok(v) = serde_json::from_str::<Value>(json) else {
                continue;
            };
            if v["event"] == event {
                return v;
            }
            assert_ne!(v["event"], "error", "{name}: {v} while waiting for {event}");
        }
    }

    async fn exit_ok(mut self) {
        drop(self.stdin);
        let name = self.name;
        let status = within(&format!("{name} exit"), self.child.wait())
            .await
            .expect("wait");
        assert!(status.success(), "{name} exited with {status}");
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Direction {
    RustToJs,
    JsToRust,
}

struct PhaseResult {
    elapsed: Duration,
    /// What the sender put on the wire, counted before the DROP rule.
    wire: Counters,
    js_stats: Value,
}

/// One transfer of `len` bytes on a fresh pair of streams.
async fn phase(lab: &Lab, dir: Direction, len: usize) -> PhaseResult {
    let mut js_cmd = lab.exec(&lab.js, "node");
    js_cmd
        .args(["interop/udx-peer.mjs", "--host", JS_ADDR])
        .current_dir(testnet());
    let mut js = Proc::spawn("js", js_cmd);
    let port = js.expect("listening").await["port"].as_u64().expect("port");

    let exe = std::env::current_exe().expect("current_exe");
    let mut rust_cmd = lab.exec(&lab.rust, exe.to_str().expect("utf-8 path"));
    let role = match dir {
        Direction::RustToJs => "send",
        Direction::JsToRust => "recv",
    };
    rust_cmd
        .args(["--exact", "rust_side", "--nocapture", "--test-threads=1"])
        .env(ROLE_ENV, role)
        .env(PEER_ENV, format!("{JS_ADDR}:{port}"))
        .env("UDX_NETNS_BYTES", len.to_string());
    let mut rust = Proc::spawn("rust", rust_cmd);
    rust.expect("ready").await;
    js.send(
        &json!({
            "cmd": "connect", "id": JS_ID, "remoteId": RUST_ID,
            "host": RUST_ADDR, "port": RUST_PORT, "mode": "sink",
        })
        .to_string(),
    )
    .await;
    js.expect("connected").await;
    lab.zero_counters();

    let want = hex(&Sha256::digest(pattern(len)));
    let started = Instant::now();
    let elapsed;
    match dir {
        Direction::RustToJs => {
            rust.send("go").await;
            let end = js.expect("end").await;
            elapsed = started.elapsed();
            assert_eq!(end["bytes"].as_u64(), Some(len as u64), "JS received");
            assert_eq!(end["sha256"], want, "JS received hash");
            // JS ends in turn; the Rust side reads EOF and sees the stream close.
            let done = rust.expect("done").await;
            assert_eq!(done["bytes"].as_u64(), Some(0), "Rust read after its END");
        }
        Direction::JsToRust => {
            js.send(&json!({ "cmd": "send", "bytes": len }).to_string())
                .await;
            let done = rust.expect("done").await;
            elapsed = started.elapsed();
            assert_eq!(done["bytes"].as_u64(), Some(len as u64), "Rust received");
            assert_eq!(done["sha256"], want, "Rust received hash");
            let sent = js.expect("sent").await;
            assert_eq!(sent["sha256"], want, "JS sent hash");
            // The Rust side ends once it has read JS's END.
            let end = js.expect("end").await;
            assert_eq!(end["bytes"].as_u64(), Some(0), "JS read after its END");
        }
    }
    let close = js.expect("close").await;
    rust.expect("closed").await;
    let wire = lab.counters(match dir {
        Direction::RustToJs => "INPUT",
        Direction::JsToRust => "OUTPUT",
    });
    rust.exit_ok().await;
    js.exit_ok().await;
    PhaseResult {
        elapsed,
        wire,
        js_stats: close["stats"].clone(),
    }
}

/// Retransmitted DATA packets, estimated from the wire: the DATA payload bytes beyond the
/// `len` that had to be carried once, in packets of the average size seen.
fn estimated_retransmissions(wire: Counters, len: usize) -> u64 {
    let payload = wire
        .data_bytes
        .saturating_sub(wire.data_packets * DATA_OVERHEAD);
    let extra = payload.saturating_sub(len as u64);
    if wire.data_packets == 0 {
        return 0;
    }
    let per_packet = payload / wire.data_packets;
    extra / per_packet.max(1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loss_2_percent_64mib_each_way() {
    if std::env::var_os(ROLE_ENV).is_some() {
        return; // this process is the Rust side of another run
    }
    if let Some(reason) = missing() {
        eprintln!("SKIP: UDX netns loss test: {reason}");
        return;
    }
    let len = bulk_bytes();
    let lab = Lab::up();
    eprintln!(
        "namespaces {} ({JS_ADDR}, JS) and {} ({RUST_ADDR}, Rust), {LOSS} loss each way",
        lab.js, lab.rust
    );
    for dir in [Direction::RustToJs, Direction::JsToRust] {
        let r = phase(&lab, dir, len).await;
        let w = r.wire;
        let loss = w.dropped as f64 / w.packets.max(1) as f64 * 100.0;
        let estimate = estimated_retransmissions(w, len);
        eprintln!(
            "{dir:?}: {len} bytes in {:?} = {:.1} MiB/s; sender put {} UDP packets on the \
             wire ({} DATA-sized), {} dropped ({loss:.2} %); retransmissions ≈ {estimate} \
             (from the wire){}",
            r.elapsed,
            mib_per_s(len, r.elapsed),
            w.packets,
            w.data_packets,
            w.dropped,
            match dir {
                Direction::JsToRust => format!(
                    // udx-native reads its retransmit counter through a 16-bit view,
                    // so it wraps at 65536; the wire estimate does not.
                    "; udx-native: retransmits {} (mod 65536), packetsTransmitted {}, rto {}, \
                     fast recoveries {}",
                    r.js_stats["retransmits"],
                    r.js_stats["packetsTransmitted"],
                    r.js_stats["rtoCount"],
                    r.js_stats["fastRecoveries"]
                ),
                Direction::RustToJs => String::new(),
            }
        );
        assert!(w.dropped > 0, "the loss rule dropped nothing: {w:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The Rust side, run by `phase` in the Rust namespace

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_side() {
    let Some(role) = std::env::var_os(ROLE_ENV) else {
        return; // only run by `phase`
    };
    let peer: SocketAddr = std::env::var(PEER_ENV)
        .expect("peer")
        .parse()
        .expect("peer address");
    let len = bulk_bytes();
    let emit = |v: Value| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{v}").expect("stdout");
        out.flush().expect("stdout");
    };
    let bind = SocketAddr::from((
        RUST_ADDR.parse::<std::net::Ipv4Addr>().expect("ip"),
        RUST_PORT,
    ));
    let socket = UdxSocket::bind(bind).expect("bind");
    let mut stream = within("create", socket.create_stream(RUST_ID))
        .await
        .expect("create");
    within("connect", stream.connect(JS_ID, peer))
        .await
        .expect("connect");
    emit(json!({ "event": "ready" }));
    // tokio's `io-std` is not enabled for this crate: read the go line on a blocking thread.
    let go = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    });

    let mut hash = Sha256::new();
    let mut received = 0usize;
    let mut buf = vec![0; 1 << 16];
    if role == "send" {
        within("go", go).await.expect("join").expect("stdin");
        within("write", stream.write_all(&pattern(len)))
            .await
            .expect("write");
        within("shutdown", stream.shutdown())
            .await
            .expect("shutdown");
    }
    loop {
        let n = within("read", stream.read(&mut buf)).await.expect("read");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        received += n;
    }
    emit(json!({ "event": "done", "bytes": received, "sha256": hex(&hash.finalize()) }));
    if role != "send" {
        within("shutdown", stream.shutdown())
            .await
            .expect("shutdown");
    }
    within("closed", stream.closed()).await.expect("closed");
    emit(json!({ "event": "closed" }));
}
