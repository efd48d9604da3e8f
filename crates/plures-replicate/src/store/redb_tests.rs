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

    #[test]
    fn redb_layout_matches_memory_store_model(
        batches in proptest::collection::vec(proptest::collection::vec(arb_op(), 0..16), 1..8),
        sinces in proptest::collection::vec((arb_since(), 0usize..6), 1..4),
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
        for batch in &batches {
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
