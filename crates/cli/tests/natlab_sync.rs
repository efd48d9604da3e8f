//! The mission end to end in the NAT lab (`../shared/natlab`, network namespaces): two
//! `plures-sync sync` replicas sharing a sync key, replica A in `peer-a` behind `nat-a`
//! and replica B in `peer-b` behind `nat-b`, find each other on the key's topic through
//! the lab's DHT (`plures-sync testnet` bootstrap nodes on `pub1..3`), holepunch through
//! both NATs, open a Noise-encrypted stream and replicate: both write, both delete, and
//! each must end up holding exactly the model's records (checked with `dump`).
//!
//! Needs root: every test is `#[ignore]` and skips with a message when `natlab.sh check`
//! exits 77 or the lab is not found (`NATLAB_SH`, default `../shared/natlab/natlab.sh`
//! next to the repository). Each test has its own lab prefix (`NATLAB_PREFIX` or
//! `nl<pid>`, plus a tag), a `Drop` guard runs `natlab.sh down`, every process has an
//! `exec --timeout`, and waits are on JSON lines, never sleeps.
//!
//! ```text
//! cargo test -p plures-sync --test natlab_sync -- --ignored --test-threads=1
//! ```
//!
//! Not covered: random/random, where the JS reference fails too (two randomizing NATs).

use std::process::Command;
use std::time::{Duration, Instant};

use plures_test_support::natlab::{Lab, Proc, natlab};
use serde_json::{Map, Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_plures-sync");
/// Hard limit of every lab process.
const PROC_SECONDS: u64 = 170;

/// Starts `plures-sync ARGS` in lab node `node`, stdin kept open (both `testnet` and
/// `sync` stop when it closes).
fn spawn(lab: &mut Lab, node: &str, args: &[&str]) -> Proc {
    lab.spawn(node, PROC_SECONDS, BIN, args, &[])
}

/// A `plures-sync sync` replica: commands on its stdin, replies on its stdout.
struct Replica(Proc);

impl Replica {
    /// Sends a command tagged `req` and returns its reply.
    fn call(&mut self, mut cmd: Value, req: &str, limit: Duration) -> Value {
        cmd["req"] = json!(req);
        self.0.send(&cmd);
        let v = self
            .0
            .wait(&format!("the reply to {req}"), limit, |v| v["req"] == req);
        assert_ne!(v["ev"], "error", "{}: {v}", self.0.label());
        v
    }

    fn put(&mut self, id: &str, data: Value) {
        let cmd = json!({"op":"put","collection":"notes","id":id,"data":data});
        assert_eq!(self.call(cmd, id, Duration::from_secs(10))["ev"], "put");
    }

    fn delete(&mut self, id: &str) {
        let cmd = json!({"op":"delete","collection":"notes","id":id});
        assert_eq!(self.call(cmd, id, Duration::from_secs(10))["ev"], "deleted");
    }

    fn wait_record(&mut self, id: &str, data: Value) {
        let cmd = json!({"op":"wait","collection":"notes","id":id,"data":data,"timeout_ms":60_000});
        let v = self.call(cmd, &format!("wait-{id}"), Duration::from_secs(70));
        if v["ok"] != true {
            // Say whether the connection still moved bytes (transport or session stall).
            let status = self.call(json!({"op":"status"}), "status", Duration::from_secs(10));
            panic!(
                "{}: {id} never became {data}: {v}; {status}",
                self.0.label()
            );
        }
    }

    fn dump(&mut self) -> Value {
        self.call(json!({"op":"dump"}), "dump", Duration::from_secs(10))["records"].clone()
    }

    /// Closes stdin and waits for `stopped`.
    fn stop(mut self) {
        self.0.close_stdin();
        self.0.ev("stopped", Duration::from_secs(20));
    }
}

fn keygen() -> String {
    let out = Command::new(BIN).arg("keygen").output().expect("keygen");
    assert!(out.status.success());
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .trim()
        .to_string()
}

/// The mission with replica A behind `nat_a` and replica B behind `nat_b`. `connect`
/// bounds the time for B to find A and holepunch (a birthday punch of a random NAT takes
/// up to ~20 s in the JS reference).
fn mission(tag: &str, nat_a: &str, nat_b: &str, connect: Duration) {
    let Some(natlab) = natlab() else { return };
    let mut lab = Lab::up(natlab, tag, nat_a, nat_b);
    lab.echo_stdout(true);
    let hosts = lab.pub_hosts();
    let bootstrap = lab.var("NATLAB_BOOTSTRAP").to_string();
    let dir = tempfile::tempdir().expect("tempdir");

    // The DHT: two hyperdht nodes per public host, pub2.. join pub1's bootstrapper.
    let seconds = (PROC_SECONDS - 10).to_string();
    let first = format!("{}:49737", hosts[0]);
    let mut boots = Vec::new();
    for (i, host) in hosts.iter().enumerate() {
        let mut args = vec!["testnet", "--host", host, "--port", "49737", "--nodes", "2"];
        args.extend(["--seconds", &seconds]);
        if i > 0 {
            args.extend(["--bootstrap", &first]);
        }
        let mut p = spawn(&mut lab, &format!("pub{}", i + 1), &args);
        p.wait("the bootstrap line", Duration::from_secs(30), |v| {
            v["bootstrap"].is_array()
        });
        boots.push(p);
    }

    let key = keygen();
    let replica = |lab: &mut Lab, node: &str, name: &str| {
        let store = dir
            .path()
            .join(format!("{name}.redb"))
            .display()
            .to_string();
        let args = [
            "sync",
            "--key",
            &key,
            "--store",
            &store,
            "--bootstrap",
            &bootstrap,
            "--seconds",
            &seconds,
        ];
        Replica(spawn(lab, node, &args))
    };
    let mut a = replica(&mut lab, "peer-a", "a");
    let a_ready = a.0.ev("ready", Duration::from_secs(30));
    a.0.ev("announced", Duration::from_secs(30));
    let mut b = replica(&mut lab, "peer-b", "b");
    let b_ready = b.0.ev("ready", Duration::from_secs(30));
    let t0 = Instant::now();
    b.0.wait("peer_connected", connect, |v| {
        v["peer"] == a_ready["replica"]
    });
    a.0.wait("peer_connected", Duration::from_secs(10), |v| {
        v["peer"] == b_ready["replica"]
    });
    eprintln!("{tag}: {nat_a}/{nat_b} connected in {:?}", t0.elapsed());

    let mut model = Map::new();
    for (p, who) in [(&mut a, "a"), (&mut b, "b")] {
        for n in 1..=3 {
            let id = format!("{who}{n}");
            let data = json!({ "by": who, "n": n, "nat": if who == "a" { nat_a } else { nat_b } });
            p.put(&id, data.clone());
            model.insert(id, data);
        }
    }
    a.delete("b3");
    b.delete("a3");
    model.remove("a3");
    model.remove("b3");
    for p in [&mut a, &mut b] {
        for (id, data) in &model {
            p.wait_record(id, data.clone());
        }
        p.wait_record("a3", Value::Null);
        p.wait_record("b3", Value::Null);
    }
    let want = json!({ "notes": model });
    assert_eq!(a.dump(), want, "replica A");
    assert_eq!(b.dump(), want, "replica B");
    a.stop();
    b.stop();
    drop(boots);
}

/// A test per NAT pair (replica A's side / replica B's side); B dials A.
mod lab {
    use super::*;

    /// Both NATs keep the source port (consistent): a fast-open holepunch.
    #[test]
    #[ignore = "needs root and ../shared/natlab; run with --ignored --test-threads=1"]
    fn mission_cone_cone() {
        mission("scc", "cone", "cone", Duration::from_secs(40));
    }

    /// B's NAT picks a new port per destination: a birthday punch (the JS reference
    /// takes up to ~20 s; the swarm retries a failed attempt after its back-off).
    #[test]
    #[ignore = "needs root and ../shared/natlab; run with --ignored --test-threads=1"]
    fn mission_cone_random() {
        mission("scr", "cone", "random", Duration::from_secs(90));
    }

    /// The same with the random NAT on the side that is dialled.
    #[test]
    #[ignore = "needs root and ../shared/natlab; run with --ignored --test-threads=1"]
    fn mission_random_cone() {
        mission("src", "random", "cone", Duration::from_secs(90));
    }
}
