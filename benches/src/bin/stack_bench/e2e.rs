//! PluresDB sync end to end: `plures-sync sync` processes (RedbStore, the default) on a
//! Rust testnet of `plures-sync testnet`, all `--open` on 127.0.0.1.
//!
//! Live: once replicas A and B are connected (each printed `peer_connected`), `puts` put
//! commands go into A's stdin as fast as it takes them, and B is asked to `wait` for the
//! last record at the same moment. Measured from the first put written: A acknowledged
//! every put (its local write path: JSON, one redb transaction per put); B holds the last
//! record (its `waited` reply); B holds every record (a `dump` of B, checked record by
//! record against what was put; if some are missing, B waits for the first missing one and
//! dumps again).
//!
//! Catch-up: B stops, a fresh replica C (empty store) joins and is asked at once to wait
//! for the last record; measured from C's `ready` (topic joined) until it holds the last
//! record, then every record (dump checked). This is the replication rate through the
//! whole stack, without A's write path in front of it.
//!
//! The stores live in a fresh temporary directory that is removed afterwards.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::proc::Proc;
use crate::{Imp, Result, STARTUP, TESTNET_SECONDS};

/// The longest the whole sync case may take.
const LIMIT: Duration = Duration::from_secs(600);
/// The collection the records go to.
const COLLECTION: &str = "bench";
/// Dumps of B before giving up on missing records.
const MAX_DUMPS: usize = 10;

/// The data of record `i`.
fn record(i: u64) -> Value {
    json!({ "n": i, "text": format!("record {i:08} of the whole-stack bench") })
}

fn put_line(i: u64) -> String {
    json!({ "op": "put", "collection": COLLECTION, "id": format!("r{i:08}"), "data": record(i) })
        .to_string()
}

/// Removes the directory when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A replica process, with the time it printed `ready`.
fn replica(
    sync: &Path,
    name: &str,
    key: &str,
    store: &Path,
    boot: &str,
) -> Result<(Proc, Instant)> {
    let mut c = Command::new(sync);
    c.arg("sync")
        .args([
            "--key",
            key,
            "--bootstrap",
            boot,
            "--host",
            "127.0.0.1",
            "--open",
        ])
        .arg("--store")
        .arg(store)
        .args(["--seconds", TESTNET_SECONDS])
        .env("RUST_LOG", "warn");
    let p = Proc::spawn(name, c)?;
    let (at, _) = p.wait_for(STARTUP, |v| v["ev"] == "ready")?;
    Ok((p, at))
}

/// The ids of `dump` that are missing or hold other data than was put.
fn missing(dump: &Value, puts: u64) -> Vec<u64> {
    let records = &dump["records"][COLLECTION];
    (0..puts)
        .filter(|&i| records[format!("r{i:08}")] != record(i))
        .collect()
}

/// A `wait` command for record `i`.
fn wait_line(i: u64) -> String {
    json!({
        "op": "wait", "collection": COLLECTION, "id": format!("r{i:08}"),
        "data": record(i), "timeout_ms": LIMIT.as_millis() as u64,
    })
    .to_string()
}

/// After a `wait` for the last record was sent to `p`: the time its reply arrived, the time
/// a dump of `p` showed every record (waiting for the first missing one in between), and
/// the number of dumps.
fn holds_all(p: &mut Proc, name: &str, puts: u64) -> Result<(Instant, Instant, usize)> {
    let waited = p.wait_for(LIMIT, |v| v["ev"] == "waited")?;
    check_all(p, name, puts, waited)
}

/// [`holds_all`] once the `waited` reply for the last record is in.
fn check_all(
    p: &mut Proc,
    name: &str,
    puts: u64,
    (t_last, w): (Instant, Value),
) -> Result<(Instant, Instant, usize)> {
    if w["ok"] != true {
        return Err(format!("{name}: last record not there: {w}").into());
    }
    let mut dumps = 0;
    loop {
        p.send(r#"{"op":"dump"}"#)?;
        let (at, dump) = p.wait_for(LIMIT, |v| v["ev"] == "dump")?;
        dumps += 1;
        let gone = missing(&dump, puts);
        let Some(&first) = gone.first() else {
            return Ok((t_last, at, dumps));
        };
        if dumps >= MAX_DUMPS {
            let n = gone.len();
            return Err(format!("{name}: {n} records missing after {dumps} dumps").into());
        }
        p.send(&wait_line(first))?;
        p.wait_for(LIMIT, |v| v["ev"] == "waited")?;
    }
}

/// Runs the case and prints its table.
pub(crate) fn run(sync: &Path, nodes: u64, puts: u64) -> Result<()> {
    let (tn, boot) = crate::testnet(
        &crate::Paths {
            js: PathBuf::new(),
            sync: sync.to_owned(),
            testnet_js: PathBuf::new(),
            me: PathBuf::new(),
        },
        Imp::Rust,
        nodes,
    )?;
    let dir = TempDir(std::env::temp_dir().join(format!("stack-bench-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0)?;
    let key = hex::encode(std::array::from_fn::<u8, 32, _>(|i| i as u8 ^ 0x5a));
    let (mut a, _) = replica(sync, "replica A", &key, &dir.0.join("a.redb"), &boot)?;
    let (mut b, b_ready) = replica(sync, "replica B", &key, &dir.0.join("b.redb"), &boot)?;
    // From B's `ready` (both joined the topic) until both verified the other.
    let (a_at, _) = a.wait_for(STARTUP, |v| v["ev"] == "peer_connected")?;
    let (b_at, _) = b.wait_for(STARTUP, |v| v["ev"] == "peer_connected")?;
    let connect_s = a_at
        .max(b_at)
        .saturating_duration_since(b_ready)
        .as_secs_f64();

    let last = puts - 1;
    let mut a_in = a.take_stdin().ok_or("replica A: no stdin")?;
    let t0 = Instant::now();
    let writer = std::thread::spawn(move || -> std::io::Result<std::process::ChildStdin> {
        let mut w = std::io::BufWriter::with_capacity(1 << 16, a_in.by_ref());
        for i in 0..puts {
            writeln!(w, "{}", put_line(i))?;
        }
        w.flush()?;
        drop(w);
        Ok(a_in)
    });
    b.send(&wait_line(last))?;

    let mut acked = 0;
    let (t_put, _) = a.wait_for(LIMIT, |v| {
        if v["ev"] == "put" {
            acked += 1;
        }
        acked == puts
    })?;
    // The pipe back to A stays open until the end (closing it stops the replica).
    let _a_in = writer.join().map_err(|_| "writer thread panicked")??;
    let (t_last, t_all, dumps) = holds_all(&mut b, "replica B", puts)?;
    b.finish(Duration::from_secs(10));

    // Catch-up: a fresh replica C joins while A (B has stopped) holds every record.
    let (mut c, c_ready) = replica(sync, "replica C", &key, &dir.0.join("c.redb"), &boot)?;
    c.send(&wait_line(last))?;
    // C's `peer_connected` (an engine event) and `waited` come from different tasks: take
    // them in either order.
    let mut c_connected = None;
    let waited = c.wait_for_timed(LIMIT, |at, v| {
        if v["ev"] == "peer_connected" {
            c_connected.get_or_insert(at);
        }
        v["ev"] == "waited"
    })?;
    let (c_last, c_all, c_dumps) = check_all(&mut c, "replica C", puts, waited)?;
    let c_connected = c_connected.map_or_else(
        || "after its last record".to_owned(),
        |t| {
            format!(
                "{:.0} ms",
                t.saturating_duration_since(c_ready).as_secs_f64() * 1e3
            )
        },
    );
    a.finish(Duration::from_secs(10));
    c.finish(Duration::from_secs(10));
    tn.finish(Duration::from_secs(10));

    let s = |t: Instant, from: Instant| t.duration_since(from).as_secs_f64();
    let row = |what: &str, t: Instant, from: Instant| {
        println!(
            "| {what} | {:.2} | {:.0} |",
            s(t, from),
            puts as f64 / s(t, from)
        );
    };
    println!(
        "\nPluresDB sync end to end ({nodes}-node Rust testnet, `plures-sync sync` processes \
         on 127.0.0.1, RedbStore, {puts} puts into replica A; A and B connected \
         {:.0} ms after B was ready, C {c_connected} after it was ready):\n",
        connect_s * 1e3,
    );
    println!("| milestone | seconds | records/s |");
    println!("| --- | ---: | ---: |");
    row(
        "live: A acknowledged every put (from the first put)",
        t_put,
        t0,
    );
    row(
        "live: B holds the last record (from the first put)",
        t_last,
        t0,
    );
    row(
        &format!("live: B holds every record, dump checked ({dumps} dump(s))"),
        t_all,
        t0,
    );
    row(
        "catch-up: fresh C holds the last record (from C ready)",
        c_last,
        c_ready,
    );
    row(
        &format!("catch-up: C holds every record, dump checked ({c_dumps} dump(s))"),
        c_all,
        c_ready,
    );
    Ok(())
}
