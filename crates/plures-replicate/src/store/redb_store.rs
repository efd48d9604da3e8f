//! The default [`Store`]: one crash-safe `redb` file with integer keys.
//!
//! Collection, field and replica names are interned to integers (the `names` table) and
//! records are numbered per collection, the ids a transaction numbers written as one
//! `id_runs` row per collection (see [`layout`]). Winning operations live in the
//! `log` table in chunks: one row per (transaction, collection, replica), keyed by a
//! growing chunk number, holding a fixed-width entry table and the values (see [`chunk`]),
//! so a transaction of a thousand writes inserts one row at the right edge of the B-tree
//! instead of a thousand. An in-memory index (record ids; per record the stamp of each
//! winner and its chunk and entry; per chunk its collection, replica, least and greatest
//! HLC and live count; per collection and replica its chunks by greatest HLC) says which
//! entries are live, so a write reads nothing. Replacing a winner decrements its chunk's
//! live count, and a chunk left without winners is removed in the same transaction (one
//! `remove` for all its entries). Entries replaced in chunks that still hold winners are
//! stale; once they are more than `COMPACT_RATIO` times the live entries, the transaction
//! that got there compacts `log` into the next generation's table (see [`compact`]). The
//! index and the version vectors are rebuilt from the file on open, in one pass over
//! `log`; version vectors are written once per transaction.
//!
//! [`Store::ops_since`] walks one replica's chunks by ascending greatest HLC from the
//! requested start and stops once no remaining chunk can hold an entry below the cut made
//! by `limit` (chunks of one replica normally do not overlap; when a peer's batches
//! arrive out of stamp order or a tie rewrites an old entry they may, and the scan then
//! checks every later chunk's least HLC).
//!
//! Each [`Store::apply`] is one redb write transaction: redb's copy-on-write commit makes
//! the batch all-or-nothing across crashes, and a failed transaction rebuilds the index from
//! the file. A file of the first layout (a `records` table of encoded records) is
//! converted on open, in one transaction. (The layout before chunks, one `log` row per
//! operation keyed by stamp, was never released and is not converted.)

use super::hashing::Map;
use super::{IndexEntry, Store, select, start_after};
use crate::clock::{Hlc, Stamp};
use crate::crdt::{Action, Op, Record, VersionVector};
use crate::error::StoreError;
use crate::wire::PackedBatch;
use layout::{IDS, Interner, LAYOUT, META, NAMES, State, TOMBSTONE, VERSIONS, stamp_of};
use redb::{Database, Durability, WriteTransaction};
use std::collections::hash_map::Entry;
use std::path::Path;

mod apply;
mod chunk;
mod compact;
mod fields;
mod layout;
mod legacy;

#[cfg(test)]
pub(crate) use chunk::CHUNK_CAP;

/// A [`Store`] in one `redb` database file.
pub struct RedbStore {
    pub(super) db: Database,
    state: State,
    durable: bool,
    /// Non-durable commits since the last durable one.
    lazy_commits: u32,
    /// Operations applied by those commits.
    lazy_ops: usize,
    /// Scratch buffers: one value, one chunk row.
    buf: Vec<u8>,
    row: Vec<u8>,
    /// Compactions of `log` since open.
    #[cfg(test)]
    pub(super) compactions: u64,
}

/// With durability off, every this many commits one is made durable anyway: redb frees the
/// pages a commit replaces only at a durable commit, so without it the file and the page
/// cache grow with every write.
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

/// The `log` table is compacted once its stale entries (replaced entries in chunks that
/// still hold a winner) are more than this (tiny in unit tests, so that the model tests
/// compact often) and more than [`COMPACT_RATIO`] times its live entries.
pub(crate) const COMPACT_MIN_STALE: usize = if cfg!(test) { 4 } else { 1 << 14 };

/// A compaction copies every live entry (one insert per full chunk, plus the bytes), so
/// letting stale entries reach this many times the live ones spreads that over as many
/// writes per live entry, for a `log` of at most `COMPACT_RATIO + 1` times its live
/// entries (plus chunks that are entirely live). With one row per operation an insert cost
/// ≈ 17k instructions in redb 2.6 and a ratio of 1 halved the write rate; with chunks a
/// compaction is mostly copying, and 3 is kept to bound the file.
pub(crate) const COMPACT_RATIO: usize = 3;

/// One operation in borrowed parts, from an [`Op`] or a [`PackedBatch`].
pub(super) struct Part<'a> {
    collection: &'a str,
    id: &'a str,
    stamp: Stamp,
    /// `None`: a delete.
    field: Option<&'a str>,
    /// `None`: a remove (or a delete).
    value: Option<&'a serde_json::Value>,
}

/// The parts of each of `ops`.
pub(super) fn parts(ops: &[Op]) -> impl Iterator<Item = Result<Part<'_>, StoreError>> {
    ops.iter().map(|op| {
        Ok(Part {
            collection: &op.collection,
            id: &op.id,
            stamp: op.stamp,
            field: op.action.field(),
            value: match &op.action {
                Action::Set { value, .. } => Some(value),
                _ => None,
            },
        })
    })
}

/// The parts of each operation of `batch`.
fn packed_parts(batch: &PackedBatch) -> impl Iterator<Item = Result<Part<'_>, StoreError>> {
    const BAD: StoreError = StoreError::Inconsistent("packed batch index out of range");
    batch.ops.iter().map(|op| {
        Ok(Part {
            collection: &batch.collection,
            id: batch.id(op).map_err(|_| BAD)?,
            stamp: op.stamp,
            field: match op.action.field() {
                Some(f) => Some(batch.field(f).map_err(|_| BAD)?),
                None => None,
            },
            value: op.action.value(),
        })
    })
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
        txn.open_table(NAMES)?;
        txn.open_table(IDS)?;
        let generation = layout::log_generation(&txn.open_table(LAYOUT)?)?;
        txn.open_table(layout::log_table(&layout::log_name(generation)))?;
        txn.open_table(VERSIONS)?;
        txn.open_table(META)?;
        let old = legacy::take(&txn)?;
        txn.commit()?;
        let state = State::load(&db.begin_read()?)?;
        let mut store = Self {
            db,
            state,
            durable: true,
            lazy_commits: 0,
            lazy_ops: 0,
            buf: Vec::new(),
            row: Vec::new(),
            #[cfg(test)]
            compactions: 0,
        };
        if let Some(old) = old {
            store.convert(old)?;
        }
        Ok(store)
    }

    /// Moves the contents of a first-layout file into the current tables.
    fn convert(&mut self, old: legacy::Legacy) -> Result<(), StoreError> {
        let txn = self.db.begin_write()?;
        let result = self
            .apply_in(&txn, parts(&old.ops))
            .and_then(|_| self.merge_versions(&txn, &old.versions))
            .and_then(|()| legacy::drop_tables(&txn));
        self.finish(txn, result, &mut || {}).map(|_| ())
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
        self.transact(ops.len(), parts(ops), before_commit)
    }

    /// Applies `n` operations in one transaction (see [`Store::apply`]).
    fn transact<'a>(
        &mut self,
        n: usize,
        ops: impl IntoIterator<Item = Result<Part<'a>, StoreError>>,
        before_commit: &mut dyn FnMut(),
    ) -> Result<usize, StoreError> {
        let mut txn = self.db.begin_write()?;
        if !self.durable {
            self.lazy_commits += 1;
            self.lazy_ops = self.lazy_ops.saturating_add(n);
            if self.lazy_commits >= LAZY_COMMITS_PER_SYNC || self.lazy_ops >= LAZY_OPS_PER_SYNC {
                self.lazy_commits = 0;
                self.lazy_ops = 0;
            } else {
                txn.set_durability(Durability::None);
            }
        }
        let result = self.apply_in(&txn, ops);
        self.finish(txn, result, before_commit)
    }

    /// Commits `txn` if `result` is `Ok`; otherwise (or if the commit fails) drops it and
    /// rebuilds the in-memory state, which the transaction may have changed.
    pub(super) fn finish<T>(
        &mut self,
        txn: WriteTransaction,
        result: Result<T, StoreError>,
        before_commit: &mut dyn FnMut(),
    ) -> Result<T, StoreError> {
        let result = result.and_then(|v| {
            before_commit();
            txn.commit()?;
            Ok(v)
        });
        if result.is_err() {
            self.state = State::load(&self.db.begin_read()?)?;
        }
        result
    }

    /// Raises the stored version vectors to at least `vvs` (collection name → vector).
    fn merge_versions(
        &mut self,
        txn: &WriteTransaction,
        vvs: &[(String, VersionVector)],
    ) -> Result<(), StoreError> {
        let mut versions = txn.open_table(VERSIONS)?;
        let mut int = Interner::new(&mut self.state, txn)?;
        for (name, vv) in vvs {
            let c = int.collection(name)?;
            for (r, h) in vv.iter() {
                let rno = int.replica(r)?;
                if int.state.colls[c as usize].vv.observe(Stamp::new(h, r)) {
                    versions.insert((c, rno), h.as_u64())?;
                }
            }
        }
        int.finish()
    }

    /// The number of rows (chunks) in `log` and of entries in them, live or stale.
    #[cfg(test)]
    pub(super) fn log_rows(&self) -> (usize, usize) {
        let txn = self.db.begin_read().unwrap();
        let log = txn
            .open_table(layout::log_table(&self.state.log_name))
            .unwrap();
        let mut rows = 0;
        let mut entries = 0;
        for row in redb::ReadableTable::iter(&log).unwrap() {
            let (_, bytes) = row.unwrap();
            rows += 1;
            entries += chunk::View::parse(bytes.value()).unwrap().len();
        }
        assert_eq!(entries, self.state.chunks.entries);
        (rows, entries)
    }

    /// The number of rows in `id_runs`.
    #[cfg(test)]
    pub(super) fn id_run_rows(&self) -> u64 {
        let txn = self.db.begin_read().unwrap();
        redb::ReadableTableMetadata::len(&txn.open_table(IDS).unwrap()).unwrap()
    }

    /// Whether the chunks of `replica` in `collection` are known not to overlap (`None`:
    /// it has none).
    #[cfg(test)]
    pub(super) fn state_replica_chunks_sorted(
        &self,
        collection: &str,
        replica: crate::clock::ReplicaId,
    ) -> Option<bool> {
        let c = self.state.collection(collection)?;
        let rno = self.state.replicas.get(&replica)?;
        let rc = self.state.colls[c as usize].chunks.get(rno as usize)?;
        (!rc.by_max.is_empty()).then_some(rc.sorted)
    }

    /// The operation held in `slot` with `log` value `bytes`.
    fn action_of(&self, slot: u32, bytes: &[u8]) -> Result<Action, StoreError> {
        if slot == TOMBSTONE {
            return Ok(Action::Delete);
        }
        let field = self.state.slot_name(slot)?.to_owned();
        Ok(match layout::value_text(bytes)? {
            None => Action::Remove { field },
            Some(text) => Action::Set {
                field,
                value: serde_json::from_slice(text).map_err(|_| layout::corrupt("json value"))?,
            },
        })
    }
}

/// Chunk rows read by one query, by chunk number.
struct Rows {
    log: redb::ReadOnlyTable<u64, &'static [u8]>,
    read: Map<u64, redb::AccessGuard<'static, &'static [u8]>>,
}

impl Rows {
    fn new(txn: &redb::ReadTransaction, name: &str) -> Result<Self, StoreError> {
        Ok(Self {
            log: txn.open_table(layout::log_table(name))?,
            read: Map::default(),
        })
    }

    /// The row of `chunk`.
    fn get(&mut self, chunk: u64) -> Result<chunk::View<'_>, StoreError> {
        let guard = match self.read.entry(chunk) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.log.get(chunk)?.ok_or(StoreError::Inconsistent(
                "winner's chunk missing from the log",
            ))?),
        };
        chunk::View::parse(guard.value())
    }
}

/// Where an `ops_since` candidate lives: record, slot, chunk and entry index.
type Place = (u32, u32, u64, u32);

/// An `ops_since` candidate: stamp and place.
type Candidate = IndexEntry<Place>;

impl Store for RedbStore {
    fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(c) = self.state.collection(collection) else {
            return Ok(None);
        };
        let coll = &self.state.colls[c as usize];
        let Some(r) = coll
            .ids
            .get(id.as_bytes())
            .and_then(|&n| coll.recs.get(n as usize))
        else {
            return Ok(None);
        };
        let txn = self.db.begin_read()?;
        let mut rows = Rows::new(&txn, &self.state.log_name)?;
        let replicas = &self.state.replicas.names;
        let mut record = Record::new();
        if let Some(t) = r.tomb {
            record.merge(stamp_of(replicas, t)?, &Action::Delete);
        }
        for &(slot, w) in &r.fields {
            let view = rows.get(w.chunk)?;
            let action = self.action_of(slot, view.value(w.idx as usize)?)?;
            record.merge(stamp_of(replicas, w)?, &action);
        }
        Ok((!record.is_empty()).then_some(record))
    }

    fn apply(&mut self, ops: &[Op]) -> Result<usize, StoreError> {
        self.apply_with(ops, &mut || {})
    }

    fn apply_packed(&mut self, batch: &PackedBatch) -> Result<usize, StoreError> {
        self.transact(batch.ops.len(), packed_parts(batch), &mut || {})
    }

    fn ops_since(
        &self,
        collection: &str,
        since: &VersionVector,
        limit: usize,
    ) -> Result<Vec<Op>, StoreError> {
        let Some(c) = self.state.collection(collection) else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let coll = &self.state.colls[c as usize];
        let txn = self.db.begin_read()?;
        let mut rows = Rows::new(&txn, &self.state.log_name)?;
        let mut entries: Vec<Candidate> = Vec::new();
        let mut found = Vec::new();
        for (replica, _) in coll.vv.iter() {
            let Some(from) = start_after(since, &replica) else {
                continue;
            };
            let Some(rc) = self
                .state
                .replicas
                .get(&replica)
                .and_then(|rno| coll.chunks.get(rno as usize))
            else {
                continue;
            };
            found.clear();
            scan_chunks(coll, rc, &mut rows, from.as_u64(), limit, &mut found)?;
            entries.extend(
                found
                    .drain(..)
                    .map(|(hlc, place)| (Stamp::new(Hlc::from_u64(hlc), replica), place)),
            );
        }
        select(entries, limit)
            .into_iter()
            .map(|(stamp, (rec, slot, chunk, idx))| {
                let id = coll
                    .names
                    .get(rec as usize)
                    .ok_or(StoreError::Inconsistent("winner of an unnamed record"))?;
                let view = rows.get(chunk)?;
                Ok(Op {
                    collection: collection.to_owned(),
                    id: id.as_ref().to_owned(),
                    stamp,
                    action: self.action_of(slot, view.value(idx as usize)?)?,
                })
            })
            .collect()
    }

    fn version_vector(&self, collection: &str) -> Result<VersionVector, StoreError> {
        Ok(self
            .state
            .collection(collection)
            .and_then(|c| self.state.colls.get(c as usize))
            .map(|coll| coll.vv.clone())
            .unwrap_or_default())
    }

    fn collections(&self) -> Result<Vec<String>, StoreError> {
        let mut out: Vec<String> = self
            .state
            .collections
            .names
            .iter()
            .zip(&self.state.colls)
            .filter(|(_, coll)| !coll.vv.is_empty())
            .map(|(name, _)| name.clone())
            .collect();
        out.sort_unstable();
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

/// The live entries of one replica's chunks `rc` with HLC `from` or later, as
/// `(hlc, (record, slot, chunk, index))`: the first `limit` in HLC order and every entry
/// sharing the last one's HLC (one replica's stamps order as their HLCs).
///
/// Chunks are visited by ascending greatest HLC from `from`. Once `limit` entries are
/// found, the `limit`-th least HLC is a cut: a chunk whose least HLC is past it holds
/// nothing that could be selected, and if the replica's chunks do not overlap
/// ([`ReplicaChunks::sorted`](chunk::ReplicaChunks)), neither does any later one.
fn scan_chunks(
    coll: &layout::Coll,
    rc: &chunk::ReplicaChunks,
    rows: &mut Rows,
    from: u64,
    limit: usize,
    out: &mut Vec<(u64, Place)>,
) -> Result<(), StoreError> {
    let mut cut: Option<u64> = None;
    for (&(_, chunk), &min) in rc.by_max.range((from, 0)..) {
        if cut.is_some_and(|cut| min > cut) {
            if rc.sorted {
                break;
            }
            continue;
        }
        let before = out.len();
        let view = rows.get(chunk)?;
        for (i, e) in (0u32..).zip(view.entries()) {
            if e.hlc >= from
                && cut.is_none_or(|cut| e.hlc <= cut)
                && coll.is_live(e.rec, e.slot, chunk, i)
            {
                out.push((e.hlc, (e.rec, e.slot, chunk, i)));
            }
        }
        if out.len() == before {
            // Keep only rows that values will be read from.
            rows.read.remove(&chunk);
        }
        if out.len() >= limit {
            out.select_nth_unstable(limit - 1);
            let c = out[limit - 1].0;
            out.retain(|e| e.0 <= c);
            cut = Some(c);
        }
    }
    Ok(())
}
