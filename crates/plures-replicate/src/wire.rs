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
//! | 8 | LINKS ([`Links`]) | the sender's other live peers and their collection filters, then version vectors |
//!
//! LINKS was added without a version bump: a peer that does not know type 8 skips it and
//! simply keeps relaying everything, which is correct, only redundant (see the session docs,
//! "Relaying in a mesh").
//!
//! # Batch encoding
//!
//! A batch writes each distinct replica id and field name once, in tables at its head, and
//! then per operation: a kind byte, the replica's table index if it differs from the
//! previous operation's, the record id (inline the first time the batch names it, as its
//! index in order of first appearance after that), the stamp's milliseconds as a zigzag
//! delta from the previous operation's, the counter (as a zigzag delta from the previous
//! counter when the milliseconds are equal, else as is), the field's index, and for a set
//! the value: `false` and `true` in the kind byte alone, a non-negative integer up to 2^53 - 1
//! as a `uint`, anything else as JSON text. Kind bits: 0-1 set/remove/delete, 2 new replica,
//! 3 new record id, 4-5 the value's form. There are no per-op hashes: the secure channel
//! authenticates every byte. 1 000 single-field boolean updates over 100 records take
//! 5.7 bytes per op.
//!
//! # Bad input
//!
//! Decoding is total: any bytes give a message or a [`WireError`], never a panic, and no
//! count makes the decoder reserve more entries than the input has bytes left.

use crate::clock::{ReplicaId, Stamp};
use crate::codec::{get_hlc, get_str, put_hlc, put_json};
use crate::crdt::{Action, Op, VersionVector};
use plures_compact::{Decode, DecodeError, Decoder, Encode, EncodeError, Encoder, Sink};
use serde_json::Value;
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

/// One live peer connection of the sender of [`Links`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// The replica at the other end.
    pub replica: ReplicaId,
    /// That replica's HELLO collection patterns (what it syncs with the sender).
    pub collections: Vec<String>,
}

/// LINKS: "I am directly connected to these replicas; do not relay their operations to
/// me" (for the collections both ends of that link sync), plus the sender's version vectors
/// so that the receiver can resume relaying from what the sender really has when a link
/// disappears. Each LINKS replaces the previous one.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Links {
    /// The sender's live links, excluding the receiver.
    pub links: Vec<Link>,
    /// The sender's version vectors (some or all shared collections; may be empty).
    pub vectors: Vec<(String, VersionVector)>,
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
    /// LINKS: the sender's direct links (see [`Links`]).
    Links(Links),
    /// A message type this version does not know; skipped.
    Unknown {
        /// Its type number.
        kind: u64,
    },
}

const OP_SET: u8 = 0;
const OP_REMOVE: u8 = 1;
const OP_DELETE: u8 = 2;
const OP_ACTION: u8 = 3;
const OP_NEW_REPLICA: u8 = 4;
const OP_NEW_ID: u8 = 8;
/// Bits 4-5: how a set's value is written.
const OP_VALUE: u8 = 0x30;
/// The value as JSON text.
const VALUE_JSON: u8 = 0x00;
/// A non-negative integer as a compact `uint`.
const VALUE_UINT: u8 = 0x10;
/// `false`, nothing written.
const VALUE_FALSE: u8 = 0x20;
/// `true`, nothing written.
const VALUE_TRUE: u8 = 0x30;

/// Index of `key` in a table being built, adding it if new.
/// A fast, unkeyed hash (FxHash's multiply-rotate) for the encoder's per-batch tables:
/// their keys come from the local store and their size is bounded by the batch, so the
/// keyed SipHash's flood resistance buys nothing there, while it cost a fifth of the
/// sender's instructions.
#[derive(Default, Clone, Copy)]
struct FxHasher(u64);

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(w)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type FastMap<K, V> = HashMap<K, V, std::hash::BuildHasherDefault<FxHasher>>;

fn intern<'a>(
    table: &mut Vec<&'a str>,
    index: &mut FastMap<&'a str, usize>,
    key: &'a str,
) -> usize {
    *index.entry(key).or_insert_with(|| {
        table.push(key);
        table.len() - 1
    })
}

/// The value form of a set (`VALUE_*`), and the integer for `VALUE_UINT`.
fn value_form(action: &Action) -> (u8, u64) {
    match action {
        Action::Set {
            value: Value::Bool(b),
            ..
        } => (if *b { VALUE_TRUE } else { VALUE_FALSE }, 0),
        Action::Set { value, .. } => match value.as_u64() {
            Some(n) if n <= plures_compact::MAX_SAFE_INTEGER => (VALUE_UINT, n),
            _ => (VALUE_JSON, 0),
        },
        _ => (VALUE_JSON, 0),
    }
}

impl Batch {
    fn encode_body<S: Sink>(&self, s: &mut S) {
        let mut replicas: Vec<ReplicaId> = Vec::new();
        let mut fields: Vec<&str> = Vec::new();
        let mut field_ix = FastMap::default();
        let mut replica_ix: FastMap<ReplicaId, usize> = FastMap::default();
        for op in &self.ops {
            replica_ix.entry(op.stamp.replica).or_insert_with(|| {
                replicas.push(op.stamp.replica);
                replicas.len() - 1
            });
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
        s.uint_usize(fields.len());
        for f in &fields {
            s.string(f);
        }
        s.uint_usize(self.ops.len());
        let mut id_ix: FastMap<&str, usize> =
            FastMap::with_capacity_and_hasher(self.ops.len().min(1 << 12), Default::default());
        let (mut prev_ms, mut prev_counter) = (0u64, 0u16);
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
            let known_id = id_ix.get(op.id.as_str()).copied();
            if known_id.is_none() {
                kind |= OP_NEW_ID;
            }
            let (form, n) = value_form(&op.action);
            kind |= form;
            s.u8(kind);
            if new_replica {
                s.uint_usize(replica_ix.get(&op.stamp.replica).copied().unwrap_or(0));
                prev_replica = Some(op.stamp.replica);
            }
            match known_id {
                Some(i) => s.uint_usize(i),
                None => {
                    let next = id_ix.len();
                    id_ix.insert(&op.id, next);
                    s.string(&op.id);
                }
            }
            let (ms, counter) = (op.stamp.hlc.ms(), op.stamp.hlc.counter());
            // Both are below 2^48, so the difference fits an i64.
            s.int(ms as i64 - prev_ms as i64);
            if ms == prev_ms {
                s.int(i64::from(counter) - i64::from(prev_counter));
            } else {
                s.uint(u64::from(counter));
            }
            (prev_ms, prev_counter) = (ms, counter);
            if let Some(f) = op.action.field() {
                s.uint_usize(field_ix.get(f).copied().unwrap_or(0));
            }
            match (form, &op.action) {
                (VALUE_UINT, _) => s.uint(n),
                (VALUE_JSON, Action::Set { value, .. }) => put_json(s, value),
                _ => {}
            }
        }
    }

    fn decode_body(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        PackedBatch::decode_body(d)?
            .to_batch()
            .map_err(|_| DecodeError::Invalid("table index"))
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
            Self::Links(_) => 8,
            Self::Unknown { kind } => *kind,
        }
    }

    /// The message as one frame: length prefix, type and fields.
    pub fn to_frame(&self) -> Result<Vec<u8>, WireError> {
        // One encoding pass (a size pass first would run OPS' interning twice): the body
        // goes after room for the longest length prefix, which is then moved up to it.
        const ROOM: usize = 9;
        let mut e = Encoder::from_vec(vec![0; ROOM]);
        self.encode(&mut e);
        let mut buf = e.finish()?;
        let mut prefix = Encoder::with_capacity(ROOM);
        prefix.uint_usize(buf.len() - ROOM);
        let prefix = prefix.finish()?;
        let start = ROOM - prefix.len();
        buf[start..ROOM].copy_from_slice(&prefix);
        buf.drain(..start);
        Ok(buf)
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
            Self::VersionVector { collection, vv } => put_vv(s, collection, vv),
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
            Self::Links(l) => {
                s.uint_usize(l.links.len());
                for link in &l.links {
                    s.raw(link.replica.as_bytes());
                    s.uint_usize(link.collections.len());
                    for c in &link.collections {
                        s.string(c);
                    }
                }
                s.uint_usize(l.vectors.len());
                for (collection, vv) in &l.vectors {
                    put_vv(s, collection, vv);
                }
            }
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
                let (collection, vv) = get_vv(d)?;
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
            8 => {
                let n = bounded_len(d, 17)?;
                let mut links = Vec::with_capacity(n);
                for _ in 0..n {
                    let replica = ReplicaId(d.fixed()?);
                    let collections = string_table(d)?;
                    links.push(Link {
                        replica,
                        collections,
                    });
                }
                let n = bounded_len(d, 2)?;
                let mut vectors = Vec::with_capacity(n);
                for _ in 0..n {
                    vectors.push(get_vv(d)?);
                }
                Self::Links(Links { links, vectors })
            }
            kind => Self::Unknown { kind },
        })
    }
}

fn put_vv<S: Sink>(s: &mut S, collection: &str, vv: &VersionVector) {
    s.string(collection);
    s.uint_usize(vv.len());
    for (r, h) in vv.iter() {
        s.raw(r.as_bytes());
        put_hlc(s, h);
    }
}

fn get_vv(d: &mut Decoder<'_>) -> Result<(String, VersionVector), DecodeError> {
    let collection = get_str(d)?.to_owned();
    let n = bounded_len(d, 24)?;
    let mut vv = VersionVector::new();
    for _ in 0..n {
        let r = ReplicaId(d.fixed()?);
        vv.observe(Stamp::new(get_hlc(d)?, r));
    }
    Ok((collection, vv))
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

mod packed;
pub use packed::{BadIndex, PackedAction, PackedBatch, PackedOp, decode_packed};

#[cfg(test)]
mod tests;
