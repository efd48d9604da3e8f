//! Compaction of the redb `log` table: many overwrites of few registers, then "churn" that
//! leaves one winner in each chunk, cross the compaction threshold again and again; the
//! store must keep answering exactly as [`MemoryStore`] does, across reopens, chunks left
//! without winners must leave the file, and a process killed while a compaction commits
//! must reopen at the state before or after that batch, never in between.

use super::redb_store::{CHUNK_CAP, COMPACT_MIN_STALE, COMPACT_RATIO};
use super::redb_tests::{arb_since, canonical, same};
use super::tests::kill_child_at_marker;
use super::*;
use crate::crdt::{Action, Op};
use proptest::prelude::*;
use serde_json::json;
use std::io::Write;

/// Overwrites of three records × two fields (and a few removes and deletes), from two
/// replicas with stamps out of order: nearly every write replaces a winner, so stale rows
/// pile up fast.
fn arb_overwrite() -> impl Strategy<Value = Op> {
    let action = prop_oneof![
        8 => (0usize..2, 0u8..50).prop_map(|(f, v)| Action::Set {
            field: ["a", "b"][f].into(),
            value: json!(v),
        }),
        1 => (0usize..2).prop_map(|f| Action::Remove {
            field: ["a", "b"][f].into(),
        }),
        1 => Just(Action::Delete),
    ];
    (0usize..2, 0usize..3, 1u64..400, 1u8..3, action).prop_map(|(c, id, ms, replica, action)| Op {
        collection: ["c0", "c1"][c].into(),
        id: format!("id{id}"),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([replica; 16])),
        action,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(16))]

    #[test]
    fn redb_compaction_matches_memory_store_model(
        batches in proptest::collection::vec(
            (proptest::collection::vec(arb_overwrite(), 1..40), any::<bool>()),
            4..12,
        ),
        sinces in proptest::collection::vec((arb_since(), 0usize..6), 1..3),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("compact.redb");
        let mut model = MemoryStore::new();
        let mut disk = RedbStore::open(&path).unwrap();
        disk.set_durable(false);
        let mut compactions = 0;
        for (batch, reopen) in &batches {
            let n = model.apply(batch).unwrap();
            prop_assert_eq!(n, disk.apply(batch).unwrap());
            same(&model, &disk, &sinces)?;
            if *reopen {
                compactions += disk.compactions;
                drop(disk);
                disk = RedbStore::open(&path).unwrap();
                disk.set_durable(false);
                same(&model, &disk, &sinces)?;
            }
        }
        // Then churn, one pass per batch, until the store compacts (again).
        let before = disk.compactions;
        for pass in churn("z", 64, 1_000) {
            model.apply(&pass).unwrap();
            disk.apply(&pass).unwrap();
            if disk.compactions > before {
                break;
            }
        }
        prop_assert!(disk.compactions > before);
        compactions += disk.compactions;
        prop_assert!(compactions > 0);
        same(&model, &disk, &sinces)?;
        drop(disk);
        let disk = RedbStore::open(&path).unwrap();
        same(&model, &disk, &sinces)?;
    }
}

/// Batches that rewrite registers so that each chunk keeps one winner: pass 0 writes field
/// `a` of records `{prefix}0..n` (one batch, so chunks of `CHUNK_CAP` entries), and each
/// next pass rewrites the previous pass's registers except the first of each of its
/// chunks. Stale entries then approach `CHUNK_CAP - 1` times the `n` winners.
fn churn(prefix: &str, n: usize, first_ms: u64) -> Vec<Vec<Op>> {
    let mut regs: Vec<usize> = (0..n).collect();
    let mut ms = first_ms;
    let mut passes = Vec::new();
    while !regs.is_empty() {
        let pass = regs
            .iter()
            .map(|&j| {
                ms += 1;
                Op {
                    collection: "c0".into(),
                    id: format!("{prefix}{j}"),
                    stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([8; 16])),
                    action: Action::Set {
                        field: "a".into(),
                        value: json!(ms % 100),
                    },
                }
            })
            .collect();
        passes.push(pass);
        regs = regs
            .into_iter()
            .enumerate()
            .filter(|(p, _)| p % CHUNK_CAP != 0)
            .map(|(_, j)| j)
            .collect();
    }
    passes
}

/// A compaction swaps `log` for a table holding only the winners, in full chunks: the
/// entries it dropped are gone from the file, and what remains reads the same after
/// reopening.
#[test]
fn compaction_keeps_only_winners() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("winners.redb");
    let mut disk = RedbStore::open(&path).unwrap();
    let mut model = MemoryStore::new();
    for pass in churn("r", 40, 1) {
        model.apply(&pass).unwrap();
        disk.apply(&pass).unwrap();
        let (_, entries) = disk.log_rows();
        let live = disk
            .ops_since("c0", &VersionVector::new(), usize::MAX)
            .unwrap()
            .len();
        assert!(live <= entries);
        let stale = entries - live;
        assert!(stale <= COMPACT_MIN_STALE.max(live * COMPACT_RATIO));
    }
    assert!(disk.compactions > 0);
    drop(disk);
    let disk = RedbStore::open(&path).unwrap();
    same(&model, &disk, &[(VersionVector::new(), 2)]).unwrap();
    let txn = disk.db.begin_read().unwrap();
    let tables: Vec<String> = txn
        .list_tables()
        .unwrap()
        .map(|t| redb::TableHandle::name(&t).to_owned())
        .collect();
    let logs: Vec<&String> = tables.iter().filter(|t| t.starts_with("log")).collect();
    assert_eq!(logs.len(), 1, "{tables:?}");
    assert_ne!(logs[0], "log", "{tables:?}");
}

/// A chunk whose entries are all replaced is removed from the file in the transaction
/// that replaces the last of them, without a compaction; a chunk with one winner left
/// stays, and its other entries count as stale.
#[test]
fn chunks_without_winners_leave_the_file() {
    let mut disk = RedbStore::in_memory().unwrap();
    let mut model = MemoryStore::new();
    let n = 3 * CHUNK_CAP;
    let write = |ms: u64, ids: &[usize]| -> Vec<Op> {
        (0..)
            .zip(ids)
            .map(|(k, &j)| overwrite("c0", &format!("r{j}"), 2 * (ms + k), ms))
            .collect()
    };
    let all: Vec<usize> = (0..n).collect();
    let first = write(10, &all);
    model.apply(&first).unwrap();
    disk.apply(&first).unwrap();
    assert_eq!(disk.log_rows(), (3, n));
    // Rewrite every register of the first chunk and all but one of the second.
    let ids: Vec<usize> = (0..2 * CHUNK_CAP - 1).collect();
    let second = write(1_000, &ids);
    model.apply(&second).unwrap();
    disk.apply(&second).unwrap();
    // Left: chunks 2 (one winner, the rest stale) and 3, and the two of this batch.
    assert_eq!(disk.log_rows(), (4, n + ids.len() - CHUNK_CAP));
    assert_eq!(disk.compactions, 0);
    same(&model, &disk, &[(VersionVector::new(), 5)]).unwrap();
    // Overwriting within one batch: the batch's first chunk is written when it is full
    // and removed when the rest of the batch has replaced all its entries.
    let twice: Vec<usize> = (0..CHUNK_CAP)
        .chain(0..CHUNK_CAP)
        .map(|j| 2 * CHUNK_CAP + j)
        .collect();
    let third = write(5_000, &twice);
    model.apply(&third).unwrap();
    disk.apply(&third).unwrap();
    assert_eq!(disk.log_rows(), (4, n + ids.len() - CHUNK_CAP));
    // Replica 9's writes are all replaced by replica 10's in the same batch: its chunk is
    // never written.
    let by = |replica: u8, ms: u64, j: usize| Op {
        collection: "c0".into(),
        id: format!("r{j}"),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([replica; 16])),
        action: Action::Set {
            field: "a".into(),
            value: json!(replica),
        },
    };
    let fourth: Vec<Op> = (0..4)
        .map(|j| by(9, 20_000 + j as u64, j))
        .chain((0..4).map(|j| by(10, 30_000 + j as u64, j)))
        .collect();
    model.apply(&fourth).unwrap();
    disk.apply(&fourth).unwrap();
    assert_eq!(disk.log_rows(), (5, n + ids.len() - CHUNK_CAP + 4));
    assert_eq!(disk.compactions, 0);
    same(&model, &disk, &[(VersionVector::new(), 3)]).unwrap();
}

fn overwrite(c: &str, id: &str, ms: u64, v: u64) -> Op {
    Op {
        collection: c.into(),
        id: id.into(),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([7; 16])),
        action: Action::Set {
            field: ["a", "b"][(ms % 2) as usize].into(),
            value: json!(v),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Crash safety across a compaction: the child commits one compacting batch, then is
// SIGKILLed while committing the next one (which compacts again).

const CHILD_ENV: &str = "PLURES_REPLICATE_COMPACT_CRASH_CHILD";
const MARKER: &str = "plures-replicate: compacted, about to commit";

/// The base the parent writes: 40 records × 2 fields.
fn base() -> Vec<Op> {
    (0..80u64)
        .map(|i| overwrite("c0", &format!("r{}", i / 2), 1 + i, i))
        .collect()
}

/// The child's batches (two runs of churn) and the index of the batch that makes the
/// second compaction, found by applying them to an in-memory store (the code under test
/// is deterministic).
fn plan() -> (Vec<Vec<Op>>, usize) {
    let mut batches = churn("a", 128, 1_000);
    batches.extend(churn("b", 512, 100_000));
    let mut store = RedbStore::in_memory().unwrap();
    store.apply(&base()).unwrap();
    let mut at = Vec::new();
    for (k, batch) in batches.iter().enumerate() {
        let before = store.compactions;
        store.apply(batch).unwrap();
        if store.compactions > before {
            at.push(k);
        }
    }
    assert!(at.len() >= 2, "compactions at {at:?}");
    (batches, at[1])
}

/// Not a test on its own: does nothing unless run as the crash test's child.
#[test]
fn compact_crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (batches, last) = plan();
    let mut store = RedbStore::open(path).unwrap();
    for batch in &batches[..last] {
        store.apply(batch).unwrap();
    }
    assert_eq!(store.compactions, 1);
    store
        .apply_with(&batches[last], &mut || {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{MARKER}").unwrap();
            out.flush().unwrap();
        })
        .unwrap();
    assert_eq!(store.compactions, 2);
}

#[test]
fn redb_compaction_is_all_or_nothing_after_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("crash.redb");
    RedbStore::open(&path).unwrap().apply(&base()).unwrap();

    let killed = kill_child_at_marker(
        "store::redb_compact_tests::compact_crash_child",
        CHILD_ENV,
        &path,
        MARKER,
    );
    assert!(killed, "child never reached its second compaction");

    // The batches before the last were committed durably; the last may or may not have
    // been.
    let (batches, last) = plan();
    let mut before = MemoryStore::new();
    before.apply(&base()).unwrap();
    for batch in &batches[..last] {
        before.apply(batch).unwrap();
    }
    let mut after = MemoryStore::new();
    after.apply(&base()).unwrap();
    for batch in &batches[..=last] {
        after.apply(batch).unwrap();
    }

    let disk = RedbStore::open(&path).unwrap();
    let got = disk.version_vector("c0").unwrap();
    let model = if got == before.version_vector("c0").unwrap() {
        &before
    } else {
        &after
    };
    let all = VersionVector::new();
    assert_eq!(
        canonical(model.ops_since("c0", &all, usize::MAX).unwrap()),
        canonical(disk.ops_since("c0", &all, usize::MAX).unwrap())
    );
    for id in (0..40)
        .map(|r| format!("r{r}"))
        .chain((0..128).map(|j| format!("a{j}")))
        .chain((0..512).map(|j| format!("b{j}")))
    {
        assert_eq!(model.get("c0", &id).unwrap(), disk.get("c0", &id).unwrap());
    }
    assert_eq!(got, model.version_vector("c0").unwrap());
    // The reopened store keeps working: more churn compacts again.
    drop(disk);
    let mut disk = RedbStore::open(&path).unwrap();
    for pass in churn("c", 1_024, 1_000_000) {
        disk.apply(&pass).unwrap();
    }
    assert!(disk.compactions > 0);
}
