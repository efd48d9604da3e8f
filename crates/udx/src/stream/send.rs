//! The sender half of a stream (`shared/spec/udx.md` §7–§8): packetisation, windows,
//! acknowledgement processing, RTT/RTO, RACK-TLP loss detection and timers.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::rate::{Prior, TxState};
use super::{CaState, Io, LocalEnd, Remote, Stream, max_payload, push_repr};
use crate::congestion::AckSample;
use crate::endpoint::{CloseReason, Event};
use crate::seq::{seq_diff, seq_ge, seq_gt, seq_le, seq_lt};
use crate::wire::{Packet, PacketType, Repr};

use super::RWND;

/// A packet is given up on (`ETIMEDOUT`) when the RTO would mark it lost a seventh time
/// (`UDX_MAX_RTO_TIMEOUTS`).
const MAX_RTO_TIMEOUTS: u8 = 6;
/// Queued bytes beyond the send window that still count as "drained"
/// (`UDX_HIGH_WATERMARK`).
pub(crate) const HIGH_WATERMARK: usize = 262_144;
/// Tail-loss-probe timeout without an RTT sample.
const TLP_NO_RTT: Duration = Duration::from_millis(1000);
/// The pacing bucket's initial content in bytes.
pub(super) const INITIAL_PACING_TOKENS: i64 = 25_000;
/// The pacing refill period.
const PACING_TICK: Duration = Duration::from_millis(1);

/// Where a sent DATA/END packet stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PacketState {
    /// Sent and neither acknowledged nor declared lost.
    InFlight,
    /// Declared lost and queued for retransmission.
    Lost,
    /// Selectively acknowledged.
    Sacked,
}

/// A DATA/END packet not yet cumulatively acknowledged.
#[derive(Debug)]
pub(crate) struct SentPacket {
    seq: u32,
    packet_type: PacketType,
    payload: Bytes,
    /// The destination at first transmission; retransmissions keep it (§5.6).
    dest: Remote,
    time_sent: Instant,
    retransmitted: bool,
    rto_timeouts: u8,
    state: PacketState,
    tx: TxState,
}

/// RACK state (RFC 8985): the most recently sent packet that was delivered.
#[derive(Debug, Default)]
pub(super) struct Rack {
    xmit: Option<Instant>,
    end_seq: u32,
    rtt: Duration,
    reordering_seen: bool,
    /// One past the highest seq selectively acknowledged.
    fack: Option<u32>,
}

impl Rack {
    /// Updates from a delivered packet; returns whether it gives a Karn RTT sample.
    fn on_delivered(&mut self, now: Instant, min_rtt: Option<Duration>, p: &SentPacket) -> bool {
        let rtt = now.saturating_duration_since(p.time_sent);
        if p.retransmitted && min_rtt.is_some_and(|m| rtt < m) {
            return false;
        }
        if let Some(fack) = self.fack {
            if !p.retransmitted && seq_lt(p.seq, fack) {
                self.reordering_seen = true;
            }
        }
        let newer = match self.xmit {
            None => true,
            Some(t) => p.time_sent > t || (p.time_sent == t && seq_gt(p.seq, self.end_seq)),
        };
        if newer {
            self.xmit = Some(p.time_sent);
            self.end_seq = p.seq.wrapping_add(1);
            self.rtt = rtt;
        }
        !p.retransmitted
    }
}

impl Stream {
    /// Appends bytes to the send queue; `false` when the caller should wait for
    /// [`Event::Drained`].
    pub(crate) fn write(&mut self, data: Bytes) -> bool {
        self.pending.push(data);
        let ok = self.queued_bytes() < self.watermark();
        if !ok {
            self.want_drain = true;
        }
        ok
    }

    pub(crate) fn end(&mut self) {
        if self.local_end == LocalEnd::Open {
            self.local_end = LocalEnd::Queued;
        }
    }

    pub(crate) fn has_ended(&self) -> bool {
        self.local_end != LocalEnd::Open
    }

    pub(crate) fn send_message(&mut self, io: &mut Io<'_>, data: &[u8]) {
        if let Some(remote) = self.remote {
            let mut repr = Repr::new(PacketType::MESSAGE, remote.id, RWND, self.seq, self.ack);
            repr.payload = data;
            push_repr(io, remote, &repr);
        }
    }

    pub(crate) fn max_payload(&self) -> usize {
        self.remote
            .map_or(super::BASE_MTU - super::IPV6_OVERHEAD, |r| {
                max_payload(&r.addr)
            })
    }

    /// IP + UDP + UDX header bytes towards the remote.
    fn overhead(&self) -> usize {
        match self.remote.map(|r| r.addr) {
            Some(std::net::SocketAddr::V4(_)) => super::IPV4_OVERHEAD,
            _ => super::IPV6_OVERHEAD,
        }
    }

    /// The confirmed IP MTU.
    pub(crate) const fn mtu(&self) -> usize {
        self.mtu.mtu()
    }

    /// The DATA payload at the MTU found so far (the base MTU's until probing raises it).
    pub(crate) fn data_payload(&self) -> usize {
        self.mtu.mtu().saturating_sub(self.overhead())
    }

    fn queued_bytes(&self) -> usize {
        self.pending.len() + self.unacked_bytes
    }

    /// `min(cwnd, rwnd_packets)` (§7).
    fn send_window(&self) -> u32 {
        let rwnd_packets = if self.send_rwnd == 0 {
            0
        } else {
            let mp = u32::try_from(self.data_payload())
                .unwrap_or(u32::MAX)
                .max(1);
            (self.send_rwnd / mp).max(1)
        };
        self.cc.window().min(rwnd_packets)
    }

    fn watermark(&self) -> usize {
        HIGH_WATERMARK + self.send_window() as usize * self.max_payload()
    }

    fn has_new_data(&self) -> bool {
        !self.pending.is_empty() || self.local_end == LocalEnd::Queued
    }

    /// Sends what the windows allow: queued retransmissions first, then new packets
    /// (coalescing queued bytes into packets of up to `max_payload` bytes).
    pub(crate) fn flush(&mut self, io: &mut Io<'_>) {
        if self.closing.is_some() || self.relay_to.is_some() {
            return;
        }
        let Some(remote) = self.remote else {
            return;
        };
        while self.in_flight < self.cc.window()
            && !self.lost.is_empty()
            && self.pacing_ready(io.now)
        {
            let Some(pos) = self.lost.pop_first() else {
                break;
            };
            let i = usize::try_from(pos.wrapping_sub(self.sent_base)).unwrap_or(usize::MAX);
            if self
                .sent
                .get(i)
                .is_some_and(|p| p.state == PacketState::Lost)
            {
                self.retransmit(io, i);
            }
        }
        loop {
            let may = self.force_one || self.in_flight < self.send_window();
            if !may || !self.has_new_data() {
                break;
            }
            if !self.force_one && !self.pacing_ready(io.now) {
                break;
            }
            if !self.send_new(io, remote) {
                break;
            }
            self.force_one = false;
        }
        self.force_one = false;
        if !self.has_new_data() && self.lost.is_empty() && self.in_flight < self.cc.window() {
            self.rate.on_app_limited(self.in_flight);
        }
        if self.send_rwnd == 0 && self.has_new_data() && self.zwp_deadline.is_none() {
            if self.sent.is_empty() {
                self.send_heartbeat(io);
            }
            self.zwp_deadline = Some(io.now + self.rtt.rto());
        }
    }

    /// Whether the pacing bucket allows a packet now (§7, token bucket): when it is
    /// empty, it is refilled to `elapsed_ms * rate` once at least 1 ms has passed since
    /// it was found empty, and a timer is set for that.
    fn pacing_ready(&mut self, now: Instant) -> bool {
        let Some(rate) = self.cc.pacing_rate() else {
            return true;
        };
        if self.pacing_tokens > 0 {
            return true;
        }
        let rate = rate.max(self.pacing_floor());
        let empty_at = *self.pacing_empty_at.get_or_insert(now);
        let elapsed = now.saturating_duration_since(empty_at);
        if elapsed >= PACING_TICK {
            // The refill uses the exact elapsed time. Truncating it to whole milliseconds
            // (a timer set 1 ms ahead often fires 1.9 ms later) starves the sender, and
            // BBR then measures its own starved rate as the bandwidth.
            let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
            let tokens = us.saturating_mul(rate) / 1_000_000;
            if tokens > 0 {
                self.pacing_tokens = i64::try_from(tokens).unwrap_or(i64::MAX);
                self.pacing_empty_at = None;
                self.pacing_deadline = None;
                return true;
            }
            // Nothing earned yet: keep counting from when the bucket ran dry (restarting
            // would never earn a token at a slow rate) and look again a tick from now.
            self.pacing_deadline = Some(now + PACING_TICK);
            return false;
        }
        self.pacing_deadline = Some(empty_at + PACING_TICK);
        false
    }

    /// The slowest pacing rate, in bytes per second: the minimum window (4 packets) per
    /// smoothed RTT. The window already limits the sender to that much per round trip, so
    /// pacing slower only starves it — and BBR would then measure the starved rate as the
    /// bandwidth and never recover (found by the `udx_endpoint` fuzz target after a long
    /// idle period). Without an RTT sample there is no floor.
    fn pacing_floor(&self) -> u64 {
        let srtt_us = u64::try_from(self.rtt.srtt().as_micros()).unwrap_or(u64::MAX);
        if srtt_us == 0 {
            return 0;
        }
        (4 * self.max_payload() as u64).saturating_mul(1_000_000) / srtt_us
    }

    fn spend_tokens(&mut self, bytes: usize) {
        let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.pacing_tokens = self.pacing_tokens.saturating_sub(bytes);
    }

    fn send_new(&mut self, io: &mut Io<'_>, remote: Remote) -> bool {
        let (packet_type, payload) = if !self.pending.is_empty() {
            let n = self.pending.len().min(self.data_payload());
            (PacketType::DATA, self.pending.take(n))
        } else if self.local_end == LocalEnd::Queued {
            (PacketType::END, Bytes::new())
        } else {
            return false;
        };
        let seq = self.seq;
        self.seq = seq.wrapping_add(1);
        if packet_type == PacketType::END {
            self.local_end = LocalEnd::Sent(seq);
        }
        let mut repr = Repr::new(packet_type, remote.id, RWND, seq, self.ack);
        repr.payload = &payload;
        // A fresh DATA packet, not a loss probe, outside a change of remote, may be
        // padded into the next MTU probe (§9).
        if packet_type == PacketType::DATA && !self.force_one && self.change.is_none() {
            if let Some(padding) = self.mtu.padding_for(payload.len() + self.overhead()) {
                repr.padding = padding;
                self.mtu.on_probe_sent(seq);
            }
        }
        push_repr(io, remote, &repr);
        let len = payload.len();
        let tx = self.rate.on_send(io.now, self.in_flight);
        self.spend_tokens(repr_len(len) + usize::from(repr.padding));
        self.sent.push_back(SentPacket {
            seq,
            packet_type,
            payload,
            dest: remote,
            time_sent: io.now,
            retransmitted: false,
            rto_timeouts: 0,
            state: PacketState::InFlight,
            tx,
        });
        self.in_flight += 1;
        self.unacked_bytes += len;
        self.stats.packets_sent += 1;
        self.cc.on_packet_sent(io.now, len + 20, self.in_flight);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(io.now + self.rtt.rto());
        }
        if let Some(k) = self.keepalive {
            self.keepalive_deadline = Some(io.now + k);
        }
        self.schedule_tlp(io.now);
        true
    }

    /// Resends `sent[i]` with refreshed ack and window, to its original destination.
    fn retransmit(&mut self, io: &mut Io<'_>, i: usize) {
        let ack = self.ack;
        self.lost.remove(&(self.sent_base + i as u64));
        let tx = self.rate.on_send(io.now, self.in_flight);
        let Some(p) = self.sent.get_mut(i) else {
            return;
        };
        p.tx = tx;
        let mut repr = Repr::new(p.packet_type, p.dest.id, RWND, p.seq, ack);
        repr.payload = &p.payload;
        push_repr(io, p.dest, &repr);
        p.time_sent = io.now;
        p.retransmitted = true;
        p.state = PacketState::InFlight;
        let len = p.payload.len();
        self.spend_tokens(repr_len(len));
        self.in_flight += 1;
        self.stats.retransmissions += 1;
        self.cc.on_packet_sent(io.now, len + 20, self.in_flight);
    }

    fn send_heartbeat(&mut self, io: &mut Io<'_>) {
        if let Some(remote) = self.remote {
            let repr = Repr::new(PacketType::HEARTBEAT, remote.id, RWND, self.seq, self.ack);
            push_repr(io, remote, &repr);
        }
    }

    /// Arms the tail-loss probe (§8.4) if the stream is open, nothing is SACKed and
    /// something is in flight; a probe not earlier than the RTO is not armed.
    fn schedule_tlp(&mut self, now: Instant) {
        self.tlp_deadline = None;
        if self.tlp_in_flight
            || self.recovery != CaState::Open
            || self.sacked > 0
            || self.in_flight == 0
        {
            return;
        }
        let pto = if self.rtt.srtt_ms() > 0 {
            let extra = if self.in_flight == 1 { 2 } else { 0 };
            self.rtt.srtt() * 2 + Duration::from_millis(extra)
        } else {
            TLP_NO_RTT
        };
        let at = now + pto;
        if self.rto_deadline.is_none_or(|rto| at < rto) {
            self.tlp_deadline = Some(at);
        }
    }

    /// The RACK reordering window.
    fn reo_wnd(&self) -> Duration {
        if !self.rack.reordering_seen && (self.recovery != CaState::Open || self.sacked >= 3) {
            return Duration::ZERO;
        }
        let quarter = self.rtt.min_rtt().unwrap_or(Duration::ZERO) / 4;
        quarter.min(self.rtt.srtt())
    }

    /// Marks `sent[i]` lost; returns whether that says something about congestion (a
    /// lost MTU probe does not: it was too big, and goes again without padding).
    fn mark_lost(&mut self, i: usize) -> bool {
        let Some(p) = self.sent.get_mut(i) else {
            return false;
        };
        match p.state {
            PacketState::InFlight => self.in_flight = self.in_flight.saturating_sub(1),
            PacketState::Sacked => self.sacked = self.sacked.saturating_sub(1),
            PacketState::Lost => return false,
        }
        p.state = PacketState::Lost;
        self.lost.insert(self.sent_base + i as u64);
        !self.mtu.on_lost(p.seq)
    }

    /// Sender-side processing of an incoming packet's ack, window and SACK fields (§8.1).
    pub(crate) fn process_ack(&mut self, io: &mut Io<'_>, packet: &Packet<&[u8]>) {
        let now = io.now;
        let (ack, seq) = (packet.ack(), packet.seq());
        if seq_ge(ack, self.remote_acked)
            && (seq_lt(self.wl1, seq) || (self.wl1 == seq && seq_le(self.wl2, ack)))
        {
            self.send_rwnd = packet.rwnd();
            self.wl1 = seq;
            self.wl2 = ack;
            if self.send_rwnd > 0 {
                self.zwp_deadline = None;
                self.zwp_count = 0;
            }
        }
        let min_rtt = self.rtt.min_rtt();
        let mut delivered = 0u32;
        let mut sample: Option<Instant> = None;
        let mut prior: Option<Prior> = None;
        let advanced = seq_gt(ack, self.remote_acked);
        while seq_lt(self.remote_acked, ack) {
            let Some(p) = self.sent.pop_front() else {
                self.remote_acked = ack;
                break;
            };
            if p.state == PacketState::Lost {
                self.lost.remove(&self.sent_base);
            }
            self.sent_base += 1;
            self.remote_acked = self.remote_acked.wrapping_add(1);
            if p.state != PacketState::Lost {
                self.mtu.on_acked(p.seq, p.retransmitted);
            }
            self.unacked_bytes = self.unacked_bytes.saturating_sub(p.payload.len());
            match p.state {
                PacketState::InFlight => self.in_flight = self.in_flight.saturating_sub(1),
                PacketState::Sacked => {
                    self.sacked = self.sacked.saturating_sub(1);
                    continue;
                }
                PacketState::Lost => {}
            }
            delivered += 1;
            self.rate.on_delivered(now, &mut prior, &p.tx, p.time_sent);
            if self.rack.on_delivered(now, min_rtt, &p) && sample.is_none_or(|t| p.time_sent > t) {
                sample = Some(p.time_sent);
            }
        }
        for block in packet.sack_blocks() {
            let valid = seq_le(block.end, self.seq)
                && seq_lt(block.start, block.end)
                && seq_lt(block.start, self.seq)
                && seq_ge(block.start, self.remote_acked);
            if !valid {
                self.stats.invalid_sack_blocks += 1;
                continue;
            }
            let first = seq_diff(block.start, self.remote_acked).unsigned_abs() as usize;
            let count = seq_diff(block.end, block.start).unsigned_abs() as usize;
            for i in first..first.saturating_add(count).min(self.sent.len()) {
                let Some(p) = self.sent.get_mut(i) else {
                    break;
                };
                match p.state {
                    PacketState::Sacked => continue,
                    PacketState::InFlight => self.in_flight = self.in_flight.saturating_sub(1),
                    PacketState::Lost => {
                        self.lost.remove(&(self.sent_base + i as u64));
                    }
                }
                p.state = PacketState::Sacked;
                self.mtu.on_acked(p.seq, p.retransmitted);
                self.sacked += 1;
                delivered += 1;
                self.rate.on_delivered(now, &mut prior, &p.tx, p.time_sent);
                let end = p.seq.wrapping_add(1);
                if self.rack.on_delivered(now, min_rtt, p) && sample.is_none_or(|t| p.time_sent > t)
                {
                    sample = Some(p.time_sent);
                }
                if self.rack.fack.is_none_or(|f| seq_gt(end, f)) {
                    self.rack.fack = Some(end);
                }
            }
        }
        let rtt = sample.map(|t| now.saturating_duration_since(t));
        if let Some(rtt) = rtt {
            self.rtt.on_sample(now, rtt);
        }
        let rate = self.rate.finish(now, prior, self.rtt.min_rtt());
        if advanced && self.recovery != CaState::Open && seq_ge(self.remote_acked, self.high_seq) {
            self.recovery = CaState::Open;
            self.cc.on_recovery_end(now);
        }
        let lost = if delivered > 0 && self.closing.is_none() {
            self.detect_loss(now)
        } else {
            0
        };
        if delivered > 0 {
            self.mtu.on_first_ack();
            let sample = AckSample::new(delivered, rtt, self.in_flight).with_rate(
                lost,
                self.rate.delivered(),
                rate,
            );
            self.cc.on_ack(now, sample);
        }
        if advanced {
            self.on_ack_advanced(io);
        }
        if delivered > 0 {
            // New data was delivered: the probe episode, if any, is over.
            self.tlp_in_flight = false;
            if self.closing.is_none() {
                self.schedule_tlp(now);
            }
        }
    }

    fn on_ack_advanced(&mut self, io: &mut Io<'_>) {
        let now = io.now;
        self.rto_deadline = (!self.sent.is_empty()).then(|| now + self.rtt.rto());
        if let Some(c) = self.change {
            if seq_ge(self.remote_acked, c) {
                self.change = None;
                self.old_socket = None;
                io.events
                    .push_back(Event::RemoteChanged { id: self.local_id });
            }
        }
        if self.want_drain && self.queued_bytes() < self.watermark() {
            self.want_drain = false;
            io.events.push_back(Event::Drained { id: self.local_id });
        }
        if let LocalEnd::Sent(end) = self.local_end {
            if seq_gt(self.remote_acked, end) && self.sent.is_empty() && self.pending.is_empty() {
                self.local_end = LocalEnd::Acked;
                if self.ended_remote {
                    self.close(CloseReason::Ended);
                } else {
                    // The "final state" ACK of the reference (§5.3 step 2).
                    self.send_ack(io);
                }
            }
        }
    }

    /// RACK: every in-flight packet sent before the most recently delivered one is lost
    /// once `time_sent + rack_rtt + reo_wnd <= now`; otherwise a reorder timer is set.
    fn detect_loss(&mut self, now: Instant) -> u32 {
        self.reorder_deadline = None;
        let Some(xmit) = self.rack.xmit else {
            return 0;
        };
        let Ok(limit) = usize::try_from(seq_diff(self.rack.end_seq, self.remote_acked)) else {
            return 0;
        };
        let wait = self.rack.rtt + self.reo_wnd();
        let mut lost = 0u32;
        for i in 0..limit.min(self.sent.len()) {
            let Some(p) = self.sent.get(i) else {
                break;
            };
            if p.state != PacketState::InFlight || p.time_sent > xmit {
                continue;
            }
            let deadline = p.time_sent + wait;
            if deadline <= now {
                self.stats.rack_losses += 1;
                if self.mark_lost(i) {
                    lost += 1;
                }
            } else if self.reorder_deadline.is_none_or(|d| deadline < d) {
                self.reorder_deadline = Some(deadline);
            }
        }
        if lost > 0 && self.recovery == CaState::Open {
            self.recovery = CaState::Recovery;
            self.high_seq = self.seq;
            self.cc.on_congestion_event(now, self.in_flight);
        }
        lost
    }

    /// Runs the timers that are due, then sends what is allowed.
    pub(crate) fn handle_timeout(&mut self, io: &mut Io<'_>) {
        let now = io.now;
        if self.rto_deadline.is_some_and(|d| d <= now) {
            self.on_rto(now);
            if self.closing.is_some() {
                return;
            }
        }
        if self.tlp_deadline.is_some_and(|d| d <= now) {
            self.on_tlp(io);
        }
        if self.reorder_deadline.is_some_and(|d| d <= now) {
            self.detect_loss(now);
        }
        if self.pacing_deadline.is_some_and(|d| d <= now) {
            self.pacing_deadline = None;
        }
        if self.zwp_deadline.is_some_and(|d| d <= now) {
            if self.send_rwnd == 0 && self.has_new_data() {
                self.send_heartbeat(io);
                self.zwp_count += 1;
                self.zwp_deadline = Some(now + self.rtt.rto() * 2);
            } else {
                self.zwp_deadline = None;
            }
        }
        if let (Some(d), Some(k)) = (self.keepalive_deadline, self.keepalive) {
            if d <= now {
                if self.sent.is_empty() {
                    self.send_heartbeat(io);
                }
                self.keepalive_deadline = Some(now + k);
            }
        }
        self.flush(io);
    }

    /// The retransmission timeout (§8.3).
    fn on_rto(&mut self, now: Instant) {
        self.rto_deadline = None;
        self.tlp_deadline = None;
        self.tlp_in_flight = false;
        if self.sent.is_empty() {
            return;
        }
        self.stats.rto_expiries += 1;
        let wait = self.rack.rtt + self.reo_wnd();
        for i in 0..self.sent.len() {
            let Some(p) = self.sent.get_mut(i) else {
                break;
            };
            // The oldest packet counts even if it is already waiting to be resent.
            let expired = i == 0 || (p.state == PacketState::InFlight && p.time_sent + wait < now);
            if !expired {
                continue;
            }
            if p.rto_timeouts >= MAX_RTO_TIMEOUTS {
                self.close(CloseReason::TimedOut);
                return;
            }
            p.rto_timeouts += 1;
            let _ = self.mark_lost(i);
        }
        self.recovery = CaState::Loss;
        self.high_seq = self.seq;
        self.cc.on_rto(now);
        self.rto_deadline = Some(now + self.rtt.rto() * 2);
    }

    /// The tail-loss probe: one new packet if there is one, else the newest outstanding
    /// packet again; then the RTO is re-armed.
    fn on_tlp(&mut self, io: &mut Io<'_>) {
        self.tlp_deadline = None;
        self.tlp_in_flight = true;
        self.stats.loss_probes += 1;
        if self.has_new_data() {
            self.force_one = true;
            self.flush(io);
        } else if let Some(i) = self
            .sent
            .iter()
            .rposition(|p| p.state != PacketState::Sacked)
        {
            if self
                .sent
                .get(i)
                .is_some_and(|p| p.state == PacketState::InFlight)
            {
                self.in_flight = self.in_flight.saturating_sub(1);
            }
            self.retransmit(io, i);
        }
        self.rto_deadline = Some(io.now + self.rtt.rto());
    }
}

/// The datagram length of a DATA/END packet with `payload` bytes.
const fn repr_len(payload: usize) -> usize {
    crate::wire::HEADER_LEN + payload
}
