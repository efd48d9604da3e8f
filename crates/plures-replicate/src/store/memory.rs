//! An in-memory [`Store`], for tests and ephemeral replicas.

use super::{IndexEntry, Store, scan_replica, select, start_after};
use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::crdt::{Op, Record, Slot, VersionVector};
use crate::error::StoreError;
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Default, Clone)]
struct Collection {
    records: BTreeMap<String, Record>,
    /// Winners by `(replica, hlc, id, slot)`.
    index: BTreeSet<(ReplicaId, Hlc, String, Slot)>,
    vv: VersionVector,
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
        Ok(self
            .collections
            .get(collection)
            .and_then(|c| c.records.get(id))
            .cloned())
    }

    fn apply(&mut self, ops: &[Op]) -> Result<usize, StoreError> {
        let mut changed = 0;
        for op in ops {
            let coll = self.collections.entry(op.collection.clone()).or_default();
            coll.vv.observe(op.stamp);
            let record = coll.records.entry(op.id.clone()).or_default();
            let effect = record.merge(op.stamp, &op.action);
            for (stamp, slot) in effect.removed {
                coll.index
                    .remove(&(stamp.replica, stamp.hlc, op.id.clone(), slot));
            }
            if let Some((stamp, slot)) = effect.added {
                coll.index
                    .insert((stamp.replica, stamp.hlc, op.id.clone(), slot));
                changed += 1;
            }
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
        let mut entries: Vec<IndexEntry> = Vec::new();
        for (replica, _) in coll.vv.iter() {
            let Some(from) = start_after(since, &replica) else {
                continue;
            };
            let iter = coll
                .index
                .range((replica, from, String::new(), Slot::Tombstone)..)
                .take_while(|(r, ..)| *r == replica)
                .map(|(r, h, id, slot)| Ok((Stamp::new(*h, *r), id.clone(), slot.clone())));
            entries.extend(scan_replica(iter, limit)?);
        }
        select(entries, limit)
            .into_iter()
            .map(|(stamp, id, slot)| {
                let action = coll
                    .records
                    .get(&id)
                    .and_then(|r| r.action_at(stamp, &slot))
                    .ok_or(StoreError::Inconsistent(
                        "winner index out of step with records",
                    ))?;
                Ok(Op {
                    collection: collection.to_owned(),
                    id,
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
