//! The two-generation caches behind a storage node (spec §6.3).
//!
//! Both keep a *current* and an *old* generation. Writes go to the current one; when it
//! reaches `max_size` items, or when `ceil(⅔ · max_age)` has passed since the last
//! rotation, the current generation becomes the old one and the old one is dropped. An
//! item therefore lives between ⅔ and 1⅓ × `max_age` after its last write.
//!
//! * [`Xache`] (forward records, refresh tokens, bumps, mutables, immutables): a plain
//!   map; a read that finds an item in the old generation moves it back to the current
//!   one.
//! * [`RecordCache`] (announced topic records): a set of records per target, counted
//!   together against `max_size`; reads do not move items, and adding a record whose
//!   `(target, public key)` is already in the current generation is ignored — the
//!   reference's replacement quirk, so a re-announce with new relays keeps the old record
//!   until it has aged into the old generation or was removed.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

/// Size and age limits of one cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Items in the current generation that trigger a rotation.
    pub max_size: usize,
    /// The nominal lifetime; generations rotate every `ceil(⅔ · max_age)`.
    pub max_age: Duration,
}

impl CacheLimits {
    /// The rotation period, `ceil(⅔ · max_age)` in whole milliseconds.
    pub fn period(&self) -> Duration {
        let ms = self.max_age.as_millis();
        let ms = (ms * 2).div_ceil(3);
        Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX))
    }
}

/// When a cache last rotated, and the time rotation that is due.
#[derive(Debug, Clone)]
struct Clock {
    limits: CacheLimits,
    last: Instant,
}

impl Clock {
    /// Whole periods since the last rotation, at most 2 (two rotations empty a cache);
    /// advances the period grid by that many.
    fn take_due(&mut self, now: Instant) -> u32 {
        let period = self.limits.period().max(Duration::from_millis(1));
        let elapsed = now.saturating_duration_since(self.last);
        let due = (elapsed.as_nanos() / period.as_nanos()).min(2) as u32;
        match due {
            0 => {}
            1 => self.last += period,
            _ => self.last = now,
        }
        due
    }

    fn deadline(&self) -> Instant {
        self.last + self.limits.period()
    }
}

/// A two-generation map whose reads refresh items (`xache`).
#[derive(Debug, Clone)]
pub struct Xache<K, V> {
    clock: Clock,
    current: HashMap<K, V>,
    old: HashMap<K, V>,
}

impl<K: Eq + Hash, V> Xache<K, V> {
    /// An empty cache; `now` starts the first period.
    pub fn new(limits: CacheLimits, now: Instant) -> Self {
        Self {
            clock: Clock { limits, last: now },
            current: HashMap::new(),
            old: HashMap::new(),
        }
    }

    /// Rotates if a period has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..self.clock.take_due(now) {
            self.shift();
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) will rotate next.
    pub fn poll_timeout(&self) -> Instant {
        self.clock.deadline()
    }

    fn shift(&mut self) {
        self.old = std::mem::take(&mut self.current);
    }

    /// A size-triggered rotation: it restarts the period.
    fn rotate(&mut self, now: Instant) {
        self.shift();
        self.clock.last = now;
    }

    fn insert_current(&mut self, now: Instant, key: K, value: V) {
        self.current.insert(key, value);
        if self.current.len() >= self.clock.limits.max_size {
            self.rotate(now);
        }
    }

    /// Stores `value` under `key` in the current generation.
    pub fn set(&mut self, now: Instant, key: K, value: V) {
        self.handle_timeout(now);
        self.old.remove(&key);
        self.insert_current(now, key, value);
    }

    /// The item under `key`; one found in the old generation moves to the current one.
    pub fn get(&mut self, now: Instant, key: &K) -> Option<&V>
    where
        K: Clone,
    {
        self.handle_timeout(now);
        if !self.current.contains_key(key) {
            let value = self.old.remove(key)?;
            self.insert_current(now, key.clone(), value);
        }
        // After a size rotation the moved item sits in the old generation.
        self.current.get(key).or_else(|| self.old.get(key))
    }

    /// Removes the item under `key` from both generations.
    pub fn remove(&mut self, key: &K) -> Option<V> {
        let current = self.current.remove(key);
        let old = self.old.remove(key);
        current.or(old)
    }

    /// Items held in both generations.
    pub fn len(&self) -> usize {
        self.current.len() + self.old.len()
    }

    /// Whether both generations are empty.
    pub fn is_empty(&self) -> bool {
        self.current.is_empty() && self.old.is_empty()
    }
}

/// Records of one target in one generation, in insertion order.
type Records = Vec<([u8; 32], Vec<u8>)>;

/// The two-generation set of announced records (`record-cache`).
#[derive(Debug, Clone)]
pub struct RecordCache {
    clock: Clock,
    current: HashMap<[u8; 32], Records>,
    current_len: usize,
    old: HashMap<[u8; 32], Records>,
}

fn position(records: Option<&Records>, public_key: &[u8; 32]) -> Option<usize> {
    records?.iter().position(|(pk, _)| pk == public_key)
}

impl RecordCache {
    /// An empty cache; `now` starts the first period.
    pub fn new(limits: CacheLimits, now: Instant) -> Self {
        Self {
            clock: Clock { limits, last: now },
            current: HashMap::new(),
            current_len: 0,
            old: HashMap::new(),
        }
    }

    /// Rotates if a period has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        for _ in 0..self.clock.take_due(now) {
            self.shift();
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) will rotate next.
    pub fn poll_timeout(&self) -> Instant {
        self.clock.deadline()
    }

    fn shift(&mut self) {
        self.old = std::mem::take(&mut self.current);
        self.current_len = 0;
    }

    /// A size-triggered rotation: it restarts the period.
    fn rotate(&mut self, now: Instant) {
        self.shift();
        self.clock.last = now;
    }

    /// Adds `record` for `(target, public_key)` unless that pair is already in the current
    /// generation (then nothing changes). Returns whether it was added.
    pub fn add(
        &mut self,
        now: Instant,
        target: [u8; 32],
        public_key: [u8; 32],
        record: Vec<u8>,
    ) -> bool {
        self.handle_timeout(now);
        if position(self.current.get(&target), &public_key).is_some() {
            return false;
        }
        self.remove_from_old(&target, &public_key);
        self.current
            .entry(target)
            .or_default()
            .push((public_key, record));
        self.current_len += 1;
        if self.current_len >= self.clock.limits.max_size {
            self.rotate(now);
        }
        true
    }

    fn remove_from_old(&mut self, target: &[u8; 32], public_key: &[u8; 32]) -> bool {
        let Some(at) = position(self.old.get(target), public_key) else {
            return false;
        };
        if let Some(records) = self.old.get_mut(target) {
            records.remove(at);
            if records.is_empty() {
                self.old.remove(target);
            }
        }
        true
    }

    /// Removes the record of `(target, public_key)` from both generations.
    pub fn remove(&mut self, target: &[u8; 32], public_key: &[u8; 32]) -> bool {
        let mut removed = self.remove_from_old(target, public_key);
        if let Some(at) = position(self.current.get(target), public_key) {
            if let Some(records) = self.current.get_mut(target) {
                records.remove(at);
                if records.is_empty() {
                    self.current.remove(target);
                }
            }
            self.current_len -= 1;
            removed = true;
        }
        removed
    }

    /// Every record under `target`, the current generation's first, one per public key.
    pub fn get(&mut self, now: Instant, target: &[u8; 32]) -> Vec<&[u8]> {
        self.handle_timeout(now);
        let current = self.current.get(target);
        let old = self.old.get(target).into_iter().flatten();
        let mut out: Vec<&[u8]> = current
            .into_iter()
            .flatten()
            .map(|(_, r)| r.as_slice())
            .collect();
        out.extend(
            old.filter(|(pk, _)| position(current, pk).is_none())
                .map(|(_, r)| r.as_slice()),
        );
        out
    }

    /// Whether `(target, public_key)` has a record in either generation.
    pub fn contains(&self, target: &[u8; 32], public_key: &[u8; 32]) -> bool {
        position(self.current.get(target), public_key).is_some()
            || position(self.old.get(target), public_key).is_some()
    }

    /// Records held in both generations.
    pub fn len(&self) -> usize {
        self.current_len + self.old.values().map(Vec::len).sum::<usize>()
    }

    /// Whether both generations are empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
