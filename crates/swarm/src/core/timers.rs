//! Randomness, back-off delays and bulk retry timers (spec §8).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// A small deterministic generator (splitmix64): the core's only source of randomness.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform duration in `0..d` at millisecond resolution.
    pub(crate) fn upto(&mut self, d: Duration) -> Duration {
        Duration::from_millis(self.below(u64::try_from(d.as_millis()).unwrap_or(u64::MAX)))
    }
}

/// Which retry delay applies (spec §8 table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backoff {
    /// ≈ 1 s: a proven peer after its first drop.
    Short,
    /// ≈ 5 s.
    Medium,
    /// ≈ 15 s.
    Long,
    /// ≈ 10 min: explicit peers that keep failing.
    Extra,
}

impl Backoff {
    pub(crate) const ALL: [Self; 4] = [Self::Short, Self::Medium, Self::Long, Self::Extra];

    fn index(self) -> usize {
        match self {
            Self::Short => 0,
            Self::Medium => 1,
            Self::Long => 2,
            Self::Extra => 3,
        }
    }

    /// The timer for a peer that just disconnected, or `None` for no automatic retry.
    pub(crate) fn choose(attempts: u32, proven: bool, explicit: bool) -> Option<Self> {
        match (attempts, proven) {
            (0, _) => None,
            (1, true) => Some(Self::Short),
            (2, true) | (1, false) => Some(Self::Medium),
            (3, _) | (2, false) => Some(Self::Long),
            _ if explicit => Some(Self::Extra),
            _ => None,
        }
    }
}

/// The four delays of one swarm (base values plus the swarm's jitter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoffs(pub [Duration; 4]);

impl Backoffs {
    /// The reference's base values drawn from `rng` (or `given`), each plus
    /// `U(0..jitter)`.
    pub(crate) fn draw(rng: &mut Rng, given: Option<[Duration; 4]>, jitter: Duration) -> Self {
        let base = given.unwrap_or_else(|| {
            let ms = Duration::from_millis;
            [
                ms(1000) + rng.upto(ms(500)),
                ms(5000) + rng.upto(ms(1000)),
                ms(15_000) + rng.upto(ms(2000)),
                ms(600_000) + rng.upto(ms(120_000)),
            ]
        });
        Self(base.map(|d| d + rng.upto(jitter)))
    }

    /// The delay of `b`.
    pub fn get(&self, b: Backoff) -> Duration {
        self.0[b.index()]
    }
}

/// A timer that ticks every `floor(0.66 · T)` on a grid starting at `origin`; an item
/// added at `t` fires at the second tick after `t`, i.e. after `0.66·T ..= 1.32·T`.
#[derive(Debug, Clone)]
pub(crate) struct BulkTimer {
    origin: Instant,
    period: Duration,
    due: BTreeMap<Instant, Vec<[u8; 32]>>,
}

impl BulkTimer {
    pub(crate) fn new(origin: Instant, delay: Duration) -> Self {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        let period = Duration::from_millis((ms * 66 / 100).max(1));
        Self {
            origin,
            period,
            due: BTreeMap::new(),
        }
    }

    /// When an item added at `now` fires.
    pub(crate) fn fire_time(&self, now: Instant) -> Instant {
        let p = self.period.as_nanos().max(1);
        let since = now.saturating_duration_since(self.origin).as_nanos();
        let ticks = since / p + 2;
        let nanos = u64::try_from(ticks * p).unwrap_or(u64::MAX);
        self.origin + Duration::from_nanos(nanos)
    }

    pub(crate) fn add(&mut self, now: Instant, key: [u8; 32]) -> Instant {
        let at = self.fire_time(now);
        self.due.entry(at).or_default().push(key);
        at
    }

    pub(crate) fn remove(&mut self, key: &[u8; 32]) {
        self.due.retain(|_, v| {
            v.retain(|k| k != key);
            !v.is_empty()
        });
    }

    pub(crate) fn next(&self) -> Option<Instant> {
        self.due.keys().next().copied()
    }

    /// Removes and returns every item due at `now`.
    pub(crate) fn expire(&mut self, now: Instant) -> Vec<[u8; 32]> {
        let later = self.due.split_off(&(now + Duration::from_nanos(1)));
        let due = std::mem::replace(&mut self.due, later);
        due.into_values().flatten().collect()
    }

    pub(crate) fn clear(&mut self) {
        self.due.clear();
    }
}
