//! Where merged records live: the [`Store`] trait, [`MemoryStore`] and [`RedbStore`].
//!
//! # Contract
//!
//! A store holds, per collection, the merged [`Record`] of every id, an index of the
//! winning operations by `(replica, hlc)`, and the collection's [`VersionVector`] (the
//! greatest HLC seen from each replica, counting operations that lost their merge).
//!
//! - [`Store::apply`] merges a batch **atomically**: after a crash or an error either every
//!   operation of the batch is merged or none is.
//! - [`Store::ops_since`] returns the winning operations a peer with version vector `since`
//!   lacks, in ascending stamp order. Because it is ordered, a peer that applies any prefix of
//!   it and then advances its version vector by what it applied still has a truthful vector,
//!   so a dropped connection loses nothing.
//!
//! # Mapping onto PluresDB
//!
//! PluresDB keeps `{ id, data, ... }` records ("nodes") in a CRDT store keyed by id, with the
//! record's type or namespace as its collection. A PluresDB implementation of [`Store`]:
//!
//! - maps `(collection, id)` to one node, and each top-level key of the node's `data` object
//!   to one [`Register`](crate::Register) whose stamp it keeps in the node's metadata beside
//!   the value (PluresDB's own per-node clock becomes the record's largest stamp);
//! - maps the tombstone to PluresDB's deleted flag, keeping the stamp, so that late writes
//!   stamped before the delete are ignored and later ones resurrect the node;
//! - wraps `apply` in one PluresDB transaction and maintains the `(replica, hlc)` index and
//!   the version vector in the same transaction;
//! - reports its own failures as [`StoreError::Backend`].

use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::crdt::{Op, Record, VersionVector};
use crate::error::StoreError;
use crate::wire::PackedBatch;

mod encoding;
mod hashing;
mod memory;
mod redb_store;

pub use memory::MemoryStore;
pub use redb_store::RedbStore;

/// Storage for merged records, implemented by [`MemoryStore`], [`RedbStore`] and, outside
/// this crate, PluresDB's own store.
pub trait Store {
    /// The merged record `id` of `collection`, or `None` if no operation touched it.
    fn get(&self, collection: &str, id: &str) -> Result<Option<Record>, StoreError>;

    /// Merges a batch atomically; returns how many operations changed the state.
    fn apply(&mut self, ops: &[Op]) -> Result<usize, StoreError>;

    /// [`Store::apply`] for a batch as received from a peer, with each record id and field
    /// name stored once ([`PackedBatch`]); the sync driver calls this. The default builds
    /// the [`Op`]s and calls `apply`; a store can override it to merge without that.
    fn apply_packed(&mut self, batch: &PackedBatch) -> Result<usize, StoreError> {
        let ops = batch
            .to_ops()
            .map_err(|_| StoreError::Inconsistent("packed batch index out of range"))?;
        self.apply(&ops)
    }

    /// The winning operations of `collection` not covered by `since`, in ascending stamp
    /// order, at most `limit` of them except that operations sharing the last stamp are
    /// never split (so the result may exceed `limit` by the size of one multi-field write).
    fn ops_since(
        &self,
        collection: &str,
        since: &VersionVector,
        limit: usize,
    ) -> Result<Vec<Op>, StoreError>;

    /// The version vector of `collection` (empty if unknown).
    fn version_vector(&self, collection: &str) -> Result<VersionVector, StoreError>;

    /// The names of all collections with at least one operation, in order.
    fn collections(&self) -> Result<Vec<String>, StoreError>;

    /// A value of the store's metadata (not replicated), e.g. the sync key.
    fn meta(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Writes (`Some`) or removes (`None`) a metadata value, durably and atomically.
    fn set_meta(&mut self, name: &str, value: Option<&[u8]>) -> Result<(), StoreError>;
}

/// One entry of the winner index, as returned by a per-replica scan: the stamp and where
/// the winner lives (a store-specific key: `(id, slot)`, or interned numbers).
type IndexEntry<K> = (Stamp, K);

/// Shared tail of `ops_since`: takes per-replica scans (each ascending, each holding at
/// least the first `limit` entries plus all entries sharing the last one's stamp), merges
/// them into stamp order and cuts after `limit` without splitting a stamp.
fn select<K: Ord>(mut entries: Vec<IndexEntry<K>>, limit: usize) -> Vec<IndexEntry<K>> {
    entries.sort_unstable();
    if entries.len() > limit {
        let cut = match limit.checked_sub(1).and_then(|i| entries.get(i)) {
            Some((last, _)) => {
                let last = *last;
                limit + entries[limit..].iter().take_while(|e| e.0 == last).count()
            }
            None => 0,
        };
        entries.truncate(cut);
    }
    entries
}

/// Scans one replica's ascending index entries after `from` into `out`, keeping the first
/// `limit` and any that share the last kept stamp.
fn scan_replica<K, I>(iter: I, limit: usize, out: &mut Vec<IndexEntry<K>>) -> Result<(), StoreError>
where
    I: Iterator<Item = Result<IndexEntry<K>, StoreError>>,
{
    let mut last: Option<Stamp> = None;
    for (taken, entry) in iter.enumerate() {
        let entry = entry?;
        if taken >= limit && last.is_none_or(|l| l != entry.0) {
            break;
        }
        last = Some(entry.0);
        out.push(entry);
    }
    Ok(())
}

/// The first HLC of `replica` not covered by `since`, or `None` if all are. ([`Hlc::ZERO`]
/// is never issued by a [`Clock`](crate::Clock), so an absent entry starts at `(0, 1)`.)
fn start_after(since: &VersionVector, replica: &ReplicaId) -> Option<Hlc> {
    since.get(replica).next()
}

#[cfg(test)]
mod redb_compact_tests;
#[cfg(test)]
mod redb_tests;
#[cfg(test)]
mod tests;
