//! The UDX benchmark (`benches/run-udx.sh`): plures-udx against udx-native on loopback.
//!
//! Subcommands:
//!
//! - `run [--bytes N] [--pings N] [--streams N] [--js PATH]`: runs every case below, each
//!   side in its own process, and prints one Markdown table with the ratios the UDX
//!   issue asks for.
//! - `peer --role send|recv|ping|pong [--bytes N] [--pings N]`: one Rust end. It binds
//!   127.0.0.1:0, prints `{"port":P}`, reads the other end's `{"port":Q}` from stdin,
//!   connects stream 1 (send/ping) or 2 (recv/pong) to the other id, runs its role and
//!   prints one JSON result line. `benches/js/udx.mjs peer` is the same for udx-native.
//! - `pair [--a rust|js] [--b rust|js] [--ping x] [--bytes N] [--pings N]`: one case,
//!   `a` sending (or pinging) to `b`; prints both result lines. With
//!   `UDX_BENCH_WRAP="perf record -g -o FILE"` the Rust ends run under that command.
//! - `udp [--bytes N]`: the plain UDP ceiling, 1200-byte datagrams from one thread's
//!   `send_to` loop to another thread's `recv` loop; the sender stays at most
//!   [`UDP_WINDOW`] datagrams ahead, so nothing is dropped and the figure is the rate of
//!   the pair, not of the kernel's drops.
//! - `idle [--streams N]`: resident memory per idle stream, from `VmRSS` before and after
//!   opening `N` connected stream pairs (2 N streams) that exchanged one byte each way.
//!
//! CPU time comes from `/proc/self/stat` (whole process) or `/proc/thread-self/stat`
//! (one thread) in clock ticks of 10 ms, so it is Linux-only. Every case stops by itself:
//! a peer gives up after [`PEER_LIMIT`].

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use plures_udx::congestion::NewReno;
use plures_udx::{StreamConfig, UdxSocket, UdxStream};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The longest a peer runs before it gives up and reports an error.
const PEER_LIMIT: Duration = Duration::from_secs(300);
/// Write chunk of the senders.
const CHUNK: usize = 65_536;
/// Ping-pong message size.
const PING: usize = 32;
/// Round trips before the measured ones.
const WARMUP_PINGS: usize = 100;
/// Datagram size of the UDP ceiling.
const DATAGRAM: usize = 1200;
/// Datagrams the UDP-ceiling sender may be ahead of its receiver; they fit the receive
/// buffer of [`UDP_RCVBUF`] (about 2.3 KiB of buffer per 1200-byte datagram).
const UDP_WINDOW: usize = 512;
/// `SO_RCVBUF` of the UDP-ceiling receiver (the kernel caps it at `rmem_max`).
const UDP_RCVBUF: usize = 4 << 20;
/// Clock ticks per second of `/proc/*/stat` (`CLK_TCK`, 100 on Linux).
const TICKS: f64 = 100.0;
const MIB: f64 = 1_048_576.0;
const GIB: f64 = 1_073_741_824.0;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| -> Option<String> {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
    };
    let num = |name: &str, default: usize| -> usize {
        opt(name).and_then(|v| v.parse().ok()).unwrap_or(default)
    };
    let bytes = num("--bytes", 256 << 20);
    let pings = num("--pings", 10_000);
    let streams = num("--streams", 10_000);
    match args.first().map(String::as_str) {
        Some("peer") => {
            let role = opt("--role").ok_or("--role is required")?;
            let result = runtime()?.block_on(peer(&role, bytes, pings));
            let line = result.unwrap_or_else(|e| json!({ "error": e.to_string() }));
            println!("{line}");
            Ok(())
        }
        Some("udp") => {
            println!("{}", udp_ceiling(bytes)?);
            println!("{}", udp_ping(pings)?);
            Ok(())
        }
        Some("idle") => {
            println!("{}", runtime()?.block_on(idle(streams))?);
            Ok(())
        }
        Some("pair") => {
            let js = opt("--js").unwrap_or_else(|| "benches/js/udx.mjs".into());
            let side = |name: &str| opt(name).is_none_or(|v| v == "rust");
            let (ra, rb) = if opt("--ping").is_some() {
                ("ping", "pong")
            } else {
                ("send", "recv")
            };
            let (a, b) = case(&js, (side("--a"), ra), (side("--b"), rb), bytes, pings)?;
            println!("{a}\n{b}");
            if rb == "recv" {
                println!("{:.1} MiB/s", f(&b, "bytes") / MIB / f(&b, "secs"));
            }
            Ok(())
        }
        Some("run") => {
            let js = opt("--js").unwrap_or_else(|| "benches/js/udx.mjs".into());
            run(&js, bytes, pings, streams)
        }
        _ => Err("usage: udx_bench run|peer|udp|idle [options] (see the source)".into()),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// CPU seconds (user + system) of `/proc/self/stat` or `/proc/thread-self/stat`.
fn cpu_seconds(path: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(path) else {
        return f64::NAN;
    };
    // Fields after the command name: state is field 3, utime 14, stime 15.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    (tick(11) + tick(12)) / TICKS
}

fn process_cpu() -> f64 {
    cpu_seconds("/proc/self/stat")
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

// ---- one Rust end -------------------------------------------------------------------------

async fn peer(role: &str, bytes: usize, pings: usize) -> Result<Value> {
    let socket = UdxSocket::bind(loopback())?;
    println!("{}", json!({ "port": socket.local_addr().port() }));
    let mut line = String::new();
    std::io::stdin().read_line(&mut line)?;
    let other: Value = serde_json::from_str(&line)?;
    let port = other["port"].as_u64().ok_or("no port")?;
    let port = u16::try_from(port)?;
    let (id, remote) = if matches!(role, "send" | "ping") {
        (1, 2)
    } else {
        (2, 1)
    };
    // As `UdxSocket::create_stream`: MTU probing on (`UDX_BENCH_MTU=base` turns it off).
    let probing = std::env::var("UDX_BENCH_MTU").map_or(true, |v| v != "base");
    let mut config = StreamConfig::default().with_mtu_probing(probing);
    if std::env::var("UDX_BENCH_CC").is_ok_and(|v| v == "reno") {
        config.congestion = Some(Box::new(NewReno::new()));
    }
    let mut stream = socket.create_stream_with(id, config).await?;
    stream
        .connect(remote, SocketAddr::from(([127, 0, 0, 1], port)))
        .await?;
    let work = async {
        match role {
            "send" => send(&mut stream, bytes).await,
            "recv" => recv(&mut stream).await,
            "ping" => ping(&mut stream, pings).await,
            "pong" => pong(&mut stream).await,
            _ => Err("unknown role".into()),
        }
    };
    tokio::time::timeout(PEER_LIMIT, work)
        .await
        .map_err(|_| "timed out")?
}

async fn send(stream: &mut UdxStream, bytes: usize) -> Result<Value> {
    let pattern: Vec<u8> = (0..CHUNK + 251).map(|i| (i % 251) as u8).collect();
    let cpu = process_cpu();
    let started = Instant::now();
    let mut sent = 0;
    while sent < bytes {
        let n = CHUNK.min(bytes - sent);
        let start = sent % 251;
        stream.write_all(&pattern[start..start + n]).await?;
        sent += n;
    }
    stream.shutdown().await?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    stream.closed().await?;
    Ok(json!({
        "bytes": sent,
        "secs": started.elapsed().as_secs_f64(),
        "cpu": process_cpu() - cpu,
    }))
}

async fn recv(stream: &mut UdxStream) -> Result<Value> {
    let mut buf = vec![0u8; CHUNK];
    let cpu = process_cpu();
    let mut first: Option<Instant> = None;
    let mut received = 0usize;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        first.get_or_insert_with(Instant::now);
        received += n;
    }
    let secs = first.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let cpu = process_cpu() - cpu;
    stream.shutdown().await?;
    stream.closed().await?;
    Ok(json!({ "bytes": received, "secs": secs, "cpu": cpu }))
}

async fn ping(stream: &mut UdxStream, pings: usize) -> Result<Value> {
    let msg = [7u8; PING];
    let mut back = [0u8; PING];
    let mut rtts = Vec::with_capacity(pings);
    for i in 0..WARMUP_PINGS + pings {
        let t = Instant::now();
        stream.write_all(&msg).await?;
        stream.read_exact(&mut back).await?;
        if i >= WARMUP_PINGS {
            rtts.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    stream.shutdown().await?;
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).await?;
    Ok(rtt_summary(&mut rtts))
}

async fn pong(stream: &mut UdxStream) -> Result<Value> {
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
    }
    stream.shutdown().await?;
    stream.closed().await?;
    Ok(json!({ "ok": true }))
}

fn rtt_summary(rtts: &mut [f64]) -> Value {
    rtts.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let i = ((rtts.len() as f64 - 1.0) * q).round() as usize;
        rtts.get(i).copied().unwrap_or(f64::NAN)
    };
    json!({ "count": rtts.len(), "median_us": at(0.5), "p99_us": at(0.99) })
}

// ---- plain UDP ceiling ----------------------------------------------------------------------

fn udp_ceiling(bytes: usize) -> Result<Value> {
    let rx = UdpSocket::bind(loopback())?;
    let tx = UdpSocket::bind(loopback())?;
    let _ = socket2::SockRef::from(&rx).set_recv_buffer_size(UDP_RCVBUF);
    rx.set_read_timeout(Some(Duration::from_millis(300)))?;
    let to = rx.local_addr()?;
    let count = bytes / DATAGRAM;
    let received = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&received);
    let receiver = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        let cpu = cpu_seconds("/proc/thread-self/stat");
        let started = Instant::now();
        let mut got = 0usize;
        let mut datagrams = 0usize;
        while let Ok(n) = rx.recv(&mut buf) {
            got += n;
            datagrams += 1;
            counter.store(datagrams, Ordering::Release);
            if datagrams >= count {
                break;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        (got, secs, cpu_seconds("/proc/thread-self/stat") - cpu)
    });
    let datagram = [0x5au8; DATAGRAM];
    let cpu = cpu_seconds("/proc/thread-self/stat");
    let mut lost = 0usize;
    for sent in 0..count {
        // Stay within the receive buffer, so that what is measured is the rate at which
        // the pair moves datagrams, not how fast the kernel drops them.
        while sent - lost > received.load(Ordering::Acquire) + UDP_WINDOW {
            std::thread::yield_now();
        }
        if tx.send_to(&datagram, to).is_err() {
            lost += 1;
        }
    }
    let send_cpu = cpu_seconds("/proc/thread-self/stat") - cpu;
    let (got, secs, recv_cpu) = receiver.join().map_err(|_| "receiver panicked")?;
    Ok(json!({
        "bytes": got,
        "secs": secs,
        "sent_bytes": count * DATAGRAM,
        "send_cpu": send_cpu,
        "recv_cpu": recv_cpu,
    }))
}

/// The plain UDP round-trip floor: 32-byte datagrams bounced between two threads with
/// blocking sockets.
fn udp_ping(pings: usize) -> Result<Value> {
    let a = UdpSocket::bind(loopback())?;
    let b = UdpSocket::bind(loopback())?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
    }
    let total = WARMUP_PINGS + pings;
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 64];
        for _ in 0..total {
            let Ok(n) = b.recv(&mut buf) else {
                return;
            };
            let _ = b.send(&buf[..n]);
        }
    });
    let msg = [7u8; PING];
    let mut buf = [0u8; 64];
    let mut rtts = Vec::with_capacity(pings);
    for i in 0..total {
        let t = Instant::now();
        a.send(&msg)?;
        a.recv(&mut buf)?;
        if i >= WARMUP_PINGS {
            rtts.push(t.elapsed().as_secs_f64() * 1e6);
        }
    }
    echo.join().map_err(|_| "echo thread panicked")?;
    Ok(rtt_summary(&mut rtts))
}

// ---- idle streams ---------------------------------------------------------------------------

async fn idle(pairs: usize) -> Result<Value> {
    let sa = UdxSocket::bind(loopback())?;
    let sb = UdxSocket::bind(loopback())?;
    // Let both tasks start before the baseline.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = rss();
    let mut streams = Vec::with_capacity(2 * pairs);
    let mut byte = [0u8; 1];
    for i in 0..pairs {
        let ida = u32::try_from(2 * i + 1)?;
        let idb = ida + 1;
        let mut a = sa.create_stream(ida).await?;
        let mut b = sb.create_stream(idb).await?;
        a.connect(idb, sb.local_addr()).await?;
        b.connect(ida, sa.local_addr()).await?;
        a.write_all(b"x").await?;
        b.read_exact(&mut byte).await?;
        b.write_all(b"y").await?;
        a.read_exact(&mut byte).await?;
        streams.push(a);
        streams.push(b);
    }
    // Let the last acks settle.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss();
    let delta = after.saturating_sub(before);
    let per = delta as f64 / streams.len() as f64;
    Ok(json!({ "streams": streams.len(), "rss_delta": delta, "per_stream": per }))
}

// ---- the orchestrator -----------------------------------------------------------------------

/// One running end of a case.
struct Peer {
    child: Child,
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    fn spawn(rust: bool, js: &str, role: &str, bytes: usize, pings: usize) -> Result<Self> {
        let mut cmd = if rust {
            // `UDX_BENCH_WRAP="perf record -g -o FILE"` profiles the Rust ends.
            match std::env::var("UDX_BENCH_WRAP") {
                Ok(wrap) if !wrap.trim().is_empty() => {
                    let mut words = wrap.split_whitespace();
                    let mut c = Command::new(words.next().unwrap_or("env"));
                    c.args(words).arg(std::env::current_exe()?);
                    c
                }
                _ => Command::new(std::env::current_exe()?),
            }
        } else {
            let mut c = Command::new("node");
            c.arg(js);
            c
        };
        cmd.args(["peer", "--role", role])
            .args(["--bytes", &bytes.to_string(), "--pings", &pings.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    fn line(&mut self) -> Result<Value> {
        let mut line = String::new();
        self.stdout.read_line(&mut line)?;
        if line.is_empty() {
            return Err("peer exited without a result".into());
        }
        Ok(serde_json::from_str(&line)?)
    }
}

/// Runs one case: `a` (sender or pinger) against `b`; returns both result lines.
fn case(
    js: &str,
    (a_rust, a_role): (bool, &str),
    (b_rust, b_role): (bool, &str),
    bytes: usize,
    pings: usize,
) -> Result<(Value, Value)> {
    let mut b = Peer::spawn(b_rust, js, b_role, bytes, pings)?;
    let mut a = Peer::spawn(a_rust, js, a_role, bytes, pings)?;
    let pa = a.line()?;
    let pb = b.line()?;
    writeln!(b.stdin, "{pa}")?;
    writeln!(a.stdin, "{pb}")?;
    let ra = a.line()?;
    let rb = b.line()?;
    for p in [&mut a, &mut b] {
        let _ = p.child.wait();
    }
    for r in [&ra, &rb] {
        if let Some(e) = r.get("error") {
            return Err(format!("{a_role}/{b_role}: {e}").into());
        }
    }
    Ok((ra, rb))
}

fn f(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or(f64::NAN)
}

/// A throughput row: MiB/s at the receiver, CPU seconds per GiB on each side.
struct Row {
    name: &'static str,
    mibs: f64,
    send_cpu: f64,
    recv_cpu: f64,
}

impl Row {
    fn from(name: &'static str, send: &Value, recv: &Value) -> Self {
        let gib = f(recv, "bytes") / GIB;
        Self {
            name,
            mibs: f(recv, "bytes") / MIB / f(recv, "secs"),
            send_cpu: f(send, "cpu") / gib,
            recv_cpu: f(recv, "cpu") / gib,
        }
    }
}

fn run(js: &str, bytes: usize, pings: usize, streams: usize) -> Result<()> {
    let mut rows = Vec::new();
    eprintln!("udp ceiling ...");
    let udp = udp_ceiling(bytes)?;
    rows.push(Row {
        name: "UDP ceiling, 1200-byte datagrams",
        mibs: f(&udp, "bytes") / MIB / f(&udp, "secs"),
        send_cpu: f(&udp, "send_cpu") / (f(&udp, "sent_bytes") / GIB),
        recv_cpu: f(&udp, "recv_cpu") / (f(&udp, "bytes") / GIB),
    });
    let pairs: [(&'static str, bool, bool); 4] = [
        ("JS → JS (udx-native)", false, false),
        ("Rust → Rust (plures-udx)", true, true),
        ("Rust → JS", true, false),
        ("JS → Rust", false, true),
    ];
    for (name, a, b) in pairs {
        eprintln!("{name} ...");
        let (s, r) = case(js, (a, "send"), (b, "recv"), bytes, pings)?;
        if r["bytes"].as_u64() != Some(bytes as u64) {
            return Err(format!("{name}: received {} of {bytes} bytes", r["bytes"]).into());
        }
        rows.push(Row::from(name, &s, &r));
    }
    eprintln!("ping-pong ...");
    let udp_rtt = udp_ping(pings)?;
    let (js_ping, _) = case(js, (false, "ping"), (false, "pong"), bytes, pings)?;
    let (rust_ping, _) = case(js, (true, "ping"), (true, "pong"), bytes, pings)?;
    eprintln!("idle streams ...");
    let idle_line = Command::new(std::env::current_exe()?)
        .args(["idle", "--streams", &streams.to_string()])
        .output()?;
    let idle: Value = serde_json::from_slice(&idle_line.stdout)?;

    println!(
        "Throughput: {} MiB per run, measured at the receiver from its first byte to EOF.",
        bytes >> 20
    );
    println!();
    println!("| case | MiB/s | sender CPU s/GiB | receiver CPU s/GiB |");
    println!("|---|---:|---:|---:|");
    for r in &rows {
        println!(
            "| {} | {:.1} | {:.2} | {:.2} |",
            r.name, r.mibs, r.send_cpu, r.recv_cpu
        );
    }
    println!();
    println!("| ping-pong, {PING} bytes, {pings} round trips | median µs | p99 µs |");
    println!("|---|---:|---:|");
    for (name, v) in [
        ("plain UDP (floor)", &udp_rtt),
        ("JS ↔ JS", &js_ping),
        ("Rust ↔ Rust", &rust_ping),
    ] {
        println!(
            "| {name} | {:.1} | {:.1} |",
            f(v, "median_us"),
            f(v, "p99_us")
        );
    }
    println!();
    println!(
        "Idle streams: {} open (connected pairs, one byte each way), RSS +{:.1} MiB, {:.0} bytes per stream.",
        idle["streams"],
        f(&idle, "rss_delta") / MIB,
        f(&idle, "per_stream")
    );
    println!();
    let (ceiling, jsjs, rr) = (rows[0].mibs, rows[1].mibs, rows[2].mibs);
    let verdict = |ok: bool| if ok { "met" } else { "NOT met" };
    let ping_ratio = f(&rust_ping, "median_us") / f(&js_ping, "median_us");
    let per_stream = f(&idle, "per_stream");
    println!("| target | measured | verdict |");
    println!("|---|---:|---|");
    println!(
        "| Rust → Rust ≥ 3 × JS → JS | {:.2} × | {} |",
        rr / jsjs,
        verdict(rr >= 3.0 * jsjs)
    );
    println!(
        "| Rust → Rust ≥ 80 % of the UDP ceiling | {:.0} % | {} |",
        100.0 * rr / ceiling,
        verdict(rr >= 0.8 * ceiling)
    );
    println!(
        "| ping-pong median ≤ ½ JS | {:.2} × | {} |",
        ping_ratio,
        verdict(ping_ratio <= 0.5)
    );
    println!(
        "| idle stream ≤ 16 KiB | {:.1} KiB | {} |",
        per_stream / 1024.0,
        verdict(per_stream <= 16_384.0)
    );
    Ok(())
}
