//! The integer-keyed redb layout against [`MemoryStore`] as a model: random batches applied
//! to both give identical `get`, `ops_since`, `version_vector` and `collections` results,
//! before and after reopening the file; and a file of the first layout is converted.

use super::*;
use crate::crdt::{Action, Op};
use crate::wire::{Batch, PackedBatch};
use proptest::prelude::*;
use serde_json::json;

/// Small ranges on purpose: repeated ids and fields, equal stamps with different values,
/// deletes racing writes, and operations out of stamp order.
fn arb_op() -> impl Strategy<Value = Op> {
    let action = prop_oneof![
        6 => (0usize..3, 0u8..4).prop_map(|(f, v)| Action::Set {
            field: ["a", "b", "long field name"][f].into(),
            value: if v == 3 { json!({"k": [v]}) } else { json!(v) },
        }),
        1 => (0usize..3).prop_map(|f| Action::Remove {
            field: ["a", "b", "long field name"][f].into(),
        }),
        1 => Just(Action::Delete),
    ];
    (0usize..2, 0usize..4, 1u64..12, 0u16..2, 1u8..3, action).prop_map(
        |(c, id, ms, counter, replica, action)| Op {
            collection: ["c0", "c1"][c].into(),
            id: format!("id{id}"),
            stamp: Stamp::new(Hlc::new(ms, counter).unwrap(), ReplicaId([replica; 16])),
            action,
        },
    )
}

pub(super) fn arb_since() -> impl Strategy<Value = VersionVector> {
    proptest::collection::vec((1u8..4, 0u64..42), 0..3).prop_map(|v| {
        v.into_iter()
            .filter(|(_, ms)| *ms > 0)
            .map(|(r, ms)| (ReplicaId([r; 16]), Hlc::new(ms, 1).unwrap()))
            .collect()
    })
}

/// `ops` with each run of equal stamps (one multi-field write) sorted by id and field: the
/// contract orders by stamp only, and each store numbers fields its own way.
pub(super) fn canonical(mut ops: Vec<Op>) -> Vec<Op> {
    let key = |o: &Op| (o.stamp, o.id.clone(), o.action.field().map(str::to_owned));
    ops.sort_by_key(key);
    ops
}

pub(super) fn same<A: Store, B: Store>(
    model: &A,
    disk: &B,
    sinces: &[(VersionVector, usize)],
) -> Result<(), TestCaseError> {
    prop_assert_eq!(model.collections().unwrap(), disk.collections().unwrap());
    for c in ["c0", "c1", "none"] {
        prop_assert_eq!(
            model.version_vector(c).unwrap(),
            disk.version_vector(c).unwrap()
        );
        for id in 0..7 {
            let id = format!("id{id}");
            prop_assert_eq!(model.get(c, &id).unwrap(), disk.get(c, &id).unwrap());
        }
        for (since, limit) in sinces {
            let want = model.ops_since(c, since, *limit).unwrap();
            let got = disk.ops_since(c, since, *limit).unwrap();
            prop_assert!(got.windows(2).all(|w| w[0].stamp <= w[1].stamp));
            prop_assert_eq!(canonical(want), canonical(got));
        }
        prop_assert_eq!(
            canonical(
                model
                    .ops_since(c, &VersionVector::new(), usize::MAX)
                    .unwrap()
            ),
            canonical(
                disk.ops_since(c, &VersionVector::new(), usize::MAX)
                    .unwrap()
            )
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Many small transactions and some large ones (past the chunk cap, so one replica's
    /// operations of one batch span several chunks), stamps out of order per replica (so
    /// chunks of one replica overlap), equal-stamp ties, deletes; reopening in between.
    #[test]
    fn redb_layout_matches_memory_store_model(
        batches in proptest::collection::vec(
            (
                prop_oneof![
                    3 => proptest::collection::vec(arb_op(), 0..4),
                    1 => proptest::collection::vec(arb_op(), 8..40),
                ],
                any::<bool>(),
            ),
            1..10,
        ),
        sinces in proptest::collection::vec((arb_since(), 0usize..12), 1..4),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("model.redb");
        let mut model = MemoryStore::new();
        let mut disk = RedbStore::open(&path).unwrap();
        disk.set_durable(false);
        // The same batches through `apply_packed` (one packed batch per run of one
        // collection): MemoryStore's own merge path, and the trait's default for redb.
        let mut packed = MemoryStore::new();
        let mut packed_disk = RedbStore::in_memory().unwrap();
        for (batch, reopen) in &batches {
            if *reopen {
                drop(disk);
                disk = RedbStore::open(&path).unwrap();
                disk.set_durable(false);
                same(&model, &disk, &sinces)?;
            }
            let n = model.apply(batch).unwrap();
            prop_assert_eq!(n, disk.apply(batch).unwrap());
            let mut m = 0;
            for run in batch.chunk_by(|a, b| a.collection == b.collection) {
                let p = PackedBatch::from_batch(&Batch {
                    seq: 1,
                    collection: run[0].collection.clone(),
                    ops: run.to_vec(),
                });
                m += packed.apply_packed(&p).unwrap();
                packed_disk.apply_packed(&p).unwrap();
            }
            prop_assert_eq!(n, m);
            same(&model, &disk, &sinces)?;
            same(&model, &packed, &sinces)?;
            same(&model, &packed_disk, &sinces)?;
        }
        drop(disk);
        let disk = RedbStore::open(&path).unwrap();
        same(&model, &disk, &sinces)?;
    }
}

/// One replica's chunks overlap (batches out of stamp order, and a tie rewriting an entry
/// of an older chunk): `ops_since` with every start and limit still equals MemoryStore's.
#[test]
fn ops_since_across_overlapping_chunks() {
    let r = ReplicaId([4; 16]);
    let op = |ms: u64, id: usize, field: &str, v: u64| Op {
        collection: "c".into(),
        id: format!("id{id}"),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), r),
        action: Action::Set {
            field: field.into(),
            value: json!(v),
        },
    };
    let batches: Vec<Vec<Op>> = vec![
        // 20..40 in two chunks, then 1..19 and 50 (overlapping all of them), then a
        // three-field write at 30 (a tie in slot a with a greater value, and new slots),
        // then the same stamps again with smaller values (they lose).
        (20..40)
            .map(|ms| op(ms, ms as usize % 7, "a", ms))
            .collect(),
        (1..20)
            .chain([50])
            .map(|ms| op(ms, ms as usize % 5 + 7, "b", ms))
            .collect(),
        ["a", "b", "c"]
            .iter()
            .map(|f| op(30, 30 % 7, f, 99))
            .collect(),
        ["a", "b", "c"]
            .iter()
            .map(|f| op(30, 30 % 7, f, 1))
            .collect(),
    ];
    let mut model = MemoryStore::new();
    let mut disk = RedbStore::in_memory().unwrap();
    for batch in &batches {
        assert_eq!(model.apply(batch).unwrap(), disk.apply(batch).unwrap());
    }
    let rno = disk.state_replica_chunks_sorted("c", r);
    assert_eq!(rno, Some(false), "the replica's chunks overlap");
    let mut sinces: Vec<(VersionVector, usize)> = Vec::new();
    for ms in 0..52 {
        for limit in [1, 2, 3, 5, 8, 13, 100] {
            let mut since = VersionVector::new();
            if ms > 0 {
                since.observe(Stamp::new(Hlc::new(ms, 0).unwrap(), r));
            }
            sinces.push((since, limit));
        }
    }
    for (since, limit) in &sinces {
        let want = model.ops_since("c", since, *limit).unwrap();
        let got = disk.ops_since("c", since, *limit).unwrap();
        assert_eq!(
            canonical(want),
            canonical(got),
            "since {since:?} limit {limit}"
        );
    }
    same(&model, &disk, &sinces).unwrap();
}

/// The record ids a transaction numbers are written as one `id_runs` row per collection,
/// and read back with the same numbers on open.
#[test]
fn record_ids_are_written_in_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.redb");
    let mut disk = RedbStore::open(&path).unwrap();
    let mut model = MemoryStore::new();
    let op = |c: &str, id: usize, ms: u64| Op {
        collection: c.into(),
        id: format!("record {id} ✓"),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([1; 16])),
        action: Action::Set {
            field: "a".into(),
            value: json!(ms),
        },
    };
    // New ids in two collections, interleaved; then old and new ids; then only old ones.
    let batches: Vec<Vec<Op>> = vec![
        (0..15)
            .map(|i| op(["c0", "c1"][i % 2], i, 10 + i as u64))
            .collect(),
        (10..20).map(|i| op("c0", i, 100 + i as u64)).collect(),
        (0..5)
            .map(|i| op("c1", 2 * i + 1, 200 + i as u64))
            .collect(),
    ];
    for batch in &batches {
        assert_eq!(model.apply(batch).unwrap(), disk.apply(batch).unwrap());
    }
    // (c0, 0), (c1, 0), (c0, 8): the last batch numbered nothing.
    assert_eq!(disk.id_run_rows(), 3);
    drop(disk);
    let disk = RedbStore::open(&path).unwrap();
    for c in ["c0", "c1"] {
        for i in 0..21 {
            let id = format!("record {i} ✓");
            assert_eq!(
                model.get(c, &id).unwrap(),
                disk.get(c, &id).unwrap(),
                "{c} {id}"
            );
        }
        let all = VersionVector::new();
        assert_eq!(
            canonical(model.ops_since(c, &all, usize::MAX).unwrap()),
            canonical(disk.ops_since(c, &all, usize::MAX).unwrap())
        );
    }
}

/// A store whose `apply` fails after its first operations leaves neither the file nor its
/// in-memory names changed: the next batch numbers names as if the failed one never ran.
#[test]
fn failed_batch_leaves_no_trace() {
    let mut disk = RedbStore::in_memory().unwrap();
    let mut model = MemoryStore::new();
    let op = |c: &str, id: &str, ms: u64, f: &str| Op {
        collection: c.into(),
        id: id.into(),
        stamp: Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([1; 16])),
        action: Action::Set {
            field: f.into(),
            value: json!(ms),
        },
    };
    let first = [op("c", "x", 1, "a")];
    disk.apply(&first).unwrap();
    model.apply(&first).unwrap();
    let txn = disk.db.begin_write().unwrap();
    let failing = [op("d", "y", 2, "b"), op("c", "z", 3, "e")];
    let result = disk.apply_in(&txn, redb_store::parts(&failing));
    assert_eq!(result.unwrap(), 2);
    let failed: Result<(), StoreError> = Err(StoreError::Inconsistent("injected"));
    assert!(disk.finish(txn, failed, &mut || {}).is_err());
    assert_eq!(disk.collections().unwrap(), ["c"]);
    let second = [op("c", "z", 4, "e"), op("d", "y", 5, "b")];
    disk.apply(&second).unwrap();
    model.apply(&second).unwrap();
    same(&model, &disk, &[(VersionVector::new(), 1)]).unwrap();
}

/// A file written in the first layout (records encoded whole, string keys) opens with the
/// same contents, including version vector entries of operations that lost their merge.
#[test]
fn first_layout_file_is_converted_on_open() {
    use plures_compact::Encode;
    use redb::{Database, TableDefinition};
    type OldWinner<'a> = (&'a str, [u8; 16], u64, &'a str, Option<&'a str>);
    const RECORDS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("records");
    const WINNERS: TableDefinition<'_, OldWinner<'_>, ()> = TableDefinition::new("winners");
    const VERSIONS: TableDefinition<'_, (&str, [u8; 16]), u64> = TableDefinition::new("versions");
    const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

    let stamp = |ms, r| Stamp::new(Hlc::new(ms, 0).unwrap(), ReplicaId([r; 16]));
    let ops = vec![
        Op {
            collection: "c".into(),
            id: "x".into(),
            stamp: stamp(5, 1),
            action: Action::Set {
                field: "a".into(),
                value: json!("v"),
            },
        },
        Op {
            collection: "c".into(),
            id: "y".into(),
            stamp: stamp(6, 2),
            action: Action::Delete,
        },
    ];
    let mut model = MemoryStore::new();
    model.apply(&ops).unwrap();
    // Replica 3 wrote at ms 2, before the delete of y: the write lost and is only in the
    // version vector.
    let lost = Op {
        collection: "c".into(),
        id: "y".into(),
        stamp: stamp(2, 3),
        action: Action::Remove { field: "b".into() },
    };
    model.apply(&[lost]).unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.redb");
    {
        let db = Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut records = txn.open_table(RECORDS).unwrap();
            let mut versions = txn.open_table(VERSIONS).unwrap();
            let mut meta = txn.open_table(META).unwrap();
            txn.open_table(WINNERS).unwrap();
            for id in ["x", "y"] {
                let record = model.get("c", id).unwrap().unwrap();
                records
                    .insert(("c", id), record.to_bytes().unwrap().as_slice())
                    .unwrap();
            }
            for (r, h) in model.version_vector("c").unwrap().iter() {
                versions.insert(("c", r.0), h.as_u64()).unwrap();
            }
            meta.insert("kept", &b"yes"[..]).unwrap();
        }
        txn.commit().unwrap();
    }
    let disk = RedbStore::open(&path).unwrap();
    same(&model, &disk, &[(VersionVector::new(), 1)]).unwrap();
    assert_eq!(disk.meta("kept").unwrap().as_deref(), Some(&b"yes"[..]));
    drop(disk);
    let disk = RedbStore::open(&path).unwrap();
    same(&model, &disk, &[(VersionVector::new(), 1)]).unwrap();
}
