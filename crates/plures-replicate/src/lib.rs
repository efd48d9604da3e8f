//! CRDT replication for PluresDB over any encrypted duplex stream, and the sync-key API.
//!
//! # Data model and merge rule
//!
//! PluresDB stores records `{ id, data, ... }` in named collections. This crate replicates
//! them at field granularity:
//!
//! - Each write carries a [`Stamp`]: a hybrid logical clock value ([`Hlc`], 48-bit
//!   milliseconds + 16-bit counter) and the writer's 16-byte [`ReplicaId`]. Stamps are totally
//!   ordered by `(hlc, replica)`.
//! - Each top-level field of `data` is a last-writer-wins register: the set or remove with
//!   the greatest stamp wins.
//! - A delete writes the record's tombstone (greatest stamp wins). A field write is visible
//!   only if stamped strictly after the tombstone; a record is live iff it has a visible
//!   field write. So a write after a delete resurrects the record with only the fields written
//!   after the delete, and writes stamped at or before the delete are ignored.
//! - Ties (only from faulty peers): a delete beats a field write with an equal stamp; of two
//!   writes of one field with equal stamps, the greater JSON text wins.
//! - The merged state equals replaying every operation in stamp order; merging is
//!   commutative, associative and idempotent, so replicas that have seen the same operations
//!   hold the same state whatever the order, duplication or batching of delivery.
//!
//! # Hybrid logical clock
//!
//! [`Clock`] is sans-IO: callers pass physical milliseconds into [`Clock::now`] (a local
//! write) and [`Clock::update`] (a remote stamp). Local stamps strictly increase; a counter
//! overflow borrows the next millisecond; remote stamps more than [`Clock::max_drift_ms`]
//! ahead of local time are rejected. See the `clock` module docs.
//!
//! # Stores
//!
//! [`Store`] is the storage seam: get a record, apply a batch atomically, list the winning
//! operations a peer lacks given its [`VersionVector`], and read a collection's version
//! vector. [`RedbStore`] is the crash-safe default (one `redb` file, one write transaction
//! per batch); [`MemoryStore`] is for tests. The [`Store`] docs describe how PluresDB's own
//! store maps onto the trait: `(collection, id)` → a node record, each top-level `data` key
//! → a register whose stamp lives in node metadata, the tombstone → the node's deleted flag
//! with its stamp, `apply` → one PluresDB transaction that also maintains the
//! `(replica, hlc)` index and the version vector.
//!
//! # Sync key
//!
//! [`SyncKey`] is 32 random bytes from an injected RNG, written as 64 hex digits. The
//! Hyperswarm topic, the capability-proof key and the key-rotation key are keyed BLAKE2b-256
//! values of distinct labels ([`TOPIC_LABEL`], [`CAPABILITY_LABEL`], [`ROTATE_LABEL`]). A
//! capability proof binds the key to one secure channel's handshake hash and the sender's
//! [`Role`], and verifies in constant time.
//!
//! # Bad input and panics
//!
//! Stored and received bytes are decoded totally: corrupt input yields an error, never a
//! panic. Time and randomness are always injected; nothing here reads a clock or an RNG.
//!
//! # Wire protocol
//!
//! [`wire`] holds the framed, versioned messages (HELLO, VERSION_VECTOR, OPS, ACK, SYNCED,
//! SNAPSHOT, KEY_ROTATE, BYE; unknown types decode as [`wire::Message::Unknown`] and are
//! skipped). An OPS batch writes replica ids, record ids and field names once and stamps as
//! deltas: 1 000 single-field boolean updates over 100 records take 11.3 bytes per op.
//!
//! # What comes next (issue 7)
//!
//! - A sans-IO sync session over those messages with credit-based flow control, resume that
//!   resends at most one unacknowledged batch, live tail, and a thin tokio driver over any
//!   `AsyncRead + AsyncWrite` (normally a secret-stream).
//! - `enable_sync` / `disable_sync`, sync events, key rotation and selective sync of
//!   collections.
//! - Performance work toward 200 000 local writes/s and ≤ 12 bytes per small update on the
//!   wire.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod clock;
mod codec;
mod crdt;
mod error;
mod key;
mod store;
pub mod wire;

pub use clock::{Clock, Hlc, ReplicaId, Stamp};
pub use crdt::{Action, Effect, Op, Record, Register, Slot, VersionVector};
pub use error::{ClockError, KeyError, StoreError};
pub use key::{CAPABILITY_LABEL, ROTATE_LABEL, Role, SyncKey, TOPIC_LABEL};
pub use store::{MemoryStore, RedbStore, Store};
