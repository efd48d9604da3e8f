//! The sans-IO dht-rpc node (`dht-rpc index.js#DHT`, spec §6, §9–§14).
//!
//! [`Dht`] answers the internal commands, learns nodes from traffic into its
//! [`RoutingTable`], runs iterative queries, bootstraps, samples its public address and
//! becomes persistent when the reference would. It owns no socket, clock or RNG: feed it
//! datagrams and timeouts, then drain it (see the crate docs for the run loop).
//!
//! # Caps
//!
//! | state | cap |
//! | --- | --- |
//! | requests in flight or queued | [`MAX_IN_FLIGHT`](crate::io::MAX_IN_FLIGHT) |
//! | queries running | [`MAX_QUERIES`] |
//! | addresses per query | [`MAX_SEEN`] |
//! | delayed pings waiting | [`MAX_DELAYED`] |
//! | replies waiting for `poll_transmit` | [`MAX_REPLIES`] |
//! | events waiting for `poll_event` | [`MAX_EVENTS`] |
//! | routing table | 256 × [`K`] nodes |
//!
//! Past a cap, inbound work is dropped and counted ([`Stats`]); commands return
//! [`Error::Busy`].

mod answer;
mod extra_socket;
mod firewall;
mod health;
mod lookup;
mod maintenance;
mod power;
mod query;
mod relayed;
mod types;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use plures_compact::Encode;

use crate::command::{Command, error_code};
use crate::error::{Dropped, Error};
use crate::id::{NodeId, validate_id};
use crate::io::{DEFAULT_TIMEOUT, Io, IoEvent, SendOptions, Socket, Transmit};
use crate::nat::NatSampler;
use crate::rng::Rng;
use crate::table::{K, PingBeforeEvict, RoutingTable};
use crate::token::{Token, Tokens};
use crate::wire::{Packet, Request, Response};

pub use query::{MAX_REFERRERS, MAX_SEEN};
pub use types::{
    CONCURRENCY, Config, DOWN_HINTS_RATE_LIMIT, Event, IncomingRequest, Peer, QueryError, QueryId,
    QueryStats, Reply, RequestError, RequestHandle, RequestId, Stats,
};

pub use extra_socket::RequestFrom;
pub use firewall::FIREWALL_CANDIDATES;
use firewall::{FirewallProbe, QuickFirewall};
pub use health::{HEALTH_WINDOW, Health, HealthUpdate, MIN_ACTIVITY, OFFLINE_INTERVALS};
pub use maintenance::{MORE_STABLE_TICKS, REFRESH_TICKS, STABLE_TICKS};
pub use power::SLEEPING_INTERVAL;
use query::{Phase, Query};

/// Most queries running at once.
pub const MAX_QUERIES: usize = 256;
/// Most DELAYED_PING replies waiting.
pub const MAX_DELAYED: usize = 256;
/// Most replies waiting to be drained.
pub const MAX_REPLIES: usize = 4096;
/// Most events waiting to be drained.
pub const MAX_EVENTS: usize = 65_536;
/// Largest DELAYED_PING delay honoured (`maxPingDelay`).
pub const MAX_PING_DELAY: Duration = Duration::from_millis(10_000);
/// The maintenance tick.
pub const TICK_INTERVAL: Duration = Duration::from_millis(5000);
/// Liveness checks started per tick on behalf of DOWN_HINTs.
pub const MAX_DOWN_HINT_CHECKS: usize = 10;

/// What a tracked request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    User(RequestId),
    Query {
        query: QueryId,
        hops: u32,
        commit: bool,
    },
    Check(NodeId),
    Evict(PingBeforeEvict),
    DownHint,
    /// A PING_NAT of the running firewall check.
    FirewallProbe,
    /// The bootstrap's quick PING_NAT, sent while this query ran.
    QuickNat(QueryId),
}

/// Per-node bookkeeping next to the table entry (spec §9.1).
#[derive(Debug, Clone, Copy)]
struct Meta {
    seq: u64,
    sampled: Option<u64>,
    down_hints: u32,
}

/// The node core. See the module docs.
#[derive(Debug)]
pub struct Dht {
    config: Config,
    rng: Rng,
    table: RoutingTable,
    meta: HashMap<NodeId, Meta>,
    recency: BTreeMap<u64, NodeId>,
    recency_seq: u64,
    tokens: Tokens,
    io: Io<Ctx>,
    replies: VecDeque<Transmit>,
    delayed: BTreeMap<(Instant, u64), Transmit>,
    delayed_seq: u64,
    events: VecDeque<Event>,
    queries: HashMap<QueryId, Query>,
    next_query: u64,
    next_request: u64,
    tick: u64,
    next_tick: Instant,
    refresh_countdown: i64,
    stable_ticks: i64,
    ephemeral: bool,
    firewalled: bool,
    bootstrapped: bool,
    nat: NatSampler,
    id_less_sources: Vec<SocketAddrV4>,
    last_checked_host: Option<std::net::Ipv4Addr>,
    probe: Option<FirewallProbe>,
    quick: QuickFirewall,
    repings: usize,
    down_hint_checks: usize,
    down_hints_sent: usize,
    health: Health,
    suspended: bool,
    last_tick_at: Instant,
    stats: Stats,
}

impl Dht {
    /// A node at `now`; it starts bootstrapping at once (drain it afterwards).
    pub fn new(config: Config, now: Instant) -> Self {
        let mut rng = Rng::new(config.seed);
        let id = NodeId(rng.bytes32());
        let first_tid = rng.below(65_536) as u16;
        let tick = 100 - rng.below(50);
        let refresh_countdown = REFRESH_TICKS - rng.below(30) as i64;
        let mut nat = NatSampler::new();
        if let Some(a) = config.public_address {
            nat.add(*a.ip(), a.port());
        }
        let mut node = Self {
            io: Io::new(first_tid, config.max_window),
            tokens: Tokens::new(config.secrets.clone(), now),
            firewalled: config.firewalled,
            config,
            rng,
            table: RoutingTable::new(id),
            meta: HashMap::new(),
            recency: BTreeMap::new(),
            recency_seq: 0,
            replies: VecDeque::new(),
            delayed: BTreeMap::new(),
            delayed_seq: 0,
            events: VecDeque::new(),
            queries: HashMap::new(),
            next_query: 0,
            next_request: 0,
            tick,
            next_tick: now + TICK_INTERVAL,
            refresh_countdown,
            stable_ticks: STABLE_TICKS,
            ephemeral: true,
            bootstrapped: false,
            nat,
            id_less_sources: Vec::new(),
            last_checked_host: None,
            probe: None,
            quick: QuickFirewall::Idle,
            repings: 0,
            down_hint_checks: 0,
            down_hints_sent: 0,
            health: Health::new(),
            suspended: false,
            last_tick_at: now,
            stats: Stats::default(),
        };
        node.start_bootstrap(now, 1);
        node
    }

    /// The current table id.
    pub fn id(&self) -> NodeId {
        self.table.id()
    }

    /// The routing table.
    pub fn table(&self) -> &RoutingTable {
        &self.table
    }

    /// Whether the node puts its id in packets from its server socket.
    pub fn is_persistent(&self) -> bool {
        !self.ephemeral
    }

    /// Whether the node believes unsolicited packets to its server socket are dropped.
    pub fn is_firewalled(&self) -> bool {
        self.firewalled
    }

    /// Whether bootstrapping finished.
    pub fn is_bootstrapped(&self) -> bool {
        self.bootstrapped
    }

    /// The NAT estimate.
    pub fn nat(&self) -> &NatSampler {
        &self.nat
    }

    /// The maintenance tick counter.
    pub fn tick(&self) -> u64 {
        self.tick
    }

    /// Input counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Requests in flight or queued in the tracker.
    pub fn requests_in_flight(&self) -> usize {
        self.io.len()
    }

    /// Transmissions of requests so far (retries included).
    pub fn transmissions(&self) -> u64 {
        self.io.transmissions()
    }

    /// Queries running.
    pub fn queries(&self) -> usize {
        self.queries.len()
    }

    /// The socket requests go out of: `firewalled ? client : server`.
    pub fn main_socket(&self) -> Socket {
        if self.firewalled {
            Socket::Client
        } else {
            Socket::Server
        }
    }

    fn packet_id(&self, socket: Socket) -> Option<NodeId> {
        (!self.ephemeral && socket == Socket::Server).then(|| self.table.id())
    }

    fn push_event(&mut self, event: Event) {
        if self.events.len() >= MAX_EVENTS {
            self.stats.events_dropped += 1;
        } else {
            self.events.push_back(event);
        }
    }

    // ---- outputs ----

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.replies.pop_front().or_else(|| self.io.poll_transmit())
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.suspended {
            return None;
        }
        let mut t = self.next_tick.min(self.tokens.poll_timeout());
        if let Some(d) = self.io.poll_timeout() {
            t = t.min(d);
        }
        if let Some(&(d, _)) = self.delayed.keys().next() {
            t = t.min(d);
        }
        Some(t)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    // ---- inputs ----

    /// Runs everything due at `now`: retransmissions and request timeouts, the window's
    /// drain tick, token rotation, delayed pings and the 5 s maintenance tick.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.suspended {
            return;
        }
        self.tokens.handle_timeout(now);
        let mut io_events = Vec::new();
        self.io.handle_timeout(now, &mut io_events);
        for e in io_events {
            match e {
                IoEvent::Slow { ctx, destination } => self.on_slow(now, ctx, destination),
                IoEvent::Failed { ctx, destination } => self.on_failed(now, ctx, destination),
            }
        }
        while let Some(entry) = self.delayed.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let t = entry.remove();
            self.push_reply(t);
        }
        if now >= self.next_tick {
            self.next_tick += TICK_INTERVAL;
            if self.next_tick <= now {
                self.next_tick = now + TICK_INTERVAL;
            }
            self.on_tick(now);
        }
    }

    /// A datagram arrived on `socket` from `from`. Returns why it was dropped, if it was
    /// (also counted in [`Stats`]).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), Dropped> {
        self.stats.datagrams += 1;
        let r = if self.suspended {
            Err(Dropped::Suspended)
        } else {
            self.datagram(now, socket, from, data)
        };
        if let Err(e) = r {
            let counter = match e {
                Dropped::Decode(_) => &mut self.stats.malformed,
                Dropped::SourcePort => &mut self.stats.bad_source_port,
                Dropped::Unmatched => &mut self.stats.unmatched,
                Dropped::BadInternal => &mut self.stats.bad_internal,
                Dropped::Overload => &mut self.stats.overload,
                Dropped::Suspended => &mut self.stats.suspended,
            };
            *counter += 1;
        }
        r
    }

    fn datagram(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddrV4,
        data: &[u8],
    ) -> Result<(), Dropped> {
        if from.port() == 0 {
            return Err(Dropped::SourcePort);
        }
        if socket == Socket::Server {
            if let Some(probe) = &mut self.probe {
                probe.on_server_datagram(from);
            }
        }
        let external = socket != self.main_socket();
        match Packet::decode(data)? {
            Packet::Request(req) => self.on_request(now, socket, from, &req, external),
            Packet::Response(res) => self.on_response(now, from, &res, external),
        }
    }

    fn on_request(
        &mut self,
        now: Instant,
        socket: Socket,
        from: SocketAddrV4,
        req: &Request<'_>,
        external: bool,
    ) -> Result<(), Dropped> {
        self.stats.requests += 1;
        let id = validate_id(req.id, from);
        if req.id.is_some() && id.is_none() {
            self.stats.invalid_ids += 1;
        }
        if let Some(token) = &req.token {
            if !self.tokens.validate(*from.ip(), token) {
                self.stats.invalid_tokens += 1;
                let r = self.response(
                    socket,
                    from,
                    req.tid,
                    req.target,
                    true,
                    error_code::INVALID_TOKEN,
                    None,
                );
                return self.push_response(socket, from, &r);
            }
        }
        if let Some(id) = id {
            self.learn(now, from, Some(id), req.to, external);
        }
        let handle = RequestHandle {
            tid: req.tid,
            from,
            socket,
            internal: req.internal,
            command: req.command,
            target: req.target,
        };
        match req.command() {
            Command::Ping => self.answer(&handle, None, false, 0, None),
            Command::PingNat => {
                let port = match req.value {
                    Some(v) if v.len() >= 2 => u16::from_le_bytes([v[0], v[1]]),
                    _ => 0,
                };
                if port == 0 {
                    return Err(Dropped::BadInternal);
                }
                let to = SocketAddrV4::new(*from.ip(), port);
                let r = Response::new(req.tid, to);
                let r = Response {
                    id: self.packet_id(socket),
                    ..r
                };
                self.push_response(socket, to, &r)
            }
            Command::FindNode => {
                if req.target.is_none() {
                    return Err(Dropped::BadInternal);
                }
                self.answer(&handle, None, true, 0, None)
            }
            Command::DownHint => {
                let Some(v) = req.value.filter(|v| v.len() >= 6) else {
                    return Err(Dropped::BadInternal);
                };
                let addr = SocketAddrV4::new(
                    [v[0], v[1], v[2], v[3]].into(),
                    u16::from_le_bytes([v[4], v[5]]),
                );
                self.on_down_hint(now, addr);
                self.answer(&handle, None, false, 0, None)
            }
            Command::DelayedPing => {
                let Some(v) = req.value.filter(|v| v.len() >= 4) else {
                    return Err(Dropped::BadInternal);
                };
                let delay = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                let delay = Duration::from_millis(delay.into());
                if delay > MAX_PING_DELAY {
                    return Err(Dropped::BadInternal);
                }
                if self.delayed.len() >= MAX_DELAYED {
                    return Err(Dropped::Overload);
                }
                let r = self.response(socket, from, req.tid, None, false, 0, None);
                let contents = r.to_bytes().map_err(|_| Dropped::Overload)?;
                self.delayed_seq += 1;
                self.delayed.insert(
                    (now + delay, self.delayed_seq),
                    Transmit {
                        socket,
                        destination: from,
                        contents,
                    },
                );
                Ok(())
            }
            Command::UnknownInternal(_) => {
                self.answer(&handle, None, true, error_code::UNKNOWN_COMMAND, None)
            }
            Command::User(n) => {
                if !self.config.commands.contains(&n) {
                    return self.answer(&handle, None, true, error_code::UNKNOWN_COMMAND, None);
                }
                self.push_event(Event::Request(IncomingRequest {
                    handle,
                    from,
                    id,
                    token: req.token,
                    command: n,
                    target: req.target,
                    value: req.value.map(<[u8]>::to_vec),
                }));
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn response<'a>(
        &self,
        socket: Socket,
        to: SocketAddrV4,
        tid: u16,
        target: Option<NodeId>,
        token: bool,
        error: u64,
        value: Option<&'a [u8]>,
    ) -> Response<'a> {
        let closer_nodes = target
            .map(|t| {
                let nodes = if self.config.sorted_closer_nodes {
                    self.table.closest_by_distance(&t, K)
                } else {
                    self.table.closest(&t, K)
                };
                nodes.iter().map(|n| n.addr).collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty());
        Response {
            tid,
            to,
            id: self.packet_id(socket),
            token: token.then(|| self.tokens.token(*to.ip())),
            closer_nodes,
            error,
            value,
        }
    }

    fn answer(
        &mut self,
        handle: &RequestHandle,
        to: Option<SocketAddrV4>,
        closer: bool,
        error: u64,
        value: Option<&[u8]>,
    ) -> Result<(), Dropped> {
        let dest = to.unwrap_or(handle.from);
        let token = error == 0 && !handle.internal;
        let target = if closer { handle.target } else { None };
        let r = self.response(handle.socket, dest, handle.tid, target, token, error, value);
        self.push_response(handle.socket, dest, &r)
    }

    fn push_response(
        &mut self,
        socket: Socket,
        to: SocketAddrV4,
        r: &Response<'_>,
    ) -> Result<(), Dropped> {
        let contents = r.to_bytes().map_err(|_| Dropped::Overload)?;
        self.push_reply(Transmit {
            socket,
            destination: to,
            contents,
        });
        Ok(())
    }

    fn push_reply(&mut self, t: Transmit) {
        if self.suspended {
            self.stats.suspended += 1;
        } else if self.replies.len() >= MAX_REPLIES {
            self.stats.overload += 1;
        } else {
            self.replies.push_back(t);
        }
    }

    fn on_response(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        res: &Response<'_>,
        external: bool,
    ) -> Result<(), Dropped> {
        let (ctx, _dest) = self
            .io
            .handle_response(res.tid, from)
            .ok_or(Dropped::Unmatched)?;
        self.stats.responses += 1;
        let id = validate_id(res.id, from);
        if res.id.is_some() && id.is_none() {
            self.stats.invalid_ids += 1;
        }
        self.learn(now, from, id, res.to, external);
        let reply = Reply {
            from,
            id,
            to: res.to,
            token: res.token,
            closer_nodes: res.closer_nodes.clone().unwrap_or_default(),
            error: res.error,
            value: res.value.map(<[u8]>::to_vec),
        };
        match ctx {
            Ctx::User(request) => self.push_event(Event::Response { request, reply }),
            Ctx::Query {
                query,
                hops,
                commit,
            } => self.on_query_reply(now, query, hops, commit, reply),
            Ctx::Check(node) => {
                if id != Some(node) {
                    self.remove_node(&node);
                }
            }
            Ctx::Evict(probe) => {
                self.repings = self.repings.saturating_sub(1);
                self.resolve_eviction(probe, id == Some(probe.old.id));
            }
            Ctx::DownHint => {}
            Ctx::FirewallProbe => self.probe_settled(now, from, Some(res.to)),
            Ctx::QuickNat(query) => self.quick_firewall_reply(query),
        }
        Ok(())
    }

    // ---- the user API ----

    /// Sends one request (3 retries, 1 s per attempt); completes with
    /// [`Event::Response`] or [`Event::RequestFailed`].
    pub fn request(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
    ) -> Result<RequestId, Error> {
        self.next_request += 1;
        let id = RequestId(self.next_request);
        let mut opts = SendOptions::default();
        if let (Command::DelayedPing, Some(v)) = (command, value) {
            if v.len() >= 4 {
                let delay = u32::from_le_bytes([v[0], v[1], v[2], v[3]]);
                opts.timeout = Duration::from_millis(delay.into()) + DEFAULT_TIMEOUT;
            }
        }
        opts.any_source = command == Command::PingNat;
        self.send_request(now, to, command, target, value, token, Ctx::User(id), opts)?;
        Ok(id)
    }

    /// Cancels a request made with [`request`](Self::request) (`REQUEST_DESTROYED`).
    /// Returns whether it was still in flight (only then is the event emitted).
    pub fn cancel(&mut self, request: RequestId) -> bool {
        if self.io.cancel_where(|c| *c == Ctx::User(request)) == 0 {
            return false;
        }
        self.push_event(Event::RequestFailed {
            request,
            error: RequestError::Destroyed,
        });
        true
    }

    #[allow(clippy::too_many_arguments)]
    fn send_request(
        &mut self,
        now: Instant,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
        ctx: Ctx,
        opts: SendOptions,
    ) -> Result<u16, Error> {
        let socket = self.main_socket();
        self.send_request_on(now, socket, to, command, target, value, token, ctx, opts)
    }

    /// [`send_request`](Self::send_request) from `socket` (packets from a socket other
    /// than the server socket carry no node id).
    #[allow(clippy::too_many_arguments)]
    fn send_request_on(
        &mut self,
        now: Instant,
        socket: Socket,
        to: SocketAddrV4,
        command: Command,
        target: Option<NodeId>,
        value: Option<&[u8]>,
        token: Option<Token>,
        ctx: Ctx,
        opts: SendOptions,
    ) -> Result<u16, Error> {
        self.check_active()?;
        let id = self.packet_id(socket);
        let encode = |tid| {
            let mut r = Request::new(tid, to, command);
            r.id = id;
            r.token = token;
            r.target = target;
            r.value = value;
            Ok(r.to_bytes()?)
        };
        self.io.send(now, to, socket, encode, ctx, opts)
    }

    fn on_slow(&mut self, now: Instant, ctx: Ctx, destination: SocketAddrV4) {
        if let Ctx::Query {
            query,
            commit: false,
            ..
        } = ctx
        {
            if let Some(q) = self.queries.get_mut(&query) {
                q.on_slow(destination);
                self.drive_query(now, query);
            }
        }
    }

    fn on_failed(&mut self, now: Instant, ctx: Ctx, destination: SocketAddrV4) {
        self.stats.timeouts += 1;
        let id = NodeId::from_addr(destination);
        if self.table.get(&id).is_some_and(|n| n.addr == destination) {
            self.remove_node(&id);
        }
        match ctx {
            Ctx::User(request) => self.push_event(Event::RequestFailed {
                request,
                error: RequestError::Timeout,
            }),
            Ctx::Query {
                query,
                commit: true,
                ..
            } => self.commit_settled(now, query, false),
            Ctx::Query { query, .. } => {
                let Some(q) = self.queries.get_mut(&query) else {
                    return;
                };
                if q.phase != Phase::Lookup {
                    return;
                }
                let hints = q.on_failure(destination, true);
                self.send_down_hints(now, hints);
                self.drive_query(now, query);
            }
            Ctx::Check(_) => {}
            Ctx::Evict(probe) => {
                self.repings = self.repings.saturating_sub(1);
                self.resolve_eviction(probe, false);
            }
            Ctx::DownHint | Ctx::QuickNat(_) => {}
            Ctx::FirewallProbe => self.probe_settled(now, destination, None),
        }
    }
}

#[cfg(test)]
mod tests;
