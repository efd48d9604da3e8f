//! Compaction of the redb `log` table: many overwrites of few registers cross the
//! compaction threshold again and again; the store must keep answering exactly as
//! [`MemoryStore`] does, across reopens, and a process killed while a compaction commits
//! must reopen at the state before or after that batch, never in between.

use super::redb_store::{COMPACT_MIN_STALE, COMPACT_RATIO};
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
        // Then 80 winning overwrites of c0's six registers: at most 18 rows are live (nine
        // per collection), so this batch must compact (again).
        let before = disk.compactions;
        let last: Vec<Op> = (0..80u64)
            .map(|i| overwrite("c0", &format!("id{}", i % 3), 1_000 + i, i))
            .collect();
        model.apply(&last).unwrap();
        disk.apply(&last).unwrap();
        prop_assert!(disk.compactions > before);
        compactions += disk.compactions;
        prop_assert!(compactions > 0);
        same(&model, &disk, &sinces)?;
        drop(disk);
        let disk = RedbStore::open(&path).unwrap();
        same(&model, &disk, &sinces)?;
    }
}

/// A compaction swaps `log` for a table holding only the winners: the rows it dropped are
/// gone from the file, and what remains reads the same after reopening.
#[test]
fn compaction_keeps_only_winners() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("winners.redb");
    let mut disk = RedbStore::open(&path).unwrap();
    let mut model = MemoryStore::new();
    for round in 0..20u64 {
        let batch: Vec<Op> = (0..5)
            .map(|i| overwrite("c0", &format!("id{}", i % 3), 1 + round * 5 + i, round))
            .collect();
        model.apply(&batch).unwrap();
        disk.apply(&batch).unwrap();
    }
    assert!(disk.compactions > 0);
    let rows = disk.log_rows();
    let live = disk
        .ops_since("c0", &VersionVector::new(), usize::MAX)
        .unwrap()
        .len();
    assert!(live <= rows && rows - live <= COMPACT_MIN_STALE.max(live * COMPACT_RATIO));
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

/// Batch `k` of the child: 400 overwrites of the base's registers, enough that stale
/// rows reach `COMPACT_RATIO` times the 80 live ones within the batch.
fn child_batch(k: u64) -> Vec<Op> {
    (0..400u64)
        .map(|i| {
            let ms = 1_000 + k * 1_000 + i;
            overwrite("c0", &format!("r{}", (i * 7) % 40), ms, ms)
        })
        .collect()
}

/// Not a test on its own: does nothing unless run as the crash test's child.
#[test]
fn compact_crash_child() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut store = RedbStore::open(path).unwrap();
    store.apply(&child_batch(0)).unwrap();
    assert_eq!(store.compactions, 1);
    store
        .apply_with(&child_batch(1), &mut || {
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

    // The first batch was committed durably; the second may or may not have been.
    let mut before = MemoryStore::new();
    before.apply(&base()).unwrap();
    before.apply(&child_batch(0)).unwrap();
    let mut after = MemoryStore::new();
    after.apply(&base()).unwrap();
    after.apply(&child_batch(0)).unwrap();
    after.apply(&child_batch(1)).unwrap();

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
    for r in 0..40 {
        let id = format!("r{r}");
        assert_eq!(model.get("c0", &id).unwrap(), disk.get("c0", &id).unwrap());
    }
    assert_eq!(got, model.version_vector("c0").unwrap());
    // The reopened store keeps working: one more batch compacts again.
    drop(disk);
    let mut disk = RedbStore::open(&path).unwrap();
    disk.apply(&child_batch(2)).unwrap();
    assert!(disk.compactions > 0);
}
