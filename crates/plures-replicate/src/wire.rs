//! The replication protocol's messages and framing, in compact-encoding.
//!
//! # Framing
//!
//! The stream carries frames: `uint length` then `length` bytes of body. A body is
//! `uint type` then the message's fields. Frames longer than [`MAX_FRAME`] are a protocol
//! violation. A message of unknown type decodes as [`Message::Unknown`] and is skipped;
//! trailing bytes after a known message's fields are ignored (newer peers append fields).
//!
//! # Messages
//!
//! | type | message | fields |
//! | --- | --- | --- |
//! | 0 | [`Hello`] | protocol version, replica id, collections wanted, capability proof, grace proofs |
//! | 1 | VERSION_VECTOR | collection, `(replica, hlc)` entries |
//! | 2 | OPS ([`Batch`]) | sequence number, collection, operations |
//! | 3 | ACK | sequence number acknowledged, credit (operations the sender may still send) |
//! | 4 | SYNCED | collection: everything the peer lacked has been sent |
//! | 5 | SNAPSHOT ([`Batch`]) | a batch of a full-state transfer, and whether it is the last |
//! | 6 | KEY_ROTATE | key epoch and the next key, sealed under the rotation key |
//! | 7 | BYE | reason code |
//!
//! # Batch encoding
//!
//! A batch writes each distinct replica id, record id and field name once, in tables at
//! its head, and then per operation: a kind byte (bit 0-1: set/remove/delete, bit 2: the
//! replica differs from the previous operation's, followed by its table index), the record
//! id's index, the stamp as a zigzag millisecond delta from the previous operation and the
//! counter, the field's index, and for a set the value as JSON text. There are no per-op
//! hashes: the secure channel authenticates every byte.
//!
//! # Bad input
//!
//! Decoding is total: any bytes give a message or a [`WireError`], never a panic, and no
//! count makes the decoder reserve more entries than the input has bytes left.

use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::codec::{get_hlc, get_json, get_str, put_hlc, put_json};
use crate::crdt::{Action, Op, VersionVector};
use plures_compact::{Decode, DecodeError, Decoder, Encode, EncodeError, Encoder, Sink};
use std::collections::HashMap;

/// The protocol version this crate speaks.
pub const PROTOCOL_VERSION: u64 = 1;

/// The largest frame body accepted, in bytes (8 MiB).
pub const MAX_FRAME: usize = 8 << 20;

/// Errors of the wire codec: each is a protocol violation that closes the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The bytes do not decode.
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// A frame announces a body longer than [`MAX_FRAME`].
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(u64),
    /// A message could not be encoded (a value outside the codec's range).
    #[error("cannot encode message: {0}")]
    Encode(#[from] EncodeError),
}

/// The first message on a connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's [`PROTOCOL_VERSION`].
    pub version: u64,
    /// The sender's replica id.
    pub replica: ReplicaId,
    /// The collections the sender wants to sync.
    pub collections: Vec<String>,
    /// [`SyncKey::capability_proof`](crate::SyncKey::capability_proof) for this channel.
    pub proof: [u8; 32],
    /// Proofs under the keys still accepted during a key rotation's grace period, so that
    /// a peer that holds only an older key can verify the sender. An appended field: written
    /// only when non-empty, and read as empty when absent or not decodable.
    pub grace_proofs: Vec<[u8; 32]>,
}

/// A batch of operations of one collection (OPS or SNAPSHOT).
///
/// On encode, `ops[i].collection` is ignored; on decode it is set to `collection`.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    /// Sequence number, acknowledged by ACK.
    pub seq: u64,
    /// The collection every operation belongs to.
    pub collection: String,
    /// The operations, normally in ascending stamp order.
    pub ops: Vec<Op>,
}

/// One protocol message.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Message {
    /// HELLO.
    Hello(Hello),
    /// VERSION_VECTOR: what the sender has of a collection.
    VersionVector {
        /// The collection.
        collection: String,
        /// The sender's version vector of it.
        vv: VersionVector,
    },
    /// OPS.
    Ops(Batch),
    /// ACK: batch `seq` is applied and `credit` more operations may be sent.
    Ack {
        /// The sequence number of the batch applied.
        seq: u64,
        /// How many more operations the receiver accepts.
        credit: u64,
    },
    /// SYNCED: the sender has sent everything the peer lacked of `collection`.
    Synced {
        /// The collection.
        collection: String,
    },
    /// SNAPSHOT: one batch of a full-state transfer.
    Snapshot {
        /// The records' winning operations.
        batch: Batch,
        /// Whether this is the transfer's last batch.
        last: bool,
    },
    /// KEY_ROTATE: the group moves to a new sync key.
    KeyRotate {
        /// The new key's epoch.
        epoch: u64,
        /// The new key, sealed under the current key's rotation key.
        sealed_key: Vec<u8>,
    },
    /// BYE: the sender closes the connection.
    Bye {
        /// Why.
        reason: u64,
    },
    /// A message type this version does not know; skipped.
    Unknown {
        /// Its type number.
        kind: u64,
    },
}

const OP_SET: u8 = 0;
const OP_REMOVE: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_NEW_REPLICA: u8 = 4;

/// Index of `key` in a table being built, adding it if new.
fn intern<'a>(
    table: &mut Vec<&'a str>,
    index: &mut HashMap<&'a str, usize>,
    key: &'a str,
) -> usize {
    *index.entry(key).or_insert_with(|| {
        table.push(key);
        table.len() - 1
    })
}

impl Batch {
    fn encode_body<S: Sink>(&self, s: &mut S) {
        let mut replicas: Vec<ReplicaId> = Vec::new();
        let mut ids: Vec<&str> = Vec::new();
        let mut fields: Vec<&str> = Vec::new();
        let (mut id_ix, mut field_ix) = (HashMap::new(), HashMap::new());
        let mut replica_ix: HashMap<ReplicaId, usize> = HashMap::new();
        for op in &self.ops {
            replica_ix.entry(op.stamp.replica).or_insert_with(|| {
                replicas.push(op.stamp.replica);
                replicas.len() - 1
            });
            intern(&mut ids, &mut id_ix, &op.id);
            if let Some(f) = op.action.field() {
                intern(&mut fields, &mut field_ix, f);
            }
        }
        s.uint(self.seq);
        s.string(&self.collection);
        s.uint_usize(replicas.len());
        for r in &replicas {
            s.raw(r.as_bytes());
        }
        s.uint_usize(ids.len());
        for id in &ids {
            s.string(id);
        }
        s.uint_usize(fields.len());
        for f in &fields {
            s.string(f);
        }
        s.uint_usize(self.ops.len());
        let mut prev_ms = 0u64;
        let mut prev_replica: Option<ReplicaId> = None;
        for op in &self.ops {
            let mut kind = match op.action {
                Action::Set { .. } => OP_SET,
                Action::Remove { .. } => OP_REMOVE,
                Action::Delete => OP_DELETE,
            };
            let new_replica = prev_replica != Some(op.stamp.replica);
            if new_replica {
                kind |= OP_NEW_REPLICA;
            }
            s.u8(kind);
            if new_replica {
                s.uint_usize(replica_ix.get(&op.stamp.replica).copied().unwrap_or(0));
                prev_replica = Some(op.stamp.replica);
            }
            s.uint_usize(id_ix.get(op.id.as_str()).copied().unwrap_or(0));
            let ms = op.stamp.hlc.ms();
            // Both are below 2^48, so the difference fits an i64.
            s.int(ms as i64 - prev_ms as i64);
            prev_ms = ms;
            s.uint(u64::from(op.stamp.hlc.counter()));
            if let Some(f) = op.action.field() {
                s.uint_usize(field_ix.get(f).copied().unwrap_or(0));
            }
            if let Action::Set { value, .. } = &op.action {
                put_json(s, value);
            }
        }
    }

    fn decode_body(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let seq = d.uint()?;
        let collection = get_str(d)?.to_owned();
        let n = bounded_len(d, 16)?;
        let mut replicas = Vec::with_capacity(n);
        for _ in 0..n {
            replicas.push(ReplicaId(d.fixed()?));
        }
        let ids = string_table(d)?;
        let fields = string_table(d)?;
        let n = bounded_len(d, 4)?;
        let mut ops = Vec::with_capacity(n);
        let mut ms = 0u64;
        let mut replica: Option<ReplicaId> = None;
        for _ in 0..n {
            let kind = d.u8()?;
            if kind & OP_NEW_REPLICA != 0 {
                replica = Some(*pick(&replicas, d.uint_usize()?, "replica index")?);
            }
            let replica = replica.ok_or(DecodeError::Invalid("first op names no replica"))?;
            let id = pick(&ids, d.uint_usize()?, "record id index")?;
            ms = ms
                .checked_add_signed(d.int()?)
                .filter(|m| *m <= Hlc::MAX_MS)
                .ok_or(DecodeError::Invalid("stamp milliseconds"))?;
            let counter =
                u16::try_from(d.uint()?).map_err(|_| DecodeError::Invalid("stamp counter"))?;
            let hlc = Hlc::new(ms, counter).ok_or(DecodeError::Invalid("stamp"))?;
            let action = match kind & !OP_NEW_REPLICA {
                OP_SET => {
                    let field = pick(&fields, d.uint_usize()?, "field index")?.clone();
                    Action::Set {
                        field,
                        value: get_json(d)?,
                    }
                }
                OP_REMOVE => Action::Remove {
                    field: pick(&fields, d.uint_usize()?, "field index")?.clone(),
                },
                OP_DELETE => Action::Delete,
                _ => return Err(DecodeError::Invalid("operation kind")),
            };
            ops.push(Op {
                collection: collection.clone(),
                id: id.clone(),
                stamp: Stamp::new(hlc, replica),
                action,
            });
        }
        Ok(Self {
            seq,
            collection,
            ops,
        })
    }
}

/// Reads an element count, rejecting counts that the remaining input cannot hold at
/// `min_size` bytes per element (so allocation is bounded by the input).
fn bounded_len(d: &mut Decoder<'_>, min_size: usize) -> Result<usize, DecodeError> {
    let n = d.uint_usize()?;
    if n > d.remaining() / min_size {
        return Err(DecodeError::OutOfBounds("element count"));
    }
    Ok(n)
}

/// Reads HELLO's appended grace proofs: none if the body ends after the proof.
fn grace_proofs(d: &mut Decoder<'_>) -> Result<Vec<[u8; 32]>, DecodeError> {
    if d.remaining() == 0 {
        return Ok(Vec::new());
    }
    let n = bounded_len(d, 32)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(d.fixed()?);
    }
    Ok(out)
}

fn string_table(d: &mut Decoder<'_>) -> Result<Vec<String>, DecodeError> {
    let n = bounded_len(d, 1)?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(get_str(d)?.to_owned());
    }
    Ok(out)
}

fn pick<'t, T>(table: &'t [T], i: usize, what: &'static str) -> Result<&'t T, DecodeError> {
    table.get(i).ok_or(DecodeError::Invalid(what))
}

impl Message {
    /// The type number on the wire.
    pub fn kind(&self) -> u64 {
        match self {
            Self::Hello(_) => 0,
            Self::VersionVector { .. } => 1,
            Self::Ops(_) => 2,
            Self::Ack { .. } => 3,
            Self::Synced { .. } => 4,
            Self::Snapshot { .. } => 5,
            Self::KeyRotate { .. } => 6,
            Self::Bye { .. } => 7,
            Self::Unknown { kind } => *kind,
        }
    }

    /// The message as one frame: length prefix, type and fields.
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        let len = self.encoded_len();
        let mut e = Encoder::with_capacity(len + 9);
        e.uint_usize(len);
        self.encode(&mut e);
        Ok(e.finish()?)
    }
}

impl Encode for Message {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(self.kind());
        match self {
            Self::Hello(h) => {
                s.uint(h.version);
                s.raw(h.replica.as_bytes());
                s.uint_usize(h.collections.len());
                for c in &h.collections {
                    s.string(c);
                }
                s.raw(&h.proof);
                if !h.grace_proofs.is_empty() {
                    s.uint_usize(h.grace_proofs.len());
                    for p in &h.grace_proofs {
                        s.raw(p);
                    }
                }
            }
            Self::VersionVector { collection, vv } => {
                s.string(collection);
                s.uint_usize(vv.len());
                for (r, h) in vv.iter() {
                    s.raw(r.as_bytes());
                    put_hlc(s, h);
                }
            }
            Self::Ops(batch) => batch.encode_body(s),
            Self::Ack { seq, credit } => {
                s.uint(*seq);
                s.uint(*credit);
            }
            Self::Synced { collection } => s.string(collection),
            Self::Snapshot { batch, last } => {
                s.bool(*last);
                batch.encode_body(s);
            }
            Self::KeyRotate { epoch, sealed_key } => {
                s.uint(*epoch);
                s.buffer(sealed_key);
            }
            Self::Bye { reason } => s.uint(*reason),
            Self::Unknown { .. } => {}
        }
    }
}

impl<'a> Decode<'a> for Message {
    fn decode(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(match d.uint()? {
            0 => {
                let version = d.uint()?;
                let replica = ReplicaId(d.fixed()?);
                let collections = string_table(d)?;
                let proof = d.fixed()?;
                let grace_proofs = grace_proofs(d).unwrap_or_default();
                Self::Hello(Hello {
                    version,
                    replica,
                    collections,
                    proof,
                    grace_proofs,
                })
            }
            1 => {
                let collection = get_str(d)?.to_owned();
                let n = bounded_len(d, 24)?;
                let mut vv = VersionVector::new();
                for _ in 0..n {
                    let r = ReplicaId(d.fixed()?);
                    vv.observe(Stamp::new(get_hlc(d)?, r));
                }
                Self::VersionVector { collection, vv }
            }
            2 => Self::Ops(Batch::decode_body(d)?),
            3 => Self::Ack {
                seq: d.uint()?,
                credit: d.uint()?,
            },
            4 => Self::Synced {
                collection: get_str(d)?.to_owned(),
            },
            5 => {
                let last = d.bool()?;
                Self::Snapshot {
                    batch: Batch::decode_body(d)?,
                    last,
                }
            }
            6 => Self::KeyRotate {
                epoch: d.uint()?,
                sealed_key: d.buffer()?.to_vec(),
            },
            7 => Self::Bye { reason: d.uint()? },
            kind => Self::Unknown { kind },
        })
    }
}

/// Splits the first frame off `buf`: `Ok(None)` if more bytes are needed, else the body
/// and the number of bytes the frame took.
pub fn split_frame(buf: &[u8]) -> Result<Option<(&[u8], usize)>, WireError> {
    let mut d = Decoder::new(buf);
    let len = match d.uint() {
        Ok(len) => len,
        Err(DecodeError::OutOfBounds(_)) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if len > MAX_FRAME as u64 {
        return Err(WireError::FrameTooLarge(len));
    }
    let len = len as usize;
    if d.remaining() < len {
        return Ok(None);
    }
    let body = d.take(len, "frame")?;
    Ok(Some((body, d.position())))
}

/// Decodes one frame body.
pub fn decode_message(body: &[u8]) -> Result<Message, WireError> {
    Ok(Message::from_bytes(body)?)
}

#[cfg(test)]
mod tests;
