//! The default [`Store`]: one crash-safe `redb` file with integer keys.
//!
//! Collection, field and replica names are interned to integers (the `names` table) and
//! records are numbered per collection, so every other table is keyed by fixed-width
//! integer tuples (see [`layout`]). Winning operations live in one `log` table keyed by
//! stamp, and an in-memory index (record ids, and per record the stamp of each winner)
//! says which rows are live, so a field write appends one row and reads nothing. The index
//! and the version vectors are rebuilt from the file on open; version vectors are written
//! once per transaction.
//!
//! Each [`Store::apply`] is one redb write transaction: redb's copy-on-write commit makes
//! the batch all-or-nothing across crashes. A file of the first layout (a `records` table
//! of encoded records) is converted on open, in one transaction.

use super::{IndexEntry, Store, scan_replica, select, start_after};
use crate::clock::{Hlc, Stamp};
use crate::crdt::{Action, Op, Record, VersionVector};
use crate::error::StoreError;
use crate::wire::PackedBatch;
use layout::{IDS, Interner, LAYOUT, META, NAMES, State, TOMBSTONE, VERSIONS, W, stamp_of};
use redb::{Database, Durability, ReadableTable, WriteTransaction};
use std::cmp::Ordering;
use std::path::Path;

mod layout;
mod legacy;

/// A [`Store`] in one `redb` database file.
pub struct RedbStore {
    pub(super) db: Database,
    state: State,
    durable: bool,
    /// Non-durable commits since the last durable one.
    lazy_commits: u32,
    /// Operations applied by those commits.
    lazy_ops: usize,
    /// Scratch buffer for register rows.
    buf: Vec<u8>,
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

/// The `log` table is compacted once its stale rows are more than this (tiny in unit tests,
/// so that the model tests compact often) and more than [`COMPACT_RATIO`] times its live
/// rows.
pub(crate) const COMPACT_MIN_STALE: usize = if cfg!(test) { 4 } else { 1 << 14 };

/// A compaction copies every live row, so it costs about one insert per live row; letting
/// stale rows reach this many times the live ones spreads that over as many writes per live
/// row, i.e. `1 / COMPACT_RATIO` extra inserts per write, for a `log` of at most
/// `COMPACT_RATIO + 1` times its live rows. (An insert costs ≈ 17k instructions in redb 2.6,
/// about as much as the write itself: with 1 the writes ran at half speed.)
pub(crate) const COMPACT_RATIO: usize = 3;

/// Carries a decoded action through [`select`] (which orders by stamp and place, unique
/// per row, so this never decides an order).
struct Carry(Action);

/// An `ops_since` candidate: stamp, record, slot and the operation.
type Candidate = IndexEntry<(u32, u32, Carry)>;

impl PartialEq for Carry {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Carry {}
impl PartialOrd for Carry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Carry {
    fn cmp(&self, _: &Self) -> Ordering {
        Ordering::Equal
    }
}

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

/// Copies the live rows of `log` in key order into the table of the next generation,
/// deletes the old table and records the new generation, all inside the caller's
/// transaction (so a crash leaves one generation whole). This costs one insert per live
/// row instead of one `remove` (≈ 25k instructions in redb) per stale row. (Copying into a
/// fixed name and `rename_table` would keep one name, but redb 2.6.4 failed to reopen a
/// file after a crash that followed a commit renaming a table.)
fn compact(txn: &WriteTransaction, state: &mut State) -> Result<(), StoreError> {
    let generation = state.log_generation + 1;
    let name = layout::log_name(generation);
    {
        let log = txn.open_table(layout::log_table(&state.log_name))?;
        let mut next = txn.open_table(layout::log_table(&name))?;
        let mut at: Option<(u32, &layout::Coll)> = None;
        for row in log.iter()? {
            let (key, value) = row?;
            let (c, rno, hlc, rec, slot) = key.value();
            let coll = match at {
                Some((n, coll)) if n == c => coll,
                _ => {
                    let coll = state
                        .colls
                        .get(c as usize)
                        .ok_or_else(|| layout::corrupt("log collection"))?;
                    at = Some((c, coll));
                    coll
                }
            };
            if coll.is_live(rno, hlc, rec, slot) {
                next.insert(key.value(), value.value())?;
            }
        }
    }
    txn.delete_table(layout::log_table(&state.log_name))?;
    txn.open_table(LAYOUT)?.insert("log", generation)?;
    state.log_generation = generation;
    state.log_name = name;
    for coll in &mut state.colls {
        coll.rows = coll.live;
    }
    Ok(())
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

    /// Merges `ops` inside `txn`, updating the in-memory state.
    pub(super) fn apply_in<'a>(
        &mut self,
        txn: &WriteTransaction,
        ops: impl IntoIterator<Item = Result<Part<'a>, StoreError>>,
    ) -> Result<usize, StoreError> {
        let mut log = txn.open_table(layout::log_table(&self.state.log_name))?;
        let mut int = Interner {
            state: &mut self.state,
            names: txn.open_table(NAMES)?,
            ids: txn.open_table(IDS)?,
        };
        let buf = &mut self.buf;
        let mut dirty: Vec<(u32, u32)> = Vec::new();
        let mut changed = 0;
        let mut last: Option<(&str, u32)> = None;
        for op in ops {
            let op = op?;
            let c = match last {
                Some((name, c)) if name == op.collection => c,
                _ => {
                    let c = int.collection(op.collection)?;
                    last = Some((op.collection, c));
                    c
                }
            };
            let rec = int.record(c, op.id)?;
            let slot = int.slot(op.field)?;
            let rno = int.replica(op.stamp.replica)?;
            let state = &mut *int.state;
            let replicas = &state.replicas.names;
            let coll = &mut state.colls[c as usize];
            if coll.vv.observe(op.stamp) && !dirty.contains(&(c, rno)) {
                dirty.push((c, rno));
            }
            let r = &mut coll.recs[rec as usize];
            if let Some(t) = r.tomb
                && stamp_of(replicas, t)? >= op.stamp
            {
                continue;
            }
            let new = W {
                hlc: op.stamp.hlc.as_u64(),
                rno,
            };
            match op.field {
                None => {
                    let mut gone = usize::from(r.tomb.is_some());
                    r.tomb = Some(new);
                    let before = r.fields.len();
                    let mut err = None;
                    r.fields.retain(|f| match stamp_of(replicas, f.1) {
                        Ok(s) => s > op.stamp,
                        Err(e) => {
                            err = Some(e);
                            true
                        }
                    });
                    if let Some(e) = err {
                        return Err(e);
                    }
                    gone += before - r.fields.len();
                    coll.live = coll.live + 1 - gone;
                    buf.clear();
                }
                Some(_) => {
                    let value = op.value;
                    layout::encode_value(buf, value)?;
                    match r.fields.iter().position(|f| f.0 == slot) {
                        Some(at) => {
                            let old = r.fields[at].1;
                            let wins = match op.stamp.cmp(&stamp_of(replicas, old)?) {
                                Ordering::Greater => true,
                                Ordering::Less => false,
                                Ordering::Equal => {
                                    // Same stamp, same row: the greater JSON text wins.
                                    let held =
                                        layout::get_value(&log, (c, rno, new.hlc, rec, slot))?;
                                    layout::value_text(buf)? > layout::value_text(&held)?
                                }
                            };
                            if !wins {
                                continue;
                            }
                            r.fields[at].1 = new;
                        }
                        None => {
                            r.fields.push((slot, new));
                            coll.live += 1;
                        }
                    }
                }
            }
            if log
                .insert((c, rno, new.hlc, rec, slot), buf.as_slice())?
                .is_none()
            {
                coll.rows += 1;
            }
            changed += 1;
        }
        drop(log);
        drop(int);
        if changed > 0 {
            let (rows, live) = self
                .state
                .colls
                .iter()
                .fold((0, 0), |(r, l), c| (r + c.rows, l + c.live));
            let stale = rows - live;
            if stale > COMPACT_MIN_STALE && stale > live.saturating_mul(COMPACT_RATIO) {
                compact(txn, &mut self.state)?;
                #[cfg(test)]
                {
                    self.compactions += 1;
                }
            }
        }
        let mut versions = txn.open_table(VERSIONS)?;
        for (c, rno) in dirty {
            let replica = self.state.replica(rno)?;
            let hlc = self.state.colls[c as usize].vv.get(&replica);
            versions.insert((c, rno), hlc.as_u64())?;
        }
        Ok(changed)
    }

    /// Raises the stored version vectors to at least `vvs` (collection name → vector).
    fn merge_versions(
        &mut self,
        txn: &WriteTransaction,
        vvs: &[(String, VersionVector)],
    ) -> Result<(), StoreError> {
        let mut versions = txn.open_table(VERSIONS)?;
        let mut int = Interner {
            state: &mut self.state,
            names: txn.open_table(NAMES)?,
            ids: txn.open_table(IDS)?,
        };
        for (name, vv) in vvs {
            let c = int.collection(name)?;
            for (r, h) in vv.iter() {
                let rno = int.replica(r)?;
                if int.state.colls[c as usize].vv.observe(Stamp::new(h, r)) {
                    versions.insert((c, rno), h.as_u64())?;
                }
            }
        }
        Ok(())
    }

    /// The number of rows in `log`, live or stale.
    #[cfg(test)]
    pub(super) fn log_rows(&self) -> usize {
        let txn = self.db.begin_read().unwrap();
        let len = redb::ReadableTableMetadata::len(
            &txn.open_table(layout::log_table(&self.state.log_name))
                .unwrap(),
        )
        .unwrap();
        usize::try_from(len).unwrap()
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

impl Store for RedbStore {
    fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        let Some(c) = self.state.collection(collection) else {
            return Ok(None);
        };
        let coll = &self.state.colls[c as usize];
        let Some((rec, r)) = coll
            .ids
            .get(id)
            .and_then(|&n| Some((n, coll.recs.get(n as usize)?)))
        else {
            return Ok(None);
        };
        let txn = self.db.begin_read()?;
        let log = txn.open_table(layout::log_table(&self.state.log_name))?;
        let replicas = &self.state.replicas.names;
        let mut record = Record::new();
        if let Some(t) = r.tomb {
            record.merge(stamp_of(replicas, t)?, &Action::Delete);
        }
        for &(slot, w) in &r.fields {
            let bytes = layout::get_value(&log, (c, w.rno, w.hlc, rec, slot))?;
            record.merge(stamp_of(replicas, w)?, &self.action_of(slot, &bytes)?);
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
        let coll = &self.state.colls[c as usize];
        let txn = self.db.begin_read()?;
        let log = txn.open_table(layout::log_table(&self.state.log_name))?;
        let mut entries: Vec<Candidate> = Vec::new();
        for (replica, _) in coll.vv.iter() {
            let Some(from) = start_after(since, &replica) else {
                continue;
            };
            let Some(&rno) = self.state.replicas.numbers.get(&replica) else {
                continue;
            };
            let range = (c, rno, from.as_u64(), 0, 0)..=(c, rno, u64::MAX, u32::MAX, u32::MAX);
            let iter = log
                .range(range)?
                .map(|row| -> Result<Option<Candidate>, StoreError> {
                    let (key, value) = row?;
                    let (_, _, hlc, rec, slot) = key.value();
                    if !coll.is_live(rno, hlc, rec, slot) {
                        return Ok(None);
                    }
                    let action = self.action_of(slot, value.value())?;
                    let stamp = Stamp::new(Hlc::from_u64(hlc), replica);
                    Ok(Some((stamp, (rec, slot, Carry(action)))))
                })
                .filter_map(Result::transpose);
            scan_replica(iter, limit, &mut entries)?;
        }
        select(entries, limit)
            .into_iter()
            .map(|(stamp, (rec, _, Carry(action)))| {
                let id = coll
                    .names
                    .get(rec as usize)
                    .ok_or(StoreError::Inconsistent("winner of an unnamed record"))?;
                Ok(Op {
                    collection: collection.to_owned(),
                    id: id.to_string(),
                    stamp,
                    action,
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
