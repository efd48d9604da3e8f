//! Delivery-rate sampling in packets (the scheme of Linux `tcp_rate.c`, which libudx's
//! `udx_rate.c` follows; `shared/spec/udx.md` §8.5).
//!
//! Each packet remembers, when sent, how much had been delivered and when; the ack of
//! the most recently sent delivered packet then yields `delivered / interval`, where the
//! interval is the longer of the flight's send phase and its ack phase.

use std::time::{Duration, Instant};

use crate::congestion::RateSample;

/// The sender's state when a packet left.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TxState {
    delivered: u64,
    delivered_time: Instant,
    first_sent: Instant,
    app_limited: bool,
}

/// The sampled packet of one acknowledgement.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prior {
    delivered: u64,
    time: Instant,
    app_limited: bool,
    send_elapsed: Duration,
}

/// Connection-wide delivery accounting.
#[derive(Debug, Default)]
pub(crate) struct RateSampler {
    delivered: u64,
    delivered_time: Option<Instant>,
    first_sent: Option<Instant>,
    /// Nonzero while application-limited: the delivered count that ends the phase.
    app_limited: u64,
}

impl RateSampler {
    /// Snapshots the state for a packet about to be sent with `in_flight` packets
    /// already outstanding.
    pub(crate) fn on_send(&mut self, now: Instant, in_flight: u32) -> TxState {
        if in_flight == 0 {
            self.first_sent = Some(now);
            self.delivered_time = Some(now);
        }
        TxState {
            delivered: self.delivered,
            delivered_time: self.delivered_time.unwrap_or(now),
            first_sent: self.first_sent.unwrap_or(now),
            app_limited: self.app_limited != 0,
        }
    }

    /// Counts one delivered packet sent at `time_sent`; keeps the most recently sent
    /// one in `prior`.
    pub(crate) fn on_delivered(
        &mut self,
        now: Instant,
        prior: &mut Option<Prior>,
        tx: &TxState,
        time_sent: Instant,
    ) {
        self.delivered += 1;
        self.delivered_time = Some(now);
        if prior.is_none_or(|p| tx.delivered > p.delivered) {
            *prior = Some(Prior {
                delivered: tx.delivered,
                time: tx.delivered_time,
                app_limited: tx.app_limited,
                send_elapsed: time_sent.saturating_duration_since(tx.first_sent),
            });
            self.first_sent = Some(time_sent);
        }
    }

    /// The sample of this acknowledgement, if valid (an interval shorter than the
    /// minimum RTT is not).
    pub(crate) fn finish(
        &mut self,
        now: Instant,
        prior: Option<Prior>,
        min_rtt: Option<Duration>,
    ) -> Option<RateSample> {
        if self.app_limited != 0 && self.delivered > self.app_limited {
            self.app_limited = 0;
        }
        let p = prior?;
        let delivered = self.delivered.checked_sub(p.delivered)?;
        let interval = p.send_elapsed.max(now.saturating_duration_since(p.time));
        if delivered == 0 || interval.is_zero() || min_rtt.is_some_and(|m| interval < m) {
            return None;
        }
        Some(RateSample::new(
            delivered,
            interval,
            p.delivered,
            p.app_limited,
        ))
    }

    /// The sender has nothing more to send although the window allows it.
    pub(crate) fn on_app_limited(&mut self, in_flight: u32) {
        self.app_limited = (self.delivered + u64::from(in_flight)).max(1);
    }

    /// Packets delivered so far.
    pub(crate) const fn delivered(&self) -> u64 {
        self.delivered
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_flight_gives_its_rate() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = RateSampler::default();
        // 10 packets sent at t0, acked one per ms from t0 + 100 ms.
        let tx: Vec<TxState> = (0..10).map(|i| r.on_send(t0, i)).collect();
        let mut last = None;
        for (i, tx) in tx.iter().enumerate() {
            let now = t0 + ms(100 + i as u64);
            let mut prior = None;
            r.on_delivered(now, &mut prior, tx, t0);
            last = r.finish(now, prior, Some(ms(50)));
        }
        let s = last.unwrap();
        assert_eq!((s.delivered, s.interval), (10, ms(109)));
        assert_eq!(r.delivered(), 10);
        // A too-short interval is no sample.
        let tx = r.on_send(t0 + ms(200), 0);
        let mut prior = None;
        r.on_delivered(t0 + ms(201), &mut prior, &tx, t0 + ms(200));
        assert!(r.finish(t0 + ms(201), prior, Some(ms(50))).is_none());
    }
}
