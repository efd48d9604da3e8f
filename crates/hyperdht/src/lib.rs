//! HyperDHT on top of `plures-dht-rpc`, wire-compatible with `hyperdht` 6.34.0 (see
//! `shared/spec/hyperdht.md`).
//!
//! This crate will hold announce/lookup, mutable and immutable records, the storage-node
//! rules, server listen and client connect with PEER_HANDSHAKE / PEER_HOLEPUNCH relaying,
//! NAT classification and holepunching, and the blind relay.
//!
//! Nothing is implemented yet.
#![forbid(unsafe_code)]
