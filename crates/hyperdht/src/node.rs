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
//! Connection set-up (PEER_HANDSHAKE / PEER_HOLEPUNCH routing, listen, connect) is not
//! here yet: those commands are answered as unknown.

mod ops;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::Instant;

use plures_dht_rpc::node::{IncomingRequest, QueryError, QueryId, RequestId};
use plures_dht_rpc::{Command, Dht, Dropped, Socket, Transmit};

pub use ops::{OpError, OpId, OpResult};

use crate::storage::{Answer, Request, Storage, StorageConfig};
use crate::wire::{MutableGetResponse, Peer};
use ops::Op;

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
    /// An operation finished.
    Done {
        /// The operation.
        op: OpId,
        /// Its outcome.
        result: Result<OpResult, OpError>,
    },
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
    ops: HashMap<OpId, Op>,
    by_query: HashMap<QueryId, OpId>,
    by_request: HashMap<RequestId, OpId>,
    next_op: u64,
    events: VecDeque<Event>,
}

impl HyperDht {
    /// A node that registers the storage commands (2–10) on its dht-rpc core.
    pub fn new(mut config: Config, now: Instant) -> Self {
        for command in 2..=10 {
            if !config.dht.commands.contains(&command) {
                config.dht.commands.push(command);
            }
        }
        Self {
            dht: Dht::new(config.dht, now),
            storage: Storage::new(config.storage, now),
            started: now,
            unix_ms: config.unix_ms,
            ops: HashMap::new(),
            by_query: HashMap::new(),
            by_request: HashMap::new(),
            next_op: 0,
            events: VecDeque::new(),
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
        let r = self.dht.handle_datagram(now, socket, from, data);
        self.pump(now);
        r
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.dht.handle_timeout(now);
        self.storage.handle_timeout(now);
        self.pump(now);
    }

    /// The next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.dht.poll_transmit()
    }

    /// When [`handle_timeout`](Self::handle_timeout) wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let storage = self.storage.poll_timeout();
        Some(self.dht.poll_timeout().map_or(storage, |t| t.min(storage)))
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
                E::QueryReply { query, reply } => match self.by_query.get(&query).copied() {
                    Some(op) => self.on_query_reply(now, op, reply),
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
                    Some(op) => self.on_query_done(now, op, &closest, error),
                    None => self.events.push_back(Event::Dht(E::QueryDone {
                        query,
                        closest,
                        stats,
                        error,
                    })),
                },
                E::Response { request, reply } => match self.by_request.remove(&request) {
                    Some(op) => self.on_commit(op, Some(&reply)),
                    None => self
                        .events
                        .push_back(Event::Dht(E::Response { request, reply })),
                },
                E::RequestFailed { request, error } => match self.by_request.remove(&request) {
                    Some(op) => self.on_commit(op, None),
                    None => self
                        .events
                        .push_back(Event::Dht(E::RequestFailed { request, error })),
                },
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
        self.by_query.insert(query, id);
        self.ops.insert(id, op);
        Ok(id)
    }

    fn finish(&mut self, op: OpId, result: Result<OpResult, OpError>) {
        self.ops.remove(&op);
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
