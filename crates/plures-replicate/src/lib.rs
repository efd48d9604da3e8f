//! CRDT replication for PluresDB over any encrypted duplex stream, and the sync API
//! (`SyncKey`, `enable_sync`, `disable_sync`, sync events).
//!
//! This crate will hold field-level last-writer-wins registers ordered by a hybrid logical
//! clock, the `Store` trait with a `redb` store and an in-memory store, and the versioned
//! replication protocol with capability proofs, flow control and key rotation.
//!
//! Nothing is implemented yet; the work is tracked in issue 7.
#![forbid(unsafe_code)]
