//! Hyperswarm on top of `plures-hyperdht`, after `hyperswarm` 4.17.2 (see
//! `shared/spec/hyperswarm.md`).
//!
//! This first slice is the core loop of the spec, enough for peers to find and connect to
//! each other on a topic:
//!
//! * a [`Swarm`] owns one key pair and listens on its node (the key is announced at
//!   `hash(publicKey)`, spec §3);
//! * [`Swarm::join`] announces the swarm under a 32-byte topic (the topic bytes are the
//!   DHT target) with the server's relay addresses, looks the topic up, and dials every
//!   discovered peer it is expected to dial, then repeats after the refresh interval;
//! * duplicates follow the spec's net rule (§11): in a pair of peers the one with the
//!   **larger** public key is the initiator. A swarm therefore dials only peers with
//!   smaller keys, and of two connections to one peer keeps the one in which the larger
//!   key initiated.
//!
//! Not yet: leave/unannounce, flush, priorities, back-off and bans, explicit peers,
//! suspend/resume (spec §4.3, §5, §8–§10, §12).
//!
//! ```no_run
//! # async fn demo(node: std::sync::Arc<plures_hyperdht::driver::HyperDhtNode>) -> std::io::Result<()> {
//! use plures_swarm::{Swarm, SwarmConfig};
//! let mut swarm = Swarm::new(node, plures_hyperdht::KeyPair::from_seed([1; 32]), SwarmConfig::default()).await?;
//! swarm.join([7; 32]);
//! while let Some(conn) = swarm.next().await {
//!     println!("peer {:02x?} (we initiated: {})", &conn.remote_public_key[..4], conn.initiator);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod swarm;

pub use swarm::{PeerConnection, Swarm, SwarmConfig};
