//! Network health (spec §15): `online` / `degraded` from per-tick response and timeout
//! counts.
//!
//! Every maintenance tick records the cumulative `(responses, timeouts)` counters into a
//! ring of [`HEALTH_WINDOW`] snapshots. While the ring holds fewer than 4 snapshots
//! (*cold*) or the newest interval (newest snapshot minus the one before) saw fewer than
//! [`MIN_ACTIVITY`] responses + timeouts (*idle*) nothing changes. Otherwise the newest
//! interval is classified *offline* (0 responses), *degraded* (not offline and more than
//! half timeouts) or *healthy*, and:
//!
//! - `online` becomes false when this and the previous classified interval were offline
//!   (2 consecutive offline intervals; idle ticks in between neither count nor break the
//!   streak), and true on any non-offline interval;
//! - `degraded` becomes false when the node goes offline (the first offline interval
//!   alone leaves it as it was); on a non-offline interval it becomes true when the last
//!   4 classified intervals were all degraded and false when they were all healthy.
//!
//! The spec's text leaves open whether the 4-interval window for `degraded` spans 4
//! snapshots (3 intervals) or 4 intervals, and whether "false when offline" means an
//! offline interval or the offline state. A black-box run of the JS reference settles
//! both (`docs/protocol-notes.md`, "dht-rpc: network health, suspend and wake-up"):
//! `degraded` turned true on the 4th degraded interval after an offline one, and a
//! degraded node's first offline interval left `degraded` true until `online` went false
//! with it.

use std::collections::VecDeque;

use super::{Dht, Event};

/// Snapshots in the ring and classified intervals in the `degraded` window.
pub const HEALTH_WINDOW: usize = 4;
/// Fewest responses + timeouts in an interval for it to count (fewer = idle).
pub const MIN_ACTIVITY: u64 = 4;
/// Consecutive offline intervals that make a node offline.
pub const OFFLINE_INTERVALS: u32 = 2;

/// How one interval between two ticks went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Offline,
    Degraded,
    Healthy,
}

/// New `online` / `degraded` values, reported when either changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthUpdate {
    /// Whether the node is online.
    pub online: bool,
    /// Whether the network looks degraded.
    pub degraded: bool,
}

/// The health tracker. Pure: feed it the cumulative counters once per tick.
#[derive(Debug, Clone)]
pub struct Health {
    ring: VecDeque<(u64, u64)>,
    window: VecDeque<Class>,
    offline_streak: u32,
    online: bool,
    degraded: bool,
}

impl Default for Health {
    fn default() -> Self {
        Self::new()
    }
}

impl Health {
    /// Online, not degraded, no history.
    pub fn new() -> Self {
        Self {
            ring: VecDeque::with_capacity(HEALTH_WINDOW),
            window: VecDeque::with_capacity(HEALTH_WINDOW),
            offline_streak: 0,
            online: true,
            degraded: false,
        }
    }

    /// Whether the node is online.
    pub fn online(&self) -> bool {
        self.online
    }

    /// Whether the network looks degraded.
    pub fn degraded(&self) -> bool {
        self.degraded
    }

    /// Records one tick's cumulative counters; returns the new state if it changed.
    pub fn update(&mut self, responses: u64, timeouts: u64) -> Option<HealthUpdate> {
        let prev = self.ring.back().copied();
        if self.ring.len() == HEALTH_WINDOW {
            self.ring.pop_front();
        }
        self.ring.push_back((responses, timeouts));
        let prev = prev?;
        if self.ring.len() < HEALTH_WINDOW {
            return None;
        }
        let r = responses.saturating_sub(prev.0);
        let t = timeouts.saturating_sub(prev.1);
        if r + t < MIN_ACTIVITY {
            return None;
        }
        let class = if r == 0 {
            Class::Offline
        } else if t * 2 > r + t {
            Class::Degraded
        } else {
            Class::Healthy
        };
        if self.window.len() == HEALTH_WINDOW {
            self.window.pop_front();
        }
        self.window.push_back(class);
        let before = (self.online, self.degraded);
        if class == Class::Offline {
            self.offline_streak += 1;
            if self.offline_streak >= OFFLINE_INTERVALS {
                self.online = false;
                self.degraded = false;
            }
        } else {
            self.offline_streak = 0;
            self.online = true;
            if self.window.len() == HEALTH_WINDOW {
                if self.window.iter().all(|c| *c == Class::Degraded) {
                    self.degraded = true;
                } else if self.window.iter().all(|c| *c == Class::Healthy) {
                    self.degraded = false;
                }
            }
        }
        (before != (self.online, self.degraded)).then_some(HealthUpdate {
            online: self.online,
            degraded: self.degraded,
        })
    }

    /// Forgets the history and returns to online, not degraded; returns the new state if
    /// it changed.
    pub fn reset(&mut self) -> Option<HealthUpdate> {
        let before = (self.online, self.degraded);
        *self = Self::new();
        (before != (true, false)).then_some(HealthUpdate {
            online: true,
            degraded: false,
        })
    }
}

impl Dht {
    /// Whether the node is online (spec §15): false after 2 consecutive ticks with
    /// requests but no responses, true again on the first tick with a response.
    pub fn online(&self) -> bool {
        self.health.online()
    }

    /// Whether the network looks degraded (spec §15): most requests of the last 4 active
    /// ticks timed out.
    pub fn degraded(&self) -> bool {
        self.health.degraded()
    }

    /// Tick step 5: feed the health tracker.
    pub(super) fn update_health(&mut self) {
        let (r, t) = (self.stats.responses, self.stats.timeouts);
        if let Some(u) = self.health.update(r, t) {
            self.emit_health(u);
        }
    }

    pub(super) fn reset_health(&mut self) {
        if let Some(u) = self.health.reset() {
            self.emit_health(u);
        }
    }

    fn emit_health(&mut self, u: HealthUpdate) {
        self.push_event(Event::NetworkUpdate {
            online: u.online,
            degraded: u.degraded,
        });
    }
}

#[cfg(test)]
mod tests;
