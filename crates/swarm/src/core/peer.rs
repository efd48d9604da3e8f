//! Peer records, dial priorities and the dial queue (spec §6).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::timers::Rng;

/// Dial priority (spec §6.3); higher is dialled first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Failed more than 3 times in a row: not dialled until rediscovered.
    VeryLow = 0,
    /// 3 failures.
    Low = 1,
    /// Never failed.
    Normal = 2,
    /// 2 failures.
    High = 3,
    /// Just dropped once: retried first.
    VeryHigh = 4,
}

impl Priority {
    /// The priority of a peer with `attempts` consecutive failures.
    pub fn from_attempts(attempts: u32) -> Self {
        match attempts {
            0 => Self::Normal,
            1 => Self::VeryHigh,
            2 => Self::High,
            3 => Self::Low,
            _ => Self::VeryLow,
        }
    }

    /// `priority >= NORMAL`.
    pub fn prioritized(self) -> bool {
        self >= Self::Normal
    }
}

/// A snapshot of the swarm's record of one peer (spec §6.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerInfo {
    /// The remote key.
    pub public_key: [u8; 32],
    /// Topics it was discovered on.
    pub topics: BTreeSet<[u8; 32]>,
    /// The last connection that opened was our outgoing one.
    pub client: bool,
    /// Consecutive failed or short connections.
    pub attempts: u32,
    /// Current dial priority.
    pub priority: Priority,
    /// An outgoing connection to it opened at least once since the last reset.
    pub proven: bool,
    /// Banned: never dialled, incoming connections rejected.
    pub banned: bool,
    /// Added with [`Swarm::join_peer`](crate::Swarm::join_peer).
    pub explicit: bool,
    /// Retries after a drop are allowed (default true).
    pub reconnecting: bool,
    /// Waiting in the dial queue.
    pub queued: bool,
    /// Waiting for a retry timer.
    pub waiting: bool,
    /// A connection (open or being dialled) exists.
    pub connected: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Peer {
    pub(crate) info: PeerInfo,
    pub(crate) disconnected_at: Option<Instant>,
    /// Flush tick of the last enqueue.
    pub(crate) tick: u64,
}

impl Peer {
    pub(crate) fn new(public_key: [u8; 32]) -> Self {
        Self {
            info: PeerInfo {
                public_key,
                topics: BTreeSet::new(),
                client: false,
                attempts: 0,
                priority: Priority::Normal,
                proven: false,
                banned: false,
                explicit: false,
                reconnecting: true,
                queued: false,
                waiting: false,
                connected: false,
            },
            disconnected_at: None,
            tick: 0,
        }
    }

    pub(crate) fn update_priority(&mut self) {
        self.info.priority = Priority::from_attempts(self.info.attempts);
    }

    /// Records the end of an outgoing connection or attempt (spec §8): a connection that
    /// was open at least 15 s resets the count first.
    pub(crate) fn disconnected(&mut self, now: Instant, open_for: Option<Duration>) {
        self.disconnected_at = Some(now);
        if open_for.is_some_and(|d| d >= Duration::from_secs(15)) {
            self.info.attempts = 0;
        }
        self.info.attempts = self.info.attempts.saturating_add(1);
        self.update_priority();
    }

    /// Collectable once it has no connection: nothing else keeps the record alive
    /// (spec §6.1).
    pub(crate) fn collectable(&self) -> bool {
        let i = &self.info;
        !(i.banned || i.queued || i.explicit || i.waiting)
    }
}

/// Five priority levels; a pop takes a uniformly random member of the highest
/// non-empty level.
#[derive(Debug, Clone, Default)]
pub(crate) struct Queue {
    levels: [Vec<[u8; 32]>; 5],
}

impl Queue {
    pub(crate) fn push(&mut self, key: [u8; 32], priority: Priority) {
        self.levels[priority as usize].push(key);
    }

    pub(crate) fn pop(&mut self, rng: &mut Rng) -> Option<[u8; 32]> {
        let level = self.levels.iter_mut().rev().find(|l| !l.is_empty())?;
        let len = u64::try_from(level.len()).unwrap_or(u64::MAX);
        let i = usize::try_from(rng.below(len)).unwrap_or(0);
        Some(level.swap_remove(i))
    }

    pub(crate) fn len(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn clear(&mut self) {
        for l in &mut self.levels {
            l.clear();
        }
    }
}
