//! Hyperswarm on top of `plures-hyperdht`, after `hyperswarm` 4.17.2 (spec
//! `shared/spec/hyperswarm.md`): topic discovery and connection management.
//!
//! * A [`Swarm`] owns one key pair and listens on its node (the key is announced at
//!   `hash(publicKey)`, spec §3).
//! * [`Swarm::join`] / [`Swarm::join_with`] announce the swarm under a 32-byte topic
//!   (server) and look the topic up (client), every 10–12 minutes (configurable);
//!   [`Swarm::leave`] stops that and keeps existing connections (§4).
//! * Every discovered peer is dialled once, by priority, at most 3 at a time and within
//!   `max_peers` / `max_client_connections` (§7); [`Swarm::flush`] resolves when every
//!   topic finished its discovery pass and the peers it produced were tried (§5).
//! * A connection we dialled that the peer drops is retried after the spec's back-off
//!   (≈1 s after a long connection, else ≈5 s, ≈15 s, ≈15 s, then only on rediscovery);
//!   closing or dropping a [`SwarmStream`] yourself does not trigger a retry (§8).
//! * Two connections to one peer (both sides dialled at once) are resolved as the
//!   reference does: the one in which the **larger** public key is the initiator
//!   survives on both sides, unless the older one already carried data both ways (§11).
//! * A firewall callback bans peers (§9); [`Swarm::join_peer`] keeps a connection to a
//!   known key (§10); [`Swarm::destroy`] (or dropping the swarm) closes everything (§14).
//! * [`Swarm::suspend`] withdraws the swarm from the DHT, closes every connection and
//!   silences its node; [`Swarm::resume`] announces, looks up and dials again without a
//!   new join; [`Swarm::network_change`] refreshes every topic (§12).
//!
//! The decisions live in a sans-IO [`core::Core`] with explicit time and a seeded random
//! source; the [`Swarm`] is a thin tokio task around it. After any input to the core,
//! drain `poll_action` (refreshes, dials, closes for the driver), then `poll_event`
//! (connections, updates, bans, finished flushes), then read `poll_timeout`.
//!
//! Deviations from the reference, for lack of support in the hyperdht driver: `leave`
//! cannot send UNANNOUNCE (the record ages out of the storage nodes), the firewall sees
//! only the remote key (not the Noise payload) and an incoming connection it rejects is
//! closed after the handshake instead of never being answered; the swarm listens from
//! the start rather than on the first server join.
//!
//! No `unwrap` is reachable from network input; nothing here panics on peer behaviour.
//!
//! ```no_run
//! # async fn demo(node: std::sync::Arc<plures_hyperdht::driver::HyperDhtNode>) -> Result<(), plures_swarm::SwarmError> {
//! use plures_swarm::{JoinOptions, Swarm, SwarmConfig};
//! let mut swarm = Swarm::new(node, plures_hyperdht::KeyPair::from_seed([1; 32]), SwarmConfig::default()).await?;
//! swarm.join_with([7; 32], JoinOptions::default())?;
//! swarm.flush().await; // announced, looked up, found peers tried
//! while let Some(conn) = swarm.next().await {
//!     println!("peer {:02x?} (we initiated: {})", &conn.remote_public_key[..4], conn.initiator);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod config;
pub mod core;
mod driver;
mod error;

pub use config::{Firewall, JoinOptions, SwarmConfig};
pub use core::{PeerInfo, Priority};
pub use driver::{PeerConnection, Swarm, SwarmEvent, SwarmStatus, SwarmStream};
pub use error::SwarmError;
