//! Learning nodes from traffic, liveness checks, the 5 s tick, bootstrap and the
//! ephemeral → persistent switch (spec §9, §11, §13, §14).

use std::net::SocketAddrV4;
use std::time::Instant;

use super::firewall::Purpose;
use super::query::Owner;
use super::{Ctx, Dht, Event, MAX_DOWN_HINT_CHECKS, Meta};
use crate::command::Command;
use crate::id::NodeId;
use crate::io::SendOptions;
use crate::table::{Insert, K, Node as TableNode, OLD_NODE, PingBeforeEvict, RECENT_NODE};

/// Ticks before the first adaptive persistence check (~20 min).
pub const STABLE_TICKS: i64 = 240;
/// Ticks between later checks (~60 min).
pub const MORE_STABLE_TICKS: i64 = 720;
/// Idle refresh period in ticks (~5 min).
pub const REFRESH_TICKS: i64 = 60;
/// Full-row re-pings in flight at most.
const MAX_REPINGS: usize = 3;

impl Dht {
    fn nat_add(&mut self, to: SocketAddrV4) {
        if self.nat.add(*to.ip(), to.port()) {
            let (host, port) = (self.nat.host(), self.nat.port());
            self.push_event(Event::NatUpdate { host, port });
        }
    }

    fn touch(&mut self, id: NodeId) {
        self.recency_seq += 1;
        let seq = self.recency_seq;
        let meta = self.meta.entry(id).or_insert(Meta {
            seq,
            sampled: None,
            down_hints: 0,
        });
        self.recency.remove(&meta.seq);
        meta.seq = seq;
        self.recency.insert(seq, id);
    }

    pub(super) fn remove_node(&mut self, id: &NodeId) {
        self.table.remove(id);
        if let Some(meta) = self.meta.remove(id) {
            self.recency.remove(&meta.seq);
        }
    }

    /// §9.2: what a request with a valid id or a matched response teaches us.
    pub(super) fn learn(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        id: Option<NodeId>,
        to: SocketAddrV4,
        external: bool,
    ) {
        let tick = self.tick;
        let Some(id) = id else {
            let cap = self.config.bootstrap.len().max(1);
            if self.id_less_sources.contains(&from) {
                self.nat_add(to);
            } else if self.id_less_sources.len() < cap {
                self.id_less_sources.push(from);
                self.nat_add(to);
            }
            return;
        };
        if id == self.table.id() {
            return;
        }
        if let Some(node) = self.table.get_mut(&id) {
            node.pinged = tick;
            node.seen = tick;
            self.touch(id);
            let stale = self
                .meta
                .get(&id)
                .and_then(|m| m.sampled)
                .is_none_or(|s| tick.saturating_sub(s) >= OLD_NODE);
            if !external && stale {
                if let Some(m) = self.meta.get_mut(&id) {
                    m.sampled = Some(tick);
                }
                self.nat_add(to);
            }
            return;
        }
        let candidate = TableNode::new(id, from, tick);
        match self.table.insert(candidate) {
            Insert::Added | Insert::Replaced => {
                self.touch(id);
                if let Some(m) = self.meta.get_mut(&id) {
                    m.sampled = Some(tick);
                }
                self.nat_add(to);
            }
            Insert::RowFull { .. } => {
                if self.bootstrapped && self.repings < MAX_REPINGS {
                    if let Some(probe) = self.table.ping_before_evict(candidate, tick) {
                        self.repings += 1;
                        let sent = self.send_request(
                            now,
                            probe.old.addr,
                            Command::Ping,
                            None,
                            None,
                            None,
                            Ctx::Evict(probe),
                            SendOptions::default(),
                        );
                        if sent.is_err() {
                            self.repings -= 1;
                        }
                    }
                }
            }
            Insert::OwnId => {}
        }
    }

    pub(super) fn resolve_eviction(&mut self, probe: PingBeforeEvict, alive: bool) {
        if alive {
            return;
        }
        if let Some(meta) = self.meta.remove(&probe.old.id) {
            self.recency.remove(&meta.seq);
        }
        if self.table.resolve_eviction(probe, false) == Some(Insert::Added) {
            self.touch(probe.candidate.id);
        }
    }

    /// §9.4: PING a table node; it is removed unless it answers with its id.
    fn check(&mut self, now: Instant, id: NodeId) {
        let tick = self.tick;
        let Some(node) = self.table.get_mut(&id) else {
            return;
        };
        node.pinged = tick;
        let addr = node.addr;
        let _ = self.send_request(
            now,
            addr,
            Command::Ping,
            None,
            None,
            None,
            Ctx::Check(id),
            SendOptions::default(),
        );
    }

    /// §6.1 DOWN_HINT: maybe check the named node.
    pub(super) fn on_down_hint(&mut self, now: Instant, addr: SocketAddrV4) {
        if self.down_hint_checks >= MAX_DOWN_HINT_CHECKS {
            return;
        }
        let id = NodeId::from_addr(addr);
        let tick = self.tick;
        let Some(node) = self.table.get(&id) else {
            return;
        };
        let hints = self.meta.get(&id).map_or(0, |m| m.down_hints);
        if node.pinged < tick || hints == 0 {
            if let Some(m) = self.meta.get_mut(&id) {
                m.down_hints += 1;
            }
            self.down_hint_checks += 1;
            self.check(now, id);
        }
    }

    /// §14: one maintenance tick.
    pub(super) fn on_tick(&mut self, now: Instant) {
        let slept = now.saturating_duration_since(self.last_tick_at) > super::SLEEPING_INTERVAL;
        self.last_tick_at = now;
        self.down_hint_checks = 0;
        self.down_hints_sent = 0;
        if !self.bootstrapped {
            self.tick += 1;
            return;
        }
        if slept {
            self.wakeup();
        } else {
            self.tick += 1;
        }
        if self.config.ephemeral.is_none() && self.ephemeral {
            self.stable_ticks -= 1;
            if self.stable_ticks <= 0 {
                if self.nat.host() == self.last_checked_host {
                    self.stable_ticks = MORE_STABLE_TICKS;
                } else {
                    self.update_network_state(now, false, Purpose::Adaptive);
                }
            }
        }
        if self.tick % 8 == 0 {
            self.ping_some(now);
        }
        self.refresh_countdown -= 1;
        if (self.tick % 64 == 0 && self.table.len() < K) || self.refresh_countdown <= 0 {
            self.refresh(now);
        }
        self.update_health();
    }

    fn ping_some(&mut self, now: Instant) {
        let tick = self.tick;
        let Some((_, &oldest)) = self.recency.iter().next() else {
            self.refresh(now);
            return;
        };
        let mut budget = if self.io.len() > 2 { 3 } else { 5 };
        if self
            .table
            .get(&oldest)
            .is_some_and(|n| tick.saturating_sub(n.pinged) < RECENT_NODE)
        {
            budget = 2;
        }
        let ids: Vec<NodeId> = self.recency.values().take(budget).copied().collect();
        for id in ids {
            if self.table.get(&id).is_none_or(|n| n.pinged == tick) {
                break;
            }
            self.check(now, id);
        }
    }

    /// A background FIND_NODE for a random table node's id (own id if the table is empty).
    pub(super) fn refresh(&mut self, now: Instant) {
        let target = if self.table.is_empty() {
            self.table.id()
        } else {
            let i = self.rng.below(self.table.len() as u64) as usize;
            self.table.iter().nth(i).map_or(self.table.id(), |n| n.id)
        };
        let _ = self.start_query(
            now,
            Owner::Refresh,
            target,
            Command::FindNode,
            None,
            false,
            &[],
        );
    }

    pub(super) fn start_bootstrap(&mut self, now: Instant, iteration: u8) {
        let target = self.table.id();
        if self
            .start_query(
                now,
                Owner::Bootstrap(iteration),
                target,
                Command::FindNode,
                None,
                false,
                &[],
            )
            .is_err()
        {
            self.bootstrap_done(now, 2);
        }
    }
}

impl Dht {
    /// Adds a node by address (`addNode`, the `nodes` option): its id is computed from the
    /// address; no NAT sample is taken. Returns what the table did.
    pub fn add_node(&mut self, addr: SocketAddrV4) -> Insert {
        let id = NodeId::from_addr(addr);
        let r = self.table.insert(TableNode::new(id, addr, self.tick));
        if matches!(r, Insert::Added | Insert::Replaced) {
            self.touch(id);
        }
        r
    }
}
