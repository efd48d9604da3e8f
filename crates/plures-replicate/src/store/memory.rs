//! An in-memory [`Store`], for tests and ephemeral replicas.
//!
//! Record ids and field names are interned per collection (`Arc<str>` → `u32`), so the
//! winner index is keyed by small integers: per replica, a log (a sorted `Vec`) of
//! `(hlc, record, slot)` where slot 0 is the tombstone and `n > 0` the `n`-th field name.
//! A replica's operations normally arrive in stamp order, so adding a winner is a push;
//! a winner that leaves the state is not searched for but left in the log as stale (a scan
//! skips entries that are no longer their record's winner), and the log is compacted once
//! more than half of it is stale. Merging an operation allocates nothing once its id and
//! field are known, and [`Store::ops_since`] is one binary search and scan per replica.

use super::hashing::Map;
use super::{IndexEntry, Store, scan_replica, select, start_after};
use crate::clock::{ReplicaId, Stamp};
use crate::crdt::{Action, Op, Record, Register, VersionVector, value_rank};
use crate::error::StoreError;
use crate::wire::PackedBatch;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Slot number of the tombstone; field `n` (0-based in `field_names`) is `n + 1`.
const TOMBSTONE: u32 = 0;

/// Where a winner lives: interned record and slot numbers.
type Place = (u32, u32);

/// A record id as a hash-map key: ids of up to 22 bytes are stored inline, so a lookup
/// compares them without following a pointer (one cache miss less per operation).
#[derive(Clone, Debug)]
pub(super) enum IdKey {
    Short { len: u8, bytes: [u8; 22] },
    Long(Arc<[u8]>),
}

impl IdKey {
    pub(super) fn new(id: &str) -> Self {
        let b = id.as_bytes();
        match u8::try_from(b.len()) {
            Ok(len) if b.len() <= 22 => {
                let mut bytes = [0u8; 22];
                bytes[..b.len()].copy_from_slice(b);
                Self::Short { len, bytes }
            }
            _ => Self::Long(Arc::from(b)),
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Short { len, bytes } => &bytes[..usize::from(*len)],
            Self::Long(b) => b,
        }
    }
}

impl PartialEq for IdKey {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for IdKey {}

impl std::hash::Hash for IdKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        // The same as `<[u8] as Hash>`, so lookups by `&[u8]` find it.
        self.as_bytes().hash(state);
    }
}

impl std::borrow::Borrow<[u8]> for IdKey {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

#[derive(Debug, Default, Clone)]
struct Collection {
    ids: Map<IdKey, u32>,
    records: Vec<(Arc<str>, Rec)>,
    fields: Map<Arc<str>, u32>,
    field_names: Vec<Arc<str>>,
    /// Winners per replica by `(hlc, record, slot)`.
    index: BTreeMap<ReplicaId, Log>,
    vv: VersionVector,
}

/// One replica's winners, ascending by `(hlc, record, slot)`, with stale entries.
#[derive(Debug, Default, Clone)]
struct Log {
    entries: Vec<(u64, u32, u32)>,
    /// An upper bound on the stale entries.
    stale: usize,
}

impl Log {
    fn add(&mut self, e: (u64, u32, u32)) {
        match self.entries.last() {
            Some(last) if *last >= e => {
                if let Err(at) = self.entries.binary_search(&e) {
                    self.entries.insert(at, e);
                }
            }
            _ => self.entries.push(e),
        }
    }

    fn needs_compaction(&self) -> bool {
        self.stale > 1024 && self.stale * 2 > self.entries.len()
    }
}

/// The winners of one record by slot: [`Record`]'s state with interned field names, so a
/// merge compares small integers in one allocation instead of searching a map of strings.
/// [`Rec::merge`] follows [`Record::merge_parts`] rule for rule (the store tests check the
/// store against a replay model).
#[derive(Debug, Default, Clone)]
struct Rec {
    tomb: Option<Stamp>,
    /// `(slot, register)` per visible field.
    fields: Vec<(u32, Register)>,
}

impl Rec {
    /// Merges an operation on `slot` (`value`: `None` for a remove or a delete); calls
    /// `removed` with each winner that leaves the state; returns whether it was added.
    fn merge(
        &mut self,
        stamp: Stamp,
        slot: u32,
        value: Option<&Value>,
        removed: &mut impl FnMut(Stamp),
    ) -> bool {
        if self.tomb.is_some_and(|t| t >= stamp) {
            return false;
        }
        if slot == TOMBSTONE {
            if let Some(old) = self.tomb.replace(stamp) {
                removed(old);
            }
            self.fields.retain(|(_, reg)| {
                let keep = reg.stamp > stamp;
                if !keep {
                    removed(reg.stamp);
                }
                keep
            });
            return true;
        }
        match self.fields.iter_mut().find(|f| f.0 == slot) {
            Some((_, old)) => {
                let wins = match stamp.cmp(&old.stamp) {
                    std::cmp::Ordering::Greater => true,
                    std::cmp::Ordering::Less => false,
                    std::cmp::Ordering::Equal => value_rank(value) > value_rank(old.value.as_ref()),
                };
                if !wins {
                    return false;
                }
                removed(old.stamp);
                old.stamp = stamp;
                old.value = value.cloned();
            }
            None => self.fields.push((
                slot,
                Register {
                    stamp,
                    value: value.cloned(),
                },
            )),
        }
        true
    }

    /// Whether `(stamp, slot)` is still the winner in its slot.
    fn is_winner(&self, stamp: Stamp, slot: u32) -> bool {
        match slot {
            TOMBSTONE => self.tomb == Some(stamp),
            n => self
                .fields
                .iter()
                .any(|(s, reg)| *s == n && reg.stamp == stamp),
        }
    }

    /// The operation in `slot` if its winner is stamped `stamp`.
    fn action_in(&self, stamp: Stamp, slot: u32, field_names: &[Arc<str>]) -> Option<Action> {
        if slot == TOMBSTONE {
            return (self.tomb == Some(stamp)).then_some(Action::Delete);
        }
        let (_, reg) = self.fields.iter().find(|f| f.0 == slot)?;
        if reg.stamp != stamp {
            return None;
        }
        let field = field_names.get(slot as usize - 1)?.as_ref().to_owned();
        Some(match &reg.value {
            Some(value) => Action::Set {
                field,
                value: value.clone(),
            },
            None => Action::Remove { field },
        })
    }

    /// The public [`Record`] with this state.
    fn to_record(&self, field_names: &[Arc<str>]) -> Option<Record> {
        let mut record = Record::new();
        if let Some(t) = self.tomb {
            record.merge(t, &Action::Delete);
        }
        for (slot, reg) in &self.fields {
            record.merge(reg.stamp, &self.action_in(reg.stamp, *slot, field_names)?);
        }
        Some(record)
    }
}

impl Collection {
    fn record_no(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.ids.get(id.as_bytes()) {
            return n;
        }
        let n = u32::try_from(self.records.len()).unwrap_or(u32::MAX);
        self.ids.insert(IdKey::new(id), n);
        self.records.push((Arc::from(id), Rec::default()));
        n
    }

    fn slot_no(&mut self, field: Option<&str>) -> u32 {
        let Some(field) = field else {
            return TOMBSTONE;
        };
        if let Some(&n) = self.fields.get(field) {
            return n;
        }
        let n = u32::try_from(self.field_names.len() + 1).unwrap_or(u32::MAX);
        let name: Arc<str> = Arc::from(field);
        self.fields.insert(Arc::clone(&name), n);
        self.field_names.push(name);
        n
    }

    fn apply(&mut self, op: &Op) -> bool {
        let rec = self.record_no(&op.id);
        let slot = self.slot_no(op.action.field());
        let value = match &op.action {
            Action::Set { value, .. } => Some(value),
            _ => None,
        };
        self.apply_parts(op.stamp, rec, slot, value)
    }

    /// Merges one operation on interned record `rec`, slot `slot` (`value`: see
    /// [`Record::merge_parts`]).
    fn apply_parts(&mut self, stamp: Stamp, rec: u32, slot: u32, value: Option<&Value>) -> bool {
        self.vv.observe(stamp);
        let Self {
            records,
            index,
            field_names,
            ..
        } = self;
        if slot != TOMBSTONE && slot as usize > field_names.len() {
            return false;
        }
        let Some((_, record)) = records.get_mut(rec as usize) else {
            return false;
        };
        let mut compact = false;
        let added = record.merge(stamp, slot, value, &mut |old| {
            // The old winner's log entry becomes stale.
            if let Some(log) = index.get_mut(&old.replica) {
                log.stale += 1;
                compact |= log.needs_compaction();
            }
        });
        if added {
            index
                .entry(stamp.replica)
                .or_default()
                .add((stamp.hlc.as_u64(), rec, slot));
        }
        if compact {
            self.compact();
        }
        added
    }

    /// Drops the stale entries of every log that needs it.
    fn compact(&mut self) {
        let Self { records, index, .. } = self;
        for (replica, log) in index.iter_mut() {
            if !log.needs_compaction() {
                continue;
            }
            log.entries.retain(|&(h, rec, slot)| {
                let stamp = Stamp::new(crate::clock::Hlc::from_u64(h), *replica);
                records
                    .get(rec as usize)
                    .is_some_and(|(_, r)| r.is_winner(stamp, slot))
            });
            log.stale = 0;
        }
    }
}

/// A [`Store`] in memory. Batches are atomic because nothing in `apply` can fail.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    collections: BTreeMap<String, Collection>,
    meta: BTreeMap<String, Vec<u8>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError> {
        Ok(self.collections.get(collection).and_then(|c| {
            let n = *c.ids.get(id.as_bytes())?;
            c.records
                .get(n as usize)
                .and_then(|(_, r)| r.to_record(&c.field_names))
        }))
    }

    fn apply(&mut self, ops: &[Op]) -> Result<usize, StoreError> {
        let mut changed = 0;
        let mut i = 0;
        while i < ops.len() {
            // Batches are normally of one collection: look it up once per run.
            let name = ops[i].collection.as_str();
            let run = ops[i..].iter().take_while(|o| o.collection == name).count();
            let coll = match self.collections.get_mut(name) {
                Some(c) => c,
                None => self.collections.entry(name.to_owned()).or_default(),
            };
            for op in &ops[i..i + run] {
                changed += usize::from(coll.apply(op));
            }
            i += run;
        }
        Ok(changed)
    }

    fn apply_packed(&mut self, batch: &PackedBatch) -> Result<usize, StoreError> {
        const BAD: StoreError = StoreError::Inconsistent("packed batch index out of range");
        let coll = match self.collections.get_mut(batch.collection.as_str()) {
            Some(c) => c,
            None => self
                .collections
                .entry(batch.collection.clone())
                .or_default(),
        };
        // Interned on first use, in operation order (as `apply` would).
        let mut recs: Vec<Option<u32>> = vec![None; batch.ids.len()];
        let mut slots: Vec<Option<u32>> = vec![None; batch.fields.len()];
        let mut changed = 0;
        for op in &batch.ops {
            let rec = match recs.get_mut(op.id as usize).ok_or(BAD)? {
                Some(n) => *n,
                none => *none.insert(coll.record_no(batch.id(op).map_err(|_| BAD)?)),
            };
            let slot = match op.action.field() {
                None => TOMBSTONE,
                Some(f) => match slots.get_mut(f as usize).ok_or(BAD)? {
                    Some(n) => *n,
                    none => *none.insert(coll.slot_no(Some(batch.field(f).map_err(|_| BAD)?))),
                },
            };
            changed += usize::from(coll.apply_parts(op.stamp, rec, slot, op.action.value()));
        }
        Ok(changed)
    }

    fn ops_since(
        &self,
        collection: &str,
        since: &VersionVector,
        limit: usize,
    ) -> Result<Vec<Op>, StoreError> {
        let Some(coll) = self.collections.get(collection) else {
            return Ok(Vec::new());
        };
        let mut entries: Vec<IndexEntry<Place>> = Vec::new();
        for (replica, log) in &coll.index {
            let Some(from) = start_after(since, replica) else {
                continue;
            };
            let from = from.as_u64();
            let start = log.entries.partition_point(|e| e.0 < from);
            let iter = log.entries[start..]
                .iter()
                .map(|&(h, rec, slot)| {
                    (
                        Stamp::new(crate::clock::Hlc::from_u64(h), *replica),
                        (rec, slot),
                    )
                })
                .filter(|&(stamp, (rec, slot))| {
                    coll.records
                        .get(rec as usize)
                        .is_some_and(|(_, r)| r.is_winner(stamp, slot))
                })
                .map(Ok);
            scan_replica(iter, limit, &mut entries)?;
        }
        const BROKEN: StoreError =
            StoreError::Inconsistent("winner index out of step with records");
        select(entries, limit)
            .into_iter()
            .map(|(stamp, (rec, slot))| {
                let (id, record) = coll.records.get(rec as usize).ok_or(BROKEN)?;
                let action = record
                    .action_in(stamp, slot, &coll.field_names)
                    .ok_or(BROKEN)?;
                Ok(Op {
                    collection: collection.to_owned(),
                    id: id.as_ref().to_owned(),
                    stamp,
                    action,
                })
            })
            .collect()
    }

    fn version_vector(&self, collection: &str) -> Result<VersionVector, StoreError> {
        Ok(self
            .collections
            .get(collection)
            .map(|c| c.vv.clone())
            .unwrap_or_default())
    }

    fn collections(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.collections.keys().cloned().collect())
    }

    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.meta.get(name).cloned())
    }

    fn set_meta(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError> {
        match value {
            Some(v) => self.meta.insert(name.to_owned(), v.to_vec()),
            None => self.meta.remove(name),
        };
        Ok(())
    }
}
