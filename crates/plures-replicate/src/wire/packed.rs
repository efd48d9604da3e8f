//! [`PackedBatch`]: an OPS or SNAPSHOT batch as decoded, with each record id and field name
//! stored once and the operations referring to them by index, so that receiving and
//! merging a batch ([`Store::apply_packed`](crate::Store::apply_packed)) need not build
//! three strings per operation. It decodes the same bytes as [`Batch`].

use super::{
    Batch, OP_ACTION, OP_DELETE, OP_NEW_ID, OP_NEW_REPLICA, OP_REMOVE, OP_SET, OP_VALUE,
    VALUE_FALSE, VALUE_JSON, VALUE_TRUE, VALUE_UINT, WireError, bounded_len, pick, string_table,
};
use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::codec::{get_json, get_str};
use crate::crdt::{Action, Op};
use plures_compact::{DecodeError, Decoder};
use serde_json::Value;

/// A batch of operations of one collection, names stored once (see the module docs).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PackedBatch {
    /// The batch sequence number.
    pub seq: u64,
    /// The collection every operation belongs to.
    pub collection: String,
    /// The record ids, in order of first use.
    pub ids: Vec<String>,
    /// The field names.
    pub fields: Vec<String>,
    /// The operations, in the order they were sent.
    pub ops: Vec<PackedOp>,
}

/// One operation of a [`PackedBatch`].
#[derive(Clone, Debug, PartialEq)]
pub struct PackedOp {
    /// Index of the record id in [`PackedBatch::ids`].
    pub id: u32,
    /// When and by whom the operation was made.
    pub stamp: Stamp,
    /// What it does; field numbers index [`PackedBatch::fields`].
    pub action: PackedAction,
}

/// [`Action`] with the field as an index into [`PackedBatch::fields`].
#[derive(Clone, Debug, PartialEq)]
pub enum PackedAction {
    /// Set a field.
    Set {
        /// Field index.
        field: u32,
        /// The new value.
        value: Value,
    },
    /// Remove a field.
    Remove {
        /// Field index.
        field: u32,
    },
    /// Delete the record.
    Delete,
}

impl PackedAction {
    /// The field index, or `None` for a delete.
    pub fn field(&self) -> Option<u32> {
        match self {
            Self::Set { field, .. } | Self::Remove { field } => Some(*field),
            Self::Delete => None,
        }
    }

    /// The value of a set.
    pub fn value(&self) -> Option<&Value> {
        match self {
            Self::Set { value, .. } => Some(value),
            _ => None,
        }
    }
}

/// An index of a [`PackedBatch`] that names nothing (only possible in a batch built by
/// hand: the decoder checks every index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("packed batch index out of range")]
pub struct BadIndex;

fn to_u32(n: usize) -> Result<u32, DecodeError> {
    u32::try_from(n).map_err(|_| DecodeError::Invalid("table index"))
}

impl PackedBatch {
    /// The record id of `op`.
    pub fn id(&self, op: &PackedOp) -> Result<&str, BadIndex> {
        self.ids
            .get(op.id as usize)
            .map(String::as_str)
            .ok_or(BadIndex)
    }

    /// The field name with index `field`.
    pub fn field(&self, field: u32) -> Result<&str, BadIndex> {
        self.fields
            .get(field as usize)
            .map(String::as_str)
            .ok_or(BadIndex)
    }

    /// The operations as [`Op`]s.
    pub fn to_ops(&self) -> Result<Vec<Op>, BadIndex> {
        self.ops
            .iter()
            .map(|op| {
                let action = match &op.action {
                    PackedAction::Set { field, value } => Action::Set {
                        field: self.field(*field)?.to_owned(),
                        value: value.clone(),
                    },
                    PackedAction::Remove { field } => Action::Remove {
                        field: self.field(*field)?.to_owned(),
                    },
                    PackedAction::Delete => Action::Delete,
                };
                Ok(Op {
                    collection: self.collection.clone(),
                    id: self.id(op)?.to_owned(),
                    stamp: op.stamp,
                    action,
                })
            })
            .collect()
    }

    /// The same batch as a [`Batch`].
    pub fn to_batch(&self) -> Result<Batch, BadIndex> {
        Ok(Batch {
            seq: self.seq,
            collection: self.collection.clone(),
            ops: self.to_ops()?,
        })
    }

    /// Packs a [`Batch`] (ids and fields in order of first use; `ops[i].collection` is
    /// ignored, as on the wire).
    pub fn from_batch(batch: &Batch) -> Self {
        let mut out = Self {
            seq: batch.seq,
            collection: batch.collection.clone(),
            ..Self::default()
        };
        let index = |table: &mut Vec<String>, name: &str| -> u32 {
            let at = table.iter().position(|n| n == name).unwrap_or_else(|| {
                table.push(name.to_owned());
                table.len() - 1
            });
            u32::try_from(at).unwrap_or(u32::MAX)
        };
        for op in &batch.ops {
            let id = index(&mut out.ids, &op.id);
            let action = match &op.action {
                Action::Set { field, value } => PackedAction::Set {
                    field: index(&mut out.fields, field),
                    value: value.clone(),
                },
                Action::Remove { field } => PackedAction::Remove {
                    field: index(&mut out.fields, field),
                },
                Action::Delete => PackedAction::Delete,
            };
            out.ops.push(PackedOp {
                id,
                stamp: op.stamp,
                action,
            });
        }
        out
    }

    /// Decodes an OPS or SNAPSHOT body (after the message type and SNAPSHOT's flag).
    pub(super) fn decode_body(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let seq = d.uint()?;
        let collection = get_str(d)?.to_owned();
        let n = bounded_len(d, 16)?;
        let mut replicas = Vec::with_capacity(n);
        for _ in 0..n {
            replicas.push(ReplicaId(d.fixed()?));
        }
        let fields = string_table(d)?;
        let n = bounded_len(d, 4)?;
        let mut ops = Vec::with_capacity(n);
        let mut ids: Vec<String> = Vec::new();
        let (mut ms, mut counter) = (0u64, 0u16);
        let mut replica: Option<ReplicaId> = None;
        let field = |d: &mut Decoder<'_>| -> Result<u32, DecodeError> {
            let i = d.uint_usize()?;
            pick(&fields, i, "field index")?;
            to_u32(i)
        };
        for _ in 0..n {
            let kind = d.u8()?;
            if kind & !(OP_ACTION | OP_NEW_REPLICA | OP_NEW_ID | OP_VALUE) != 0 {
                return Err(DecodeError::Invalid("operation kind"));
            }
            if kind & OP_NEW_REPLICA != 0 {
                replica = Some(*pick(&replicas, d.uint_usize()?, "replica index")?);
            }
            let replica = replica.ok_or(DecodeError::Invalid("first op names no replica"))?;
            let id = if kind & OP_NEW_ID != 0 {
                ids.push(get_str(d)?.to_owned());
                to_u32(ids.len() - 1)?
            } else {
                let i = d.uint_usize()?;
                pick(&ids, i, "record id index")?;
                to_u32(i)?
            };
            let delta = d.int()?;
            ms = ms
                .checked_add_signed(delta)
                .filter(|m| *m <= Hlc::MAX_MS)
                .ok_or(DecodeError::Invalid("stamp milliseconds"))?;
            let c = if delta == 0 {
                i64::from(counter).checked_add(d.int()?)
            } else {
                i64::try_from(d.uint()?).ok()
            };
            counter = c
                .and_then(|c| u16::try_from(c).ok())
                .ok_or(DecodeError::Invalid("stamp counter"))?;
            let hlc = Hlc::new(ms, counter).ok_or(DecodeError::Invalid("stamp"))?;
            let action = match kind & OP_ACTION {
                OP_SET => {
                    let field = field(d)?;
                    let value = match kind & OP_VALUE {
                        VALUE_UINT => Value::from(d.uint()?),
                        VALUE_FALSE => Value::Bool(false),
                        VALUE_TRUE => Value::Bool(true),
                        _ => get_json(d)?,
                    };
                    PackedAction::Set { field, value }
                }
                OP_REMOVE if kind & OP_VALUE == VALUE_JSON => {
                    PackedAction::Remove { field: field(d)? }
                }
                OP_DELETE if kind & OP_VALUE == VALUE_JSON => PackedAction::Delete,
                _ => return Err(DecodeError::Invalid("operation kind")),
            };
            ops.push(PackedOp {
                id,
                stamp: Stamp::new(hlc, replica),
                action,
            });
        }
        Ok(Self {
            seq,
            collection,
            ids,
            fields,
            ops,
        })
    }
}

/// Decodes a frame body that is an OPS or SNAPSHOT message straight into a [`PackedBatch`]
/// (`Ok(None)` for any other message type; decode those with
/// [`decode_message`](super::decode_message)).
pub fn decode_packed(body: &[u8]) -> Result<Option<PackedBatch>, WireError> {
    let mut d = Decoder::new(body);
    match d.uint()? {
        2 => {}
        5 => {
            d.bool()?;
        }
        _ => return Ok(None),
    }
    Ok(Some(PackedBatch::decode_body(&mut d)?))
}
