//! A Kademlia RPC node that a JavaScript `dht-rpc` 6.27.0 network accepts as one of its own,
//! written from `shared/spec/dht-rpc.md`.
//!
//! # JS modules mirrored
//!
//! | here | JS reference |
//! | --- | --- |
//! | [`wire`] | `dht-rpc lib/io.js` (`Request._encodeRequest`, `Request._sendReply`, `Request.decode`, `decodeReply`) |
//! | [`NodeId`], [`validate_id`] | `dht-rpc lib/peer.js#id`, `lib/io.js#validateId` |
//! | [`Command`], [`error_code`] | `dht-rpc lib/commands.js`, `lib/errors.js` |
//! | [`TokenSecrets`], [`Tokens`] | `dht-rpc lib/io.js#IO.token`, the rotation in `#IO._drain` |
//! | [`RoutingTable`] | `kademlia-routing-table` 1.0.6, the full-row policy of `dht-rpc index.js#_onfullrow` |
//!
//! # What exists
//!
//! The first slice of the port, all sans-IO and free of clocks and randomness:
//!
//! - the request/response packet codec ([`wire::Packet`], [`wire::Request`],
//!   [`wire::Response`]) on top of `plures-compact`, total on arbitrary input;
//! - node ids (`BLAKE2b-256` of the 6-byte address) and validation of a carried id against
//!   the datagram's source;
//! - round-trip tokens with two secrets and explicit rotation ([`Tokens::handle_timeout`]
//!   takes `now`);
//! - the routing table: 256 rows of [`K`] = 20, the reference's `closest` order (the wire
//!   order of closer nodes) and a true XOR-sorted variant, and ping-before-evict returned as
//!   a decision ([`PingBeforeEvict`]) instead of being performed.
//!
//! # What comes next
//!
//! The request tracker (transaction ids, retries and timeouts, the congestion window), the
//! iterative query engine with commits and DOWN_HINTs, NAT sampling and firewall detection,
//! the node core that answers internal commands and learns nodes from traffic, and a thin
//! tokio driver behind a default feature. The core will follow the workspace pattern:
//! `handle_datagram(now, from, bytes)` and `handle_timeout(now)` as inputs, then drain
//! `poll_transmit`, `poll_timeout` and `poll_event`.
//!
//! # Time and panics
//!
//! Nothing here reads a clock: rotation deadlines are [`std::time::Instant`]s passed in by
//! the caller, and tables count the node's 5 s ticks. No function panics on bytes from the
//! network; malformed datagrams become a [`DecodeError`], which the node drops silently as
//! the reference does.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod command;
mod error;
mod id;
mod table;
mod token;
pub mod wire;

pub use command::{Command, error_code};
pub use error::DecodeError;
pub use id::{Distance, ID_LEN, NodeId, validate_id};
pub use table::{Insert, K, Node, OLD_NODE, PingBeforeEvict, RECENT_NODE, ROWS, RoutingTable};
pub use token::{ROTATE_INTERVAL, Secret, Token, TokenSecrets, Tokens, token};
