//! The Kademlia routing table (`kademlia-routing-table` 1.0.6 as used by dht-rpc; spec §8,
//! §9.3).
//!
//! 256 rows, one per bit of the own id: a node lands in the row of the first bit where its
//! id differs from the own id. A row holds at most [`K`] nodes sorted by id. The table does
//! no I/O: when a row is full it says so, and [`RoutingTable::ping_before_evict`] picks the
//! node to probe; the caller sends the PING and reports back with
//! [`RoutingTable::resolve_eviction`].
//!
//! Ticks are the node's 5 s maintenance counter (spec §1); the table only compares them.

use std::net::SocketAddrV4;

use crate::id::NodeId;

/// Bucket size, closest-set size and closer-nodes list length.
pub const K: usize = 20;

/// Number of rows (bits of an id).
pub const ROWS: usize = 256;

/// A full-row node pinged less than this many ticks ago is kept without a new probe if it
/// is also older than [`OLD_NODE`] ticks (spec §9.3 `RECENT_NODE`).
pub const RECENT_NODE: u64 = 12;

/// Ticks after which a node counts as old (spec §14 `OLD_NODE`).
pub const OLD_NODE: u64 = 360;

/// A node in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Node {
    /// Its id (`BLAKE2b-256` of its address for every node learned from the network).
    pub id: NodeId,
    /// Where it listens.
    pub addr: SocketAddrV4,
    /// Tick it was added.
    pub added: u64,
    /// Tick it was last probed (or heard from).
    pub pinged: u64,
    /// Tick it was last heard from with a valid id.
    pub seen: u64,
}

impl Node {
    /// A node first heard of at `tick`.
    pub fn new(id: NodeId, addr: SocketAddrV4, tick: u64) -> Self {
        Self {
            id,
            addr,
            added: tick,
            pinged: tick,
            seen: tick,
        }
    }
}

/// What [`RoutingTable::insert`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Insert {
    /// The node was new and fit its row.
    Added,
    /// A node with the same id was present and has been replaced.
    Replaced,
    /// The row is full; the node was not inserted. See
    /// [`RoutingTable::ping_before_evict`].
    RowFull {
        /// The row.
        row: usize,
    },
    /// The id is the table's own id; tables never hold themselves.
    OwnId,
}

/// A probe the caller must send before a full row may change: PING `old`; if it answers
/// with a valid id keep it, otherwise evict it for `candidate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PingBeforeEvict {
    /// The node to probe (its `pinged` is already set to the current tick).
    pub old: Node,
    /// The node waiting for the slot.
    pub candidate: Node,
}

/// The routing table around one own id.
#[derive(Debug, Clone)]
pub struct RoutingTable {
    id: NodeId,
    rows: Vec<Vec<Node>>,
    len: usize,
}

impl RoutingTable {
    /// An empty table around `id`.
    pub fn new(id: NodeId) -> Self {
        Self {
            id,
            rows: vec![Vec::new(); ROWS],
            len: 0,
        }
    }

    /// The own id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// Number of nodes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the table holds no node.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The row of `id`: the index of the first bit where it differs from the own id (0 =
    /// most significant bit); the own id itself maps to row 255.
    pub fn row_of(&self, id: &NodeId) -> usize {
        self.id.distance(id).leading_zeros().unwrap_or(ROWS - 1)
    }

    /// The nodes of one row in table order (ascending id); empty for `row >= 256`.
    pub fn row(&self, row: usize) -> &[Node] {
        self.rows.get(row).map_or(&[], Vec::as_slice)
    }

    /// All nodes, row by row.
    pub fn iter(&self) -> impl Iterator<Item = &Node> {
        self.rows.iter().flatten()
    }

    fn locate(&self, id: &NodeId) -> (usize, Result<usize, usize>) {
        let row = self.row_of(id);
        (row, self.rows[row].binary_search_by(|n| n.id.cmp(id)))
    }

    /// The node with `id`.
    pub fn get(&self, id: &NodeId) -> Option<&Node> {
        let (row, at) = self.locate(id);
        at.ok().map(|i| &self.rows[row][i])
    }

    /// The node with `id`, mutably (to update its ticks; the id must not change).
    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut Node> {
        let (row, at) = self.locate(id);
        at.ok().map(|i| &mut self.rows[row][i])
    }

    /// Whether a node with `id` is present.
    pub fn contains(&self, id: &NodeId) -> bool {
        self.get(id).is_some()
    }

    /// Inserts `node`, replacing a node with the same id; a full row rejects new ids.
    pub fn insert(&mut self, node: Node) -> Insert {
        if node.id == self.id {
            return Insert::OwnId;
        }
        let (row, at) = self.locate(&node.id);
        let bucket = &mut self.rows[row];
        match at {
            Ok(i) => {
                bucket[i] = node;
                Insert::Replaced
            }
            Err(_) if bucket.len() >= K => Insert::RowFull { row },
            Err(i) => {
                bucket.insert(i, node);
                self.len += 1;
                Insert::Added
            }
        }
    }

    /// Removes the node with `id`.
    pub fn remove(&mut self, id: &NodeId) -> Option<Node> {
        let (row, at) = self.locate(id);
        let i = at.ok()?;
        self.len -= 1;
        Some(self.rows[row].remove(i))
    }

    /// The full-row policy (spec §9.3) for `candidate`, whose row is full, at `tick`. Call
    /// it only when the node core allows a probe (after bootstrap, fewer than 3 such probes
    /// in flight). Picks the row node pinged longest ago (ties: added first), skipping nodes
    /// already pinged this tick; keeps it without a probe if it was pinged less than
    /// [`RECENT_NODE`] ticks ago and added more than [`OLD_NODE`] ticks ago. Otherwise marks
    /// it pinged at `tick` and returns the probe to send.
    pub fn ping_before_evict(&mut self, candidate: Node, tick: u64) -> Option<PingBeforeEvict> {
        let row = self.row_of(&candidate.id);
        let bucket = &mut self.rows[row];
        if bucket.len() < K || bucket.iter().any(|n| n.id == candidate.id) {
            return None;
        }
        let oldest = bucket
            .iter_mut()
            .filter(|n| n.pinged != tick)
            .min_by_key(|n| (n.pinged, n.added))?;
        let since_ping = tick.saturating_sub(oldest.pinged);
        let age = tick.saturating_sub(oldest.added);
        if since_ping < RECENT_NODE && age > OLD_NODE {
            return None;
        }
        oldest.pinged = tick;
        Some(PingBeforeEvict {
            old: *oldest,
            candidate,
        })
    }

    /// Completes a [`PingBeforeEvict`]: if the old node answered with a valid id it stays
    /// (returns `None`); otherwise it is removed and the candidate inserted.
    pub fn resolve_eviction(&mut self, probe: PingBeforeEvict, alive: bool) -> Option<Insert> {
        if alive {
            return None;
        }
        self.remove(&probe.old.id);
        Some(self.insert(probe.candidate))
    }

    /// Up to `n` nodes in the order the reference lists closer nodes (spec §8): the target's
    /// row, then the rows toward the most significant bit (`d-1, …, 0`), then the rows
    /// after it (`d+1, …, 255`), each row in id order. This is the wire order of
    /// `closerNodes`; it is not sorted by distance (see
    /// [`closest_by_distance`](Self::closest_by_distance)).
    pub fn closest(&self, target: &NodeId, n: usize) -> Vec<&Node> {
        let d = self.row_of(target);
        let order = (0..=d).rev().chain(d + 1..ROWS);
        let mut out = Vec::with_capacity(n.min(self.len));
        for row in order {
            if out.len() >= n {
                break;
            }
            let take = n - out.len();
            out.extend(self.rows[row].iter().take(take));
        }
        out
    }

    /// The `n` nodes nearest to `target` by XOR distance, nearest first (the query engine's
    /// metric).
    pub fn closest_by_distance(&self, target: &NodeId, n: usize) -> Vec<&Node> {
        let mut all: Vec<&Node> = self.iter().collect();
        all.sort_unstable_by_key(|node| target.distance(&node.id));
        all.truncate(n);
        all
    }

    /// Rebuilds the table around a new own id (spec §4: when the node becomes persistent).
    /// Nodes that no longer fit their row, or that have the new id, are returned.
    pub fn rebuild(&mut self, id: NodeId) -> Vec<Node> {
        let old = std::mem::replace(self, Self::new(id));
        let mut dropped = Vec::new();
        for node in old.rows.into_iter().flatten() {
            if matches!(self.insert(node), Insert::RowFull { .. } | Insert::OwnId) {
                dropped.push(node);
            }
        }
        dropped
    }
}

#[cfg(test)]
mod tests;
