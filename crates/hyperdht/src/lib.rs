//! HyperDHT on top of `plures-dht-rpc`, wire-compatible with the JavaScript `hyperdht`
//! 6.34.0 (spec `shared/spec/hyperdht.md`).
//!
//! # JS modules mirrored
//!
//! | JS (`hyperdht`) | here |
//! | --- | --- |
//! | `lib/messages.js` | [`wire`]: every message encoding, encode and total decode |
//! | `lib/constants.js` | [`constants`]: commands, firewall classes, error codes, relay modes, and the `NS_*` namespaces in [`crypto`] |
//! | `lib/crypto.js`, `lib/persistent.js` (signables and signatures) | [`crypto`]: `hash`, targets, announce / unannounce / mutable signables, Ed25519 signing and verification |
//! | `lib/secure-payload.js` | [`crypto::SecurePayload`], [`crypto::holepunch_secret`], [`crypto::holepunch_token`] |
//! | `lib/persistent.js` (the storage commands), `record-cache`, `xache` | [`storage`]: the sans-IO storage node of spec §6 |
//!
//! # What exists
//!
//! This is the first slice: the byte-exact layer that everything else is built on, checked
//! against the recorded vectors `hyperdht-messages`, `hashes-and-signatures` and
//! `hyperdht-secure-payload`, and against the hyperdht values of a recorded loopback
//! session (`capture-hyperdht-connect`).
//!
//! ```
//! use plures_compact::{Decode, Encode};
//! use plures_hyperdht::{crypto, Announce, KeyPair, Peer};
//!
//! let kp = KeyPair::from_seed([7; 32]);
//! let peer = Peer { public_key: *kp.public_key(), relay_addresses: vec![] };
//! let target = crypto::target(kp.public_key());
//! // Signed for one storage node (its id) and the token it handed out.
//! let (node_id, token) = ([1; 32], [2; 32]);
//! let signature = crypto::sign_announce(&kp, &target, &node_id, &token, &peer, None);
//! let value = Announce { peer: Some(peer), signature: Some(signature), ..Announce::default() };
//! let bytes = value.to_bytes()?;
//! assert_eq!(bytes.len(), 1 + 33 + 64);
//! assert_eq!(Announce::from_bytes(&bytes)?, value);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The storage-node rules of spec §6 are in [`storage`]: the command table for FIND_PEER ..
//! IMMUTABLE_GET, the router (forward) table, refresh tokens, bumps and the two-generation
//! caches with their expiry and the record-replacement quirk; `tests/js_storage.rs` runs a
//! hyperdht JS client against Rust storage nodes.
//!
//! [`node::HyperDht`] is the node core: a dht-rpc core serving that storage, plus the
//! client storage operations of spec §7 (`lookup`, `find_peer`, `announce`,
//! `unannounce`, mutable and immutable put/get); `tests/sim_storage.rs` runs them in a
//! simulated network, with and without loss.
//!
//! Connections: server `listen` (spec §8, §11), client `connect` (spec §10), the routing
//! of PEER_HANDSHAKE / PEER_HOLEPUNCH (spec §9) and holepunching (spec §12: the NAT
//! classifier [`node::nat`], pool sockets and punch strategies [`node::puncher`], the
//! secure-payload rounds on both sides); `tests/sim_holepunch.rs` punches through the
//! simulator's NAT models and `tests/js_holepunch.rs` against JS nodes on loopback.
//! A server's announcer (spec §8: relay pings every 3 s, re-announce when relays stop
//! answering, three relay generations, UNANNOUNCE at dropped relays) is in
//! `node/announcer.rs`; `tests/sim_announcer.rs` and `tests/js_relay_loss.rs` kill relays.
//!
//! # What comes next
//!
//! * The blind relay (spec §14) and TRY_LATER.
//!
//! All of it will be sans-IO cores in the style of the lower crates: a hyperdht core owns a
//! dht-rpc core, takes time and randomness as input, and is drained with `poll_transmit`,
//! `poll_timeout` and `poll_event` after every input. Nothing here reads a clock or an
//! RNG; the secure payload takes its nonce from the caller.
//!
//! # Bad input
//!
//! Decoders never panic and never reserve more memory than their input holds; see
//! [`wire`]. Cryptographic checks on network input return `false` or an [`Error`].
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

pub mod constants;
pub mod crypto;
#[cfg(feature = "tokio")]
pub mod driver;
mod error;
pub mod node;
pub mod storage;
pub mod wire;

pub use crypto::SecurePayload;
pub use error::Error;
pub use plures_secret_stream::KeyPair;
pub use wire::{
    Announce, Handshake, Holepunch, HolepunchPayload, HyperdhtAddress, LookupRawReply,
    MutableGetResponse, MutablePutRequest, MutableSignable, NoisePayload, Peer, PluginRequest,
};
