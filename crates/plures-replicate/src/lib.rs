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
//! SNAPSHOT, KEY_ROTATE, BYE, LINKS; unknown types decode as [`wire::Message::Unknown`] and are
//! skipped). An OPS batch writes replica ids, record ids and field names once, stamps as
//! deltas and booleans and small integers without JSON text: 1 000 single-field boolean
//! updates over 100 records take 5.7 bytes per op.
//!
//! # Sync session (sans-IO)
//!
//! [`session::Session`] runs the protocol of one connection over any byte stream (normally a
//! secret-stream). Inputs: received bytes in any chunking, "a write was committed", `now` in
//! milliseconds. Outputs: frames, batches to apply, events. After every input drain
//! `poll_apply` (apply, then `handle_applied`), `poll_transmit`, `poll_timeout`, `poll_event`.
//!
//! 1. Both ends send HELLO: version, replica id, collection filter, and a capability proof
//!    bound to the channel's handshake hash and the sender's role (plus proofs under keys
//!    still in a rotation's grace period). Nothing else is sent before the peer's proof
//!    verifies; a proof recorded on another connection fails.
//! 2. VERSION_VECTOR for each collection both filters allow ([`Collections`]), then
//!    `ACK { seq: 0, credit }` grants the initial credit.
//! 3. OPS batches from the peer's vector in stamp order (SNAPSHOT batches to a peer with
//!    nothing of the collection), never more operations outstanding than the credit; the
//!    receiver ACKs after applying and grants the batch's size back. The default window is
//!    one batch, so memory is bounded by the window and a dropped connection resends at most
//!    one batch (the next session starts from the receiver's vector).
//! 4. SYNCED per collection, then SYNCED(`*`): the receiver's `SyncComplete`.
//! 5. Live tail: every later commit (local, or applied from another peer, so writes are
//!    relayed) is pushed under the same credit rule, without echoing a peer's own ops back
//!    and without relaying ops whose origin the peer is directly connected to (LINKS: each
//!    side announces its other live sessions; see the `session` docs).
//! 6. KEY_ROTATE (the next key sealed under the current one, see
//!    [`SyncKey::seal_next`]) and BYE.
//!
//! Any malformed, truncated or oversized frame, out-of-order message, batch beyond credit,
//! out of sequence, of a collection not shared or stamped beyond the drift limit closes the
//! session with BYE and drops every batch of that input not yet applied.
//!
//! # Sync API (feature `tokio`, on by default)
//!
//! [`sync::SyncEngine`] wraps a [`Store`]: local writes (`set`, `delete`, `write`; with
//! `set_group_commit(n)` buffered and applied as one batch per burst or `flush()`), the sync
//! key in the store's metadata (`set_sync_key`, never logged), `enable_sync(SyncOptions,
//! source)` / `disable_sync()`, `rotate_key` / `end_key_grace`, and an event stream:
//!
//! - `PeerConnected { peer }`, `PeerDisconnected { peer, reason }`,
//!   `SyncComplete { peer, collections }`;
//! - `PeerRejected { reason }` (closed before the peer verified, e.g. a wrong key) and
//!   `KeyRotated { epoch }`.
//!
//! Connections come from a [`sync::ConnectionSource`]: an in-memory one over
//! `tokio::io::duplex` pairs for tests, and plain TCP that sends the "handshake hash" in
//! clear for loopback tests. In production it is the swarm's secret-streams with their Noise
//! handshake hash and role. Each connection gets a thin tokio driver that pumps its session.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use plures_replicate::sync::{SyncEngine, SyncOptions, SyncEvent, connect_memory, memory_source};
//! use plures_replicate::{Collections, MemoryStore, ReplicaId, SyncKey};
//!
//! let key = SyncKey::from_bytes([7; 32]); // SyncKey::generate(&mut rng) in real use
//! let a = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([1; 16]))?;
//! let b = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([2; 16]))?;
//! let (dial_a, source_a) = memory_source(b"a");
//! let (dial_b, source_b) = memory_source(b"b");
//! let opts = SyncOptions { key: Some(key), ..Default::default() };
//! a.enable_sync(SyncOptions { collections: Collections::all().excluding("secret"), ..opts.clone() }, source_a)?;
//! b.enable_sync(opts, source_b)?;
//! a.set("notes", "n1", "title", serde_json::json!("hello"))?;
//! let mut events = b.events();
//! connect_memory(&dial_a, &dial_b, [9; 32]); // a fresh random hash per pair
//! while let Ok(event) = events.recv().await {
//!     if let SyncEvent::SyncComplete { collections, .. } = event {
//!         assert_eq!(collections, ["notes"]);
//!         break;
//!     }
//! }
//! # Ok(()) }
//! ```
//!
//! # What is left
//!
//! - Swarm integration: a `ConnectionSource` over the Hyperswarm crate that joins
//!   [`SyncKey::topic`] (both topics during a rotation's grace period) and yields its
//!   secret-streams with their handshake hash and role.
//! - SNAPSHOT for a store that compacts history: here every store keeps all winners, so a
//!   snapshot is the winners streamed from an empty vector; "too far behind" (the peer's
//!   vector older than a compaction horizon) is not detected yet.
//! - Performance (`benches/run-replicate.sh`, docs/benchmarks.md): `RedbStore` is short of
//!   200 000 writes/s even with group commit ([`sync::SyncEngine::set_group_commit`]): redb's
//!   B-tree updates of the record and winner tables cost tens of µs per write.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod clock;
mod codec;
mod crdt;
mod error;
mod key;
pub mod session;
mod store;
#[cfg(feature = "tokio")]
pub mod sync;
pub mod wire;

pub use clock::{Clock, Hlc, ReplicaId, Stamp};
pub use crdt::{Action, Effect, Op, Record, Register, Slot, VersionVector};
pub use error::{ClockError, KeyError, StoreError};
pub use key::{CAPABILITY_LABEL, ROTATE_LABEL, Role, SyncKey, TOPIC_LABEL};
pub use session::Collections;
pub use store::{MemoryStore, RedbStore, Store};
