//! The sans-IO swarm core: every decision of the connection manager (which peers to dial,
//! back-off timers, duplicate resolution, flush bookkeeping), with explicit time and a
//! seeded random source. It owns no socket, task or clock.
//!
//! Drive it like the other cores of this workspace: feed inputs (`join`, `leave`,
//! `flush`, `handle_refresh_done`, `handle_dial_result`, `handle_incoming`,
//! `handle_closed`, `handle_timeout`), then drain [`Core::poll_action`] (work for the
//! driver: refreshes, dials, closes), [`Core::poll_event`] (what the user sees) and
//! [`Core::poll_timeout`] (when to call `handle_timeout` next).

mod discovery;
mod flush;
mod peer;
mod suspend;
mod timers;
mod types;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use tracing::debug;

pub use peer::{PeerInfo, Priority};
pub use suspend::Power;
pub use timers::{Backoff, Backoffs};
pub use types::{Action, CloseReason, Event, Incoming, Rejection, Stats};

use crate::config::{Firewall, JoinOptions, SwarmConfig};
use peer::{Peer, Queue};
use timers::{BulkTimer, Rng};

/// Identifies one connection or dial attempt.
pub type ConnId = u64;
/// Identifies one [`Core::flush`] call.
pub type FlushId = u64;

/// A refresh timer that fires later than this is moved instead of run (the machine slept).
const LATE: Duration = Duration::from_secs(30);
/// Discovered peers remembered per topic for the join limit.
const REMEMBERED: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Client,
    Server,
}

#[derive(Debug, Clone)]
struct Conn {
    id: ConnId,
    dir: Direction,
    opened_at: Option<Instant>,
    /// Flush tick of the enqueue that led to this attempt (discovery dials only).
    tick: Option<u64>,
}

#[derive(Debug, Clone)]
struct Discovery {
    opts: JoinOptions,
    generation: u64,
    refreshing: bool,
    next_refresh: Option<Instant>,
    announced: bool,
    remembered: VecDeque<[u8; 32]>,
}

#[derive(Debug, Clone, Copy)]
enum FlushState {
    /// Waiting for every discovery's running refresh.
    Discoveries,
    /// Waiting for `missing` dials of peers enqueued up to `tick`.
    Dials { missing: usize, tick: u64 },
}

/// The connection manager's state machine.
pub struct Core {
    own: [u8; 32],
    refresh_interval: Duration,
    max_peers: usize,
    max_client: usize,
    max_parallel: usize,
    firewall: Option<Firewall>,
    rng: Rng,
    backoffs: Backoffs,
    timers: [BulkTimer; 4],
    now: Instant,
    peers: HashMap<[u8; 32], Peer>,
    queue: Queue,
    conns: HashMap<[u8; 32], Conn>,
    next_id: ConnId,
    connecting: usize,
    client_connections: usize,
    explicit: BTreeSet<[u8; 32]>,
    topics: BTreeMap<[u8; 32], Discovery>,
    flushes: BTreeMap<FlushId, FlushState>,
    next_flush: FlushId,
    flush_tick: u64,
    destroyed: bool,
    /// Suspend cycle (spec §12, `suspend.rs`).
    power: Power,
    actions: VecDeque<Action>,
    events: VecDeque<Event>,
    stats: Stats,
}

impl std::fmt::Debug for Core {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Core")
            .field("peers", &self.peers.len())
            .field("connections", &self.conns.len())
            .field("connecting", &self.connecting)
            .field("topics", &self.topics.len())
            .finish_non_exhaustive()
    }
}

impl Core {
    /// A core for the swarm key `own`, created at `now`.
    pub fn new(config: &SwarmConfig, own: [u8; 32], seed: u64, now: Instant) -> Self {
        let mut rng = Rng::new(config.seed.unwrap_or(seed));
        let backoffs = Backoffs::draw(&mut rng, config.backoffs, config.jitter);
        let timers = Backoff::ALL.map(|b| BulkTimer::new(now, backoffs.get(b)));
        Self {
            own,
            refresh_interval: config.refresh_interval,
            max_peers: config.max_peers,
            max_client: config.max_client_connections,
            max_parallel: config.max_parallel.max(1),
            firewall: config.firewall.clone(),
            rng,
            backoffs,
            timers,
            now,
            peers: HashMap::new(),
            queue: Queue::default(),
            conns: HashMap::new(),
            next_id: 0,
            connecting: 0,
            client_connections: 0,
            explicit: BTreeSet::new(),
            topics: BTreeMap::new(),
            flushes: BTreeMap::new(),
            next_flush: 0,
            flush_tick: 0,
            destroyed: false,
            power: Power::Active,
            actions: VecDeque::new(),
            events: VecDeque::new(),
            stats: Stats::default(),
        }
    }

    // ---- queries ----

    /// The swarm's retry delays.
    pub fn backoffs(&self) -> Backoffs {
        self.backoffs
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Open connections.
    pub fn connections(&self) -> usize {
        self.conns
            .values()
            .filter(|c| c.opened_at.is_some())
            .count()
    }

    /// Outgoing attempts in progress.
    pub fn connecting(&self) -> usize {
        self.connecting
    }

    /// Joined topics.
    pub fn topics(&self) -> Vec<[u8; 32]> {
        self.topics.keys().copied().collect()
    }

    /// The connection (open or being dialled) to `public_key`, if any.
    pub fn connection_id(&self, public_key: &[u8; 32]) -> Option<ConnId> {
        self.conns.get(public_key).map(|c| c.id)
    }

    /// A snapshot of one peer record.
    pub fn peer(&self, public_key: &[u8; 32]) -> Option<PeerInfo> {
        let p = self.peers.get(public_key)?;
        let mut info = p.info.clone();
        info.connected = self.conns.contains_key(public_key);
        Some(info)
    }

    /// Snapshots of every peer record.
    pub fn peers(&self) -> Vec<PeerInfo> {
        self.peers.keys().filter_map(|k| self.peer(k)).collect()
    }

    /// Destroyed: no more joins, flushes resolve false.
    pub fn is_destroyed(&self) -> bool {
        self.destroyed
    }

    // ---- outputs ----

    /// The next piece of work for the driver.
    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The next event for the user.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Core::handle_timeout`] wants to run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.destroyed {
            return None;
        }
        let refresh = self
            .topics
            .values()
            .filter(|d| !d.refreshing)
            .filter_map(|d| d.next_refresh);
        let retries = self.timers.iter().filter_map(BulkTimer::next);
        let explicit = self
            .explicit
            .iter()
            .filter_map(|k| self.explicit_ready_at(k))
            .filter(|at| *at > self.now);
        refresh.chain(retries).chain(explicit).min()
    }

    // ---- explicit peers, bans ----

    /// Keeps a connection to `public_key` (spec §10).
    pub fn join_peer(&mut self, now: Instant, public_key: [u8; 32]) {
        self.now = now;
        if public_key == self.own || self.destroyed {
            return;
        }
        let p = self
            .peers
            .entry(public_key)
            .or_insert_with(|| Peer::new(public_key));
        p.info.explicit = true;
        self.explicit.insert(public_key);
        let p = &self.peers[&public_key];
        if !self.conns.contains_key(&public_key) && !p.info.queued && !p.info.banned {
            self.enqueue(public_key);
        }
        self.attempt(now);
    }

    /// Stops keeping a connection to `public_key`; an existing one stays open.
    pub fn leave_peer(&mut self, now: Instant, public_key: [u8; 32]) {
        self.now = now;
        self.explicit.remove(&public_key);
        if let Some(p) = self.peers.get_mut(&public_key) {
            p.info.explicit = false;
        }
        self.gc(&public_key);
    }

    /// Bans (or unbans) a known peer.
    pub fn ban(&mut self, public_key: &[u8; 32], banned: bool) {
        if let Some(p) = self.peers.get_mut(public_key) {
            p.info.banned = banned;
        }
        if !banned {
            self.gc(public_key);
        }
    }

    /// Whether `public_key` is a banned peer.
    pub fn is_banned(&self, public_key: &[u8; 32]) -> bool {
        self.peers.get(public_key).is_some_and(|p| p.info.banned)
    }

    /// The user firewall rejected a client handshake from `public_key` at the hyperdht
    /// server, before any reply (spec §9): the peer is banned like a rejection here.
    pub fn handle_firewalled(&mut self, now: Instant, public_key: [u8; 32]) {
        self.now = now;
        if self.is_banned(&public_key) {
            return;
        }
        let p = self
            .peers
            .entry(public_key)
            .or_insert_with(|| Peer::new(public_key));
        p.info.banned = true;
        self.stats.banned_peers += 1;
        debug!(peer = %short(&public_key), "handshake firewalled and peer banned");
        self.events.push_back(Event::Ban { public_key });
    }

    /// Allows or forbids automatic retries for a known peer.
    pub fn set_reconnect(&mut self, public_key: &[u8; 32], reconnect: bool) {
        if let Some(p) = self.peers.get_mut(public_key) {
            p.info.reconnecting = reconnect;
        }
    }

    /// The own key, banned peers and firewall rejections are refused; a firewall
    /// rejection bans the peer (spec §9).
    fn firewalled(&mut self, key: &[u8; 32]) -> bool {
        if *key == self.own {
            return true;
        }
        if self.peers.get(key).is_some_and(|p| p.info.banned) {
            return true;
        }
        let reject = self.firewall.as_ref().is_some_and(|f| f(key));
        if reject {
            let p = self.peers.entry(*key).or_insert_with(|| Peer::new(*key));
            p.info.banned = true;
            self.stats.banned_peers += 1;
            debug!(peer = %short(key), "peer firewalled and banned");
            self.events.push_back(Event::Ban { public_key: *key });
        }
        reject
    }

    // ---- dialling ----

    fn factor(&self) -> usize {
        match self.explicit.len() {
            0 => 1,
            1 => 2,
            2 | 3 => 3,
            _ => 4,
        }
    }

    fn within_max_peers(&self) -> bool {
        self.factor().saturating_mul(self.conns.len()) < self.max_peers
    }

    fn at_capacity(&self) -> bool {
        !self.within_max_peers() || self.client_connections >= self.max_client
    }

    fn explicit_ready_at(&self, key: &[u8; 32]) -> Option<Instant> {
        if self.conns.contains_key(key) {
            return None;
        }
        let p = self.peers.get(key)?;
        if p.info.banned || p.info.attempts >= 5 {
            return None;
        }
        let at = p.disconnected_at?;
        Some(at + Duration::from_secs(u64::from(p.info.attempts)))
    }

    /// Starts dials (spec §7.1): explicit peers first, then the queue.
    fn attempt(&mut self, now: Instant) {
        if self.destroyed || self.power.is_suspended() {
            return;
        }
        let explicit: Vec<[u8; 32]> = self.explicit.iter().copied().collect();
        for key in explicit {
            if self.connecting >= self.max_parallel {
                break;
            }
            let Some(p) = self.peers.get(&key) else {
                continue;
            };
            if self.conns.contains_key(&key) || p.info.banned || p.info.attempts >= 5 {
                continue;
            }
            if self.explicit_ready_at(&key).is_some_and(|at| now < at) {
                continue;
            }
            self.connect(key, None);
        }
        while self.connecting < self.max_parallel
            && self.within_max_peers()
            && self.client_connections < self.max_client
        {
            let Some(key) = self.queue.pop(&mut self.rng) else {
                break;
            };
            let Some(p) = self.peers.get_mut(&key) else {
                continue;
            };
            p.info.queued = false;
            let tick = p.tick;
            self.connect(key, Some(tick));
            self.gc(&key);
        }
    }

    fn connect(&mut self, key: [u8; 32], tick: Option<u64>) {
        if self.firewalled(&key) || self.conns.contains_key(&key) {
            self.flush_done(tick);
            return;
        }
        // A dial not taken from the queue (an explicit peer) still counts as a running
        // dial for every flush that starts waiting while it runs (`connecting`).
        let tick = tick.or(Some(self.flush_tick));
        let id = self.new_id();
        self.conns.insert(
            key,
            Conn {
                id,
                dir: Direction::Client,
                opened_at: None,
                tick,
            },
        );
        self.connecting += 1;
        self.client_connections += 1;
        self.stats.client_attempted += 1;
        debug!(peer = %short(&key), id, "dialling");
        self.actions.push_back(Action::Dial {
            id,
            public_key: key,
        });
    }

    fn new_id(&mut self) -> ConnId {
        self.next_id += 1;
        self.next_id
    }

    /// A dial finished. Returns whether to keep the stream (false: the attempt was
    /// cancelled meanwhile, or it failed).
    pub fn handle_dial_result(
        &mut self,
        now: Instant,
        id: ConnId,
        public_key: [u8; 32],
        ok: bool,
    ) -> bool {
        self.now = now;
        let Some(c) = self.conns.get_mut(&public_key) else {
            return false;
        };
        if c.id != id || c.opened_at.is_some() {
            return false;
        }
        self.connecting -= 1;
        let tick = c.tick;
        if ok {
            c.opened_at = Some(now);
            self.stats.client_opened += 1;
            let p = self
                .peers
                .entry(public_key)
                .or_insert_with(|| Peer::new(public_key));
            p.info.proven = true;
            p.info.client = true;
            debug!(peer = %short(&public_key), id, "connected (outgoing)");
            self.events.push_back(Event::Connection {
                id,
                public_key,
                initiator: true,
            });
            self.flush_done(tick);
        } else {
            self.conns.remove(&public_key);
            self.client_connections -= 1;
            self.stats.client_closed += 1;
            self.flush_done(tick);
            if let Some(p) = self.peers.get_mut(&public_key) {
                p.disconnected(now, None);
            }
            self.schedule_retry(now, &public_key);
            self.gc(&public_key);
        }
        self.attempt_ended();
        self.attempt(now);
        self.update();
        ok
    }

    /// An incoming connection from `public_key` (already open). `existing_outdated`
    /// tells whether the existing connection to that key, if any, has both sent and
    /// received data (spec §11).
    pub fn handle_incoming(
        &mut self,
        now: Instant,
        public_key: [u8; 32],
        existing_outdated: bool,
    ) -> Incoming {
        self.now = now;
        if self.destroyed {
            return Incoming::Reject(Rejection::Destroyed);
        }
        if self.power.is_suspended() {
            return Incoming::Reject(Rejection::Suspended);
        }
        if self.firewalled(&public_key) {
            return Incoming::Reject(Rejection::Firewalled);
        }
        let mut replaced = None;
        if let Some(c) = self.conns.get(&public_key) {
            let expected_initiator = self.own > public_key;
            if !existing_outdated && expected_initiator {
                debug!(peer = %short(&public_key), "duplicate: keeping ours");
                return Incoming::Reject(Rejection::Duplicate);
            }
            debug!(peer = %short(&public_key), old = c.id, "duplicate: keeping the new one");
            let old = c.clone();
            self.conns.remove(&public_key);
            match old.dir {
                Direction::Client => {
                    self.client_connections -= 1;
                    self.stats.client_closed += 1;
                    if old.opened_at.is_none() {
                        self.connecting -= 1;
                        self.flush_done(old.tick);
                    }
                }
                Direction::Server => self.stats.server_closed += 1,
            }
            self.actions.push_back(Action::Close {
                id: old.id,
                public_key,
            });
            replaced = Some(old.id);
        }
        let id = self.new_id();
        self.conns.insert(
            public_key,
            Conn {
                id,
                dir: Direction::Server,
                opened_at: Some(now),
                tick: None,
            },
        );
        self.stats.server_opened += 1;
        let p = self
            .peers
            .entry(public_key)
            .or_insert_with(|| Peer::new(public_key));
        p.info.client = false;
        debug!(peer = %short(&public_key), id, "connected (incoming)");
        self.events.push_back(Event::Connection {
            id,
            public_key,
            initiator: false,
        });
        if replaced.is_some() {
            self.attempt_ended();
            self.attempt(now);
        }
        self.update();
        Incoming::Accept { id, replaced }
    }

    /// Connection `id` to `public_key` ended.
    pub fn handle_closed(
        &mut self,
        now: Instant,
        id: ConnId,
        public_key: [u8; 32],
        reason: CloseReason,
    ) {
        self.now = now;
        if self.conns.get(&public_key).is_none_or(|c| c.id != id) {
            return;
        }
        let Some(c) = self.conns.remove(&public_key) else {
            return;
        };
        debug!(peer = %short(&public_key), id, ?reason, "connection closed");
        match c.dir {
            Direction::Client => {
                self.client_connections -= 1;
                self.stats.client_closed += 1;
                if c.opened_at.is_none() {
                    self.connecting -= 1;
                    self.flush_done(c.tick);
                }
                if let Some(p) = self.peers.get_mut(&public_key) {
                    p.disconnected(now, c.opened_at.map(|t| now.saturating_duration_since(t)));
                }
                if reason == CloseReason::Remote {
                    self.schedule_retry(now, &public_key);
                }
            }
            Direction::Server => self.stats.server_closed += 1,
        }
        self.gc(&public_key);
        self.attempt_ended();
        self.attempt(now);
        self.update();
    }

    // ---- retries ----

    fn schedule_retry(&mut self, now: Instant, key: &[u8; 32]) {
        let Some(p) = self.peers.get_mut(key) else {
            return;
        };
        let joined = p.info.topics.iter().any(|t| self.topics.contains_key(t));
        if !(p.info.explicit || joined) || p.info.banned || !p.info.reconnecting {
            return;
        }
        let Some(which) = Backoff::choose(p.info.attempts, p.info.proven, p.info.explicit) else {
            return;
        };
        p.info.waiting = true;
        for t in &mut self.timers {
            t.remove(key);
        }
        let i = Backoff::ALL.iter().position(|b| *b == which).unwrap_or(0);
        let at = self.timers[i].add(now, *key);
        debug!(peer = %short(key), ?which, attempts = p.info.attempts, in_ms = at.saturating_duration_since(now).as_millis() as u64, "retry scheduled");
    }

    fn fire_retry(&mut self, key: [u8; 32]) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.info.waiting = false;
        if p.info.explicit && p.info.attempts > 3 {
            p.info.attempts = 3;
            p.update_priority();
        }
        let i = &p.info;
        if !i.banned && !i.queued && i.attempts <= 3 && !self.conns.contains_key(&key) {
            self.enqueue(key);
        } else {
            self.gc(&key);
        }
    }

    /// Runs whatever is due at `now`: refreshes, retries, explicit re-dials.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = now;
        if self.destroyed {
            return;
        }
        let due: Vec<[u8; 32]> = self
            .topics
            .iter()
            .filter(|(_, d)| !d.refreshing && d.next_refresh.is_some_and(|t| t <= now))
            .map(|(t, _)| *t)
            .collect();
        for topic in due {
            let late = self
                .topics
                .get(&topic)
                .and_then(|d| d.next_refresh)
                .is_some_and(|t| now > t + LATE);
            if late {
                let jitter = self.rng.upto(self.refresh_interval / 5);
                if let Some(d) = self.topics.get_mut(&topic) {
                    d.next_refresh = Some(now + jitter);
                }
            } else {
                self.start_refresh(topic);
            }
        }
        for i in 0..self.timers.len() {
            for key in self.timers[i].expire(now) {
                self.fire_retry(key);
            }
        }
        self.attempt(now);
    }

    // ---- bookkeeping ----

    fn update(&mut self) {
        self.stats.updates += 1;
        self.events.push_back(Event::Update);
    }

    fn gc(&mut self, key: &[u8; 32]) {
        if self.conns.contains_key(key) {
            return;
        }
        if self.peers.get(key).is_some_and(Peer::collectable) {
            self.peers.remove(key);
        }
    }

    /// Destroys the swarm (spec §14): flushes resolve false, every connection and
    /// refresh is closed, announcements are removed.
    pub fn destroy(&mut self, now: Instant) {
        self.now = now;
        if self.destroyed {
            return;
        }
        self.destroyed = true;
        let ids: Vec<FlushId> = self.flushes.keys().copied().collect();
        for id in ids {
            self.resolve(id, false);
        }
        for t in &mut self.timers {
            t.clear();
        }
        self.queue.clear();
        for (topic, d) in std::mem::take(&mut self.topics) {
            if d.refreshing {
                self.actions.push_back(Action::CancelRefresh { topic });
            }
            if d.announced {
                self.actions.push_back(Action::Unannounce { topic });
            }
        }
        for (public_key, c) in std::mem::take(&mut self.conns) {
            self.actions.push_back(Action::Close {
                id: c.id,
                public_key,
            });
        }
        self.connecting = 0;
        self.client_connections = 0;
    }
}

/// The first bytes of a key, for logs.
pub(crate) fn short(key: &[u8; 32]) -> String {
    key[..4].iter().map(|b| format!("{b:02x}")).collect()
}
