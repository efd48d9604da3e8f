//! Topics: joins, refreshes and leaves (spec §4).

use std::collections::VecDeque;
use std::time::Instant;

use tracing::{debug, trace};

use super::{Action, Core, Discovery, Peer, REMEMBERED, short};
use crate::config::JoinOptions;
use crate::error::SwarmError;

impl Core {
    /// Joins `topic` (or changes how it is joined) and starts a refresh.
    pub fn join(
        &mut self,
        now: Instant,
        topic: [u8; 32],
        opts: JoinOptions,
    ) -> Result<(), SwarmError> {
        self.now = now;
        if self.destroyed {
            return Err(SwarmError::Destroyed);
        }
        if !opts.server && !opts.client {
            return Err(SwarmError::NoRole);
        }
        let d = self.topics.entry(topic).or_insert_with(|| Discovery {
            opts,
            generation: 0,
            refreshing: false,
            next_refresh: None,
            announced: false,
            remembered: VecDeque::new(),
        });
        let changed = d.opts.server != opts.server || d.opts.client != opts.client;
        d.opts = opts;
        if changed || !d.refreshing {
            self.start_refresh(topic);
        }
        Ok(())
    }

    /// Starts a refresh of `topic` now unless one is running; false if not joined.
    pub fn refresh(&mut self, now: Instant, topic: [u8; 32]) -> bool {
        self.now = now;
        match self.topics.get(&topic) {
            Some(d) if d.refreshing => true,
            Some(_) => {
                self.start_refresh(topic);
                true
            }
            None => false,
        }
    }

    /// Leaves `topic`: stops discovery and unannounces; connections stay (spec §4.3).
    pub fn leave(&mut self, now: Instant, topic: [u8; 32]) {
        self.now = now;
        let Some(d) = self.topics.remove(&topic) else {
            return;
        };
        debug!(topic = %short(&topic), "leaving topic");
        if d.refreshing {
            self.actions.push_back(Action::CancelRefresh { topic });
        }
        if d.announced || (d.refreshing && d.opts.server) {
            self.actions.push_back(Action::Unannounce { topic });
        }
        self.check_flushes();
    }

    pub(super) fn start_refresh(&mut self, topic: [u8; 32]) {
        if self.power.is_suspended() {
            // Every discovery refreshes on resume (spec §12).
            return;
        }
        let Some(d) = self.topics.get_mut(&topic) else {
            return;
        };
        d.generation += 1;
        d.refreshing = true;
        d.next_refresh = None;
        let unannounce = !d.opts.server && d.announced;
        let action = Action::Refresh {
            topic,
            generation: d.generation,
            announce: d.opts.server,
            lookup: d.opts.client,
            unannounce,
        };
        trace!(topic = %short(&topic), generation = d.generation, "refresh");
        self.actions.push_back(action);
    }

    /// A refresh finished: `peers` are the keys found (`None`: it failed).
    pub fn handle_refresh_done(
        &mut self,
        now: Instant,
        topic: [u8; 32],
        generation: u64,
        peers: Option<Vec<[u8; 32]>>,
    ) {
        self.now = now;
        let Some(d) = self.topics.get_mut(&topic) else {
            return;
        };
        if !d.refreshing || d.generation != generation {
            return;
        }
        d.refreshing = false;
        if peers.is_some() {
            // Announced now, or (client-only) the old announcement was withdrawn.
            d.announced = d.opts.server;
        }
        let jitter = self.rng.upto(self.refresh_interval / 5);
        d.next_refresh = Some(now + self.refresh_interval + jitter);
        let client = d.opts.client;
        let limit = d.opts.limit;
        if let (true, Some(found)) = (client, peers) {
            self.deliver(topic, limit, found);
        }
        self.attempt(now);
        self.check_flushes();
    }

    /// Hands discovered peers to the dial logic, honouring the join limit.
    pub(super) fn deliver(&mut self, topic: [u8; 32], limit: Option<usize>, found: Vec<[u8; 32]>) {
        let mut budget = limit.map(|l| {
            let connected = self.topics.get(&topic).map_or(0, |d| {
                d.remembered
                    .iter()
                    .filter(|k| self.conns.contains_key(*k))
                    .count()
            });
            l.saturating_sub(connected)
        });
        for key in found {
            if key == self.own {
                continue;
            }
            if budget == Some(0) {
                break;
            }
            if let Some(d) = self.topics.get_mut(&topic) {
                if !d.remembered.contains(&key) {
                    d.remembered.push_back(key);
                    if d.remembered.len() > REMEMBERED {
                        d.remembered.pop_front();
                    }
                }
            }
            if !self.conns.contains_key(&key) {
                if let Some(b) = budget.as_mut() {
                    *b -= 1;
                }
            }
            self.handle_peer(topic, key);
        }
    }

    /// A peer found on `topic` (spec §6.2).
    pub(super) fn handle_peer(&mut self, topic: [u8; 32], key: [u8; 32]) {
        let peer = self.peers.entry(key).or_insert_with(|| Peer::new(key));
        peer.info.topics.insert(topic);
        if self.conns.contains_key(&key) {
            return;
        }
        if !peer.info.priority.prioritized() || !peer.info.client {
            peer.info.client = false;
            peer.info.proven = false;
            peer.info.attempts = 0;
        }
        peer.update_priority();
        if !peer.info.banned && !peer.info.queued && peer.info.attempts <= 3 {
            self.enqueue(key);
        }
    }

    pub(super) fn enqueue(&mut self, key: [u8; 32]) {
        let Some(p) = self.peers.get_mut(&key) else {
            return;
        };
        p.info.queued = true;
        p.tick = self.flush_tick;
        self.queue.push(key, p.info.priority);
    }
}
