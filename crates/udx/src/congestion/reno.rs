//! NewReno (RFC 5681 / RFC 6582 in spirit), counted in packets.
//!
//! - initial window 10 packets and slow-start threshold `0xffff`, as libudx initialises
//!   its streams (`shared/spec/udx.md` §5.2);
//! - slow start: `+1` packet per delivered packet while `cwnd < ssthresh`;
//! - congestion avoidance: `+1` packet per window of delivered packets;
//! - a congestion event halves the window (`ssthresh = max(cwnd / 2, 2)`, `cwnd =
//!   ssthresh`) and freezes growth until recovery ends;
//! - a retransmission timeout sets `ssthresh = max(cwnd / 2, 2)` and `cwnd = 1`.
//!
//! No pacing.

use std::time::Instant;

use super::{AckSample, CongestionController};

/// Initial congestion window in packets.
const INITIAL_WINDOW: u32 = 10;
/// Initial slow-start threshold.
const INITIAL_SSTHRESH: u32 = 0xffff;
/// Upper bound on the window; the receive window limits a stream long before this.
const MAX_WINDOW: u32 = 1 << 16;

/// The NewReno controller (the default).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewReno {
    cwnd: u32,
    ssthresh: u32,
    /// Delivered packets counted towards the next `+1` in congestion avoidance.
    acc: u32,
    in_recovery: bool,
}

impl Default for NewReno {
    fn default() -> Self {
        Self::new()
    }
}

impl NewReno {
    /// A controller in slow start with the initial window.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            cwnd: INITIAL_WINDOW,
            ssthresh: INITIAL_SSTHRESH,
            acc: 0,
            in_recovery: false,
        }
    }

    /// The slow-start threshold in packets.
    #[must_use]
    pub const fn ssthresh(&self) -> u32 {
        self.ssthresh
    }
}

impl CongestionController for NewReno {
    fn on_packet_sent(&mut self, _now: Instant, _bytes: usize, _in_flight: u32) {}

    fn on_ack(&mut self, _now: Instant, sample: AckSample) {
        if self.in_recovery || sample.delivered == 0 {
            return;
        }
        if self.cwnd < self.ssthresh {
            self.cwnd = self
                .cwnd
                .saturating_add(sample.delivered)
                .min(self.ssthresh.max(1));
        } else {
            self.acc = self.acc.saturating_add(sample.delivered);
            while self.acc >= self.cwnd {
                self.acc -= self.cwnd;
                self.cwnd += 1;
            }
        }
        self.cwnd = self.cwnd.min(MAX_WINDOW);
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: u32) {
        self.ssthresh = (self.cwnd / 2).max(2);
        self.cwnd = self.ssthresh;
        self.acc = 0;
        self.in_recovery = true;
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.in_recovery = false;
    }

    fn on_rto(&mut self, _now: Instant) {
        self.ssthresh = (self.cwnd / 2).max(2);
        self.cwnd = 1;
        self.acc = 0;
        self.in_recovery = false;
    }

    fn window(&self) -> u32 {
        self.cwnd.max(1)
    }

    fn pacing_rate(&self) -> Option<u64> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_halving_then_rto() {
        let now = Instant::now();
        let mut cc = NewReno::new();
        assert_eq!(cc.window(), 10);
        cc.on_ack(now, AckSample::new(10, None, 0));
        assert_eq!(cc.window(), 20);
        cc.on_congestion_event(now, 20);
        assert_eq!((cc.window(), cc.ssthresh()), (10, 10));
        cc.on_ack(now, AckSample::new(5, None, 0));
        assert_eq!(cc.window(), 10, "no growth in recovery");
        cc.on_recovery_end(now);
        cc.on_ack(now, AckSample::new(10, None, 0));
        assert_eq!(cc.window(), 11, "congestion avoidance: +1 per window");
        cc.on_rto(now);
        assert_eq!((cc.window(), cc.ssthresh()), (1, 5));
    }
}
