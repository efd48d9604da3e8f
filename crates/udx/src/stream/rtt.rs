//! The round-trip estimator of `shared/spec/udx.md` §8.2, in integer milliseconds.

use std::time::{Duration, Instant};

/// Lower bound of the retransmission timeout.
const MIN_RTO_MS: u64 = 1000;
/// Upper bound of the retransmission timeout and of a clamped sample.
const MAX_RTO_MS: u64 = 30_000;
/// Samples above this (and above `srtt + 5 * rttvar`) are clamped.
const SUSPEND_GUARD_MS: u64 = 5000;
/// The minimum-RTT window.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(300);

/// Smoothed RTT, variance, RTO and windowed minimum RTT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RttEstimator {
    srtt: u64,
    rttvar: u64,
    rto: u64,
    /// Minimum sample and when it was taken. Simplified from the reference's min-max
    /// filter: the minimum is replaced by the current sample once it is 300 s old.
    min_rtt: Option<(u64, Instant)>,
}

impl Default for RttEstimator {
    fn default() -> Self {
        Self {
            srtt: 0,
            rttvar: 0,
            rto: MIN_RTO_MS,
            min_rtt: None,
        }
    }
}

impl RttEstimator {
    /// Feeds one sample (Karn: only from packets never retransmitted).
    pub(crate) fn on_sample(&mut self, now: Instant, sample: Duration) {
        let raw = u64::try_from(sample.as_millis()).unwrap_or(u64::MAX);
        let rtt = if self.srtt == 0 {
            raw.min(MAX_RTO_MS)
        } else {
            let guard = self.srtt + 5 * self.rttvar;
            if raw > guard && raw > SUSPEND_GUARD_MS {
                guard.min(MAX_RTO_MS)
            } else {
                raw
            }
        };
        match self.min_rtt {
            Some((min, at)) if rtt >= min && now.saturating_duration_since(at) < MIN_RTT_WINDOW => {
            }
            _ => self.min_rtt = Some((rtt, now)),
        }
        if self.srtt == 0 {
            self.srtt = rtt;
            self.rttvar = rtt / 2;
        } else {
            self.rttvar = (3 * self.rttvar + self.srtt.abs_diff(rtt)) / 4;
            self.srtt = (7 * self.srtt + rtt) / 8;
        }
        self.rto = (self.srtt + 4 * self.rttvar).clamp(MIN_RTO_MS, MAX_RTO_MS);
    }

    /// The smoothed RTT in ms (0 before the first non-zero sample).
    pub(crate) const fn srtt_ms(&self) -> u64 {
        self.srtt
    }

    /// The retransmission timeout.
    pub(crate) const fn rto(&self) -> Duration {
        Duration::from_millis(self.rto)
    }

    /// The smoothed RTT.
    pub(crate) const fn srtt(&self) -> Duration {
        Duration::from_millis(self.srtt)
    }

    /// The minimum RTT seen, if any.
    pub(crate) fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|(ms, _)| Duration::from_millis(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_estimator_and_clamps() {
        let now = Instant::now();
        let mut r = RttEstimator::default();
        assert_eq!(r.rto(), Duration::from_millis(1000));
        r.on_sample(now, Duration::from_millis(100));
        assert_eq!((r.srtt, r.rttvar, r.rto), (100, 50, 1000));
        r.on_sample(now, Duration::from_millis(20));
        // rttvar = (150 + 80) / 4 = 57, srtt = (700 + 20) / 8 = 90
        assert_eq!((r.srtt, r.rttvar), (90, 57));
        assert_eq!(r.min_rtt(), Some(Duration::from_millis(20)));
        // A suspend-like sample is clamped to srtt + 5 rttvar = 375.
        r.on_sample(now, Duration::from_secs(60));
        assert_eq!(r.srtt, (7 * 90 + 375) / 8);
        let mut big = RttEstimator::default();
        big.on_sample(now, Duration::from_secs(100));
        assert_eq!((big.srtt, big.rto), (30_000, 30_000));
    }

    #[test]
    fn zero_sample_keeps_first_sample_rule() {
        let now = Instant::now();
        let mut r = RttEstimator::default();
        r.on_sample(now, Duration::ZERO);
        assert_eq!(r.srtt_ms(), 0);
        r.on_sample(now, Duration::from_millis(40));
        assert_eq!((r.srtt, r.rttvar), (40, 20));
    }
}
