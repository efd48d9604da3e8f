//! The whole-stack benchmark (`benches/run-stack.sh`): hyperdht connections (DHT lookup,
//! Noise handshake, secret-stream over UDX) between plures-hyperdht and hyperdht 6.34.0 on
//! a local testnet on 127.0.0.1, and PluresDB sync through `plures-sync sync` end to end.
//!
//! Subcommands:
//!
//! - `run --js PATH --sync PATH --testnet-js PATH [--testnet rust|js|both] [--nodes N]
//!   [--connects N] [--bytes N] [--pings N] [--puts N]`: starts a testnet (`plures-sync
//!   testnet` or `testnet/testnet.mjs`), runs the four client → server cases Rust → Rust,
//!   JS → JS, Rust → JS and JS → Rust on it, each end in its own process
//!   (`stack_bench serve|client` or `benches/js/stack.mjs serve|client`), then (unless
//!   `--puts 0`) the PluresDB sync case on a Rust testnet ([`e2e`]), and prints Markdown
//!   tables with the ratios.
//! - `serve --bootstrap H:P[,..] --seed HEX64` and `client --bootstrap H:P[,..] --key HEX64
//!   [--connects N] [--bytes N] [--pings N]`: one Rust end ([`peer`]); the protocol and
//!   the measurements are described in `benches/js/stack.mjs`.
//!
//! Every child process is killed when the run ends or fails ([`proc::Proc`]), and every
//! peer gives up by itself after [`PEER_LIMIT`].

mod e2e;
mod peer;
mod proc;

use std::net::SocketAddrV4;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use proc::Proc;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The longest a peer process runs.
const PEER_LIMIT: Duration = Duration::from_secs(300);
/// The longest a testnet process runs.
const TESTNET_SECONDS: &str = "900";
/// How long a testnet may take to come up.
const STARTUP: Duration = Duration::from_secs(60);
/// Clock ticks per second of `/proc/self/stat` (`CLK_TCK`).
const TICKS: f64 = 100.0;
const MIB: f64 = 1_048_576.0;

/// CPU seconds (user + system) of this process so far.
fn process_cpu() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
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

struct Args(Vec<String>);

impl Args {
    fn opt(&self, name: &str) -> Option<String> {
        self.0
            .iter()
            .position(|a| a == name)
            .and_then(|i| self.0.get(i + 1).cloned())
    }
    fn num(&self, name: &str, default: u64) -> u64 {
        self.opt(name)
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    }
    fn path(&self, name: &str) -> Result<PathBuf> {
        Ok(self.opt(name).ok_or(format!("{name} is required"))?.into())
    }
}

fn hex32(s: &str) -> Result<[u8; 32]> {
    hex::decode(s)?
        .try_into()
        .map_err(|_| "expected 64 hex digits".into())
}

fn bootstrap(a: &Args) -> Result<Vec<SocketAddrV4>> {
    let list = a.opt("--bootstrap").ok_or("--bootstrap is required")?;
    Ok(list
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

fn main() -> Result<()> {
    let a = Args(std::env::args().skip(1).collect());
    match a.0.first().map(String::as_str) {
        Some("serve") => {
            let seed = hex32(&a.opt("--seed").ok_or("--seed is required")?)?;
            let b = bootstrap(&a)?;
            give_up_after(PEER_LIMIT);
            runtime()?.block_on(peer::serve(b, seed))
        }
        Some("client") => {
            let key = hex32(&a.opt("--key").ok_or("--key is required")?)?;
            let b = bootstrap(&a)?;
            give_up_after(PEER_LIMIT);
            let out = runtime()?.block_on(peer::client(
                b,
                key,
                a.num("--connects", 30) as usize,
                a.num("--bytes", 64 << 20),
                a.num("--pings", 1000) as usize,
            ));
            println!(
                "{}",
                out.unwrap_or_else(|e| json!({ "error": e.to_string() }))
            );
            Ok(())
        }
        Some("run") => run(&a),
        _ => Err("usage: stack_bench run|serve|client ... (see the source)".into()),
    }
}

/// Exits the process (status 3) after `limit`, whatever it is doing.
fn give_up_after(limit: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("stack_bench: gave up after {limit:?}");
        std::process::exit(3);
    });
}

/// Which implementation runs an end or a testnet.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Imp {
    Rust,
    Js,
}

impl Imp {
    fn name(self) -> &'static str {
        match self {
            Self::Rust => "Rust",
            Self::Js => "JS",
        }
    }
}

struct Paths {
    js: PathBuf,
    sync: PathBuf,
    testnet_js: PathBuf,
    me: PathBuf,
}

/// A testnet of `nodes` nodes; returns the process and its bootstrap address.
fn testnet(p: &Paths, imp: Imp, nodes: u64) -> Result<(Proc, String)> {
    let n = nodes.to_string();
    let cmd = match imp {
        Imp::Rust => {
            let mut c = Command::new(&p.sync);
            c.args(["testnet", "--nodes", &n, "--port", "0", "--seconds"])
                .arg(TESTNET_SECONDS)
                .env("RUST_LOG", "warn");
            c
        }
        Imp::Js => {
            let mut c = Command::new("node");
            c.arg(&p.testnet_js)
                .args(["--nodes", &n, "--port", "0", "--seconds"])
                .arg(TESTNET_SECONDS);
            c
        }
    };
    let proc = Proc::spawn(&format!("{} testnet", imp.name()), cmd)?;
    let (_, line) = proc.wait_for(STARTUP, |v| v.get("bootstrap").is_some())?;
    let b = &line["bootstrap"][0];
    let addr = format!(
        "{}:{}",
        b["host"].as_str().unwrap_or("127.0.0.1"),
        b["port"].as_u64().ok_or("testnet: no port")?
    );
    Ok((proc, addr))
}

fn peer_cmd(p: &Paths, imp: Imp, args: &[&str]) -> Command {
    match imp {
        Imp::Rust => {
            let mut c = Command::new(&p.me);
            c.args(args).env("RUST_LOG", "warn");
            c
        }
        Imp::Js => {
            let mut c = Command::new("node");
            c.arg(&p.js).args(args);
            c
        }
    }
}

/// The results of one client → server case.
struct Case {
    client: Imp,
    server: Imp,
    connect_ms: Vec<f64>,
    ping_us: Vec<f64>,
    bulk_mib_s: f64,
    bulk_ok: bool,
    send_cpu: f64,
    recv_cpu: f64,
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect())
        .unwrap_or_default()
}

/// The `q` quantile (nearest rank) of `v`.
fn quantile(v: &[f64], q: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let i = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len()) - 1;
    s[i]
}

#[allow(clippy::too_many_arguments)]
fn run_case(
    p: &Paths,
    boot: &str,
    client: Imp,
    server: Imp,
    seed: u8,
    connects: u64,
    bytes: u64,
    pings: u64,
) -> Result<Case> {
    let seed = hex::encode([seed; 32]);
    let srv = Proc::spawn(
        &format!("{} server", server.name()),
        peer_cmd(p, server, &["serve", "--bootstrap", boot, "--seed", &seed]),
    )?;
    let (_, line) = srv.wait_for(STARTUP, |v| v.get("publicKey").is_some())?;
    let key = line["publicKey"].as_str().ok_or("no publicKey")?.to_owned();
    let (c, b, n) = (connects.to_string(), bytes.to_string(), pings.to_string());
    let cli = Proc::spawn(
        &format!("{} client", client.name()),
        peer_cmd(
            p,
            client,
            &[
                "client",
                "--bootstrap",
                boot,
                "--key",
                &key,
                "--connects",
                &c,
                "--bytes",
                &b,
                "--pings",
                &n,
            ],
        ),
    )?;
    let (_, r) = cli.wait_for(PEER_LIMIT, |v| {
        v.get("connect_ms").is_some() || v.get("error").is_some()
    })?;
    if let Some(e) = r.get("error") {
        return Err(format!("{} client: {e}", client.name()).into());
    }
    let recv = if bytes > 0 {
        srv.wait_for(Duration::from_secs(10), |v| v["ev"] == "bulk")?
            .1
    } else {
        Value::Null
    };
    cli.finish(Duration::from_secs(5));
    srv.finish(Duration::from_secs(5));
    let bulk = &r["bulk"];
    Ok(Case {
        client,
        server,
        connect_ms: floats(&r["connect_ms"]),
        ping_us: floats(&r["ping_us"]),
        bulk_mib_s: bulk["bytes"].as_f64().unwrap_or(f64::NAN)
            / MIB
            / bulk["secs"].as_f64().unwrap_or(f64::NAN),
        bulk_ok: bulk["ok"] == true,
        send_cpu: bulk["cpu"].as_f64().unwrap_or(f64::NAN),
        recv_cpu: recv["cpu"].as_f64().unwrap_or(f64::NAN),
    })
}

fn run(a: &Args) -> Result<()> {
    let p = Paths {
        js: a.path("--js")?,
        sync: a.path("--sync")?,
        testnet_js: a.path("--testnet-js")?,
        me: std::env::current_exe()?,
    };
    let nodes = a.num("--nodes", 8);
    let connects = a.num("--connects", 30);
    let bytes = a.num("--bytes", 64 << 20);
    let pings = a.num("--pings", 1000);
    let puts = a.num("--puts", 100_000);
    let nets = match a.opt("--testnet").as_deref() {
        Some("rust") => vec![Imp::Rust],
        Some("js") => vec![Imp::Js],
        _ => vec![Imp::Rust, Imp::Js],
    };
    let cases = [
        (Imp::Rust, Imp::Rust),
        (Imp::Js, Imp::Js),
        (Imp::Rust, Imp::Js),
        (Imp::Js, Imp::Rust),
    ];
    for (t, net) in nets.into_iter().enumerate() {
        let (tn, boot) = testnet(&p, net, nodes)?;
        let mut results = Vec::new();
        for (i, (c, s)) in cases.into_iter().enumerate() {
            let seed = (t * 16 + i + 1) as u8;
            eprintln!(
                "stack_bench: {} → {} on the {} testnet",
                c.name(),
                s.name(),
                net.name()
            );
            results.push(run_case(&p, &boot, c, s, seed, connects, bytes, pings)?);
        }
        tn.finish(Duration::from_secs(10));
        print_table(net, nodes, connects, bytes, pings, &results);
    }
    if puts > 0 {
        e2e::run(&p.sync, nodes, puts)?;
    }
    Ok(())
}

fn print_table(net: Imp, nodes: u64, connects: u64, bytes: u64, pings: u64, r: &[Case]) {
    println!(
        "\n{} testnet ({nodes} nodes); connect: {connects} connects; bulk: {:.0} MiB one way; \
         ping: {pings} × {}-byte round trips:\n",
        net.name(),
        bytes as f64 / MIB,
        peer::PING
    );
    println!(
        "| client → server | connect median | connect p90 | ping median | ping p99 | bulk | \
         bulk CPU s (send / recv) | digest |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |");
    for c in r {
        println!(
            "| {} → {} | {:.2} ms | {:.2} ms | {:.0} µs | {:.0} µs | {:.1} MiB/s | {:.2} / {:.2} | {} |",
            c.client.name(),
            c.server.name(),
            quantile(&c.connect_ms, 0.5),
            quantile(&c.connect_ms, 0.9),
            quantile(&c.ping_us, 0.5),
            quantile(&c.ping_us, 0.99),
            c.bulk_mib_s,
            c.send_cpu,
            c.recv_cpu,
            if c.bulk_ok { "ok" } else { "MISMATCH" },
        );
    }
    let find = |cl: Imp, s: Imp| r.iter().find(|c| c.client == cl && c.server == s);
    if let (Some(rr), Some(jj)) = (find(Imp::Rust, Imp::Rust), find(Imp::Js, Imp::Js)) {
        let t = |f: &dyn Fn(&Case) -> f64| f(jj) / f(rr);
        println!(
            "| JS→JS ÷ Rust→Rust | {:.2}× | {:.2}× | {:.2}× | {:.2}× | {:.2}× (Rust ÷ JS) | {:.2}× / {:.2}× | |",
            t(&|c| quantile(&c.connect_ms, 0.5)),
            t(&|c| quantile(&c.connect_ms, 0.9)),
            t(&|c| quantile(&c.ping_us, 0.5)),
            t(&|c| quantile(&c.ping_us, 0.99)),
            rr.bulk_mib_s / jj.bulk_mib_s,
            t(&|c| c.send_cpu),
            t(&|c| c.recv_cpu),
        );
    }
}
