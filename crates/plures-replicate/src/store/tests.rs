//! The same convergence properties against every store, sync by `ops_since`, and the
//! crash-safety test of the redb store.

use super::*;
use crate::crdt::tests::{Mix, Scenario, State, merge_all, reference, scenario, visible};
use crate::crdt::{Action, Op};
use proptest::prelude::*;
use serde_json::json;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

fn vv_of(ops: &[Op], collection: &str) -> VersionVector {
    let mut vv = VersionVector::new();
    for op in ops.iter().filter(|o| o.collection == collection) {
        vv.observe(op.stamp);
    }
    vv
}

/// Checks that `store` holds exactly `expected` for the records in it.
fn assert_holds<S: Store>(store: &S, expected: &State) -> Result<(), TestCaseError> {
    for ((c, id), record) in expected {
        let got = store.get(c, id).unwrap();
        prop_assert_eq!(got.as_ref(), Some(record));
    }
    // Rebuilding from every winner gives back the same state.
    let mut all = Vec::new();
    for c in store.collections().unwrap() {
        all.extend(
            store
                .ops_since(&c, &VersionVector::new(), usize::MAX)
                .unwrap(),
        );
    }
    prop_assert_eq!(&merge_all(&all), expected);
    Ok(())
}

fn apply_in_chunks<S: Store>(store: &mut S, ops: &[Op], mix: &mut Mix) {
    let mut rest = ops;
    while !rest.is_empty() {
        let n = 1 + mix.below(rest.len().min(8));
        let (head, tail) = rest.split_at(n);
        store.apply(head).unwrap();
        rest = tail;
    }
}

/// A non-durable redb file in a temporary directory (creating an in-memory redb database
/// costs more in debug builds).
fn scratch() -> (tempfile::TempDir, RedbStore) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = RedbStore::open(dir.path().join("db.redb")).unwrap();
    store.set_durable(false);
    (dir, store)
}

fn converge<S: Store>(
    mut make: impl FnMut() -> S,
    s: &Scenario,
    replicas: usize,
) -> Result<(), TestCaseError> {
    let expected = merge_all(&s.ops);
    let mut mix = Mix::new(s.ops.len() as u64);
    for delivery in s.deliveries.iter().take(replicas) {
        let mut store = make();
        apply_in_chunks(&mut store, delivery, &mut mix);
        assert_holds(&store, &expected)?;
        for c in ["c0", "c1"] {
            prop_assert_eq!(store.version_vector(c).unwrap(), vv_of(&s.ops, c));
        }
    }
    Ok(())
}

/// Pulls everything `from` has that `to` lacks, `limit` operations at a time.
fn pull<A: Store, B: Store>(from: &A, to: &mut B, limit: usize) {
    for c in from.collections().unwrap() {
        loop {
            let ops = from
                .ops_since(&c, &to.version_vector(&c).unwrap(), limit)
                .unwrap();
            if ops.is_empty() {
                break;
            }
            assert!(ops.windows(2).all(|w| w[0].stamp <= w[1].stamp));
            to.apply(&ops).unwrap();
        }
    }
}

/// Two stores that each hold, per origin replica, a prefix of its operations (all of them
/// for half of the origins) sync both ways and end in the full state.
fn sync<A: Store, B: Store>(
    mut a: A,
    mut b: B,
    s: &Scenario,
    cuts: &[u8],
    limit: usize,
) -> Result<(), TestCaseError> {
    let origin = |op: &Op| usize::from(op.stamp.replica.0[0]);
    let mut per_origin: BTreeMap<usize, Vec<&Op>> = BTreeMap::new();
    for op in &s.ops {
        per_origin.entry(origin(op)).or_default().push(op);
    }
    let (mut to_a, mut to_b) = (Vec::new(), Vec::new());
    for (r, ops) in &per_origin {
        let cut = usize::from(cuts[r % cuts.len()]) % (ops.len() + 1);
        let (full, partial) = if r % 2 == 0 {
            (&mut to_a, &mut to_b)
        } else {
            (&mut to_b, &mut to_a)
        };
        full.extend(ops.iter().map(|o| (*o).clone()));
        partial.extend(ops[..cut].iter().map(|o| (*o).clone()));
    }
    a.apply(&to_a).unwrap();
    b.apply(&to_b).unwrap();
    pull(&a, &mut b, limit);
    pull(&b, &mut a, limit);
    let expected = merge_all(&s.ops);
    assert_holds(&a, &expected)?;
    assert_holds(&b, &expected)?;
    prop_assert_eq!(visible(&expected), reference(&s.ops));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn memory_store_converges(s in scenario()) {
        converge(MemoryStore::new, &s, 5)?;
    }

    #[test]
    fn memory_stores_sync_by_version_vector(
        s in scenario(),
        cuts in proptest::collection::vec(any::<u8>(), 5),
        limit in 1usize..6,
    ) {
        sync(MemoryStore::new(), MemoryStore::new(), &s, &cuts, limit)?;
    }
}

// Creating a redb database costs tens of milliseconds in debug builds: fewer cases.
proptest! {
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn redb_store_converges(s in scenario()) {
        let mut dirs = Vec::new();
        converge(|| { let (d, st) = scratch(); dirs.push(d); st }, &s, 2)?;
    }

    #[test]
    fn redb_stores_sync_by_version_vector(
        s in scenario(),
        cuts in proptest::collection::vec(any::<u8>(), 5),
        limit in 1usize..6,
    ) {
        let (_d1, a) = scratch();
        let (_d2, b) = scratch();
        sync(a, b, &s, &cuts, limit)?;
        let (_d3, c) = scratch();
        sync(MemoryStore::new(), c, &s, &cuts, limit)?;
    }

    #[test]
    fn in_memory_redb_store_converges(s in scenario()) {
        converge(|| RedbStore::in_memory().unwrap(), &s, 1)?;
    }
}

fn op(collection: &str, id: &str, ms: u64, replica: u8, action: Action) -> Op {
    Op {
        collection: collection.into(),
        id: id.into(),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([replica; 16])),
        action,
    }
}

fn set(field: &str, v: u64) -> Action {
    Action::Set {
        field: field.into(),
        value: json!(v),
    }
}

#[test]
fn ops_since_never_splits_a_stamp() {
    let mut store = MemoryStore::new();
    let mut disk = RedbStore::in_memory().unwrap();
    // One write of three fields shares a stamp.
    let ops = vec![
        op("c", "x", 1, 1, set("a", 1)),
        op("c", "x", 2, 1, set("a", 2)),
        op("c", "x", 2, 1, set("b", 2)),
        op("c", "x", 2, 1, set("c", 2)),
        op("c", "y", 3, 1, Action::Delete),
    ];
    assert_eq!(store.apply(&ops).unwrap(), 5);
    assert_eq!(disk.apply(&ops).unwrap(), 5);
    for limit in [0, 1, 2, 3, 4] {
        let since = VersionVector::new();
        let a = store.ops_since("c", &since, limit).unwrap();
        let b = disk.ops_since("c", &since, limit).unwrap();
        assert_eq!(a, b);
        // Winners: a@2, b@2, c@2 (one write) and the tombstone of y@3.
        let expected = match limit {
            0 => 0,
            1..=3 => 3,
            _ => 4,
        };
        assert_eq!(a.len(), expected, "limit {limit}");
    }
    assert!(
        store
            .ops_since("nope", &VersionVector::new(), 9)
            .unwrap()
            .is_empty()
    );
    assert!(
        disk.ops_since("nope", &VersionVector::new(), 9)
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.get("c", "nope").unwrap(), None);
    assert_eq!(disk.get("c", "nope").unwrap(), None);
    assert_eq!(disk.collections().unwrap(), vec!["c".to_owned()]);
    // Replaying the batch changes nothing.
    assert_eq!(store.apply(&ops).unwrap(), 0);
    assert_eq!(disk.apply(&ops).unwrap(), 0);
}

#[test]
fn redb_file_persists_and_non_durable_mode_works() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.apply(&[op("c", "x", 1, 1, set("a", 1))]).unwrap();
        store.set_durable(false);
        store.apply(&[op("c", "x", 2, 1, set("b", 2))]).unwrap();
        assert!(format!("{store:?}").contains("durable: false"));
    }
    let store = RedbStore::open(&path).unwrap();
    let data = store.get("c", "x").unwrap().unwrap().data().unwrap();
    assert_eq!(serde_json::Value::Object(data), json!({"a": 1, "b": 2}));
}

#[test]
fn corrupt_record_bytes_are_an_error_not_a_panic() {
    use super::encoding::decode_record;
    let mut record = Record::new();
    record.merge(op("c", "x", 1, 1, set("a", 1)).stamp, &set("a", 1));
    record.merge(op("c", "x", 2, 1, Action::Delete).stamp, &Action::Delete);
    record.merge(op("c", "x", 3, 1, set("a", 1)).stamp, &set("b", 7));
    // A realistic HLC (2023, counter 5) is far above compact's 2^53 integer limit.
    let now = Stamp::new(Hlc::new(1_700_000_000_000, 5).unwrap(), ReplicaId([9; 16]));
    record.merge(now, &set("c", 8));
    let bytes = plures_compact::Encode::to_bytes(&record).unwrap();
    assert_eq!(decode_record(&bytes).unwrap(), record);
    for cut in 0..bytes.len() {
        assert!(decode_record(&bytes[..cut]).is_err());
    }
    let mut mix = Mix::new(7);
    for _ in 0..2_000 {
        let mut b = bytes.clone();
        let i = mix.below(b.len());
        b[i] = mix.next() as u8;
        let _ = decode_record(&b);
    }
}

// ---------------------------------------------------------------------------------------
// Crash safety: a child process applies a large batch and is SIGKILLed while committing.

/// Runs the test `test` of this binary as a child with `env` set to `path`, and kills it
/// (SIGKILL) as soon as it prints `marker`; returns whether it got that far.
pub(super) fn kill_child_at_marker(
    test: &str,
    env: &str,
    path: &std::path::Path,
    marker: &str,
) -> bool {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        if line.unwrap().contains(marker) {
            child.kill().unwrap();
            killed = true;
            break;
        }
    }
    child.wait().unwrap();
    killed
}

const CHILD_ENV: &str = "PLURES_REPLICATE_CRASH_CHILD";
const MARKER: &str = "plures-replicate: about to commit";
const BIG: usize = 3_000;

fn big_batch() -> Vec<Op> {
    (0..BIG)
        .map(|i| {
            op(
                "big",
                &format!("r{i}"),
                10 + i as u64,
                9,
                set("payload", i as u64),
            )
        })
        .collect()
}

/// Not a test on its own: does nothing unless run as the crash test's child.
#[test]
fn crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = RedbStore::open(path).unwrap();
    store
        .apply_with(&big_batch(), &mut || {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{MARKER}").unwrap();
            out.flush().unwrap();
        })
        .unwrap();
}

#[test]
fn redb_batch_is_all_or_nothing_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    let baseline = [op("keep", "x", 1, 1, set("a", 1))];
    RedbStore::open(&path).unwrap().apply(&baseline).unwrap();

    let killed = kill_child_at_marker("store::tests::crash_child", CHILD_ENV, &path, MARKER);
    assert!(killed, "child never reached its commit");

    let store = RedbStore::open(&path).unwrap();
    let present = (0..BIG)
        .filter(|i| store.get("big", &format!("r{i}")).unwrap().is_some())
        .count();
    assert!(
        present == 0 || present == BIG,
        "torn batch: {present} of {BIG}"
    );
    let winners = store
        .ops_since("big", &VersionVector::new(), usize::MAX)
        .unwrap();
    assert_eq!(winners.len(), present);
    let vv = store.version_vector("big").unwrap();
    assert_eq!(vv.is_empty(), present == 0);
    assert_eq!(
        store.get("keep", "x").unwrap(),
        merge_all(&baseline).into_values().next()
    );
}

fn meta_round_trip<S: Store>(store: &mut S) {
    assert_eq!(store.meta("k").unwrap(), None);
    store.set_meta("k", Some(b"v1")).unwrap();
    store.set_meta("k", Some(b"v2")).unwrap();
    assert_eq!(store.meta("k").unwrap().as_deref(), Some(&b"v2"[..]));
    store.set_meta("k", None).unwrap();
    assert_eq!(store.meta("k").unwrap(), None);
    assert!(store.collections().unwrap().is_empty());
}

#[test]
fn metadata_in_both_stores() {
    meta_round_trip(&mut MemoryStore::new());
    let (dir, mut store) = scratch();
    meta_round_trip(&mut store);
    store.set_meta("kept", Some(b"x")).unwrap();
    drop(store);
    let store = RedbStore::open(dir.path().join("db.redb")).unwrap();
    assert_eq!(store.meta("kept").unwrap().as_deref(), Some(&b"x"[..]));
}

#[test]
fn non_durable_commits_stay_bounded_and_reopen_consistent() {
    // Single-field writes, one commit each, durability off: redb frees replaced pages only
    // at a durable commit, so without the periodic durable commit the file grows by tens of
    // kilobytes per write (67 MB after these 1 024 writes; 34 MB with it, flat from there).
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lazy.redb");
    let n = 4 * redb_store::LAZY_COMMITS_PER_SYNC as u64;
    {
        let mut store = RedbStore::open(&path).unwrap();
        store.set_durable(false);
        for i in 0..n {
            let id = format!("r{}", i % 100);
            store
                .apply(&[op("c", &id, 1000 + i, 1, set("f", i))])
                .unwrap();
        }
    }
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(
        size < 48 << 20,
        "{size} bytes after {n} non-durable commits"
    );
    // The file reopens at a consistent state that includes at least the last durable
    // commit (the last write here).
    let store = RedbStore::open(&path).unwrap();
    let seen = store.version_vector("c").unwrap().get(&ReplicaId([1; 16]));
    assert!(seen.ms() >= 1000 + n - 1, "{seen:?}");
    let last = store.get("c", &format!("r{}", (n - 1) % 100)).unwrap();
    assert!(last.is_some());
}

/// Enough overwrites that `MemoryStore` compacts its winner logs several times, applied
/// partly out of stamp order, with deletes: the store still holds the reference state, and
/// pulling it into another store in small steps gives the same state.
#[test]
fn memory_store_winner_logs_compact_and_stay_exact() {
    let mut mix = Mix::new(99);
    let mut ops = Vec::new();
    for i in 0..12_000u64 {
        let replica = 1 + (i % 3) as u8;
        let id = format!("r{}", mix.below(20));
        let action = match mix.below(25) {
            0 => Action::Delete,
            1 => Action::Remove { field: "a".into() },
            _ => set(["a", "b", "c"][mix.below(3)], i),
        };
        ops.push(op("c", &id, 10 + i, replica, action));
    }
    // Swap neighbours now and then so some operations arrive out of stamp order.
    for i in (1..ops.len()).step_by(7) {
        ops.swap(i - 1, i);
    }
    let mut store = MemoryStore::new();
    for chunk in ops.chunks(50) {
        store.apply(chunk).unwrap();
    }
    let expected = merge_all(&ops);
    assert_holds(&store, &expected).unwrap();
    let mut copy = MemoryStore::new();
    pull(&store, &mut copy, 7);
    assert_holds(&copy, &expected).unwrap();
    assert_eq!(visible(&expected), reference(&ops));
}
