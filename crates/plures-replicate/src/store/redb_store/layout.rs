//! The tables of [`RedbStore`](super::RedbStore) and the in-memory index kept beside them.
//!
//! ```text
//! names            (kind: u8, name: bytes) -> number: u32    kind 0 collection, 1 field,
//!                  2 replica (its 16 bytes); numbers are dense from 0 per kind
//! id_runs          (collection, first record) -> run of ids   records numbered from 0;
//!                  one row per transaction and collection: each new id as u32 length
//!                  and UTF-8 bytes, numbered consecutively from `first`
//! log              chunk: u64 -> chunk (see `chunk`)
//!                  (generation g > 0 of it is named `log.g`)
//! layout           "log" -> the generation of `log` (absent: 0)
//! version_vectors  (collection, replica) -> greatest hlc seen
//! meta             name -> bytes (not replicated)
//! ```
//!
//! A chunk holds the winning operations one transaction wrote for one (collection,
//! replica), each as (record, slot, hlc) and a value. Slot 0 is the tombstone (empty
//! value); slot `n > 0` the field numbered `n - 1`, whose value is one kind byte (0
//! removed, 1 set) and, if set, the value's compact JSON text. Chunk numbers only grow, so
//! each transaction appends at the right edge of the B-tree. A write that replaces a winner
//! leaves the replaced entry in its chunk as stale (the in-memory index says which entries
//! are live); a chunk without live entries is removed, and once stale entries outnumber
//! the live ones by `COMPACT_RATIO`, the transaction that got there also compacts: it
//! copies the live entries into full chunks of the next generation's table, deletes the
//! old one and records the new generation in `layout`.
//!
//! On open, one pass over `log` rebuilds the winners: every entry is or was a winner, a
//! winner is only replaced by a greater stamp or by an equal stamp written later (a tie
//! won by the greater value), so the live entries are the greatest per slot by (stamp,
//! chunk, index), minus fields hidden by the tombstone.

use super::super::memory::IdKey;
use super::chunk::{Chunks, Meta, ReplicaChunks, View};
use super::fields::Fields;
use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::crdt::VersionVector;
use crate::error::StoreError;
use crate::store::hashing::Map;
use plures_compact::DecodeError;
use redb::{ReadableTable, TableDefinition, WriteTransaction};
use std::sync::Arc;

pub(super) const NAMES: TableDefinition<'_, (u8, &[u8]), u32> = TableDefinition::new("names");
/// `(collection, first record) -> run`: the record ids one transaction numbered in one
/// collection, consecutive from `first`, each as its length (u32) and UTF-8 bytes.
pub(super) const IDS: TableDefinition<'_, (u32, u32), &[u8]> = TableDefinition::new("id_runs");
/// `"log"` -> the generation of the `log` table (absent: 0).
pub(super) const LAYOUT: TableDefinition<'_, &str, u64> = TableDefinition::new("layout");

/// The name of generation `generation` of the `log` table: `log`, then `log.1`, `log.2`…
pub(super) fn log_name(generation: u64) -> String {
    if generation == 0 {
        "log".to_owned()
    } else {
        format!("log.{generation}")
    }
}

/// The `log` table called `name` (see [`log_name`]).
pub(super) fn log_table(name: &str) -> TableDefinition<'_, u64, &'static [u8]> {
    TableDefinition::new(name)
}

/// The current generation of `log`, as stored in `layout`.
pub(super) fn log_generation<T: ReadableTable<&'static str, u64>>(
    layout: &T,
) -> Result<u64, StoreError> {
    Ok(layout.get("log")?.map_or(0, |g| g.value()))
}
pub(super) const VERSIONS: TableDefinition<'_, (u32, u32), u64> =
    TableDefinition::new("version_vectors");
pub(super) const META: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("meta");

const COLLECTION: u8 = 0;
const FIELD: u8 = 1;
const REPLICA: u8 = 2;

/// Slot number of the tombstone.
pub(super) const TOMBSTONE: u32 = 0;

pub(super) fn corrupt(what: &'static str) -> StoreError {
    StoreError::Corrupt(DecodeError::Invalid(what))
}

fn number(len: usize) -> Result<u32, StoreError> {
    u32::try_from(len).map_err(|_| StoreError::Inconsistent("more than 2^32 names"))
}

/// A winner: its HLC and replica number, and where it lives (chunk and entry index).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct W {
    pub(super) hlc: u64,
    pub(super) chunk: u64,
    pub(super) rno: u32,
    pub(super) idx: u32,
}

/// The winners of one record.
#[derive(Clone, Debug, Default)]
pub(super) struct Rec {
    pub(super) tomb: Option<W>,
    /// `(slot, winner)` per visible field.
    pub(super) fields: Fields,
}

impl Rec {
    /// The winner in `slot`.
    pub(super) fn at(&self, slot: u32) -> Option<W> {
        if slot == TOMBSTONE {
            return self.tomb;
        }
        self.fields.iter().find(|f| f.0 == slot).map(|f| f.1)
    }

    /// The winner in `slot`, to move it.
    pub(super) fn at_mut(&mut self, slot: u32) -> Option<&mut W> {
        if slot == TOMBSTONE {
            return self.tomb.as_mut();
        }
        self.fields
            .iter_mut()
            .find(|f| f.0 == slot)
            .map(|f| &mut f.1)
    }

    /// Every winner.
    pub(super) fn winners(&self) -> impl Iterator<Item = W> + '_ {
        self.tomb.into_iter().chain(self.fields.iter().map(|f| f.1))
    }
}

/// One collection: its record ids, their winners, its version vector and its chunks.
#[derive(Debug, Default)]
pub(super) struct Coll {
    /// Record id → number (ids of up to 22 bytes inline, as in `MemoryStore`: a lookup
    /// then compares without following a pointer).
    pub(super) ids: Map<IdKey, u32>,
    pub(super) names: Vec<Arc<str>>,
    pub(super) recs: Vec<Rec>,
    pub(super) vv: VersionVector,
    /// Per replica number, its chunks.
    pub(super) chunks: Vec<ReplicaChunks>,
}

impl Coll {
    /// Whether entry `idx` of `chunk`, for `(rec, slot)`, is a winner.
    pub(super) fn is_live(&self, rec: u32, slot: u32, chunk: u64, idx: u32) -> bool {
        self.recs
            .get(rec as usize)
            .and_then(|r| r.at(slot))
            .is_some_and(|w| w.chunk == chunk && w.idx == idx)
    }

    /// The chunk index of replica `rno`.
    pub(super) fn replica_chunks(&mut self, rno: u32) -> &mut ReplicaChunks {
        let at = rno as usize;
        if at >= self.chunks.len() {
            self.chunks.resize_with(at + 1, ReplicaChunks::default);
        }
        &mut self.chunks[at]
    }
}

/// Interned names of one kind: name → number and number → name.
#[derive(Debug, Default)]
pub(super) struct Interned<T> {
    pub(super) numbers: Map<T, u32>,
    pub(super) names: Vec<T>,
}

/// Up to this many names of a kind are looked up by comparing them in turn, which is
/// cheaper than hashing the name (few fields and replicas is the common case).
const SCAN: usize = 8;

impl<T: Clone + Eq + std::hash::Hash> Interned<T> {
    /// The number of `name`.
    pub(super) fn get<Q>(&self, name: &Q) -> Option<u32>
    where
        T: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        if self.names.len() <= SCAN {
            let at = self.names.iter().position(|n| n.borrow() == name)?;
            return u32::try_from(at).ok();
        }
        self.numbers.get(name).copied()
    }

    fn put(&mut self, name: T, no: u32) {
        let at = no as usize;
        if at >= self.names.len() {
            self.names.resize(at + 1, name.clone());
        }
        self.names[at] = name.clone();
        self.numbers.insert(name, no);
    }

    fn check_dense(&self) -> Result<(), StoreError> {
        if self.numbers.len() == self.names.len() {
            Ok(())
        } else {
            Err(corrupt("names table numbering"))
        }
    }
}

/// Everything but the values, in memory: the names, and per collection the winners of
/// every record and the version vector. It always equals the last committed state:
/// [`RedbStore`](super::RedbStore) rebuilds it from the file after a failed transaction.
#[derive(Debug, Default)]
pub(super) struct State {
    pub(super) collections: Interned<String>,
    pub(super) fields: Interned<String>,
    pub(super) replicas: Interned<ReplicaId>,
    /// Per collection number.
    pub(super) colls: Vec<Coll>,
    /// The generation of the `log` table and its name.
    pub(super) log_generation: u64,
    pub(super) log_name: String,
    /// Every chunk of `log`.
    pub(super) chunks: Chunks,
}

impl State {
    pub(super) fn load(txn: &redb::ReadTransaction) -> Result<Self, StoreError> {
        let mut out = Self::default();
        out.log_generation = log_generation(&txn.open_table(LAYOUT)?)?;
        out.log_name = log_name(out.log_generation);
        for row in txn.open_table(NAMES)?.iter()? {
            let (key, no) = row?;
            let (kind, name) = key.value();
            let no = no.value();
            let text = || {
                std::str::from_utf8(name)
                    .map(str::to_owned)
                    .map_err(|_| corrupt("name utf-8"))
            };
            match kind {
                COLLECTION => out.collections.put(text()?, no),
                FIELD => out.fields.put(text()?, no),
                REPLICA => {
                    let bytes: [u8; 16] = name.try_into().map_err(|_| corrupt("replica id"))?;
                    out.replicas.put(ReplicaId(bytes), no);
                }
                _ => return Err(corrupt("name kind")),
            }
        }
        out.collections.check_dense()?;
        out.fields.check_dense()?;
        out.replicas.check_dense()?;
        out.colls = (0..out.collections.names.len())
            .map(|_| Coll::default())
            .collect();
        for row in txn.open_table(VERSIONS)?.iter()? {
            let (key, hlc) = row?;
            let (c, r) = key.value();
            let replica = out.replica(r)?;
            out.coll_mut(c)?
                .vv
                .observe(Stamp::new(Hlc::from_u64(hlc.value()), replica));
        }
        for row in txn.open_table(IDS)?.iter()? {
            let (key, run) = row?;
            let (c, first) = key.value();
            let coll = out.coll_mut(c)?;
            if first as usize != coll.names.len() {
                return Err(corrupt("record numbering"));
            }
            let mut rest = run.value();
            while let Some((len, tail)) = rest.split_first_chunk::<4>() {
                let (id, tail) = tail
                    .split_at_checked(u32::from_le_bytes(*len) as usize)
                    .ok_or_else(|| corrupt("record id run"))?;
                let id: Arc<str> =
                    Arc::from(std::str::from_utf8(id).map_err(|_| corrupt("record id utf-8"))?);
                coll.ids.insert(IdKey::new(&id), number(coll.names.len())?);
                coll.names.push(id);
                coll.recs.push(Rec::default());
                rest = tail;
            }
            if !rest.is_empty() {
                return Err(corrupt("record id run"));
            }
        }
        out.load_chunks(txn)?;
        Ok(out)
    }

    /// Rebuilds the winners and the chunk metadata from `log`, in one pass over it.
    fn load_chunks(&mut self, txn: &redb::ReadTransaction) -> Result<(), StoreError> {
        // Every entry is or was a winner, and a winner is only ever replaced by a greater
        // stamp, or by an equal stamp written later (a tie won by the greater value): the
        // live entries are the greatest per slot by (stamp, chunk, index), minus fields
        // hidden by the tombstone.
        for row in txn.open_table(log_table(&self.log_name))?.iter()? {
            let (key, bytes) = row?;
            let chunk = key.value();
            let view = View::parse(bytes.value())?;
            let replica = self.replica(view.rno)?;
            let coll = self
                .colls
                .get_mut(view.c as usize)
                .ok_or_else(|| corrupt("chunk collection"))?;
            let replicas = &self.replicas.names;
            let (mut min, mut max) = (u64::MAX, 0);
            for (i, e) in view.entries().enumerate() {
                min = min.min(e.hlc);
                max = max.max(e.hlc);
                let stamp = Stamp::new(Hlc::from_u64(e.hlc), replica);
                let r = coll
                    .recs
                    .get_mut(e.rec as usize)
                    .ok_or_else(|| corrupt("chunk record"))?;
                let w = W {
                    hlc: e.hlc,
                    chunk,
                    rno: view.rno,
                    idx: u32::try_from(i).map_err(|_| corrupt("chunk size"))?,
                };
                let newer = |old: W| stamp_of(replicas, old).is_ok_and(|o| o <= stamp);
                if e.slot == TOMBSTONE {
                    if r.tomb.is_none_or(newer) {
                        r.tomb = Some(w);
                    }
                } else {
                    if e.slot as usize > self.fields.names.len() {
                        return Err(corrupt("chunk slot"));
                    }
                    match r.fields.iter_mut().find(|f| f.0 == e.slot) {
                        Some(f) => {
                            if newer(f.1) {
                                f.1 = w;
                            }
                        }
                        None => r.fields.push((e.slot, w)),
                    }
                }
            }
            let total = u32::try_from(view.len()).map_err(|_| corrupt("chunk size"))?;
            let meta = Meta {
                c: view.c,
                rno: view.rno,
                min,
                max,
                live: 0,
                total,
            };
            self.chunks.meta.insert(chunk, meta);
            self.chunks.entries += view.len();
            self.chunks.next = self.chunks.next.max(chunk + 1);
        }
        for coll in &mut self.colls {
            let replicas = &self.replicas.names;
            for r in &mut coll.recs {
                if let Some(t) = r.tomb {
                    let t = stamp_of(replicas, t)?;
                    r.fields
                        .retain(|f| stamp_of(replicas, f.1).is_ok_and(|s| s > t));
                }
                for w in r.winners() {
                    let m = self
                        .chunks
                        .meta
                        .get_mut(&w.chunk)
                        .ok_or_else(|| corrupt("winner chunk"))?;
                    m.live += 1;
                    self.chunks.live += 1;
                }
            }
        }
        for (&chunk, m) in &self.chunks.meta {
            let coll = self
                .colls
                .get_mut(m.c as usize)
                .ok_or_else(|| corrupt("chunk collection"))?;
            coll.replica_chunks(m.rno)
                .by_max
                .insert((m.max, chunk), m.min);
        }
        for coll in &mut self.colls {
            for rc in &mut coll.chunks {
                rc.check_sorted();
            }
        }
        Ok(())
    }

    fn coll_mut(&mut self, c: u32) -> Result<&mut Coll, StoreError> {
        self.colls
            .get_mut(c as usize)
            .ok_or_else(|| corrupt("collection number"))
    }

    /// The number of collection `name`, if it has one.
    pub(super) fn collection(&self, name: &str) -> Option<u32> {
        self.collections.numbers.get(name).copied()
    }

    /// The name of a field slot (not the tombstone).
    pub(super) fn slot_name(&self, slot: u32) -> Result<&str, StoreError> {
        slot.checked_sub(1)
            .and_then(|n| self.fields.names.get(n as usize))
            .map(String::as_str)
            .ok_or_else(|| corrupt("field slot"))
    }

    pub(super) fn replica(&self, no: u32) -> Result<ReplicaId, StoreError> {
        self.replicas
            .names
            .get(no as usize)
            .copied()
            .ok_or_else(|| corrupt("replica number"))
    }
}

/// The stamp of winner `w`.
pub(super) fn stamp_of(replicas: &[ReplicaId], w: W) -> Result<Stamp, StoreError> {
    let replica = replicas
        .get(w.rno as usize)
        .copied()
        .ok_or_else(|| corrupt("replica number"))?;
    Ok(Stamp::new(Hlc::from_u64(w.hlc), replica))
}

/// Interning inside a write transaction: new names go to the tables and to [`State`]; new
/// record ids are written as one run per collection by [`Interner::finish`].
pub(super) struct Interner<'s, 't> {
    pub(super) state: &'s mut State,
    names: redb::Table<'t, (u8, &'static [u8]), u32>,
    ids: redb::Table<'t, (u32, u32), &'static [u8]>,
    /// Per collection numbering records in this transaction: its first new number and the
    /// run of new ids.
    runs: Vec<(u32, u32, Vec<u8>)>,
}

impl<'s, 't> Interner<'s, 't> {
    pub(super) fn new(state: &'s mut State, txn: &'t WriteTransaction) -> Result<Self, StoreError> {
        Ok(Self {
            state,
            names: txn.open_table(NAMES)?,
            ids: txn.open_table(IDS)?,
            runs: Vec::new(),
        })
    }

    /// Writes the record ids numbered in this transaction.
    pub(super) fn finish(mut self) -> Result<(), StoreError> {
        for (c, first, run) in std::mem::take(&mut self.runs) {
            self.ids.insert((c, first), run.as_slice())?;
        }
        Ok(())
    }

    pub(super) fn collection(&mut self, name: &str) -> Result<u32, StoreError> {
        if let Some(n) = self.state.collection(name) {
            return Ok(n);
        }
        let n = number(self.state.collections.names.len())?;
        self.names.insert((COLLECTION, name.as_bytes()), n)?;
        self.state.collections.put(name.to_owned(), n);
        self.state.colls.push(Coll::default());
        Ok(n)
    }

    /// The slot of `field` (`None`: the tombstone).
    pub(super) fn slot(&mut self, field: Option<&str>) -> Result<u32, StoreError> {
        let Some(name) = field else {
            return Ok(TOMBSTONE);
        };
        if let Some(n) = self.state.fields.get(name) {
            return Ok(n + 1);
        }
        let n = number(self.state.fields.names.len())?;
        self.names.insert((FIELD, name.as_bytes()), n)?;
        self.state.fields.put(name.to_owned(), n);
        Ok(n + 1)
    }

    pub(super) fn replica(&mut self, r: ReplicaId) -> Result<u32, StoreError> {
        if let Some(n) = self.state.replicas.get(&r) {
            return Ok(n);
        }
        let n = number(self.state.replicas.names.len())?;
        self.names.insert((REPLICA, &r.0[..]), n)?;
        self.state.replicas.put(r, n);
        Ok(n)
    }

    pub(super) fn record(&mut self, c: u32, id: &str) -> Result<u32, StoreError> {
        let coll = self.state.coll_mut(c)?;
        if let Some(&n) = coll.ids.get(id.as_bytes()) {
            return Ok(n);
        }
        let n = number(coll.names.len())?;
        let len = u32::try_from(id.len())
            .map_err(|_| StoreError::Inconsistent("a record id of more than 4 GiB"))?;
        let at = match self.runs.iter().position(|r| r.0 == c) {
            Some(at) => at,
            None => {
                self.runs.push((c, n, Vec::new()));
                self.runs.len() - 1
            }
        };
        let run = &mut self.runs[at].2;
        run.extend_from_slice(&len.to_le_bytes());
        run.extend_from_slice(id.as_bytes());
        let id: Arc<str> = Arc::from(id);
        coll.ids.insert(IdKey::new(&id), n);
        coll.names.push(id);
        coll.recs.push(Rec::default());
        Ok(n)
    }
}

/// Writes a field's `log` value into `buf` (cleared first).
pub(super) fn encode_value(
    buf: &mut Vec<u8>,
    value: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    buf.clear();
    match value {
        None => buf.push(0),
        Some(v) => {
            buf.push(1);
            serde_json::to_writer(&mut *buf, v).map_err(|e| StoreError::Backend(Box::new(e)))?;
        }
    }
    Ok(())
}

/// The JSON text of a field's `log` value (`None`: the field was removed).
pub(super) fn value_text(bytes: &[u8]) -> Result<Option<&[u8]>, StoreError> {
    match bytes.split_first() {
        Some((0, [])) => Ok(None),
        Some((1, text)) => Ok(Some(text)),
        _ => Err(corrupt("log value")),
    }
}
