//! Configuration, events and counters of the node core.

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::command::Command;
use crate::id::NodeId;
use crate::io::{MAX_WINDOW, Socket};
use crate::rng::Rng;
use crate::token::{Token, TokenSecrets};

/// Default query concurrency.
pub const CONCURRENCY: usize = 10;
/// Most DOWN_HINTs this node sends per tick (`downHintsRateLimit`).
pub const DOWN_HINTS_RATE_LIMIT: usize = 50;

/// Node configuration. Everything random comes from `seed` and `secrets`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Bootstrap nodes (already resolved: DNS is the driver's business).
    pub bootstrap: Vec<SocketAddrV4>,
    /// `Some(false)`: forced persistent; `Some(true)`: forced ephemeral; `None`: adaptive
    /// (the reference's default).
    pub ephemeral: Option<bool>,
    /// Whether the node starts firewalled (reference default: true).
    pub firewalled: bool,
    /// Seed of the node's generator (initial tid, random id, tick phase, refresh targets).
    pub seed: u64,
    /// Token secrets `S[0]`, `S[1]`.
    pub secrets: TokenSecrets,
    /// Pre-seeds NAT sampling with the node's known public address (what
    /// `DHT.bootstrapper(port, host)` does).
    pub public_address: Option<SocketAddrV4>,
    /// Query concurrency.
    pub concurrency: usize,
    /// Congestion window slot size (`maxWindow`).
    pub max_window: usize,
    /// User commands this node handles; other user commands are answered UNKNOWN_COMMAND.
    pub commands: Vec<u64>,
    /// Whether queries send DOWN_HINTs about unresponsive nodes.
    pub down_hints: bool,
    /// List closer nodes nearest-first by XOR distance instead of the reference's table
    /// order (spec §8). Off by default (wire parity with the reference); see the crate docs
    /// for why a network of nodes with it on converges to the exact closest set.
    pub sorted_closer_nodes: bool,
    /// The server socket's local port: the PING_NAT value of firewall checks, which pass
    /// only if peers report it back unchanged. 0 (unknown) means a firewalled node can never
    /// prove it is reachable. The tokio driver fills it in.
    pub server_port: u16,
    /// Send one PING_NAT to the first responder of the first bootstrap query
    /// (`quickFirewall`, default true); if it is answered before that query ends the node
    /// runs the full firewall check right after it instead of ~20 minutes later.
    pub quick_firewall: bool,
}

impl Config {
    /// The reference's defaults (adaptive, firewalled), with secrets derived from `seed`.
    pub fn new(seed: u64) -> Self {
        let mut rng = Rng::new(seed ^ 0x746f_6b65_6e73);
        let secrets = TokenSecrets::new(rng.bytes32(), rng.bytes32());
        Self {
            bootstrap: Vec::new(),
            ephemeral: None,
            firewalled: true,
            seed,
            secrets,
            public_address: None,
            concurrency: CONCURRENCY,
            max_window: MAX_WINDOW,
            commands: Vec::new(),
            down_hints: true,
            sorted_closer_nodes: false,
            server_port: 0,
            quick_firewall: true,
        }
    }

    /// A bootstrap node at its public `addr` (`DHT.bootstrapper`): persistent, not
    /// firewalled, no bootstrap peers, NAT sampler pre-seeded.
    pub fn bootstrapper(addr: SocketAddrV4, seed: u64) -> Self {
        Self {
            ephemeral: Some(false),
            firewalled: false,
            public_address: Some(addr),
            server_port: addr.port(),
            ..Self::new(seed)
        }
    }
}

/// Identifies a request made with `Node::request`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// Identifies a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QueryId(pub u64);

/// A node known by address and id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// Where it listens.
    pub addr: SocketAddrV4,
    /// Its id.
    pub id: NodeId,
}

/// A response, owned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The responder's address.
    pub from: SocketAddrV4,
    /// The responder's id if it carried one that validates against `from`.
    pub id: Option<NodeId>,
    /// Our address as the responder saw it.
    pub to: SocketAddrV4,
    /// A token for later requests to the responder.
    pub token: Option<Token>,
    /// Closer nodes in the responder's order.
    pub closer_nodes: Vec<SocketAddrV4>,
    /// Error code (0 = none).
    pub error: u64,
    /// The value.
    pub value: Option<Vec<u8>>,
}

/// Everything needed to answer an inbound user request; hand it back to `Node::reply`,
/// `Node::error` or `Node::relay`. The node keeps no state per inbound request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHandle {
    pub(crate) tid: u16,
    pub(crate) from: SocketAddrV4,
    pub(crate) socket: Socket,
    pub(crate) internal: bool,
    pub(crate) command: u64,
    pub(crate) target: Option<NodeId>,
}

impl RequestHandle {
    /// The requester.
    pub fn from(&self) -> SocketAddrV4 {
        self.from
    }

    /// The command.
    pub fn command(&self) -> Command {
        Command::from_wire(self.internal, self.command)
    }
}

/// An inbound request for a registered user command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncomingRequest {
    /// Answer through this.
    pub handle: RequestHandle,
    /// The requester's address.
    pub from: SocketAddrV4,
    /// The requester's id if valid.
    pub id: Option<NodeId>,
    /// The token it carried; already validated (invalid tokens never get here).
    pub token: Option<Token>,
    /// The command number.
    pub command: u64,
    /// The target.
    pub target: Option<NodeId>,
    /// The value.
    pub value: Option<Vec<u8>>,
}

/// Why a request failed locally.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// No response after all transmissions (`REQUEST_TIMEOUT`).
    #[error("request timed out")]
    Timeout,
    /// The request was destroyed before completing (`REQUEST_DESTROYED`).
    #[error("request destroyed")]
    Destroyed,
    /// The node was suspended while the request was in flight (`IO_SUSPENDED`).
    #[error("node suspended")]
    Suspended,
}

/// Why a query failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// Commit found no closest reply to commit to ("Too few nodes responded").
    #[error("too few nodes responded")]
    TooFewNodes,
    /// Every commit failed.
    #[error("all commits failed")]
    CommitFailed,
    /// The node was suspended while the query ran (its requests failed `IO_SUSPENDED`).
    #[error("node suspended")]
    Suspended,
}

/// Per-query counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct QueryStats {
    /// Nodes visited (requests started, commits excluded).
    pub visited: usize,
    /// Successful replies.
    pub replies: usize,
    /// Error replies and failures.
    pub errors: usize,
    /// Largest hop count among the final closest nodes (seed nodes are hop 1).
    pub hops: u32,
    /// Commit requests that succeeded.
    pub commits: usize,
}

/// What the node reports. Drain with `Node::poll_event`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A registered user command arrived; answer with `reply`, `error` or `relay`, or not
    /// at all (the requester times out).
    Request(IncomingRequest),
    /// A response to `Node::request`. Error replies arrive here too (`reply.error != 0`).
    Response {
        /// Which request.
        request: RequestId,
        /// The response.
        reply: Reply,
    },
    /// A `Node::request` got no response.
    RequestFailed {
        /// Which request.
        request: RequestId,
        /// Why.
        error: RequestError,
    },
    /// A successful reply during a query's lookup phase.
    QueryReply {
        /// Which query.
        query: QueryId,
        /// The reply.
        reply: Reply,
    },
    /// A query finished (after its commits, if any).
    QueryDone {
        /// Which query.
        query: QueryId,
        /// The closest nodes that replied with a valid id, nearest first (at most k).
        closest: Vec<Peer>,
        /// Counters.
        stats: QueryStats,
        /// Set if the query failed.
        error: Option<QueryError>,
    },
    /// Bootstrapping finished (`ready`).
    Ready,
    /// The node became persistent with this id.
    Persistent {
        /// The new id.
        id: NodeId,
    },
    /// The NAT estimate changed.
    NatUpdate {
        /// Public host, if known.
        host: Option<Ipv4Addr>,
        /// Public port (0 = unknown or inconsistent).
        port: u16,
    },
    /// `online` or `degraded` changed (spec §15, `network-update`).
    NetworkUpdate {
        /// Whether the node is online.
        online: bool,
        /// Whether the network looks degraded.
        degraded: bool,
    },
    /// An adaptive node that had become persistent is ephemeral again after a wake-up
    /// (spec §16, `ephemeral`); its packets carry no id from now on.
    Ephemeral,
    /// The wake-up procedure ran (spec §16, `wakeup`): after [`resume`] or a tick more
    /// than 15 s late.
    ///
    /// [`resume`]: crate::Dht::resume
    Wakeup,
}

/// Counters of the node's input handling.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams: u64,
    /// Requests processed.
    pub requests: u64,
    /// Responses matched to a request.
    pub responses: u64,
    /// Dropped: not a dht-rpc packet or malformed.
    pub malformed: u64,
    /// Dropped: source port 0.
    pub bad_source_port: u64,
    /// Dropped: response matching no request.
    pub unmatched: u64,
    /// Dropped: internal request without its value or target.
    pub bad_internal: u64,
    /// Dropped: a local cap was reached.
    pub overload: u64,
    /// Packets whose id did not validate against the source (processed as id-less).
    pub invalid_ids: u64,
    /// Requests answered INVALID_TOKEN.
    pub invalid_tokens: u64,
    /// Requests that timed out.
    pub timeouts: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Datagrams dropped and replies discarded while suspended.
    pub suspended: u64,
}
