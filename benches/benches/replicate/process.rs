//! Children (this binary re-run as `child ...`) and their results.

use crate::crdt::crdt_child;
use crate::loro::LoroReplica;
use crate::net::{Net, runtime};
use crate::params::Params;
use crate::plures::{
    Kind, plures_concurrent, plures_durable, plures_full, plures_incremental, plures_pull,
    plures_serve,
};
use crate::yrs::YrsReplica;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;
use tokio::net::TcpListener;

pub(crate) fn announce_port(listener: &TcpListener) {
    let port = listener.local_addr().expect("addr").port();
    let mut out = std::io::stdout().lock();
    writeln!(out, "PORT {port}").expect("stdout");
    out.flush().expect("stdout");
}

fn kind_of(system: &str) -> Option<Kind> {
    match system {
        "plures-mem" => Some(Kind::Mem),
        "plures-redb" => Some(Kind::Redb { durable: false }),
        _ => None,
    }
}

pub(crate) fn child(args: &[String]) -> Value {
    let p = Params::from_env();
    let (mode, system) = (args[0].as_str(), args[1].as_str());
    let arg = args.get(2).map(String::as_str).unwrap_or("mem");
    let rt = runtime();
    if mode == "durable" {
        return plures_durable(&p);
    }
    match kind_of(system) {
        Some(kind) => rt.block_on(async {
            match mode {
                "incr" => plures_incremental(&p, kind, Net::parse(arg)).await,
                "full" => plures_full(&p, kind).await,
                "serve" => plures_serve(&p, kind).await,
                "pull" => plures_pull(&p, kind, arg.parse().expect("port")).await,
                "conc" => plures_concurrent(&p, kind).await,
                _ => panic!("unknown mode {mode}"),
            }
        }),
        None if system == "loro" => rt.block_on(crdt_child::<LoroReplica>(&p, mode, arg)),
        None if system == "yrs" => rt.block_on(crdt_child::<YrsReplica>(&p, mode, arg)),
        None => panic!("unknown system {system}"),
    }
}
fn spawn(args: &[&str]) -> std::process::Child {
    let exe = std::env::current_exe().expect("current exe");
    Command::new(exe)
        .arg("child")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn child")
}

/// Reads the child's `RESULT` line (passing `PORT` lines to `on_port`).
fn collect(child: std::process::Child, mut on_port: impl FnMut(u16)) -> Value {
    let mut child = child;
    let out = child.stdout.take().expect("stdout");
    let mut result = json!({});
    for line in BufReader::new(out).lines() {
        let line = line.expect("child output");
        if let Some(port) = line.strip_prefix("PORT ") {
            on_port(port.parse().expect("port"));
        } else if let Some(r) = line.strip_prefix("RESULT ") {
            result = serde_json::from_str(r).expect("result json");
        }
    }
    let status = child.wait().expect("wait");
    assert!(status.success(), "child failed: {status}");
    result
}

pub(crate) fn run_one(
    results: &mut BTreeMap<String, serde_json::Map<String, Value>>,
    system: &str,
    args: &[&str],
) {
    eprintln!("-- {system}: {}", args.join(" "));
    let t = Instant::now();
    let mut full_args = vec![args[0], system];
    full_args.extend(&args[1..]);
    let v = collect(spawn(&full_args), |_| {});
    merge(results, system, v, args);
    eprintln!("   {:.1} s", t.elapsed().as_secs_f64());
}

fn merge(
    results: &mut BTreeMap<String, serde_json::Map<String, Value>>,
    system: &str,
    v: Value,
    args: &[&str],
) {
    let entry = results.entry(system.to_owned()).or_default();
    if let Value::Object(m) = v {
        for (k, v) in m {
            // `incr tcp` reports under its own names.
            let k = if args == ["incr", "tcp"] {
                k.replace("incr_", "incr_tcp_")
            } else {
                k
            };
            entry.insert(k, v);
        }
    }
}

pub(crate) fn run_serve_pull(
    results: &mut BTreeMap<String, serde_json::Map<String, Value>>,
    system: &str,
) {
    eprintln!("-- {system}: serve + pull over TCP");
    let t = Instant::now();
    let server = spawn(&["serve", system]);
    let mut pulled = json!({});
    let served = collect(server, |port| {
        let port = port.to_string();
        pulled = collect(spawn(&["pull", system, &port]), |_| {});
    });
    merge(results, system, served, &["serve"]);
    merge(results, system, pulled, &["pull"]);
    eprintln!("   {:.1} s", t.elapsed().as_secs_f64());
}
