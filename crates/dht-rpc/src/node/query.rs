//! The iterative lookup (`dht-rpc lib/query.js#Query`, spec §10), as a state machine that
//! only decides: the node sends what [`Query::read_more`] returns and feeds back replies and
//! failures.
//!
//! Memory per query is bounded: `seen` holds at most [`MAX_SEEN`] addresses (a hostile
//! network cannot grow it further: more nodes are simply not queued), each with at most
//! [`MAX_REFERRERS`] referrers, and the closest set holds [`K`] replies.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;

use super::types::{Peer, QueryStats, Reply};
use crate::command::Command;
use crate::id::NodeId;
use crate::table::{K, RoutingTable};

/// Most addresses one query remembers.
pub const MAX_SEEN: usize = 4096;
/// Most referrers remembered per address (DOWN_HINT recipients).
pub const MAX_REFERRERS: usize = 8;

/// A node to visit, with the number of hops that led to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Visit {
    pub(crate) addr: SocketAddrV4,
    pub(crate) id: NodeId,
    pub(crate) hops: u32,
}

#[derive(Debug)]
enum Seen {
    /// Queued or in flight; who told us about it.
    Pending(Vec<SocketAddrV4>),
    Done,
    Down,
}

/// Who started a query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Owner {
    User,
    Bootstrap(u8),
    Refresh,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Lookup,
    Commit { pending: usize, ok: usize },
}

#[derive(Debug)]
pub(crate) struct Query {
    pub(crate) owner: Owner,
    pub(crate) target: NodeId,
    pub(crate) command: Command,
    pub(crate) value: Option<Vec<u8>>,
    pub(crate) commit: bool,
    pub(crate) phase: Phase,
    pub(crate) stats: QueryStats,
    own_id: NodeId,
    concurrency: usize,
    full_concurrency: usize,
    pending: Vec<Visit>,
    seen: HashMap<SocketAddrV4, Seen>,
    closest: Vec<(Reply, NodeId, u32)>,
    inflight: usize,
    slow: HashSet<SocketAddrV4>,
    successes: usize,
    errors: usize,
    from_table: bool,
    slowdown: bool,
}

/// What to do after [`Query::read_more`].
#[derive(Debug, Default)]
pub(crate) struct Next {
    pub(crate) visits: Vec<Visit>,
    pub(crate) finished: bool,
}

impl Query {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        owner: Owner,
        own_id: NodeId,
        target: NodeId,
        command: Command,
        value: Option<Vec<u8>>,
        commit: bool,
        concurrency: usize,
        background: bool,
    ) -> Self {
        let full = concurrency.max(1);
        let start = if background {
            full.min((full / 8).max(2))
        } else {
            full
        };
        Self {
            owner,
            target,
            command,
            value,
            commit,
            phase: Phase::Lookup,
            stats: QueryStats::default(),
            own_id,
            concurrency: start,
            full_concurrency: full,
            pending: Vec::new(),
            seen: HashMap::new(),
            closest: Vec::new(),
            inflight: 0,
            slow: HashSet::new(),
            successes: 0,
            errors: 0,
            from_table: false,
            slowdown: false,
        }
    }

    /// Raises a background query to full concurrency.
    pub(crate) fn raise_concurrency(&mut self) {
        self.concurrency = self.full_concurrency;
    }

    /// Seeds: explicit nodes first, then the table, then the bootstrap nodes.
    pub(crate) fn open(
        &mut self,
        seeds: &[SocketAddrV4],
        table: &RoutingTable,
        bootstrap: &[SocketAddrV4],
    ) {
        let mut hints = Vec::new();
        for &addr in seeds.iter().rev() {
            self.add_pending(addr, None, 1, &mut hints);
        }
        if self.pending.len() < K {
            self.push_table(table, bootstrap);
        }
    }

    fn push_table(&mut self, table: &RoutingTable, bootstrap: &[SocketAddrV4]) {
        self.from_table = true;
        let mut hints = Vec::new();
        let want = K.saturating_sub(self.pending.len());
        let nodes: Vec<SocketAddrV4> = table
            .closest_by_distance(&self.target, want)
            .iter()
            .map(|n| n.addr)
            .collect();
        // Pushed farthest first so the nearest is popped first.
        for addr in nodes.into_iter().rev() {
            self.add_pending(addr, None, 1, &mut hints);
        }
        if self.pending.len() < K {
            for &addr in bootstrap.iter().rev() {
                self.add_pending(addr, None, 1, &mut hints);
            }
        }
    }

    fn is_closer(&self, id: &NodeId) -> bool {
        match self.closest.last() {
            Some((_, last, _)) if self.closest.len() >= K => {
                self.target.cmp_distance(id, last).is_lt()
            }
            _ => true,
        }
    }

    /// `addPending`: returns whether the caller should keep reading the closer-node list.
    fn add_pending(
        &mut self,
        addr: SocketAddrV4,
        referrer: Option<SocketAddrV4>,
        hops: u32,
        hints: &mut Vec<(SocketAddrV4, SocketAddrV4)>,
    ) -> bool {
        let id = NodeId::from_addr(addr);
        let closer = self.is_closer(&id);
        match self.seen.get_mut(&addr) {
            Some(Seen::Done) => return closer,
            Some(Seen::Down) => {
                if let Some(r) = referrer {
                    hints.push((r, addr));
                }
                return closer;
            }
            Some(Seen::Pending(refs)) => {
                if let Some(r) = referrer {
                    if refs.len() < MAX_REFERRERS && !refs.contains(&r) {
                        refs.push(r);
                    }
                }
                return closer;
            }
            None => {}
        }
        if !closer || self.seen.len() >= MAX_SEEN {
            return false;
        }
        self.seen
            .insert(addr, Seen::Pending(referrer.into_iter().collect()));
        self.pending.push(Visit { addr, id, hops });
        true
    }

    /// `readMore`: the nodes to visit now, and whether the lookup is over.
    pub(crate) fn read_more(&mut self, table: &RoutingTable, bootstrap: &[SocketAddrV4]) -> Next {
        let mut next = Next::default();
        loop {
            let limit = if self.slowdown { 3 } else { self.concurrency } + self.slow.len();
            while self.inflight < limit {
                let Some(v) = self.pending.pop() else { break };
                if !self.is_closer(&v.id) {
                    continue;
                }
                self.inflight += 1;
                self.stats.visited += 1;
                next.visits.push(v);
            }
            if !self.from_table && self.successes == 0 && self.errors == 0 {
                self.slowdown = true;
            }
            let quiet =
                self.inflight == 0 || (self.slow.len() == self.inflight && self.closest.len() >= K);
            if self.pending.is_empty() && quiet {
                if !self.from_table && self.successes < K / 4 {
                    self.push_table(table, bootstrap);
                    continue;
                }
                next.finished = true;
            }
            return next;
        }
    }

    /// A reply from a visited node; returns DOWN_HINTs to send as `(to, about)`.
    pub(crate) fn on_reply(
        &mut self,
        reply: &Reply,
        hops: u32,
    ) -> Vec<(SocketAddrV4, SocketAddrV4)> {
        let mut hints = Vec::new();
        self.inflight = self.inflight.saturating_sub(1);
        self.slow.remove(&reply.from);
        self.seen.insert(reply.from, Seen::Done);
        if reply.error == 0 {
            self.successes += 1;
            self.stats.replies += 1;
            if let Some(id) = reply.id {
                if self.is_closer(&id) {
                    self.insert_closest(reply.clone(), id, hops);
                }
            }
        } else {
            self.errors += 1;
            self.stats.errors += 1;
        }
        for &addr in &reply.closer_nodes {
            if NodeId::from_addr(addr) == self.own_id {
                continue;
            }
            if !self.add_pending(addr, Some(reply.from), hops + 1, &mut hints) {
                break;
            }
        }
        if !self.from_table && self.successes + self.errors >= self.concurrency {
            self.slowdown = false;
        }
        hints
    }

    fn insert_closest(&mut self, reply: Reply, id: NodeId, hops: u32) {
        if self.closest.iter().any(|(_, other, _)| *other == id) {
            return;
        }
        let at = self
            .closest
            .partition_point(|(_, other, _)| self.target.cmp_distance(other, &id).is_lt());
        self.closest.insert(at, (reply, id, hops));
        self.closest.truncate(K);
    }

    /// The first attempt to `addr` timed out.
    pub(crate) fn on_slow(&mut self, addr: SocketAddrV4) {
        if matches!(self.seen.get(&addr), Some(Seen::Pending(_))) {
            self.slow.insert(addr);
        }
    }

    /// A visit failed; on timeout returns DOWN_HINTs for its referrers.
    pub(crate) fn on_failure(
        &mut self,
        addr: SocketAddrV4,
        timeout: bool,
    ) -> Vec<(SocketAddrV4, SocketAddrV4)> {
        self.inflight = self.inflight.saturating_sub(1);
        self.slow.remove(&addr);
        self.errors += 1;
        self.stats.errors += 1;
        let mut hints = Vec::new();
        if timeout {
            if let Some(Seen::Pending(refs)) = self.seen.insert(addr, Seen::Down) {
                hints.extend(refs.into_iter().map(|r| (r, addr)));
            }
        } else {
            self.seen.insert(addr, Seen::Done);
        }
        hints
    }

    /// The closest replies (nearest first).
    pub(crate) fn closest_replies(&self) -> impl Iterator<Item = &Reply> {
        self.closest.iter().map(|(r, _, _)| r)
    }

    /// The closest nodes and the hop count statistic.
    pub(crate) fn result(&self) -> (Vec<Peer>, QueryStats) {
        let peers = self
            .closest
            .iter()
            .map(|(r, id, _)| Peer {
                addr: r.from,
                id: *id,
            })
            .collect();
        let mut stats = self.stats;
        stats.hops = self.closest.iter().map(|(_, _, h)| *h).max().unwrap_or(0);
        (peers, stats)
    }
}
