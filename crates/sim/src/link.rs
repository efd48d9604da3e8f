//! Link impairments: latency, jitter, loss, duplication, reordering, MTU and rate.

use std::time::{Duration, Instant};

use crate::rng::Rng;

/// How datagrams are lost on a link.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum Loss {
    /// Nothing is lost.
    #[default]
    None,
    /// Each datagram is lost independently with this probability.
    Bernoulli(f64),
    /// The two-state Gilbert-Elliott model. Before each datagram the link moves from the good
    /// to the bad state with probability `p`, or from bad to good with probability `r`; then
    /// the datagram is lost with the loss probability of the current state. With
    /// `loss_bad == 1` and `loss_good == 0` the mean burst length is `1 / r`.
    GilbertElliott {
        /// Probability of moving good → bad.
        p: f64,
        /// Probability of moving bad → good.
        r: f64,
        /// Loss probability in the bad state.
        loss_bad: f64,
        /// Loss probability in the good state.
        loss_good: f64,
    },
}

impl Loss {
    /// Gilbert-Elliott loss with no loss in the good state.
    pub fn gilbert_elliott(p: f64, r: f64, loss_bad: f64) -> Self {
        Self::GilbertElliott {
            p,
            r,
            loss_bad,
            loss_good: 0.0,
        }
    }
}

/// Reordering: a fraction of datagrams is held back for an extra delay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reorder {
    /// Probability that a datagram is delayed.
    pub probability: f64,
    /// The extra delay it gets.
    pub extra_delay: Duration,
}

/// A bandwidth limit with a drop-tail queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Link rate in bytes per second; datagrams are serialized back to back at this rate.
    pub bytes_per_sec: u64,
    /// Bytes that may wait for serialization (including the one being sent); a datagram that
    /// would exceed this is tail-dropped.
    pub queue_bytes: u64,
}

/// The impairments of one directed link (or the default for all links).
///
/// The pipeline per datagram, in order: MTU check, rate queue, loss, then delay
/// (`latency` + uniform `[0, jitter]` + optional reorder delay), then duplication (the copy
/// gets its own jitter).
#[derive(Debug, Clone, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub latency: Duration,
    /// Extra uniform delay in `[0, jitter]` per datagram (this alone can reorder).
    pub jitter: Duration,
    /// Loss model.
    pub loss: Loss,
    /// Probability that a delivered datagram is duplicated.
    pub duplicate: f64,
    /// Optional reordering.
    pub reorder: Option<Reorder>,
    /// Datagrams with more payload bytes than this are dropped.
    pub mtu: Option<usize>,
    /// Optional rate limit.
    pub rate: Option<RateLimit>,
}

impl Default for LinkConfig {
    /// 10 ms latency and no other impairment.
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss: Loss::None,
            duplicate: 0.0,
            reorder: None,
            mtu: None,
            rate: None,
        }
    }
}

impl LinkConfig {
    /// A perfect link with the given latency.
    pub fn with_latency(latency: Duration) -> Self {
        Self {
            latency,
            ..Self::default()
        }
    }
}

/// Counters of one directed link `(from, to)` between two hosts.
///
/// `sent` counts datagrams that entered the link; each is then dropped for exactly one reason
/// or delivered. Duplicates add to `delivered` (and `duplicated`) without adding to `sent`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Datagrams that entered the link.
    pub sent: u64,
    /// Datagrams handed to the receiving host (duplicates included).
    pub delivered: u64,
    /// Lost to the loss model.
    pub lost: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Dropped because larger than the MTU.
    pub dropped_mtu: u64,
    /// Dropped because their TTL was smaller than the hop count.
    pub dropped_ttl: u64,
    /// Tail-dropped by the rate limiter.
    pub dropped_rate: u64,
    /// Dropped by a partition rule.
    pub dropped_partition: u64,
    /// Dropped by the receiving NAT's filter (or its mapping expired in flight).
    pub dropped_nat: u64,
}

impl LinkStats {
    pub(crate) fn add(&mut self, o: &Self) {
        self.sent += o.sent;
        self.delivered += o.delivered;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.dropped_mtu += o.dropped_mtu;
        self.dropped_ttl += o.dropped_ttl;
        self.dropped_rate += o.dropped_rate;
        self.dropped_partition += o.dropped_partition;
        self.dropped_nat += o.dropped_nat;
    }
}

/// The mutable state of one directed link.
#[derive(Debug, Default)]
pub(crate) struct LinkState {
    bad: bool,
    busy_until: Option<Instant>,
}

impl LinkState {
    /// Runs the loss model once; true if the datagram is lost.
    pub(crate) fn lose(&mut self, loss: &Loss, rng: &mut Rng) -> bool {
        match *loss {
            Loss::None => false,
            Loss::Bernoulli(p) => rng.chance(p),
            Loss::GilbertElliott {
                p,
                r,
                loss_bad,
                loss_good,
            } => {
                if self.bad {
                    if rng.chance(r) {
                        self.bad = false;
                    }
                } else if rng.chance(p) {
                    self.bad = true;
                }
                rng.chance(if self.bad { loss_bad } else { loss_good })
            }
        }
    }

    /// Queues `len` bytes at `now`; returns when the last byte leaves, or `None` on tail drop.
    pub(crate) fn enqueue(
        &mut self,
        now: Instant,
        len: usize,
        rate: &RateLimit,
    ) -> Option<Instant> {
        let bps = u128::from(rate.bytes_per_sec.max(1));
        let start = self.busy_until.filter(|b| *b > now).unwrap_or(now);
        let backlog = (start - now).as_nanos() * bps / 1_000_000_000;
        if backlog + len as u128 > u128::from(rate.queue_bytes) {
            return None;
        }
        let nanos = (len as u128 * 1_000_000_000).div_ceil(bps);
        let done = start + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX));
        self.busy_until = Some(done);
        Some(done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_serializes_and_tail_drops() {
        let now = Instant::now();
        let rate = RateLimit {
            bytes_per_sec: 1000,
            queue_bytes: 250,
        };
        let mut s = LinkState::default();
        assert_eq!(
            s.enqueue(now, 100, &rate),
            Some(now + Duration::from_millis(100))
        );
        assert_eq!(
            s.enqueue(now, 100, &rate),
            Some(now + Duration::from_millis(200))
        );
        // 200 bytes are waiting; 100 more would exceed 250.
        assert_eq!(s.enqueue(now, 100, &rate), None);
        let later = now + Duration::from_millis(150);
        assert_eq!(
            s.enqueue(later, 100, &rate),
            Some(now + Duration::from_millis(300))
        );
    }
}
