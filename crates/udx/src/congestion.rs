//! Congestion control behind a trait, one module per algorithm.
//!
//! A stream asks its controller for a window in packets ([`CongestionController::window`])
//! and tells it about sends, acknowledgements, losses and retransmission timeouts. Every
//! method takes `now`: a controller never reads a clock.
//!
//! - [`NewReno`] (`congestion/reno.rs`): loss-based, no pacing.
//! - [`Bbr`] (`congestion/bbr.rs`): the BBR v1-style model-based controller the reference
//!   (libudx) uses (`shared/spec/udx.md` §8.5), with pacing.
//!
//! Any TCP-friendly scheme interoperates, because the wire carries only seq/ack/SACK.

use std::fmt;
use std::time::{Duration, Instant};

mod bbr;
mod reno;

pub use bbr::Bbr;
pub use reno::NewReno;

/// A delivery-rate sample (as Linux `tcp_rate.c` / libudx `udx_rate.c`): `delivered`
/// packets were delivered over `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateSample {
    /// Packets delivered during the interval.
    pub delivered: u64,
    /// The interval: the longer of the send and the ack phase of the sampled flight.
    pub interval: Duration,
    /// The connection's delivered count when the sampled packet was sent.
    pub prior_delivered: u64,
    /// The sampled packet was sent while the sender was application-limited.
    pub is_app_limited: bool,
}

impl RateSample {
    /// A sample.
    #[must_use]
    pub const fn new(
        delivered: u64,
        interval: Duration,
        prior_delivered: u64,
        is_app_limited: bool,
    ) -> Self {
        Self {
            delivered,
            interval,
            prior_delivered,
            is_app_limited,
        }
    }
}

/// What one incoming acknowledgement delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct AckSample {
    /// Packets newly delivered (cumulatively acked or SACKed for the first time).
    pub delivered: u32,
    /// The round-trip time measured from a packet never retransmitted (Karn), if any.
    pub rtt: Option<Duration>,
    /// Packets in flight after the acknowledgement was applied.
    pub in_flight: u32,
    /// Packets declared lost while processing this acknowledgement.
    pub lost: u32,
    /// Packets delivered over the connection's life, this acknowledgement included.
    pub total_delivered: u64,
    /// A delivery-rate sample, when the acknowledgement yields a valid one.
    pub rate: Option<RateSample>,
}

impl AckSample {
    /// A sample without loss or rate information.
    #[must_use]
    pub const fn new(delivered: u32, rtt: Option<Duration>, in_flight: u32) -> Self {
        Self {
            delivered,
            rtt,
            in_flight,
            lost: 0,
            total_delivered: 0,
            rate: None,
        }
    }

    /// With the loss count, the total delivered and a rate sample.
    #[must_use]
    pub const fn with_rate(
        mut self,
        lost: u32,
        total_delivered: u64,
        rate: Option<RateSample>,
    ) -> Self {
        self.lost = lost;
        self.total_delivered = total_delivered;
        self.rate = rate;
        self
    }
}

/// A congestion controller counting in packets (sequence numbers), as libudx does.
pub trait CongestionController: fmt::Debug + Send {
    /// A DATA/END packet (new or retransmitted) of `bytes` bytes left; `in_flight`
    /// includes it.
    fn on_packet_sent(&mut self, now: Instant, bytes: usize, in_flight: u32);
    /// An acknowledgement delivered packets.
    fn on_ack(&mut self, now: Instant, sample: AckSample);
    /// Loss was detected (RACK, tail-loss probe) while the stream was in the open state:
    /// the start of a fast-recovery episode.
    fn on_congestion_event(&mut self, now: Instant, in_flight: u32);
    /// Every packet outstanding when the episode began has been acknowledged.
    fn on_recovery_end(&mut self, now: Instant);
    /// The retransmission timer expired.
    fn on_rto(&mut self, now: Instant);
    /// The congestion window in packets (at least 1).
    fn window(&self) -> u32;
    /// The pacing rate in bytes per second, or `None` for no pacing.
    fn pacing_rate(&self) -> Option<u64>;
}
