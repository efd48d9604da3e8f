//! Suspend, resume and network changes (spec §8 step 3/4, hyperswarm §12, dht-rpc §16).
//!
//! * [`HyperDht::suspend`]: every listening server stops refreshing and withdraws its
//!   announcement at `hash(publicKey)` (an UNANNOUNCE query, as for a topic); once those
//!   finish, or after [`SUSPEND_UNANNOUNCE_WAIT`], the node is *suspended*: it sends
//!   nothing, drops every datagram, runs no timer and refuses new operations and
//!   connects ([`OpError::Suspended`](super::OpError::Suspended)). [`Event::Suspended`]
//!   reports the end of the transition.
//! * [`HyperDht::resume`]: the dht-rpc core resumes (its wake-up procedure and a
//!   refresh, dht-rpc §16), the timers run again, every server re-announces itself, and
//!   with `defer_random_punch` the random-punch clock restarts (§12.6).
//!   [`Event::Resumed`], and the core's `Event::Dht(Wakeup)`.
//! * [`HyperDht::network_change`]: every server re-announces itself now (spec §8 step 3)
//!   and [`Event::NetworkChange`] tells the layer above (hyperswarm refreshes its topics
//!   and probes its connections). Also raised on its own when the dht-rpc core's NAT
//!   sampler reports a different public host than before (our address changed).
//!
//! * Network health (dht-rpc §15): the core's `NetworkUpdate` and `Wakeup` events go out
//!   as `Event::Dht(..)`; when `online` goes false → true every server re-announces
//!   itself, as on a network change (no [`Event::NetworkChange`]: the layer above sees
//!   the `NetworkUpdate`). While offline the announcer waits ([`HyperDht::online`]).
//!
//! Once fully suspended the dht-rpc core is suspended too (dht-rpc §16): its requests
//! and queries in flight fail with `Suspended` (their owners see failures at once), it
//! drops all input and runs no timer; it is also no longer fed.

use std::collections::HashSet;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::{Event, HyperDht, OpId};

/// How long [`HyperDht::suspend`] waits for the servers' UNANNOUNCE queries.
pub const SUSPEND_UNANNOUNCE_WAIT: Duration = Duration::from_secs(5);

/// Where a node is in its suspend cycle.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) enum Power {
    /// Running.
    #[default]
    Active,
    /// Withdrawing the servers' announcements; suspended once `ops` are done or at
    /// `until`.
    Suspending { ops: HashSet<OpId>, until: Instant },
    /// Not sending, not receiving, no timers.
    Suspended,
}

impl HyperDht {
    /// Suspends the node: servers unannounce themselves (bounded by
    /// [`SUSPEND_UNANNOUNCE_WAIT`]), then everything stops until
    /// [`resume`](Self::resume). [`Event::Suspended`] follows (at once when no server
    /// was announced). Returns false if the node was not running.
    pub fn suspend(&mut self, now: Instant) -> bool {
        self.last_now = now;
        if self.power != Power::Active {
            return false;
        }
        let mut ops = HashSet::new();
        let ids: Vec<_> = self.servers.keys().copied().collect();
        for id in ids {
            let Some(s) = self.servers.get_mut(&id) else {
                continue;
            };
            if let Some(op) = s.announcing.take() {
                self.announce_ops.remove(&op);
                self.announce_seen.remove(&op);
                // Cancels its commits in flight: no ANNOUNCE lands after the UNANNOUNCE.
                self.cancel_op(op);
            }
            let Some(s) = self.servers.get(&id) else {
                continue;
            };
            if s.relays.is_empty() {
                continue;
            }
            let (target, key_pair) = (s.target, s.key_pair.clone());
            if let Ok(op) = self.unannounce(now, target, key_pair) {
                ops.insert(op);
            }
        }
        self.power = Power::Suspending {
            ops,
            until: now + SUSPEND_UNANNOUNCE_WAIT,
        };
        self.suspend_check(now);
        self.pump(now);
        true
    }

    /// Resumes a suspended (or suspending) node; false if it was running.
    pub fn resume(&mut self, now: Instant) -> bool {
        self.last_now = now;
        if self.power == Power::Active {
            return false;
        }
        self.power = Power::Active;
        // The dht-rpc core resumes (wake-up, refresh); if the suspend had not finished
        // it was never suspended and just runs its timers.
        if !self.dht.resume(now) {
            self.dht.handle_timeout(now);
        }
        for s in self.servers.values_mut() {
            s.next_refresh = now;
        }
        if self.holepunch.defer_random_punch {
            self.punch.defer_random(now);
        }
        self.events.push_back(Event::Resumed);
        self.handle_timeout(now);
        true
    }

    /// The network changed (new interface, new address): every server re-announces
    /// itself now and [`Event::NetworkChange`] is reported. Ignored while suspended
    /// (resuming re-announces anyway).
    pub fn network_change(&mut self, now: Instant) {
        self.last_now = now;
        if self.power != Power::Active {
            return;
        }
        self.events.push_back(Event::NetworkChange);
        self.reannounce_servers(now);
    }

    /// Every server re-announces itself now (unless suspended).
    fn reannounce_servers(&mut self, now: Instant) {
        if self.power != Power::Active {
            return;
        }
        for s in self.servers.values_mut() {
            s.next_refresh = now;
        }
        self.refresh_servers(now);
    }

    /// The dht-rpc core's health changed (dht-rpc §15): back online (false → true)
    /// re-announces every server, as a network change does (hyperdht §8 step 3). The
    /// event itself goes out as `Event::Dht(NetworkUpdate)`.
    pub(super) fn on_network_update(&mut self, now: Instant, online: bool) {
        let was = std::mem::replace(&mut self.dht_online, online);
        if online && !was {
            self.reannounce_servers(now);
        }
    }

    /// Whether the dht-rpc core considers the node online (dht-rpc §15).
    pub fn online(&self) -> bool {
        self.dht.online()
    }

    /// Whether the dht-rpc core considers the network degraded (dht-rpc §15).
    pub fn degraded(&self) -> bool {
        self.dht.degraded()
    }

    /// Whether the node is suspended or suspending.
    pub fn is_suspended(&self) -> bool {
        self.power != Power::Active
    }

    /// Input is dropped and no timer runs (fully suspended).
    pub(super) fn frozen(&self) -> bool {
        self.power == Power::Suspended
    }

    /// Finishes the suspend once its unannounces are done or their time is up.
    pub(super) fn suspend_check(&mut self, now: Instant) {
        if let Power::Suspending { ops, until } = &self.power {
            if ops.is_empty() || *until <= now {
                let left: Vec<OpId> = ops.iter().copied().collect();
                for op in left {
                    self.ops.remove(&op);
                }
                self.power = Power::Suspended;
                // The dht-rpc core fails what is in flight (`Suspended`) and goes silent;
                // `suspend` / `handle_timeout` pump those failures to their owners.
                self.dht.suspend(now);
                self.events.push_back(Event::Suspended);
            }
        }
    }

    /// An operation ended; true if it was one of the suspend's unannounces (handled).
    pub(super) fn suspend_op_done(&mut self, op: OpId) -> bool {
        let Power::Suspending { ops, .. } = &mut self.power else {
            return false;
        };
        if !ops.remove(&op) {
            return false;
        }
        self.suspend_check(self.last_now);
        true
    }

    /// When the suspend transition must end at the latest.
    pub(super) fn suspend_timeout(&self) -> Option<Instant> {
        match &self.power {
            Power::Suspending { until, .. } => Some(*until),
            _ => None,
        }
    }

    /// A NAT update of the dht-rpc core: a different public host than the last one
    /// known means our address changed, i.e. a network change.
    pub(super) fn on_nat_host(&mut self, now: Instant, host: Option<Ipv4Addr>) {
        let Some(host) = host else {
            return;
        };
        let previous = self.public_host.replace(host);
        if previous.is_some_and(|p| p != host) {
            self.network_change(now);
        }
    }
}
