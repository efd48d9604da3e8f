//! Suspend, resume and network changes (spec §12).
//!
//! * [`Core::suspend`]: every discovery is aborted and its announcement withdrawn
//!   ([`Action::CancelRefresh`], [`Action::Unannounce`]), every connection and attempt
//!   is closed ([`Action::Close`], no retry), the retry timers and the dial queue are
//!   reset, pending flushes resolve, and [`Action::SuspendDht`] asks the driver to
//!   suspend the node (after the unannounces). [`Core::handle_dht_suspended`] then
//!   reports [`Event::Suspended`].
//! * While suspended nothing is dialled or refreshed and incoming connections are
//!   rejected; joins, leaves, flushes and explicit peers are accepted as by the
//!   reference (which does not throw either): a topic joined meanwhile is first
//!   announced on resume, a flush resolves at once.
//! * [`Core::resume`]: [`Action::ResumeDht`]; once the node runs again
//!   ([`Core::handle_dht_resumed`]) every discovery refreshes (announcing afresh) and
//!   the dialling starts again; [`Event::Resumed`].
//! * [`Core::network_change`] (the dht's `network-change`, or `online` false → true):
//!   unless suspended, [`Action::KeepAlive`] on every open connection and a refresh of
//!   every discovery (a running one is shared); [`Event::NetworkChange`].

use std::time::Instant;

use tracing::debug;

use super::{Action, Core, Direction, Event, FlushState};
use crate::error::SwarmError;

#[cfg(test)]
#[path = "suspend_tests.rs"]
mod tests;

/// Where a swarm is in its suspend cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Power {
    /// Running.
    #[default]
    Active,
    /// Connections closed, waiting for the node to finish suspending.
    Suspending,
    /// Suspended.
    Suspended,
    /// Waiting for the node to resume.
    Resuming,
}

impl Power {
    /// Anything but [`Power::Active`]: no dials, no refreshes, no incoming connections.
    pub fn is_suspended(self) -> bool {
        self != Self::Active
    }
}

impl Core {
    /// Where the swarm is in its suspend cycle.
    pub fn power(&self) -> Power {
        self.power
    }

    /// Suspends the swarm (spec §12). `Ok(false)` if it was already suspended (or
    /// suspending); [`SwarmError::Destroyed`] after destroy.
    pub fn suspend(&mut self, now: Instant) -> Result<bool, SwarmError> {
        self.now = now;
        if self.destroyed {
            return Err(SwarmError::Destroyed);
        }
        if self.power.is_suspended() {
            return Ok(false);
        }
        debug!("suspending");
        self.power = Power::Suspending;
        // Discoveries: abort and unannounce (they refresh again on resume).
        for (topic, d) in &mut self.topics {
            if d.refreshing {
                self.actions
                    .push_back(Action::CancelRefresh { topic: *topic });
            }
            if d.announced || (d.refreshing && d.opts.server) {
                self.actions.push_back(Action::Unannounce { topic: *topic });
            }
            d.generation += 1;
            d.refreshing = false;
            d.announced = false;
            d.next_refresh = None;
        }
        // Every connection and attempt goes, without a retry.
        for (public_key, c) in std::mem::take(&mut self.conns) {
            match c.dir {
                Direction::Client => {
                    self.stats.client_closed += 1;
                    let open_for = c.opened_at.map(|t| now.saturating_duration_since(t));
                    if open_for.is_none() {
                        self.flush_done(c.tick);
                    }
                    if let Some(p) = self.peers.get_mut(&public_key) {
                        p.disconnected(now, open_for);
                    }
                }
                Direction::Server => self.stats.server_closed += 1,
            }
            self.actions.push_back(Action::Close {
                id: c.id,
                public_key,
            });
        }
        self.connecting = 0;
        self.client_connections = 0;
        // Reset the retry timers and the queue.
        for t in &mut self.timers {
            t.clear();
        }
        self.queue.clear();
        for p in self.peers.values_mut() {
            p.info.queued = false;
            p.info.waiting = false;
        }
        let keys: Vec<[u8; 32]> = self.peers.keys().copied().collect();
        for k in keys {
            self.gc(&k);
        }
        // Nothing more will be dialled: flushes waiting for dials are done.
        let counting: Vec<_> = self
            .flushes
            .iter()
            .filter(|(_, s)| matches!(s, FlushState::Dials { .. }))
            .map(|(id, _)| *id)
            .collect();
        for id in counting {
            self.resolve(id, true);
        }
        self.check_flushes();
        self.actions.push_back(Action::SuspendDht);
        self.update();
        Ok(true)
    }

    /// The node finished suspending.
    pub fn handle_dht_suspended(&mut self, now: Instant) {
        self.now = now;
        if self.power == Power::Suspending {
            self.power = Power::Suspended;
            self.events.push_back(Event::Suspended);
        }
    }

    /// Resumes a suspended swarm (spec §12). `Ok(false)` if it was not suspended (or is
    /// resuming already); [`SwarmError::Destroyed`] after destroy.
    pub fn resume(&mut self, now: Instant) -> Result<bool, SwarmError> {
        self.now = now;
        if self.destroyed {
            return Err(SwarmError::Destroyed);
        }
        if matches!(self.power, Power::Active | Power::Resuming) {
            return Ok(false);
        }
        debug!("resuming");
        if self.power == Power::Suspending {
            // Resumed before the node finished suspending: it still reports that.
            self.events.push_back(Event::Suspended);
        }
        self.power = Power::Resuming;
        self.actions.push_back(Action::ResumeDht);
        Ok(true)
    }

    /// The node runs again: refresh every discovery and dial.
    pub fn handle_dht_resumed(&mut self, now: Instant) {
        self.now = now;
        if self.destroyed || self.power != Power::Resuming {
            return;
        }
        self.power = Power::Active;
        let topics: Vec<[u8; 32]> = self.topics.keys().copied().collect();
        for topic in topics {
            self.start_refresh(topic);
        }
        self.attempt(now);
        self.events.push_back(Event::Resumed);
    }

    /// The network changed, or the node came back online (spec §12): unless suspended
    /// or destroyed, probe every open connection and refresh every discovery. Returns
    /// whether it did.
    pub fn network_change(&mut self, now: Instant) -> bool {
        self.now = now;
        if self.destroyed || self.power.is_suspended() {
            return false;
        }
        debug!("network change");
        let open: Vec<_> = self
            .conns
            .iter()
            .filter(|(_, c)| c.opened_at.is_some())
            .map(|(k, c)| (c.id, *k))
            .collect();
        for (id, public_key) in open {
            self.actions.push_back(Action::KeepAlive { id, public_key });
        }
        let idle: Vec<[u8; 32]> = self
            .topics
            .iter()
            .filter(|(_, d)| !d.refreshing)
            .map(|(t, _)| *t)
            .collect();
        for topic in idle {
            self.start_refresh(topic);
        }
        self.events.push_back(Event::NetworkChange);
        true
    }
}
