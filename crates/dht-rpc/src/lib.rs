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
//! | [`io`] ([`io::Io`], [`io::Window`]) | `dht-rpc lib/io.js` (`IO.createRequest`, `Request.send`, `#oncycle`, `CongestionWindow`) |
//! | [`node`] ([`Dht`]) | `dht-rpc index.js#DHT`, `lib/query.js#Query` |
//! | [`NatSampler`] | `nat-sampler` 1.0.1 |
//! | `driver` (`driver::DhtNode`, feature `tokio`) | `dht-rpc index.js#DHT` with its sockets (`lib/io.js#IO._bindSockets`) |
//!
//! # What exists
//!
//! All sans-IO and free of clocks and randomness:
//!
//! - the request/response packet codec ([`wire::Packet`], [`wire::Request`],
//!   [`wire::Response`]) on top of `plures-compact`, total on arbitrary input;
//! - node ids (`BLAKE2b-256` of the 6-byte address) and validation of a carried id against
//!   the datagram's source;
//! - round-trip tokens with two secrets and explicit rotation;
//! - the routing table: 256 rows of [`K`] = 20, the reference's `closest` order (the wire
//!   order of closer nodes) and a true XOR-sorted variant, ping-before-evict as a decision;
//! - the request tracker [`io::Io`]: tids (random start, wrap, in-use tids skipped), retries
//!   (3 → 4 sends, 5 for queries) with a 1000 ms per-attempt timeout, responses matched by
//!   tid and source address (PING_NAT accepts any source), the four-slot congestion window
//!   of 80 with its 750 ms drain;
//! - NAT sampling ([`NatSampler`], the reference's algorithm with its vectors);
//! - the node core [`Dht`]: the internal commands (PING, PING_NAT, FIND_NODE, DOWN_HINT,
//!   DELAYED_PING with its 10 s limit, UNKNOWN_COMMAND + closer nodes for the rest), token
//!   checks (INVALID_TOKEN + fresh token), id validation, learning nodes from traffic with
//!   ping-before-evict, liveness checks and the 5 s maintenance tick (ping rounds, refresh),
//!   registered user commands surfaced as [`Event::Request`] and answered with
//!   [`Dht::reply`] / [`Dht::error`] / [`Dht::relay`], outbound [`Dht::request`], the
//!   iterative [`Dht::query`] (concurrency 10, k = 20, DOWN_HINTs, slow requests, streamed
//!   replies, commit with tokens), bootstrap (two FIND_NODE iterations around the id switch);
//! - firewall detection and the switch to persistent (`node/firewall.rs`, spec §11, §13):
//!   the bootstrap's quick PING_NAT to the first responder ([`Config::quick_firewall`]), the
//!   full check (PING_NAT with [`Config::server_port`] to the 5 most recently seen nodes,
//!   topped up with the bootstrap nodes; replies count only from hosts also seen arriving on
//!   the server socket; 3 of ≥ 5 or 1 of fewer must count, and the reported address must
//!   agree with the NAT estimate on the host and with the server socket's local port), then
//!   unfirewalled → persistent with `id(publicHost, serverPort)` when forced, or adaptive
//!   after the 240-tick countdown (720 between later checks);
//! - network health (`node/health.rs`, spec §15): [`Dht::online`] / [`Dht::degraded`] from a
//!   ring of per-tick response/timeout counters, [`Event::NetworkUpdate`] on change;
//! - suspend, resume and wake-up (`node/power.rs`, spec §16): [`Dht::suspend`] fails
//!   everything in flight with [`node::RequestError::Suspended`] /
//!   [`node::QueryError::Suspended`], drops all input ([`Dropped::Suspended`]) and stops
//!   the timers; [`Dht::resume`] and any tick more than 15 s late run the wake-up
//!   (tick jump, refresh, health reset, adaptive persistent → ephemeral with
//!   [`Event::Ephemeral`], [`Event::Wakeup`]).
//!
//! With the default `tokio` feature, `driver::DhtNode` runs the core over two
//! `plures_udx::UdxSocket`s (server and client) and exposes requests, queries, user-command
//! handling and status as async methods. `tests/js_interop.rs` checks it live against the
//! JS reference (joining a JS testnet, JS nodes bootstrapping from Rust, mixed-network
//! lookups, tokens both ways, retries, the closer-node order); `tests/js_live_checklist.rs`
//! covers the rest of the spec's live checklist (internal commands, error replies and the
//! DELAYED_PING limit compared byte for byte with a JS node, a JS DOWN_HINT acted on,
//! relaying to a JS last hop, firewall detection with and without a filtered server socket,
//! a UDX stream sharing the server socket with DHT traffic). `tests/sim/firewall.rs` runs
//! firewall detection behind each of plures-sim's NAT types; `tests/sim/power.rs` runs a
//! node through a dark network (offline and back), a 20 s sleep (wake-up) and a
//! suspend/resume.
//!
//! # Run loop
//!
//! After **any** input — [`Dht::new`], [`Dht::handle_datagram`], [`Dht::handle_timeout`]
//! or a command such as [`Dht::request`], [`Dht::query`], [`Dht::reply`] — drain the core:
//!
//! 1. call [`Dht::poll_transmit`] until `None` and send each [`Transmit`] from the named
//!    [`Socket`];
//! 2. call [`Dht::poll_timeout`] and arm one timer for it;
//! 3. call [`Dht::poll_event`] until `None`.
//!
//! When the timer fires call [`Dht::handle_timeout`] with the current time (late is fine;
//! early is a no-op). Events are produced only by inputs, so draining them last sees
//! everything.
//!
//! # Time model
//!
//! Time is an input: every method that can start a timer takes `now: Instant`, and the core
//! never reads a clock. Timers: request attempt timeouts (1000 ms; DELAYED_PING requests
//! `delay + 1000`), the window drain (750 ms, armed only while the window counts something),
//! token rotation (7.5 s), delayed-ping replies, and the maintenance tick (5 s). Node records
//! remember tick numbers, not instants. A late `handle_timeout` runs each timer once (no
//! catch-up bursts). A tick more than [`node::SLEEPING_INTERVAL`] (15 s) after the previous
//! one means the machine slept and runs the wake-up procedure instead of `tick += 1`.
//!
//! # Randomness
//!
//! [`Config::seed`] seeds the first tid, the initial random id, the tick phase and the
//! refresh targets; [`Config::secrets`] are the token secrets. Two nodes with the same
//! config and the same inputs behave identically.
//!
//! # Caps
//!
//! Memory is bounded on hostile input: see the table in [`node`] (requests in flight
//! [`io::MAX_IN_FLIGHT`], queries [`node::MAX_QUERIES`], addresses per query
//! [`node::MAX_SEEN`], delayed pings [`node::MAX_DELAYED`], queued replies
//! [`node::MAX_REPLIES`], events [`node::MAX_EVENTS`], NAT samples [`NAT_SAMPLES`]). Past a
//! cap, inbound work is dropped and counted in [`Stats`]; commands return [`Error::Busy`].
//!
//! # Errors and panics
//!
//! Three cases are kept apart: garbage from peers is dropped, counted in [`Stats`] and
//! returned from [`Dht::handle_datagram`] as [`Dropped`]; caller misuse or exhausted caps
//! are [`Error`]s from commands; I/O belongs to the driver, which maps all three to
//! `std::io::Error`. No function panics on
//! bytes from the network (a proptest drives [`Dht`] with arbitrary datagram sequences).
//!
//! # Deviations and options
//!
//! - Responses are matched by tid **and** source (spec §3.5 allows it), except PING_NAT.
//! - Retransmissions wait in the congestion window like first sends.
//! - One firewall check at a time: an adaptive check due while another runs is skipped
//!   (counts as failed). A node whose [`Config::server_port`] is 0 (unknown) never passes
//!   one; the tokio driver always sets it.
//! - [`Config::sorted_closer_nodes`] (off by default) lists closer nodes nearest-first.
//!   With the reference's row order a responder can leave out nodes sharing exactly `d`
//!   bits with the target in favour of farther rows, and simulated lookups then miss a
//!   closest node now and then; see `tests/sim/convergence.rs` for measurements. The JS
//!   reference does answer in that row order (checked live; see `docs/protocol-notes.md`,
//!   "dht-rpc: closer-node order"), and there sorted replies made mixed-network lookups
//!   exact.
//!
//! # What comes next
//!
//! - Tid-only response matching as an option for user requests, if a use appears: a Rust
//!   originator drops a reply sent by a node other than the one it asked (a last hop
//!   answering `reply(value, {to})` directly), because responses must come from the
//!   address the request went to (PING_NAT excepted).
//! - `remoteAddress()`, the `randomized` flag and the `nat-update` event in the driver.
//! - Sessions.
//! - Bootstrap entries with host names (`suggestedIP@host:port`): DNS is the driver's job.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod command;
#[cfg(feature = "tokio")]
pub mod driver;
mod error;
mod id;
pub mod io;
mod nat;
pub mod node;
mod rng;
mod table;
mod token;
pub mod wire;

pub use command::{Command, error_code};
pub use error::{DecodeError, Dropped, Error};
pub use id::{Distance, ID_LEN, NodeId, validate_id};
pub use io::{Socket, Transmit};
pub use nat::{NAT_SAMPLES, NatSampler};
pub use node::{Config, Dht, Event, Stats};
pub use table::{Insert, K, Node, OLD_NODE, PingBeforeEvict, RECENT_NODE, ROWS, RoutingTable};
pub use token::{ROTATE_INTERVAL, Secret, Token, TokenSecrets, Tokens, token};
