//! The hybrid logical clock (HLC) that orders every write.
//!
//! An [`Hlc`] is 64 bits: 48 bits of milliseconds since the Unix epoch and a 16-bit counter
//! that orders events within one millisecond. A [`Stamp`] adds the 16-byte [`ReplicaId`] of
//! the writer, and stamps are totally ordered by `(hlc, replica)`: first by milliseconds,
//! then by counter, then by replica id compared as bytes.
//!
//! [`Clock`] is sans-IO: the caller passes the physical time in milliseconds into every call.
//!
//! # Rules
//!
//! - **Local event** ([`Clock::now`]): if the physical time is ahead of the last stamp's
//!   milliseconds, the clock jumps to `(physical, 0)`; otherwise it keeps its milliseconds and
//!   increments the counter. Stamps from one clock are therefore strictly increasing even when
//!   the physical clock stands still or steps backwards.
//! - **Counter overflow:** when the counter would pass `0xffff`, the clock moves to the next
//!   millisecond with counter 0, i.e. it runs at most one millisecond ahead of physical time
//!   per 65 536 events in one millisecond.
//! - **Remote event** ([`Clock::update`]): the clock becomes `max(last, remote)`, so the next
//!   local stamp is greater than every stamp this replica has seen.
//! - **Drift:** a remote HLC whose milliseconds are more than [`Clock::max_drift_ms`] ahead of
//!   the local physical time is rejected with [`ClockError::Drift`] and the clock is left
//!   unchanged. This bounds how far a faulty or hostile peer can drag everyone's clocks into
//!   the future.
//! - **Exhaustion:** physical times past 2^48 - 1 ms (year 10889) are clamped; a clock at
//!   `(2^48 - 1, 0xffff)` cannot tick again and [`Clock::now`] returns
//!   [`ClockError::Exhausted`].

use crate::error::ClockError;
use std::fmt;

/// A hybrid logical clock value: 48-bit milliseconds and a 16-bit counter.
///
/// Ordered by `(ms, counter)`, which is the order of [`Hlc::as_u64`].
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Hlc(u64);

impl Hlc {
    /// The smallest value, `(0, 0)`.
    pub const ZERO: Self = Self(0);
    /// The largest value, `(2^48 - 1, 0xffff)`.
    pub const MAX: Self = Self(u64::MAX);
    /// The largest millisecond value (2^48 - 1).
    pub const MAX_MS: u64 = (1 << 48) - 1;

    /// Builds an HLC, or `None` if `ms` does not fit in 48 bits.
    pub const fn new(ms: u64, counter: u16) -> Option<Self> {
        if ms > Self::MAX_MS {
            None
        } else {
            Some(Self((ms << 16) | counter as u64))
        }
    }

    /// The 64-bit packed form, `ms << 16 | counter`.
    pub const fn as_u64(self) -> u64 {
        self.0
    }

    /// Unpacks [`Hlc::as_u64`]; every `u64` is a valid HLC.
    pub const fn from_u64(packed: u64) -> Self {
        Self(packed)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn ms(self) -> u64 {
        self.0 >> 16
    }

    /// The counter within the millisecond.
    pub const fn counter(self) -> u16 {
        (self.0 & 0xffff) as u16
    }

    /// The next value: counter + 1, carrying into the milliseconds; `None` at [`Hlc::MAX`].
    pub const fn next(self) -> Option<Self> {
        match self.0.checked_add(1) {
            Some(v) => Some(Self(v)),
            None => None,
        }
    }
}

impl fmt::Debug for Hlc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hlc({}.{})", self.ms(), self.counter())
    }
}

/// The 16-byte identifier of a replica (one store of one device).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReplicaId(pub [u8; 16]);

impl ReplicaId {
    /// Wraps 16 bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A replica id from an injected random source.
    pub fn generate<R: rand_core::CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut bytes = [0u8; 16];
        rng.fill_bytes(&mut bytes);
        Self(bytes)
    }
}

impl fmt::Debug for ReplicaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplicaId({})", hex::encode(&self.0[..4]))
    }
}

/// The stamp of one write: its HLC and the replica that made it.
///
/// Totally ordered by `(hlc, replica)` (field order, so the derived `Ord` is that order).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Debug)]
pub struct Stamp {
    /// When the write happened.
    pub hlc: Hlc,
    /// Who wrote it; breaks ties between equal HLCs.
    pub replica: ReplicaId,
}

impl Stamp {
    /// A stamp from its parts.
    pub const fn new(hlc: Hlc, replica: ReplicaId) -> Self {
        Self { hlc, replica }
    }
}

/// A replica's hybrid logical clock. Sans-IO: physical time comes in as an argument.
#[derive(Clone, Debug)]
pub struct Clock {
    replica: ReplicaId,
    last: Hlc,
    max_drift_ms: u64,
}

impl Clock {
    /// The default [`Clock::max_drift_ms`]: one minute.
    pub const DEFAULT_MAX_DRIFT_MS: u64 = 60_000;

    /// A clock for `replica` that has seen nothing yet.
    pub const fn new(replica: ReplicaId) -> Self {
        Self {
            replica,
            last: Hlc::ZERO,
            max_drift_ms: Self::DEFAULT_MAX_DRIFT_MS,
        }
    }

    /// Restores a clock whose last issued or observed HLC was `last` (e.g. the maximum
    /// stamp found in a store on start-up).
    pub const fn with_last(replica: ReplicaId, last: Hlc) -> Self {
        Self {
            replica,
            last,
            max_drift_ms: Self::DEFAULT_MAX_DRIFT_MS,
        }
    }

    /// Sets how far ahead of local physical time a remote HLC may be.
    pub const fn set_max_drift_ms(&mut self, ms: u64) {
        self.max_drift_ms = ms;
    }

    /// How far ahead of local physical time a remote HLC may be, in milliseconds.
    pub const fn max_drift_ms(&self) -> u64 {
        self.max_drift_ms
    }

    /// This clock's replica.
    pub const fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// The last HLC issued or observed.
    pub const fn last(&self) -> Hlc {
        self.last
    }

    /// Issues the stamp of a local write at physical time `physical_ms`.
    ///
    /// The result is strictly greater than every HLC issued or observed before.
    pub fn now(&mut self, physical_ms: u64) -> Result<Stamp, ClockError> {
        let pt = physical_ms.min(Hlc::MAX_MS);
        let next = if pt > self.last.ms() {
            Hlc(pt << 16)
        } else {
            self.last.next().ok_or(ClockError::Exhausted)?
        };
        self.last = next;
        Ok(Stamp::new(next, self.replica))
    }

    /// Observes a remote HLC at local physical time `physical_ms`.
    ///
    /// Fails with [`ClockError::Drift`], leaving the clock unchanged, if `remote` is more
    /// than [`Clock::max_drift_ms`] ahead of `physical_ms`.
    pub fn update(&mut self, remote: Hlc, physical_ms: u64) -> Result<(), ClockError> {
        let limit = physical_ms.saturating_add(self.max_drift_ms);
        if remote.ms() > limit {
            return Err(ClockError::Drift {
                remote_ms: remote.ms(),
                physical_ms,
            });
        }
        self.last = self.last.max(remote);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hlc(ms: u64, c: u16) -> Hlc {
        Hlc::new(ms, c).unwrap()
    }

    const A: ReplicaId = ReplicaId([1; 16]);
    const B: ReplicaId = ReplicaId([2; 16]);

    #[test]
    fn packing() {
        let h = hlc(0x1234_5678_9abc, 0xdef0);
        assert_eq!(h.as_u64(), 0x1234_5678_9abc_def0);
        assert_eq!(h.ms(), 0x1234_5678_9abc);
        assert_eq!(h.counter(), 0xdef0);
        assert_eq!(Hlc::from_u64(h.as_u64()), h);
        assert!(Hlc::new(1 << 48, 0).is_none());
        assert_eq!(Hlc::new(Hlc::MAX_MS, 0xffff), Some(Hlc::MAX));
    }

    #[test]
    fn order_is_ms_then_counter_then_replica() {
        assert!(hlc(1, 0xffff) < hlc(2, 0));
        assert!(hlc(2, 0) < hlc(2, 1));
        assert!(Stamp::new(hlc(2, 1), B) < Stamp::new(hlc(2, 2), A));
        assert!(Stamp::new(hlc(2, 1), A) < Stamp::new(hlc(2, 1), B));
    }

    #[test]
    fn now_follows_physical_time_and_counts_within_a_millisecond() {
        let mut c = Clock::new(A);
        assert_eq!(c.now(100).unwrap().hlc, hlc(100, 0));
        assert_eq!(c.now(100).unwrap().hlc, hlc(100, 1));
        // Physical clock stepped backwards: keep counting on the last millisecond.
        assert_eq!(c.now(50).unwrap().hlc, hlc(100, 2));
        assert_eq!(c.now(101).unwrap().hlc, hlc(101, 0));
        assert_eq!(c.now(101).unwrap().replica, A);
    }

    #[test]
    fn counter_overflow_moves_to_next_millisecond() {
        let mut c = Clock::with_last(A, hlc(7, 0xfffe));
        assert_eq!(c.now(7).unwrap().hlc, hlc(7, 0xffff));
        assert_eq!(c.now(7).unwrap().hlc, hlc(8, 0));
        // Physical time catching up with the borrowed millisecond does not go backwards.
        assert_eq!(c.now(8).unwrap().hlc, hlc(8, 1));
    }

    #[test]
    fn exhausted_clock_errors_and_clamps() {
        let mut c = Clock::new(A);
        assert_eq!(c.now(u64::MAX).unwrap().hlc, hlc(Hlc::MAX_MS, 0));
        let mut c = Clock::with_last(A, Hlc::MAX);
        assert_eq!(c.now(u64::MAX), Err(ClockError::Exhausted));
        assert_eq!(c.last(), Hlc::MAX);
    }

    #[test]
    fn update_takes_the_max_and_rejects_drift() {
        let mut c = Clock::new(A);
        c.now(1_000).unwrap();
        c.update(hlc(1_500, 3), 1_000).unwrap();
        assert_eq!(c.now(1_000).unwrap().hlc, hlc(1_500, 4));
        // An older remote changes nothing.
        c.update(hlc(10, 0), 1_000).unwrap();
        assert_eq!(c.now(1_000).unwrap().hlc, hlc(1_500, 5));

        c.set_max_drift_ms(100);
        assert_eq!(c.max_drift_ms(), 100);
        assert_eq!(
            c.update(hlc(2_101, 0), 2_000),
            Err(ClockError::Drift {
                remote_ms: 2_101,
                physical_ms: 2_000
            })
        );
        assert_eq!(c.last(), hlc(1_500, 5));
        c.update(hlc(2_100, 9), 2_000).unwrap();
        assert_eq!(c.last(), hlc(2_100, 9));
        // Drift limit saturates instead of overflowing.
        c.update(Hlc::MAX, u64::MAX).unwrap();
    }

    proptest! {
        #[test]
        fn stamps_strictly_increase(
            events in proptest::collection::vec((any::<bool>(), 0u64..5_000, 0u64..6_000, any::<u16>()), 1..200)
        ) {
            let mut c = Clock::new(A);
            let mut seen = Hlc::ZERO;
            for (local, pt, remote_ms, remote_c) in events {
                if local {
                    let s = c.now(pt).unwrap();
                    prop_assert!(s.hlc > seen);
                    prop_assert!(s.hlc.ms() >= pt);
                    seen = seen.max(s.hlc);
                } else if c.update(hlc(remote_ms, remote_c), pt).is_ok() {
                    seen = seen.max(hlc(remote_ms, remote_c));
                    prop_assert_eq!(c.last(), seen);
                }
            }
        }
    }
}
