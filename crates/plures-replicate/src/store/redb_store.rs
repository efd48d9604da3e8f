//! The default [`Store`]: one crash-safe `redb` file.
//!
//! Tables:
//!
//! - `records`: `(collection, id)` → the record's winners ([`encoding`](super::encoding)).
//! - `winners`: `(collection, replica, hlc, id, field)` → `()`, one row per winning operation
//!   (`field` is `None` for a tombstone), so [`Store::ops_since`] is a range scan per replica.
//! - `versions`: `(collection, replica)` → greatest HLC seen.
//! - `meta`: name → bytes, the store's own settings (e.g. the sync key), not replicated.
//!
//! Each [`Store::apply`] is one redb write transaction: redb's copy-on-write commit makes
//! the batch all-or-nothing across crashes.

use super::encoding::decode_record;
use super::{IndexEntry, Store, scan_replica, select, start_after};
use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::crdt::{Op, Record, Slot, VersionVector};
use crate::error::StoreError;
use plures_compact::Encode;
use redb::{Database, Durability, ReadableTable, TableDefinition};
use std::collections::BTreeMap;
use std::path::Path;

type WinnerKey<'a> = (&'a str, [u8; 16], u64, &'a str, Option<&'a str>);

const RECORDS: TableDefinition<'_, (&str, &str), &[u8]> = TableDefinition::new("records");
const WINNERS: TableDefinition<'_, WinnerKey<'_>, ()> = TableDefinition::new("winners");
const VERSIONS: TableDefinition<'_, (&str, [u8; 16]), u64> = TableDefinition::new("versions");
const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

/// A [`Store`] in one `redb` database file.
pub struct RedbStore {
    db: Database,
    durable: bool,
    /// Non-durable commits since the last durable one.
    lazy_commits: u32,
    /// Operations applied by those commits.
    lazy_ops: usize,
}

/// With durability off, every this many commits one is made durable anyway: redb frees the
/// pages a commit replaces only at a durable commit, so without it the file and the page
/// cache grow with every write (about 65 kB per single-field write).
pub(crate) const LAZY_COMMITS_PER_SYNC: u32 = 256;

/// With durability off, a commit is also made durable once the non-durable ones since the
/// last durable commit applied this many operations: large batches (group commit) replace
/// many pages per commit, so counting commits alone lets the file and cache grow.
pub(crate) const LAZY_OPS_PER_SYNC: usize = 4_096;

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore")
            .field("durable", &self.durable)
            .finish_non_exhaustive()
    }
}

fn slot_field(slot: &Slot) -> Option<&str> {
    match slot {
        Slot::Tombstone => None,
        Slot::Field(f) => Some(f),
    }
}

impl RedbStore {
    /// Opens or creates the database file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::init(Database::create(path)?)
    }

    /// A database held in memory (same code paths as a file, for tests), non-durable.
    pub fn in_memory() -> Result<Self, StoreError> {
        let db = Database::builder().create_with_backend(redb::backends::InMemoryBackend::new())?;
        let mut store = Self::init(db)?;
        store.durable = false;
        Ok(store)
    }

    fn init(db: Database) -> Result<Self, StoreError> {
        let txn = db.begin_write()?;
        txn.open_table(RECORDS)?;
        txn.open_table(WINNERS)?;
        txn.open_table(VERSIONS)?;
        txn.open_table(META)?;
        txn.commit()?;
        Ok(Self {
            db,
            durable: true,
            lazy_commits: 0,
            lazy_ops: 0,
        })
    }

    /// Whether commits are flushed to disk before [`Store::apply`] returns (the default).
    ///
    /// With `false`, a crash may lose recently applied batches (at most the last 255, and
    /// fewer than 4 096 operations in all: a commit is made durable when it is the 256th
    /// since the last durable one or brings their operations to 4 096, which also lets redb
    /// reuse the pages the others replaced, so the file and memory stay bounded), but never
    /// part of one: the file reopens at an earlier consistent state. Meant for bulk imports
    /// and tests.
    pub fn set_durable(&mut self, durable: bool) {
        self.durable = durable;
    }

    /// [`Store::apply`], calling `before_commit` just before the transaction commits (the
    /// crash-safety test kills the process there).
    pub(crate) fn apply_with(
        &mut self,
        ops: &[Op],
        before_commit: &mut dyn FnMut(),
    ) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write()?;
        if !self.durable {
            self.lazy_commits += 1;
            self.lazy_ops = self.lazy_ops.saturating_add(ops.len());
            if self.lazy_commits >= LAZY_COMMITS_PER_SYNC || self.lazy_ops >= LAZY_OPS_PER_SYNC {
                self.lazy_commits = 0;
                self.lazy_ops = 0;
            } else {
                txn.set_durability(Durability::None);
            }
        }
        let mut changed = 0;
        {
            let mut records = txn.open_table(RECORDS)?;
            let mut winners = txn.open_table(WINNERS)?;
            let mut versions = txn.open_table(VERSIONS)?;
            let mut touched: BTreeMap<(&str, &str), Record> = BTreeMap::new();
            let mut seen: BTreeMap<(&str, ReplicaId), Hlc> = BTreeMap::new();
            for op in ops {
                let key = (op.collection.as_str(), op.id.as_str());
                let record = match touched.entry(key) {
                    std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        let stored = match records.get(key)? {
                            Some(bytes) => decode_record(bytes.value())?,
                            None => Record::new(),
                        };
                        e.insert(stored)
                    }
                };
                let hlc = seen.entry((key.0, op.stamp.replica)).or_insert(Hlc::ZERO);
                *hlc = (*hlc).max(op.stamp.hlc);
                let effect = record.merge(op.stamp, &op.action);
                for (stamp, slot) in &effect.removed {
                    winners.remove((
                        key.0,
                        stamp.replica.0,
                        stamp.hlc.as_u64(),
                        key.1,
                        slot_field(slot),
                    ))?;
                }
                if let Some((stamp, slot)) = &effect.added {
                    winners.insert(
                        (
                            key.0,
                            stamp.replica.0,
                            stamp.hlc.as_u64(),
                            key.1,
                            slot_field(slot),
                        ),
                        (),
                    )?;
                    changed += 1;
                }
            }
            for (key, record) in &touched {
                records.insert(*key, record.to_bytes()?.as_slice())?;
            }
            for ((coll, replica), hlc) in seen {
                let old = versions.get((coll, replica.0))?.map(|v| v.value());
                if old.is_none_or(|o| o < hlc.as_u64()) {
                    versions.insert((coll, replica.0), hlc.as_u64())?;
                }
            }
        }
        before_commit();
        txn.commit()?;
        Ok(changed)
    }
}

impl Store for RedbStore {
    fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        match records.get((collection, id))? {
            Some(bytes) => Ok(Some(decode_record(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn apply(&mut self, ops: &[Op]) -> Result<usize, StoreError> {
        self.apply_with(ops, &mut || {})
    }

    fn ops_since(
        &self,
        collection: &str,
        since: &VersionVector,
        limit: usize,
    ) -> Result<Vec<Op>, StoreError> {
        let txn = self.db.begin_read()?;
        let records = txn.open_table(RECORDS)?;
        let winners = txn.open_table(WINNERS)?;
        let mut entries: Vec<IndexEntry<(String, Slot)>> = Vec::new();
        for (replica, _) in self.version_vector(collection)?.iter() {
            let Some(from) = start_after(since, &replica) else {
                continue;
            };
            let start: WinnerKey<'_> = (collection, replica.0, from.as_u64(), "", None);
            let iter = winners
                .range(start..)?
                .map(
                    |row| -> Result<Option<IndexEntry<(String, Slot)>>, StoreError> {
                        let (key, _) = row?;
                        let (coll, r, hlc, id, field) = key.value();
                        if coll != collection || r != replica.0 {
                            return Ok(None);
                        }
                        let slot = match field {
                            None => Slot::Tombstone,
                            Some(f) => Slot::Field(f.to_owned()),
                        };
                        Ok(Some((
                            Stamp::new(Hlc::from_u64(hlc), ReplicaId(r)),
                            (id.to_owned(), slot),
                        )))
                    },
                )
                .map_while(|e| e.transpose());
            scan_replica(iter, limit, &mut entries)?;
        }
        let mut cache: BTreeMap<String, Record> = BTreeMap::new();
        let mut out = Vec::new();
        for (stamp, (id, slot)) in select(entries, limit) {
            if !cache.contains_key(&id) {
                let record = records
                    .get((collection, id.as_str()))?
                    .ok_or(StoreError::Inconsistent("winner of a missing record"))?;
                cache.insert(id.clone(), decode_record(record.value())?);
            }
            let action = cache
                .get(&id)
                .and_then(|r| r.action_at(stamp, &slot))
                .ok_or(StoreError::Inconsistent(
                    "winner index out of step with records",
                ))?;
            out.push(Op {
                collection: collection.to_owned(),
                id,
                stamp,
                action,
            });
        }
        Ok(out)
    }

    fn version_vector(&self, collection: &str) -> Result<VersionVector, StoreError> {
        let txn = self.db.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let mut vv = VersionVector::new();
        for row in versions.range((collection, [0u8; 16])..=(collection, [0xffu8; 16]))? {
            let (key, hlc) = row?;
            let (_, r) = key.value();
            vv.observe(Stamp::new(Hlc::from_u64(hlc.value()), ReplicaId(r)));
        }
        Ok(vv)
    }

    fn collections(&self) -> Result<Vec<String>, StoreError> {
        let txn = self.db.begin_read()?;
        let versions = txn.open_table(VERSIONS)?;
        let mut out: Vec<String> = Vec::new();
        for row in versions.iter()? {
            let (key, _) = row?;
            let (coll, _) = key.value();
            if out.last().is_none_or(|l| l != coll) {
                out.push(coll.to_owned());
            }
        }
        Ok(out)
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let txn = self.db.begin_read()?;
        let meta = txn.open_table(META)?;
        Ok(meta.get(name)?.map(|v| v.value().to_vec()))
    }

    fn set_meta(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        {
            let mut meta = txn.open_table(META)?;
            match value {
                Some(v) => {
                    meta.insert(name, v)?;
                }
                None => {
                    meta.remove(name)?;
                }
            }
        }
        txn.commit()?;
        Ok(())
    }
}
