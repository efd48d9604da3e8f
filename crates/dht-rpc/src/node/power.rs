//! Suspend, resume and wake-up (spec §16).
//!
//! * [`Dht::suspend`]: no more ticks or timers ([`Dht::poll_timeout`] is `None`); every
//!   request in flight or queued fails ([`RequestError::Suspended`] for
//!   [`Dht::request`]s, [`QueryError::Suspended`] for user queries; background queries,
//!   liveness checks and a running firewall check are dropped); unsent replies and
//!   delayed pings are discarded; the congestion window is cleared; every datagram is
//!   dropped ([`Dropped::Suspended`](crate::Dropped::Suspended)) and new requests and
//!   queries are refused ([`Error::Suspended`](crate::Error::Suspended)). Sockets are the
//!   driver's business: the tokio driver keeps them open and bound (see
//!   [`crate::driver`]).
//! * [`Dht::resume`]: ticks restart 5 s later, the wake-up procedure runs, nothing old
//!   is retransmitted, then the node refreshes (or bootstraps again if it had not
//!   finished bootstrapping when it was suspended). As in the reference (observed, see
//!   `docs/protocol-notes.md`, "dht-rpc: network health, suspend and wake-up"), the first
//!   tick after a suspend longer than 15 s runs the wake-up once more (the gap is
//!   measured from the last tick before the suspend).
//!
//! One deviation: the reference accepts requests while suspended and lets them time out
//! (observed: `REQUEST_TIMEOUT` after 4 s); here they are refused at once with
//! [`Error::Suspended`](crate::Error::Suspended).
//! * Wake-up, also when a tick arrives more than [`SLEEPING_INTERVAL`] after the previous
//!   one: tick += [`MORE_STABLE_TICKS`], then advanced to the next value with
//!   `tick mod 8 == 6`; the adaptive persistence countdown restarts at
//!   [`MORE_STABLE_TICKS`]; the refresh countdown becomes 1 (a refresh on the next tick,
//!   or on this one when a late tick triggered the wake-up); the last checked NAT host is
//!   forgotten; health is reset ([`Event::NetworkUpdate`] if that changed it); an
//!   adaptive node that had become persistent is ephemeral again ([`Event::Ephemeral`]);
//!   then [`Event::Wakeup`].

use std::time::{Duration, Instant};

use super::firewall::QuickFirewall;
use super::{Ctx, Dht, Event, MORE_STABLE_TICKS, QueryError, RequestError, TICK_INTERVAL};
use crate::Error;
use crate::node::query::Owner;

/// A tick this late after the previous one means the machine slept.
pub const SLEEPING_INTERVAL: Duration = Duration::from_millis(15_000);

impl Dht {
    /// Whether the node is suspended.
    pub fn is_suspended(&self) -> bool {
        self.suspended
    }

    /// Suspends the node (see the module docs). Returns false if it already was.
    pub fn suspend(&mut self, _now: Instant) -> bool {
        if self.suspended {
            return false;
        }
        self.suspended = true;
        for (ctx, _) in self.io.suspend() {
            if let Ctx::User(request) = ctx {
                self.push_event(Event::RequestFailed {
                    request,
                    error: RequestError::Suspended,
                });
            }
        }
        self.repings = 0;
        self.probe = None;
        self.quick = QuickFirewall::Idle;
        let mut ids: Vec<_> = self.queries.keys().copied().collect();
        ids.sort_unstable();
        for qid in ids {
            let Some(q) = self.queries.remove(&qid) else {
                continue;
            };
            if q.owner == Owner::User {
                let (closest, stats) = q.result();
                self.push_event(Event::QueryDone {
                    query: qid,
                    closest,
                    stats,
                    error: Some(QueryError::Suspended),
                });
            }
        }
        self.replies.clear();
        self.delayed.clear();
        true
    }

    /// Resumes a suspended node at `now` (see the module docs). Returns false if it was
    /// not suspended.
    pub fn resume(&mut self, now: Instant) -> bool {
        if !self.suspended {
            return false;
        }
        self.suspended = false;
        // `last_tick_at` stays at the last tick before the suspend, so after a suspend of
        // more than 15 s the first tick runs the wake-up again, as the reference does.
        self.next_tick = now + TICK_INTERVAL;
        self.wakeup();
        if self.bootstrapped {
            self.refresh(now);
        } else {
            self.start_bootstrap(now, 1);
        }
        true
    }

    /// Refuses commands while suspended.
    pub(super) fn check_active(&self) -> Result<(), Error> {
        if self.suspended {
            Err(Error::Suspended)
        } else {
            Ok(())
        }
    }

    /// The wake-up procedure (module docs).
    pub(super) fn wakeup(&mut self) {
        self.tick += MORE_STABLE_TICKS as u64;
        self.tick += (6 + 8 - self.tick % 8) % 8;
        self.stable_ticks = MORE_STABLE_TICKS;
        self.refresh_countdown = 1;
        self.last_checked_host = None;
        self.reset_health();
        if self.config.ephemeral.is_none() && !self.ephemeral {
            self.ephemeral = true;
            self.push_event(Event::Ephemeral);
        }
        self.push_event(Event::Wakeup);
    }
}
