//! A BBR v1-style controller in packets (`shared/spec/udx.md` §8.5, informative; the
//! design of Linux `tcp_bbr.c` and the IETF BBR draft).
//!
//! - Model: bottleneck bandwidth = windowed maximum of delivery-rate samples over 10
//!   round trips; minimum RTT = windowed minimum over 10 s.
//! - States STARTUP → DRAIN → PROBE_BW ↔ PROBE_RTT with the gains of the spec: startup
//!   pacing and cwnd gain 2/ln 2, drain pacing 1/(2/ln 2), PROBE_BW pacing cycle
//!   `[1.25, 0.75, 1, 1, 1, 1, 1, 1]` entered at index 3 and advanced once (→ 4), cwnd
//!   gain 2; PROBE_RTT every 10 s for at least 200 ms and one round with cwnd 4.
//! - Full bandwidth is reached when three rounds grow the estimate by less than 25 %.
//! - Pacing rate `bw * payload * gain * 0.99`; before the first RTT sample it is
//!   `cwnd / 1 ms * high_gain`, and from the first sample `cwnd / srtt * high_gain`.
//! - Loss: packet conservation for one round on entering recovery, `cwnd -= lost`,
//!   the window from before restored when recovery ends; an RTO sets cwnd to 1 and
//!   resets the full-bandwidth estimate.
//!
//! - ACK aggregation (as Linux `bbr_update_ack_aggregation`): the packets acked in an
//!   epoch beyond what the bandwidth estimate predicts are tracked as a windowed maximum
//!   over two 5-round windows (each sample capped at cwnd), and once full bandwidth is
//!   reached that much, at most 100 ms of bandwidth, is added to the cwnd target. Without
//!   it a path whose acks come in bursts (an event loop reading a batch of datagrams, a
//!   loopback path whose min RTT is tens of microseconds) is held near the 4-packet
//!   minimum window.
//!
//! Left out: the long-term (policer) bandwidth model.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::{AckSample, CongestionController, RateSample};

/// 2 / ln 2: the startup gain.
const HIGH_GAIN: f64 = 2.885_39;
/// The PROBE_BW pacing gain cycle.
const CYCLE: [f64; 8] = [1.25, 0.75, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0];
/// Round trips the bandwidth maximum covers.
const BW_WINDOW_ROUNDS: u64 = 10;
/// How long a minimum RTT stays valid.
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
/// The least time spent in PROBE_RTT.
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// The smallest window, and the window in PROBE_RTT.
const MIN_CWND: u32 = 4;
const INITIAL_CWND: u32 = 10;
/// Upper bound; the receive window limits a stream long before this.
const MAX_CWND: u32 = 1 << 16;
/// Rounds each of the two ACK-aggregation windows lasts.
const EXTRA_ACKED_WIN_ROUNDS: u32 = 5;
/// The ACK-aggregation allowance is at most this much of the bandwidth estimate.
const EXTRA_ACKED_MAX: Duration = Duration::from_millis(100);
/// An aggregation epoch that has acked this many packets starts over.
const ACK_EPOCH_RESET: u64 = 1 << 20;
/// Default packet size (header + payload at MTU 1200 to IPv4) until a packet is seen.
const DEFAULT_PACKET: usize = 1172;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Startup,
    Drain,
    ProbeBw,
    ProbeRtt,
}

/// Sliding-window maximum over round numbers, one entry per round at most.
#[derive(Debug, Default, Clone)]
struct MaxFilter {
    entries: VecDeque<(u64, f64)>,
}

impl MaxFilter {
    fn update(&mut self, round: u64, value: f64) {
        while self
            .entries
            .front()
            .is_some_and(|&(r, _)| r + BW_WINDOW_ROUNDS <= round)
        {
            self.entries.pop_front();
        }
        while self.entries.back().is_some_and(|&(_, v)| v <= value) {
            self.entries.pop_back();
        }
        if self.entries.back().is_none_or(|&(r, _)| r != round) {
            self.entries.push_back((round, value));
        }
    }

    fn get(&self) -> f64 {
        self.entries.front().map_or(0.0, |&(_, v)| v)
    }
}

/// The BBR controller.
#[derive(Debug, Clone)]
pub struct Bbr {
    mode: Mode,
    cwnd: u32,
    prior_cwnd: u32,
    /// Packets per second.
    max_bw: MaxFilter,
    min_rtt: Option<Duration>,
    min_rtt_stamp: Option<Instant>,
    round_count: u64,
    next_rtt_delivered: u64,
    round_start: bool,
    delivered: u64,
    pacing_gain: f64,
    cwnd_gain: f64,
    full_bw: f64,
    full_bw_cnt: u32,
    full_bw_reached: bool,
    cycle_idx: usize,
    cycle_stamp: Option<Instant>,
    probe_rtt_done: Option<Instant>,
    probe_rtt_round_done: bool,
    packet_conservation: bool,
    in_recovery: bool,
    has_seen_rtt: bool,
    /// Bytes per second.
    pacing_rate: f64,
    packet_size: usize,
    /// The largest excess of acked over expected packets in the current and the previous
    /// aggregation window.
    extra_acked: [u32; 2],
    extra_acked_idx: usize,
    extra_acked_rounds: u32,
    /// Start of the current aggregation epoch and the packets acked since.
    ack_epoch_stamp: Option<Instant>,
    ack_epoch_acked: u64,
}

impl Default for Bbr {
    fn default() -> Self {
        Self::new()
    }
}

impl Bbr {
    /// A controller in STARTUP with the initial window.
    #[must_use]
    pub fn new() -> Self {
        let mut bbr = Self {
            mode: Mode::Startup,
            cwnd: INITIAL_CWND,
            prior_cwnd: 0,
            max_bw: MaxFilter::default(),
            min_rtt: None,
            min_rtt_stamp: None,
            round_count: 0,
            next_rtt_delivered: 0,
            round_start: false,
            delivered: 0,
            pacing_gain: HIGH_GAIN,
            cwnd_gain: HIGH_GAIN,
            full_bw: 0.0,
            full_bw_cnt: 0,
            full_bw_reached: false,
            cycle_idx: 0,
            cycle_stamp: None,
            probe_rtt_done: None,
            probe_rtt_round_done: false,
            packet_conservation: false,
            in_recovery: false,
            has_seen_rtt: false,
            pacing_rate: 0.0,
            packet_size: DEFAULT_PACKET,
            extra_acked: [0; 2],
            extra_acked_idx: 0,
            extra_acked_rounds: 0,
            ack_epoch_stamp: None,
            ack_epoch_acked: 0,
        };
        bbr.init_pacing_rate(Duration::from_millis(1));
        bbr
    }

    /// The bottleneck-bandwidth estimate in packets per second.
    #[must_use]
    pub fn bandwidth(&self) -> f64 {
        self.max_bw.get()
    }

    /// Whether STARTUP has found the bottleneck.
    #[must_use]
    pub const fn full_bandwidth_reached(&self) -> bool {
        self.full_bw_reached
    }

    /// Whether the controller is in PROBE_BW.
    #[must_use]
    pub fn is_probing_bandwidth(&self) -> bool {
        self.mode == Mode::ProbeBw
    }

    fn init_pacing_rate(&mut self, rtt: Duration) {
        let rtt = rtt.max(Duration::from_millis(1)).as_secs_f64();
        self.pacing_rate = f64::from(self.cwnd) / rtt * HIGH_GAIN * self.packet_size as f64;
    }

    /// `bw * min_rtt * gain` in packets (the initial window before an RTT sample).
    fn bdp(&self, gain: f64) -> u32 {
        let Some(min_rtt) = self.min_rtt else {
            return INITIAL_CWND;
        };
        let bdp = (self.max_bw.get() * min_rtt.as_secs_f64() * gain).ceil();
        if bdp.is_finite() && bdp >= 0.0 {
            (bdp as u32).min(MAX_CWND)
        } else {
            INITIAL_CWND
        }
    }

    fn save_cwnd(&self) -> u32 {
        if !self.in_recovery && self.mode != Mode::ProbeRtt {
            self.cwnd
        } else {
            self.cwnd.max(self.prior_cwnd)
        }
    }

    fn update_bw(&mut self, rs: &RateSample) {
        self.round_start = false;
        if rs.delivered == 0 || rs.interval.is_zero() {
            return;
        }
        if rs.prior_delivered >= self.next_rtt_delivered {
            self.next_rtt_delivered = self.delivered;
            self.round_count += 1;
            self.round_start = true;
            self.packet_conservation = false;
        }
        let bw = rs.delivered as f64 / rs.interval.as_secs_f64();
        if !rs.is_app_limited || bw >= self.max_bw.get() {
            self.max_bw.update(self.round_count, bw);
        }
    }

    /// Tracks how many more packets were acked in the current epoch than the bandwidth
    /// estimate predicts (`bbr_update_ack_aggregation`).
    fn update_ack_aggregation(&mut self, now: Instant, acked: u32) {
        if acked == 0 {
            return;
        }
        if self.round_start {
            self.extra_acked_rounds = (self.extra_acked_rounds + 1).min(31);
            if self.extra_acked_rounds >= EXTRA_ACKED_WIN_ROUNDS {
                self.extra_acked_rounds = 0;
                self.extra_acked_idx ^= 1;
                self.extra_acked[self.extra_acked_idx] = 0;
            }
        }
        let epoch = self
            .ack_epoch_stamp
            .map_or(Duration::ZERO, |t| now.saturating_duration_since(t));
        let mut expected = (self.max_bw.get() * epoch.as_secs_f64()) as u64;
        if self.ack_epoch_stamp.is_none()
            || self.ack_epoch_acked <= expected
            || self.ack_epoch_acked + u64::from(acked) >= ACK_EPOCH_RESET
        {
            self.ack_epoch_acked = 0;
            self.ack_epoch_stamp = Some(now);
            expected = 0;
        }
        self.ack_epoch_acked = (self.ack_epoch_acked + u64::from(acked)).min(ACK_EPOCH_RESET);
        let extra = self.ack_epoch_acked.saturating_sub(expected);
        let extra = u32::try_from(extra).unwrap_or(u32::MAX).min(self.cwnd);
        let slot = &mut self.extra_acked[self.extra_acked_idx];
        *slot = (*slot).max(extra);
    }

    /// The ACK-aggregation allowance added to the cwnd target, in packets.
    fn aggregation_cwnd(&self) -> u32 {
        if !self.full_bw_reached {
            return 0;
        }
        let max = (self.max_bw.get() * EXTRA_ACKED_MAX.as_secs_f64()) as u64;
        let extra = self.extra_acked[0].max(self.extra_acked[1]);
        u32::try_from(u64::from(extra).min(max)).unwrap_or(u32::MAX)
    }

    fn update_cycle_phase(&mut self, now: Instant, sample: &AckSample) {
        if self.mode != Mode::ProbeBw {
            return;
        }
        let min_rtt = self.min_rtt.unwrap_or(Duration::ZERO);
        let full_length = self
            .cycle_stamp
            .is_some_and(|t| now.saturating_duration_since(t) > min_rtt);
        let gain = CYCLE[self.cycle_idx];
        let prior_in_flight = sample.in_flight.saturating_add(sample.delivered);
        let next = if gain > 1.0 {
            full_length && (sample.lost > 0 || prior_in_flight >= self.bdp(gain))
        } else if gain < 1.0 {
            full_length || sample.in_flight <= self.bdp(1.0)
        } else {
            full_length
        };
        if next {
            self.cycle_idx = (self.cycle_idx + 1) % CYCLE.len();
            self.cycle_stamp = Some(now);
        }
    }

    fn enter_probe_bw(&mut self, now: Instant) {
        self.mode = Mode::ProbeBw;
        self.cycle_idx = 4;
        self.cycle_stamp = Some(now);
    }

    fn reset_mode(&mut self, now: Instant) {
        if self.full_bw_reached {
            self.enter_probe_bw(now);
        } else {
            self.mode = Mode::Startup;
        }
    }

    fn check_full_bw_reached(&mut self, rs: &RateSample) {
        if self.full_bw_reached || !self.round_start || rs.is_app_limited {
            return;
        }
        let bw = self.max_bw.get();
        if bw >= self.full_bw * 1.25 {
            self.full_bw = bw;
            self.full_bw_cnt = 0;
            return;
        }
        self.full_bw_cnt += 1;
        self.full_bw_reached = self.full_bw_cnt >= 3;
    }

    fn check_drain(&mut self, now: Instant, in_flight: u32) {
        if self.mode == Mode::Startup && self.full_bw_reached {
            self.mode = Mode::Drain;
        }
        if self.mode == Mode::Drain && in_flight <= self.bdp(1.0) {
            self.enter_probe_bw(now);
        }
    }

    fn update_min_rtt(&mut self, now: Instant, sample: &AckSample, in_flight: u32) {
        let expired = self
            .min_rtt_stamp
            .is_some_and(|t| now.saturating_duration_since(t) > MIN_RTT_WINDOW);
        if let Some(rtt) = sample.rtt {
            if self.min_rtt.is_none_or(|m| rtt < m) || expired {
                self.min_rtt = Some(rtt);
                self.min_rtt_stamp = Some(now);
            }
        }
        if expired && self.mode != Mode::ProbeRtt {
            self.prior_cwnd = self.save_cwnd();
            self.mode = Mode::ProbeRtt;
            self.probe_rtt_done = None;
        }
        if self.mode != Mode::ProbeRtt {
            return;
        }
        match self.probe_rtt_done {
            None if in_flight <= MIN_CWND => {
                self.probe_rtt_done = Some(now + PROBE_RTT_TIME);
                self.probe_rtt_round_done = false;
                self.next_rtt_delivered = self.delivered;
            }
            Some(done) => {
                if self.round_start {
                    self.probe_rtt_round_done = true;
                }
                if self.probe_rtt_round_done && now >= done {
                    self.min_rtt_stamp = Some(now);
                    self.cwnd = self.cwnd.max(self.prior_cwnd);
                    self.reset_mode(now);
                }
            }
            None => {}
        }
    }

    fn update_gains(&mut self) {
        (self.pacing_gain, self.cwnd_gain) = match self.mode {
            Mode::Startup => (HIGH_GAIN, HIGH_GAIN),
            Mode::Drain => (1.0 / HIGH_GAIN, HIGH_GAIN),
            Mode::ProbeBw => (CYCLE[self.cycle_idx], 2.0),
            Mode::ProbeRtt => (1.0, 1.0),
        };
    }

    fn set_pacing_rate(&mut self) {
        let bw = self.max_bw.get();
        if bw <= 0.0 {
            return;
        }
        let rate = bw * self.packet_size as f64 * self.pacing_gain * 0.99;
        if self.full_bw_reached || rate > self.pacing_rate {
            self.pacing_rate = rate;
        }
    }

    fn set_cwnd(&mut self, sample: &AckSample) {
        let acked = sample.delivered;
        if sample.lost > 0 {
            self.cwnd = self.cwnd.saturating_sub(sample.lost).max(1);
        }
        if self.packet_conservation {
            self.cwnd = self.cwnd.max(sample.in_flight.saturating_add(acked));
        } else {
            let target = self
                .bdp(self.cwnd_gain)
                .saturating_add(self.aggregation_cwnd())
                .max(MIN_CWND);
            if self.full_bw_reached {
                self.cwnd = self.cwnd.saturating_add(acked).min(target);
            } else if self.cwnd < target || self.delivered < u64::from(INITIAL_CWND) {
                self.cwnd = self.cwnd.saturating_add(acked);
            }
            self.cwnd = self.cwnd.max(MIN_CWND);
        }
        if self.mode == Mode::ProbeRtt {
            self.cwnd = self.cwnd.min(MIN_CWND);
        }
        self.cwnd = self.cwnd.min(MAX_CWND);
    }
}

impl CongestionController for Bbr {
    fn on_packet_sent(&mut self, _now: Instant, bytes: usize, _in_flight: u32) {
        if bytes > self.packet_size {
            self.packet_size = bytes;
        }
    }

    fn on_ack(&mut self, now: Instant, sample: AckSample) {
        self.delivered = sample.total_delivered;
        if let Some(rtt) = sample.rtt {
            if !self.has_seen_rtt && self.max_bw.get() <= 0.0 {
                self.has_seen_rtt = true;
                self.init_pacing_rate(rtt);
            }
        }
        if let Some(rs) = sample.rate {
            self.update_bw(&rs);
            self.update_ack_aggregation(now, sample.delivered);
            self.update_cycle_phase(now, &sample);
            self.check_full_bw_reached(&rs);
        } else {
            self.round_start = false;
        }
        self.check_drain(now, sample.in_flight);
        self.update_min_rtt(now, &sample, sample.in_flight);
        self.update_gains();
        self.set_pacing_rate();
        self.set_cwnd(&sample);
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: u32) {
        self.prior_cwnd = self.save_cwnd();
        self.in_recovery = true;
        self.packet_conservation = true;
        self.next_rtt_delivered = self.delivered;
        self.cwnd = in_flight.max(1);
    }

    fn on_recovery_end(&mut self, _now: Instant) {
        self.in_recovery = false;
        self.packet_conservation = false;
        self.cwnd = self.cwnd.max(self.prior_cwnd);
    }

    fn on_rto(&mut self, _now: Instant) {
        self.prior_cwnd = self.save_cwnd();
        self.in_recovery = true;
        self.packet_conservation = false;
        self.full_bw = 0.0;
        self.round_start = true;
        self.cwnd = 1;
    }

    fn window(&self) -> u32 {
        self.cwnd.max(1)
    }

    fn pacing_rate(&self) -> Option<u64> {
        (self.pacing_rate.is_finite() && self.pacing_rate > 0.0).then_some(self.pacing_rate as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `rounds` round trips of a path with `bw` packets/s and `rtt`.
    fn drive(bbr: &mut Bbr, now: &mut Instant, bw: f64, rtt: Duration, rounds: usize) {
        for _ in 0..rounds {
            let per_round = (bw * rtt.as_secs_f64()).max(1.0) as u64;
            let window = u64::from(bbr.window());
            let delivered = per_round.min(window);
            *now += rtt;
            let prior = bbr.delivered;
            let total = prior + delivered;
            let rate = RateSample::new(delivered, rtt, prior, false);
            let sample =
                AckSample::new(delivered as u32, Some(rtt), 0).with_rate(0, total, Some(rate));
            bbr.on_ack(*now, sample);
        }
    }

    /// Like [`drive`], but each round's packets are acked in `acks` evenly spaced acks.
    fn drive_spread(bbr: &mut Bbr, now: &mut Instant, bw: f64, rtt: Duration, acks: u32) {
        let per_round = (bw * rtt.as_secs_f64()).max(1.0) as u64;
        let step = rtt / acks;
        let each = (per_round / u64::from(acks)).max(1);
        for _ in 0..acks {
            *now += step;
            let prior = bbr.delivered;
            // One round's packets were delivered in the round trip before this ack.
            let sent_at = (prior + each).saturating_sub(per_round);
            let rate = RateSample::new(per_round, rtt, sent_at, false);
            let sample =
                AckSample::new(each as u32, Some(rtt), 0).with_rate(0, prior + each, Some(rate));
            bbr.on_ack(*now, sample);
        }
    }

    #[test]
    fn ack_aggregation_widens_the_window() {
        let rtt = Duration::from_millis(20);
        // BDP = 2000 packets/s × 20 ms = 40 packets.
        // Acks spread over the round: the window stays near 2 BDP.
        let mut now = Instant::now();
        let mut smooth = Bbr::new();
        for _ in 0..40 {
            drive_spread(&mut smooth, &mut now, 2000.0, rtt, 40);
        }
        assert!(smooth.full_bandwidth_reached());
        let w = smooth.window();
        assert!((76..=90).contains(&w), "{w}");
        assert!(smooth.aggregation_cwnd() <= 5);
        // The same path with the acks of a round in one burst: the allowance adds about
        // one round of packets, so the sender can keep sending through the gaps.
        let mut now = Instant::now();
        let mut bursty = Bbr::new();
        for _ in 0..40 {
            drive_spread(&mut bursty, &mut now, 2000.0, rtt, 1);
        }
        let w = bursty.window();
        assert!((110..=130).contains(&w), "{w}");
        assert!(bursty.aggregation_cwnd() >= 30);
    }

    #[test]
    fn startup_finds_bandwidth_then_probes() {
        let mut now = Instant::now();
        let mut bbr = Bbr::new();
        assert_eq!(bbr.window(), 10);
        let initial = bbr.pacing_rate().unwrap();
        assert!(initial > 30_000_000 && initial < 35_000_000, "{initial}");
        let rtt = Duration::from_millis(50);
        drive(&mut bbr, &mut now, 1000.0, rtt, 30);
        assert!(bbr.full_bandwidth_reached());
        assert!(bbr.is_probing_bandwidth());
        let bw = bbr.bandwidth();
        assert!((900.0..=1100.0).contains(&bw), "{bw}");
        // cwnd ≈ 2 BDP = 100 packets, plus the ACK-aggregation allowance: `drive` acks
        // a whole round at once, so up to one more BDP.
        assert!((90..=160).contains(&bbr.window()), "{}", bbr.window());
        let rate = bbr.pacing_rate().unwrap() as f64;
        assert!(
            rate > 0.7 * 1000.0 * 1172.0 && rate < 1.3 * 1000.0 * 1172.0,
            "{rate}"
        );
    }

    #[test]
    fn probe_rtt_after_ten_seconds() {
        let mut now = Instant::now();
        let mut bbr = Bbr::new();
        let rtt = Duration::from_millis(100);
        drive(&mut bbr, &mut now, 500.0, rtt, 40);
        assert!(bbr.is_probing_bandwidth());
        // 10 s later without a smaller RTT: PROBE_RTT with cwnd 4.
        drive(&mut bbr, &mut now, 500.0, Duration::from_millis(120), 40);
        let mut saw_probe_rtt = false;
        for _ in 0..40 {
            drive(&mut bbr, &mut now, 500.0, Duration::from_millis(120), 1);
            if bbr.mode == Mode::ProbeRtt {
                saw_probe_rtt = true;
                assert_eq!(bbr.window(), MIN_CWND);
            }
        }
        assert!(saw_probe_rtt);
        assert!(bbr.is_probing_bandwidth(), "back to PROBE_BW");
    }

    #[test]
    fn loss_and_rto() {
        let now = Instant::now();
        let mut bbr = Bbr::new();
        bbr.on_congestion_event(now, 8);
        assert_eq!(bbr.window(), 8);
        bbr.on_recovery_end(now);
        assert_eq!(bbr.window(), 10);
        bbr.on_rto(now);
        assert_eq!(bbr.window(), 1);
    }
}
