//! The replicated data model: records of last-writer-wins field registers with a record
//! tombstone.
//!
//! # Merge rule
//!
//! A record (one `id` in one collection) is the set of operations ever applied to it. Each
//! operation carries a [`Stamp`]; stamps are totally ordered by `(hlc, replica)`.
//!
//! - [`Action::Set`] and [`Action::Remove`] write one top-level field. Per field, the write
//!   with the greatest stamp wins (a register holds `Some(value)` or, after a remove, `None`).
//! - [`Action::Delete`] writes the record's tombstone. The greatest delete stamp wins.
//! - A field write is **visible** iff its stamp is strictly greater than the tombstone: a
//!   delete hides every field written at or before it, even writes it never saw.
//! - A record is **live** iff it has at least one visible field write (a set *or* a remove).
//!   So a write after a delete resurrects the record holding only the fields written after
//!   the delete; a write stamped at or before the tombstone is ignored. A delete and a write
//!   with equal stamps (only possible from a faulty peer) resolve to the delete.
//! - Two writes of one field with equal stamps (again only from a faulty peer) resolve to the
//!   greater value in JSON text order, so that merging stays deterministic.
//!
//! The state kept is exactly the winners: the tombstone, and per field the winning write if
//! it is visible. Writes hidden by the tombstone are dropped. This equals replaying all
//! operations in stamp order with the obvious sequential meaning ("set a field, creating the
//! record if absent", "remove a field, creating the record if absent", "delete the record");
//! the property tests check it against such a replay. It is a join-semilattice: [`Record::merge`]
//! is commutative, associative and idempotent.

use crate::clock::{Hlc, ReplicaId, Stamp};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// What an operation does to its record.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Set one top-level field to a JSON value.
    Set {
        /// The field name.
        field: String,
        /// The new value.
        value: Value,
    },
    /// Remove one top-level field.
    Remove {
        /// The field name.
        field: String,
    },
    /// Delete the whole record (write its tombstone).
    Delete,
}

impl Action {
    /// The field this action writes, or `None` for a delete.
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Set { field, .. } | Self::Remove { field } => Some(field),
            Self::Delete => None,
        }
    }
}

/// One replicated operation.
#[derive(Clone, Debug, PartialEq)]
pub struct Op {
    /// The collection (PluresDB's record type or namespace).
    pub collection: String,
    /// The record id within the collection.
    pub id: String,
    /// When and by whom the operation was made.
    pub stamp: Stamp,
    /// What it does.
    pub action: Action,
}

/// The winning write of one field.
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    /// The stamp of the winning write.
    pub stamp: Stamp,
    /// The value, or `None` if the winning write removed the field.
    pub value: Option<Value>,
}

/// Which part of a record an operation wrote: used to index winners by stamp.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Slot {
    /// The record's tombstone.
    Tombstone,
    /// One field's register.
    Field(String),
}

/// How a merge changed a record: which winners were replaced and which was added.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Effect {
    /// Winners that are no longer part of the state.
    pub removed: Vec<(Stamp, Slot)>,
    /// The merged operation, if it is now part of the state.
    pub added: Option<(Stamp, Slot)>,
}

impl Effect {
    /// Whether the merge changed the record.
    pub fn changed(&self) -> bool {
        self.added.is_some()
    }
}

/// The merged state of one record.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Record {
    tombstone: Option<Stamp>,
    fields: BTreeMap<String, Register>,
}

/// Orders two writes of one field with equal stamps by their values' JSON text.
pub(crate) fn value_rank(value: Option<&Value>) -> Option<String> {
    value.map(Value::to_string)
}

impl Record {
    /// An empty record (no operations).
    pub fn new() -> Self {
        Self::default()
    }

    /// The tombstone stamp, if the record was ever deleted.
    pub fn tombstone(&self) -> Option<Stamp> {
        self.tombstone
    }

    /// The visible field registers, including removed fields (`value: None`).
    pub fn registers(&self) -> &BTreeMap<String, Register> {
        &self.fields
    }

    /// Whether the record exists: it has a field write after its last delete.
    pub fn is_live(&self) -> bool {
        !self.fields.is_empty()
    }

    /// Whether no operation has been applied.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty() && self.tombstone.is_none()
    }

    /// The record's JSON object (PluresDB's `data`), or `None` if it is not live.
    pub fn data(&self) -> Option<Map<String, Value>> {
        if !self.is_live() {
            return None;
        }
        Some(
            self.fields
                .iter()
                .filter_map(|(k, r)| r.value.as_ref().map(|v| (k.clone(), v.clone())))
                .collect(),
        )
    }

    /// The largest stamp in the state.
    pub fn max_stamp(&self) -> Option<Stamp> {
        self.fields
            .values()
            .map(|r| r.stamp)
            .chain(self.tombstone)
            .max()
    }

    /// Merges one operation, returning how the state changed.
    pub fn merge(&mut self, stamp: Stamp, action: &Action) -> Effect {
        let mut effect = Effect::default();
        let added = self.merge_with(stamp, action, &mut |old, field| {
            effect.removed.push((old, slot_of(field)));
        });
        if added {
            effect.added = Some((stamp, slot_of(action.field())));
        }
        effect
    }

    /// [`Record::merge`] without allocating: calls `removed(stamp, field)` for every winner
    /// that leaves the state (`field` is `None` for the tombstone) and returns whether the
    /// operation is now part of the state (in the slot its action names).
    pub(crate) fn merge_with(
        &mut self,
        stamp: Stamp,
        action: &Action,
        removed: &mut dyn FnMut(Stamp, Option<&str>),
    ) -> bool {
        let value = match action {
            Action::Set { value, .. } => Some(value),
            _ => None,
        };
        self.merge_parts(stamp, action.field(), value, removed)
    }

    /// [`Record::merge_with`] with the action in parts: `field` is `None` for a delete,
    /// `value` is `None` for a remove (and ignored for a delete).
    pub(crate) fn merge_parts(
        &mut self,
        stamp: Stamp,
        field: Option<&str>,
        value: Option<&Value>,
        removed: &mut dyn FnMut(Stamp, Option<&str>),
    ) -> bool {
        if self.tombstone.is_some_and(|t| t >= stamp) {
            return false;
        }
        let Some(field) = field else {
            if let Some(old) = self.tombstone.replace(stamp) {
                removed(old, None);
            }
            self.fields.retain(|name, reg| {
                let keep = reg.stamp > stamp;
                if !keep {
                    removed(reg.stamp, Some(name));
                }
                keep
            });
            return true;
        };
        if let Some(old) = self.fields.get_mut(field) {
            let wins = match stamp.cmp(&old.stamp) {
                std::cmp::Ordering::Greater => true,
                std::cmp::Ordering::Less => false,
                std::cmp::Ordering::Equal => value_rank(value) > value_rank(old.value.as_ref()),
            };
            if !wins {
                return false;
            }
            removed(old.stamp, Some(field));
            old.stamp = stamp;
            old.value = value.cloned();
        } else {
            self.fields.insert(
                field.to_owned(),
                Register {
                    stamp,
                    value: value.cloned(),
                },
            );
        }
        true
    }

    /// Merges another state of the same record into this one (the semilattice join).
    pub fn join(&mut self, other: &Self) {
        for (stamp, action) in other.actions() {
            self.merge(stamp, &action);
        }
    }

    /// The operations that make up this state (tombstone first), for sending it elsewhere.
    pub fn actions(&self) -> Vec<(Stamp, Action)> {
        let mut out = Vec::with_capacity(self.fields.len() + 1);
        if let Some(t) = self.tombstone {
            out.push((t, Action::Delete));
        }
        for (field, reg) in &self.fields {
            out.push((reg.stamp, slot_action(field, reg)));
        }
        out
    }

    /// The operation stored in `slot`, if that slot holds the winner stamped `stamp`.
    pub fn action_at(&self, stamp: Stamp, slot: &Slot) -> Option<Action> {
        match slot {
            Slot::Tombstone => self.action_in(stamp, None),
            Slot::Field(name) => self.action_in(stamp, Some(name)),
        }
    }

    /// [`Record::action_at`] with the slot as a field name (`None`: the tombstone).
    pub(crate) fn action_in(&self, stamp: Stamp, field: Option<&str>) -> Option<Action> {
        match field {
            None => (self.tombstone == Some(stamp)).then_some(Action::Delete),
            Some(name) => {
                let reg = self.fields.get(name)?;
                (reg.stamp == stamp).then(|| slot_action(name, reg))
            }
        }
    }
}

fn slot_of(field: Option<&str>) -> Slot {
    field.map_or(Slot::Tombstone, |f| Slot::Field(f.to_owned()))
}

fn slot_action(field: &str, reg: &Register) -> Action {
    match &reg.value {
        Some(value) => Action::Set {
            field: field.to_owned(),
            value: value.clone(),
        },
        None => Action::Remove {
            field: field.to_owned(),
        },
    }
}

/// Per replica, the greatest HLC of the operations seen from it (in one collection).
///
/// Operations are shipped in stamp order, so a replica that has seen `(hlc, r)` has seen
/// every operation of `r` stamped at or before `hlc`; the vector therefore names exactly
/// which operations a peer still lacks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<ReplicaId, Hlc>);

impl VersionVector {
    /// An empty vector (nothing seen).
    pub fn new() -> Self {
        Self::default()
    }

    /// The greatest HLC seen from `replica` ([`Hlc::ZERO`] if none).
    pub fn get(&self, replica: &ReplicaId) -> Hlc {
        self.0.get(replica).copied().unwrap_or(Hlc::ZERO)
    }

    /// Records that `stamp` was seen; returns whether the vector grew.
    pub fn observe(&mut self, stamp: Stamp) -> bool {
        let e = self.0.entry(stamp.replica).or_insert(Hlc::ZERO);
        if stamp.hlc > *e {
            *e = stamp.hlc;
            true
        } else {
            false
        }
    }

    /// Whether an operation stamped `stamp` is covered by this vector.
    pub fn contains(&self, stamp: Stamp) -> bool {
        stamp.hlc <= self.get(&stamp.replica)
    }

    /// The pointwise maximum.
    pub fn join(&mut self, other: &Self) {
        for (r, h) in &other.0 {
            self.observe(Stamp::new(*h, *r));
        }
    }

    /// The entries, ordered by replica.
    pub fn iter(&self) -> impl Iterator<Item = (ReplicaId, Hlc)> + '_ {
        self.0.iter().map(|(r, h)| (*r, *h))
    }

    /// The number of replicas with an entry.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether no replica has an entry.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl FromIterator<(ReplicaId, Hlc)> for VersionVector {
    fn from_iter<I: IntoIterator<Item = (ReplicaId, Hlc)>>(iter: I) -> Self {
        let mut vv = Self::new();
        for (r, h) in iter {
            vv.observe(Stamp::new(h, r));
        }
        vv
    }
}

#[cfg(test)]
pub(crate) mod tests;
