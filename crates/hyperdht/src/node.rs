//! The hyperdht node core: a dht-rpc core ([`Dht`]) with hyperdht's storage commands
//! served from [`Storage`] (spec §6) and the client storage operations of spec §7 —
//! `lookup`, `find_peer`, `announce`, `unannounce`, mutable and immutable put/get — as
//! state machines driven by the dht-rpc query events.
//!
//! Sans-IO like the layers below: feed datagrams with [`HyperDht::handle_datagram`] and
//! timers with [`HyperDht::handle_timeout`]; after every input drain
//! [`poll_transmit`](HyperDht::poll_transmit), then
//! [`poll_timeout`](HyperDht::poll_timeout), then [`poll_event`](HyperDht::poll_event).
//! Time is the caller's `Instant`, plus one wall-clock reading at construction
//! ([`Config::unix_ms`]) from which the storage's `bump` bound is derived.
//!
//! Connections: every node routes PEER_HANDSHAKE / PEER_HOLEPUNCH (spec §9, [`router`]);
//! [`HyperDht::listen`] runs a server (spec §8, §11) and [`HyperDht::connect`] a client
//! (spec §10) up to the point where a UDX stream is to be connected and a secret-stream
//! started ([`StreamSetup`]) — the caller owns the sockets and streams.
//!
//! Holepunching (spec §12, [`puncher`], [`nat`]; the rounds in `holepunch.rs` and
//! `punch_server.rs`) runs on *pool sockets* named [`Socket::Other`]: the caller creates
//! one the first time a transmit or a [`Probe`] names it, feeds its datagrams to [`HyperDht::handle_datagram`] (1-byte
//! datagrams are probes) and closes it when [`HyperDht::poll_released_socket`] returns it
//! — or hands it to the stream of a [`StreamSetup`] whose `socket` names it. After every
//! input also drain [`poll_probe`](HyperDht::poll_probe) and `poll_released_socket`.

mod announcer;
mod connect;
mod entropy;
mod holepunch;
pub mod nat;
mod ops;
mod punch_server;
pub mod puncher;
mod router;
mod server;
mod suspend;

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Instant;

use plures_dht_rpc::node::{IncomingRequest, QueryError, QueryId, RequestId};
use plures_dht_rpc::{Command, Dht, Dropped, Socket, Transmit};

pub use announcer::{PING_ROUNDS, RELAY_GENERATIONS, RELAY_PING_INTERVAL};
pub use connect::{ConnId, ConnectError, HANDSHAKE_CONCURRENCY};
pub use ops::{OpError, OpId, OpResult};
pub use puncher::Probe;
pub use server::{
    Firewall, HANDSHAKE_CLEAR_WAIT, ListenError, REANNOUNCE_INTERVAL, SERVER_RELAYS, ServerConfig,
    ServerId,
};
pub use suspend::SUSPEND_UNANNOUNCE_WAIT;

use crate::storage::{Answer, Request, Storage, StorageConfig};
use crate::wire::{MutableGetResponse, Peer};
use connect::Connect;
use entropy::Entropy;
use ops::Op;
use puncher::{PunchKey, Punchers};
use server::Server;

/// The user's say on a holepunch (the reference's `holepunch(remoteFirewall,
/// localFirewall, remoteAddresses, localAddresses)` option): called with the remote
/// side's NAT class, the own class (`constants::firewall`), the remote side's addresses
/// and the own ones, right before this side commits to punching; `false` vetoes it. A
/// client that vetoes fails with [`ConnectError::HolepunchAborted`] after sending the
/// abort message; a server that vetoes answers the punch round with an abort, which the
/// client also reports as HOLEPUNCH_ABORTED (spec §12.4 steps 3 and 5). It must be quick
/// and synchronous.
///
/// ```
/// use std::sync::Arc;
/// use plures_hyperdht::constants::firewall;
/// use plures_hyperdht::node::HolepunchConfig;
///
/// // Never punch towards a randomizing NAT.
/// let config = HolepunchConfig {
///     allow: Some(Arc::new(|remote_fw, _local_fw, _remote, _local| {
///         remote_fw != firewall::RANDOM
///     })),
///     ..HolepunchConfig::default()
/// };
/// # let _ = config;
/// ```
pub type HolepunchFilter =
    Arc<dyn Fn(u64, u64, &[SocketAddrV4], &[SocketAddrV4]) -> bool + Send + Sync>;

/// Connection options of a node (the reference's `connect` / server options).
#[derive(Clone)]
pub struct HolepunchConfig {
    /// Try the LAN shortcut when both sides share a public host (`localConnection`).
    pub local_connection: bool,
    /// Send the fast-open TTL-5 probe before the probe round (`fastOpen`).
    pub fast_open: bool,
    /// Start the random-punch clock (spec §12.6) at construction, so that the first
    /// random punch may only start 20 s after the node did (`deferRandomPunch`). Off by
    /// default, as in the reference: a fresh node punches through a randomizing NAT at
    /// once (the JS reference connects cone/random pairs in the NAT lab 0.2 s after
    /// start).
    pub defer_random_punch: bool,
    /// Asked before this node punches, as client and as server (`holepunch`); `None`
    /// allows every punch.
    pub allow: Option<HolepunchFilter>,
}

impl std::fmt::Debug for HolepunchConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HolepunchConfig")
            .field("local_connection", &self.local_connection)
            .field("fast_open", &self.fast_open)
            .field("defer_random_punch", &self.defer_random_punch)
            .field("allow", &self.allow.is_some())
            .finish()
    }
}

impl Default for HolepunchConfig {
    fn default() -> Self {
        Self {
            local_connection: true,
            fast_open: true,
            defer_random_punch: false,
            allow: None,
        }
    }
}

impl HolepunchConfig {
    /// Whether the user lets this punch go ahead.
    pub(crate) fn allows(
        &self,
        remote_fw: u64,
        local_fw: u64,
        remote: &[SocketAddrV4],
        local: &[SocketAddrV4],
    ) -> bool {
        self.allow
            .as_ref()
            .is_none_or(|f| f(remote_fw, local_fw, remote, local))
    }
}

/// Configuration of a [`HyperDht`].
#[derive(Debug, Clone)]
pub struct Config {
    /// The dht-rpc core's configuration (bootstrap list, persistence, seed, ..). The
    /// storage commands are registered on top of its `commands`.
    pub dht: plures_dht_rpc::Config,
    /// Limits of the storage this node keeps once persistent.
    pub storage: StorageConfig,
    /// The wall clock (Unix milliseconds) at the `now` given to [`HyperDht::new`].
    pub unix_ms: u64,
    /// Seed of the secret randomness (ephemeral Noise keys, UDX stream ids): 32 bytes
    /// from the OS, never shared between nodes.
    pub entropy: [u8; 32],
    /// This machine's IPv4 addresses to offer for LAN connections (with the server
    /// socket's port), e.g. `127.0.0.1` for a node bound there.
    pub local_addresses: Vec<Ipv4Addr>,
    /// Connection options.
    pub holepunch: HolepunchConfig,
}

/// What the caller must set up for a connection the core negotiated: a UDX stream with
/// id `local_stream_id` connected to `remote_stream_id` at `remote_addr` (`None`: bind it
/// to wherever the peer's first datagram for it comes from), then a secret-stream started
/// from `keys` (no Noise messages on the stream).
#[derive(Debug, Clone)]
pub struct StreamSetup {
    /// The id of the UDX stream to create.
    pub local_stream_id: u32,
    /// The peer's UDX stream id.
    pub remote_stream_id: u32,
    /// Where to connect, if known now.
    pub remote_addr: Option<SocketAddrV4>,
    /// The finished handshake for the secret-stream.
    pub keys: plures_secret_stream::Keys,
    /// The peer's static public key.
    pub remote_public_key: [u8; 32],
    /// The key of the holepunch secure payload (spec §12.3).
    pub holepunch_secret: [u8; 32],
    /// The socket to create the stream on: the main socket, or the pool socket a
    /// holepunch won on (the caller then owns that socket). A set-up without
    /// `remote_addr` may also receive on the server and client sockets.
    pub socket: Socket,
}

impl PartialEq for StreamSetup {
    fn eq(&self, other: &Self) -> bool {
        self.local_stream_id == other.local_stream_id
            && self.remote_stream_id == other.remote_stream_id
            && self.remote_addr == other.remote_addr
            && self.keys.handshake_hash == other.keys.handshake_hash
            && self.remote_public_key == other.remote_public_key
            && self.socket == other.socket
    }
}

impl Eq for StreamSetup {}

/// Counters of a node's hyperdht-level work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    /// What the storage did with the requests it got.
    pub storage: crate::storage::StorageStats,
    /// Topic records held.
    pub records: usize,
    /// PEER_HANDSHAKE messages forwarded for others (relay or reply hops).
    pub handshakes_routed: u64,
    /// PEER_HOLEPUNCH messages forwarded for others.
    pub holepunches_routed: u64,
    /// Outgoing connections whose path a holepunch probe opened.
    pub holepunched: u64,
    /// Probes a server's puncher answered.
    pub probes_answered: u64,
    /// Pool sockets the core holds now (not counting those handed to streams).
    pub pool_sockets: usize,
    /// Client handshakes a server's firewall rejected (each distinct Noise message
    /// once; its retransmissions are dropped from the dedupe memory without asking
    /// again). None of them got a reply.
    pub handshakes_rejected: u64,
}

/// Who is waiting for a query or request of the dht-rpc core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    Op(OpId),
    Conn(ConnId),
    /// A NAT-sampling PING of a puncher, sent from that pool socket.
    Ping(PunchKey, u32),
    /// A PEER_HOLEPUNCH round of a client.
    Holepunch(ConnId),
    /// A message whose answer nobody waits for (abort messages).
    Ignore,
    /// A relay PING or a record withdrawal of a server's announcer (`announcer.rs`).
    Announcer,
}

/// What the node reports.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A LOOKUP reply of a [`lookup`](HyperDht::lookup) (also of announce / unannounce
    /// queries, which look up first): the records one storage node holds for the topic.
    Lookup {
        /// The operation.
        op: OpId,
        /// The storage node.
        from: SocketAddrV4,
        /// Its records (at most 20, plus a router record).
        peers: Vec<Peer>,
        /// The newest bump it holds for the topic.
        bump: u64,
    },
    /// A FIND_PEER reply of [`find_peer`](HyperDht::find_peer) that carried a record.
    PeerFound {
        /// The operation.
        op: OpId,
        /// The storage node that holds the router record.
        from: SocketAddrV4,
        /// The server's record.
        peer: Peer,
    },
    /// A server announced itself (first time only).
    Listening {
        /// The server.
        server: ServerId,
        /// The storage nodes it announced to.
        relays: Vec<SocketAddrV4>,
    },
    /// A server's update announced it to a different set of relays than the previous
    /// one (after [`Event::Listening`]): what its handshake replies and topic announces
    /// should now carry.
    RelaysChanged {
        /// The server.
        server: ServerId,
        /// Its current relays (at most 3).
        relays: Vec<SocketAddrV4>,
    },
    /// A closed server's withdrawals (UNANNOUNCE at its relays) ended.
    ServerClosed {
        /// The server.
        server: ServerId,
    },
    /// A client completed a handshake with one of this node's servers.
    Connection {
        /// The server.
        server: ServerId,
        /// The stream to set up.
        setup: StreamSetup,
    },
    /// A probe, or a datagram of the client's stream, reached a server's puncher on a
    /// pool socket other than the slot's own (a birthday punch opens 256, a re-open one
    /// more): the client's stream will arrive there, so a stream
    /// waiting for the client's first datagram (the [`Event::Connection`] set-up whose
    /// `socket` is `Socket::Other(slot_socket)`) should also listen on `socket`.
    PunchSocket {
        /// The server.
        server: ServerId,
        /// The pool socket of the slot (the set-up's socket).
        slot_socket: u32,
        /// The pool socket the probe reached.
        socket: u32,
    },
    /// An outgoing connection completed its handshake.
    Connected {
        /// The attempt.
        conn: ConnId,
        /// The stream to set up.
        setup: StreamSetup,
    },
    /// An outgoing connection failed.
    ConnectFailed {
        /// The attempt.
        conn: ConnId,
        /// Why.
        error: ConnectError,
    },
    /// An operation finished.
    Done {
        /// The operation.
        op: OpId,
        /// Its outcome.
        result: Result<OpResult, OpError>,
    },
    /// [`HyperDht::suspend`] finished: the servers' announcements are withdrawn (or
    /// their time ran out) and the node is silent until [`HyperDht::resume`].
    Suspended,
    /// [`HyperDht::resume`] ran: timers run again, the table is refreshed, servers
    /// re-announce.
    Resumed,
    /// The network changed ([`HyperDht::network_change`], or the public host the
    /// dht-rpc core sees changed): servers re-announce; the layer above should refresh
    /// its announcements and probe its connections.
    NetworkChange,
    /// A dht-rpc event that hyperdht does not consume (ready, persistent, NAT updates,
    /// requests for other user commands, responses to direct requests).
    Dht(plures_dht_rpc::Event),
}

/// A hyperdht node.
#[derive(Debug)]
pub struct HyperDht {
    dht: Dht,
    storage: Storage,
    started: Instant,
    unix_ms: u64,
    entropy: Entropy,
    local_addresses: Vec<Ipv4Addr>,
    server_port: u16,
    ops: HashMap<OpId, Op>,
    by_query: HashMap<QueryId, Owner>,
    by_request: HashMap<RequestId, Owner>,
    next_op: u64,
    servers: HashMap<ServerId, Server>,
    servers_by_target: HashMap<[u8; 32], ServerId>,
    announce_ops: HashMap<OpId, ServerId>,
    /// Per running announce: (relay, our address as that relay saw it).
    announce_seen: HashMap<OpId, Vec<(SocketAddrV4, SocketAddrV4)>>,
    /// Relay pings and record withdrawals in flight (`announcer.rs`).
    announcer: announcer::Requests,
    /// The dht-rpc core's `online` as of its last `NetworkUpdate` (`suspend.rs`).
    dht_online: bool,
    next_server: u64,
    conns: HashMap<ConnId, Connect>,
    next_conn: u64,
    holepunch: HolepunchConfig,
    punch: Punchers,
    client_punches: HashMap<ConnId, holepunch::ClientPunch>,
    slots: HashMap<(ServerId, u64), punch_server::Slot>,
    last_now: Instant,
    /// While a request that arrived on a pool socket is handled: (that socket, its `to`,
    /// our address as the sender saw it), a NAT sample for the socket's puncher.
    incoming_to: Option<(u32, SocketAddrV4)>,
    routed: (u64, u64),
    handshakes_rejected: u64,
    events: VecDeque<Event>,
    /// Suspend state (`suspend.rs`).
    power: suspend::Power,
    /// The last public host the NAT sampler reported (network-change detection).
    public_host: Option<Ipv4Addr>,
}

impl HyperDht {
    /// A node that registers hyperdht's commands (0–10) on its dht-rpc core.
    pub fn new(mut config: Config, now: Instant) -> Self {
        for command in 0..=10 {
            if !config.dht.commands.contains(&command) {
                config.dht.commands.push(command);
            }
        }
        let server_port = config.dht.server_port;
        Self {
            server_port,
            dht: Dht::new(config.dht, now),
            storage: Storage::new(config.storage, now),
            started: now,
            unix_ms: config.unix_ms,
            entropy: Entropy::new(config.entropy),
            local_addresses: config.local_addresses,
            ops: HashMap::new(),
            by_query: HashMap::new(),
            by_request: HashMap::new(),
            next_op: 0,
            servers: HashMap::new(),
            servers_by_target: HashMap::new(),
            announce_ops: HashMap::new(),
            announce_seen: HashMap::new(),
            announcer: announcer::Requests::default(),
            dht_online: true,
            next_server: 0,
            conns: HashMap::new(),
            next_conn: 0,
            punch: Punchers::new(config.holepunch.defer_random_punch.then_some(now)),
            holepunch: config.holepunch,
            client_punches: HashMap::new(),
            slots: HashMap::new(),
            last_now: now,
            incoming_to: None,
            routed: (0, 0),
            handshakes_rejected: 0,
            events: VecDeque::new(),
            power: suspend::Power::Active,
            public_host: None,
        }
    }

    /// The dht-rpc core (id, routing table, persistence, stats).
    pub fn dht(&self) -> &Dht {
        &self.dht
    }

    /// The dht-rpc core, for direct requests and queries of other commands.
    pub fn dht_mut(&mut self) -> &mut Dht {
        &mut self.dht
    }

    /// The storage this node serves.
    pub fn storage(&self) -> &Storage {
        &self.storage
    }

    /// Counters.
    pub fn stats(&self) -> NodeStats {
        NodeStats {
            storage: self.storage.stats(),
            records: self.storage.record_count(),
            handshakes_routed: self.routed.0,
            holepunches_routed: self.routed.1,
            holepunched: self.punch.holepunched,
            probes_answered: self.punch.probes_answered,
            pool_sockets: self.punch.sockets(),
            handshakes_rejected: self.handshakes_rejected,
        }
    }

    /// Operations still running.
    pub fn ops_in_flight(&self) -> usize {
        self.ops.len()
    }

    /// Feeds one datagram received on `socket` from `from`.
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), Dropped> {
        self.last_now = now;
        if self.frozen() {
            // Suspended: all input is ignored (dht-rpc §3.5 rule 1).
            return Ok(());
        }
        if data.len() == 1 {
            // A holepunch probe (spec §12.1), meaningful on pool sockets only.
            if let Socket::Other(s) = socket {
                self.handle_probe(now, s, from);
            }
            return Ok(());
        }
        // A request on a pool socket carries our address as the sender saw it (the
        // server samples it from holepunch requests, spec §12.4 step 3).
        self.incoming_to = match (socket, plures_dht_rpc::wire::Packet::decode(data)) {
            (Socket::Other(s), Ok(plures_dht_rpc::wire::Packet::Request(r))) => Some((s, r.to)),
            (Socket::Other(s), Err(_)) => {
                // Not dht-rpc: a UDX datagram of a stream that is not on this socket.
                self.handle_stream_datagram(s);
                None
            }
            _ => None,
        };
        let r = self.dht.handle_datagram(now, socket, from, data);
        self.pump(now);
        self.incoming_to = None;
        r
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        if self.frozen() {
            return;
        }
        self.suspend_check(now);
        if self.frozen() {
            self.pump(now);
            return;
        }
        self.dht.handle_timeout(now);
        self.storage.handle_timeout(now);
        if !self.is_suspended() {
            self.refresh_servers(now);
        }
        self.punch_timeouts(now);
        self.client_timeouts(now);
        self.slot_timeouts(now);
        self.pump(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.dht.poll_transmit()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.frozen() {
            return None;
        }
        [
            self.suspend_timeout(),
            self.dht.poll_timeout(),
            Some(self.storage.poll_timeout()),
            self.servers_timeout(),
            self.punch.poll_timeout(),
            self.client_punch_timeout(),
            self.slots_timeout(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Our public address if the dht-rpc core is not firewalled and knows it
    /// (`dht.remoteAddress()`).
    pub fn remote_address(&self) -> Option<SocketAddrV4> {
        if self.dht.is_firewalled() {
            return None;
        }
        let nat = self.dht.nat();
        let host = nat.host()?;
        (nat.port() != 0).then(|| SocketAddrV4::new(host, nat.port()))
    }

    /// What a payload's `addresses4` offers: the public address, then the local ones at
    /// the server socket's port.
    fn our_addresses(&self) -> Vec<SocketAddrV4> {
        let port = self.remote_address().map_or(0, |a| a.port());
        let mut out: Vec<SocketAddrV4> = self.remote_address().into_iter().collect();
        let port = if port == 0 { self.server_port } else { port };
        for ip in &self.local_addresses {
            let a = SocketAddrV4::new(*ip, port);
            if !out.contains(&a) {
                out.push(a);
            }
        }
        out
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    fn unix_ms(&self, now: Instant) -> u64 {
        let elapsed = now.saturating_duration_since(self.started).as_millis();
        self.unix_ms
            .saturating_add(u64::try_from(elapsed).unwrap_or(u64::MAX))
    }

    /// Moves the dht-rpc core's events into the storage, the operations or out.
    fn pump(&mut self, now: Instant) {
        while let Some(event) = self.dht.poll_event() {
            use plures_dht_rpc::Event as E;
            match event {
                E::Request(req) if Storage::handles(req.command) => self.serve(now, &req),
                E::Request(req) if req.command <= 1 => self.route(now, &req),
                E::QueryReply { query, reply } => match self.by_query.get(&query).copied() {
                    Some(Owner::Op(op)) => self.on_query_reply(now, op, reply),
                    Some(Owner::Conn(c)) => self.on_connect_query_reply(now, c, &reply),
                    Some(_) => {}
                    None => self
                        .events
                        .push_back(Event::Dht(E::QueryReply { query, reply })),
                },
                E::QueryDone {
                    query,
                    closest,
                    stats,
                    error,
                } => match self.by_query.remove(&query) {
                    Some(Owner::Op(op)) => self.on_query_done(now, op, &closest, error),
                    Some(Owner::Conn(c)) => self.on_connect_query_done(now, c, error),
                    Some(_) => {}
                    None => self.events.push_back(Event::Dht(E::QueryDone {
                        query,
                        closest,
                        stats,
                        error,
                    })),
                },
                E::Response { request, reply } => match self.by_request.remove(&request) {
                    Some(Owner::Op(op)) => self.on_commit(op, Some(&reply)),
                    Some(Owner::Conn(c)) => self.on_handshake_reply(now, c, Some(&reply)),
                    Some(Owner::Ping(key, s)) => self.on_ping_reply(now, key, s, Some(&reply)),
                    Some(Owner::Holepunch(c)) => self.on_holepunch_reply(now, c, Some(&reply)),
                    Some(Owner::Announcer) => self.on_announcer_reply(now, request, Some(&reply)),
                    Some(Owner::Ignore) => {}
                    None => self
                        .events
                        .push_back(Event::Dht(E::Response { request, reply })),
                },
                E::RequestFailed { request, error } => match self.by_request.remove(&request) {
                    Some(Owner::Op(op)) => self.on_commit(op, None),
                    Some(Owner::Conn(c)) => self.on_handshake_reply(now, c, None),
                    Some(Owner::Ping(key, s)) => self.on_ping_reply(now, key, s, None),
                    Some(Owner::Holepunch(c)) => self.on_holepunch_reply(now, c, None),
                    Some(Owner::Announcer) => self.on_announcer_reply(now, request, None),
                    Some(Owner::Ignore) => {}
                    None => self
                        .events
                        .push_back(Event::Dht(E::RequestFailed { request, error })),
                },
                E::NetworkUpdate { online, degraded } => {
                    self.on_network_update(now, online);
                    self.events
                        .push_back(Event::Dht(E::NetworkUpdate { online, degraded }));
                }
                E::NatUpdate { host, port } => {
                    self.on_nat_host(now, host);
                    self.events
                        .push_back(Event::Dht(E::NatUpdate { host, port }));
                }
                other => self.events.push_back(Event::Dht(other)),
            }
        }
    }

    /// Answers a storage command (spec §6).
    fn serve(&mut self, now: Instant, req: &IncomingRequest) {
        let own_id = self.dht.is_persistent().then(|| *self.dht.id().as_bytes());
        let request = Request {
            command: req.command,
            from: req.from,
            target: req.target.map(|t| *t.as_bytes()),
            token: req.token.as_ref().map(|t| &t[..]),
            value: req.value.as_deref(),
        };
        let unix_ms = self.unix_ms(now);
        let answer = self.storage.handle(now, unix_ms, own_id.as_ref(), &request);
        // A full reply queue drops the answer; the requester retries.
        let _ = match answer {
            Answer::Reply { value, bare: true } => {
                self.dht.reply_bare(&req.handle, None, value.as_deref())
            }
            Answer::Reply { value, bare: false } => self.dht.reply(&req.handle, value.as_deref()),
            Answer::Error(code) => self.dht.error(&req.handle, code),
            Answer::Ignore => Ok(()),
        };
    }

    fn start(&mut self, now: Instant, op: Op) -> Result<OpId, OpError> {
        if self.frozen() {
            return Err(OpError::Suspended);
        }
        self.next_op += 1;
        let id = OpId(self.next_op);
        let query = self
            .dht
            .query(
                now,
                op.target.into(),
                Command::User(op.query_command()),
                op.query_value().as_deref(),
                false,
            )
            .map_err(|_| OpError::Busy)?;
        self.by_query.insert(query, Owner::Op(id));
        self.ops.insert(id, op);
        Ok(id)
    }

    fn finish(&mut self, op: OpId, result: Result<OpResult, OpError>) {
        self.ops.remove(&op);
        if self.announce_ops.contains_key(&op) {
            let nodes = match result {
                Ok(OpResult::Committed { nodes }) => nodes,
                _ => Vec::new(),
            };
            self.on_server_announced(self.last_now, op, nodes);
            return;
        }
        if self.suspend_op_done(op) {
            return;
        }
        self.events.push_back(Event::Done { op, result });
    }

    /// What the best mutable reply so far of a running [`mutable_get`](Self::mutable_get)
    /// is.
    pub fn mutable_best(&self, op: OpId) -> Option<&MutableGetResponse> {
        self.ops.get(&op).and_then(Op::mutable_best)
    }
}

impl From<QueryError> for OpError {
    fn from(e: QueryError) -> Self {
        Self::Query(e)
    }
}
