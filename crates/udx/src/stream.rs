//! One UDX stream: receiver (`shared/spec/udx.md` §6), commands and lifecycle (§5). The
//! sender side (§7–§8) is in `stream/send.rs`.
//!
//! A stream never touches a socket: it writes [`Transmit`]s and [`Event`]s into the
//! queues of its [`Endpoint`](crate::Endpoint) through an [`Io`] and is told the time.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::congestion::{Bbr, CongestionController};
use crate::endpoint::{CloseReason, Event, Firewall, SocketId, StreamConfig, Transmit};
use crate::seq::{seq_diff, seq_ge, seq_gt, seq_lt};
use crate::wire::{MAX_SACK_BLOCKS, Packet, PacketType, Repr, SackBlock, SackList};

mod mtu;
mod queue;
mod rate;
mod rtt;
mod send;

use mtu::MtuSearch;
use queue::SendQueue;
use rate::RateSampler;
use rtt::RttEstimator;
pub(crate) use send::SentPacket;

/// The receive window every packet advertises, like udx-native (`UDX_DEFAULT_RWND_MAX`).
pub const RWND: u32 = 4_194_304;
/// The MTU every stream starts with (`UDX_MTU_BASE`); MTU probing (§9) may raise a
/// stream's packet size up to an IP MTU of 1500.
pub const BASE_MTU: usize = mtu::MTU_BASE;
/// IPv4 + UDP + UDX header bytes.
const IPV4_OVERHEAD: usize = 48;
/// IPv6 + UDP + UDX header bytes (also used for IPv4-mapped addresses).
const IPV6_OVERHEAD: usize = 68;
/// How far past the cumulative ack an out-of-order packet may be and still be buffered.
/// A libudx sender never has more than `rwnd / max_payload` (≤ 3705 at 4 MiB) packets in
/// flight, so nothing a well-behaved peer sends is dropped; the buffer stays below
/// `MAX_OOO_DISTANCE * 2048` bytes whatever the peer sends.
pub const MAX_OOO_DISTANCE: usize = 4096;

/// The largest DATA payload towards `addr` at the base MTU: 1152 (IPv4) or 1132 (IPv6).
#[must_use]
pub const fn max_payload(addr: &SocketAddr) -> usize {
    match addr {
        SocketAddr::V4(_) => BASE_MTU - IPV4_OVERHEAD,
        SocketAddr::V6(_) => BASE_MTU - IPV6_OVERHEAD,
    }
}

/// Where a stream's packets go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Remote {
    pub(crate) socket: SocketId,
    pub(crate) id: u32,
    pub(crate) addr: SocketAddr,
}

/// The output queues a stream writes into, and the time.
pub(crate) struct Io<'a> {
    pub(crate) now: Instant,
    pub(crate) out: &'a mut VecDeque<Transmit>,
    pub(crate) events: &'a mut VecDeque<Event>,
}

/// Counters of one stream. Garbage from the peer is counted here, never a panic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamStats {
    /// UDX datagrams processed by this stream.
    pub packets_received: u64,
    /// DATA/END packets received again (already delivered or already buffered).
    pub duplicates: u64,
    /// DATA/END packets dropped because they lie too far ahead of the cumulative ack.
    pub dropped_out_of_window: u64,
    /// Packets dropped because their data offset points past the end.
    pub dropped_bad_offset: u64,
    /// Packets whose ack covers sequence numbers never sent (ack processing skipped).
    pub acks_beyond_sent: u64,
    /// SACK blocks ignored as invalid.
    pub invalid_sack_blocks: u64,
    /// DATA/END packets sent for the first time.
    pub packets_sent: u64,
    /// DATA/END retransmissions (loss recovery, RTO, tail-loss probes).
    pub retransmissions: u64,
    /// Retransmission-timer expiries.
    pub rto_expiries: u64,
    /// Tail-loss probes sent.
    pub loss_probes: u64,
    /// Packets declared lost by RACK.
    pub rack_losses: u64,
    /// ACK/SACK packets sent.
    pub acks_sent: u64,
    /// Messages received.
    pub messages_received: u64,
    /// Payload bytes delivered in order.
    pub bytes_delivered: u64,
    /// Datagrams forwarded by [`relay_to`](crate::Endpoint::relay_to).
    pub relayed: u64,
}

/// A packet buffered out of order.
#[derive(Debug)]
struct Buffered {
    packet_type: PacketType,
    payload: Vec<u8>,
}

/// The fast-recovery state (§8.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CaState {
    Open,
    Recovery,
    Loss,
}

/// Local END progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LocalEnd {
    Open,
    /// `end()` called; END follows the queued bytes.
    Queued,
    /// END sent with this seq.
    Sent(u32),
    /// END acknowledged (state ENDED).
    Acked,
}

/// One stream.
#[derive(Debug)]
pub(crate) struct Stream {
    pub(crate) local_id: u32,
    firewall: Firewall,
    pub(crate) remote: Option<Remote>,
    /// The socket of the previous remote until a change completes (§5.6).
    old_socket: Option<SocketId>,
    pub(crate) relay_to: Option<u32>,
    pub(crate) closing: Option<CloseReason>,
    pub(crate) stats: StreamStats,

    // Receiver.
    /// Next sequence number expected.
    ack: u32,
    /// `ooo[i]` holds seq `ack + i` if it arrived early (`ooo[0]` is always empty).
    ooo: VecDeque<Option<Buffered>>,
    ooo_count: usize,
    /// The seq of the peer's END, once seen (ENDING_REMOTE).
    remote_end: Option<u32>,
    /// EOF delivered (ENDED_REMOTE).
    ended_remote: bool,
    /// An ACK is owed but the stream had no remote yet.
    ack_needed: bool,

    // Sender.
    /// Next sequence number to send.
    pub(crate) seq: u32,
    remote_acked: u32,
    /// Written bytes not yet packetised.
    pending: SendQueue,
    /// Packets `[remote_acked, seq)`, index = `seq - remote_acked`.
    sent: VecDeque<SentPacket>,
    /// Packets declared lost and not yet resent, by position in the stream's send
    /// history (`sent_base + index`), so that they are resent oldest first.
    lost: BTreeSet<u64>,
    /// The position of `sent[0]` in the send history.
    sent_base: u64,
    in_flight: u32,
    sacked: u32,
    unacked_bytes: usize,
    local_end: LocalEnd,
    send_rwnd: u32,
    wl1: u32,
    wl2: u32,
    cc: Box<dyn CongestionController>,
    rtt: RttEstimator,
    recovery: CaState,
    high_seq: u32,
    rack: send::Rack,
    rto_deadline: Option<Instant>,
    tlp_deadline: Option<Instant>,
    /// A tail-loss probe was sent and no ack has delivered new data since: one probe per
    /// episode (RFC 8985 §7), so the probe neither repeats nor keeps pushing the RTO back.
    tlp_in_flight: bool,
    reorder_deadline: Option<Instant>,
    zwp_deadline: Option<Instant>,
    zwp_count: u32,
    keepalive: Option<Duration>,
    keepalive_deadline: Option<Instant>,
    /// The caller was told to stop writing; an [`Event::Drained`] is owed.
    want_drain: bool,
    /// `seq_of_change` of a pending remote change.
    change: Option<u32>,
    /// Send one new packet ignoring the window (tail-loss probe).
    force_one: bool,
    rate: RateSampler,
    /// The MTU search (§9).
    mtu: MtuSearch,
    /// Pacing token bucket in bytes (§7): may go negative by one packet.
    pacing_tokens: i64,
    /// When the bucket was found empty.
    pacing_empty_at: Option<Instant>,
    pacing_deadline: Option<Instant>,
}

impl Stream {
    pub(crate) fn new(local_id: u32, config: StreamConfig) -> Self {
        let seq = config.initial_seq;
        Self {
            local_id,
            firewall: config.firewall,
            remote: None,
            old_socket: None,
            relay_to: None,
            closing: None,
            stats: StreamStats::default(),
            ack: 0,
            ooo: VecDeque::new(),
            ooo_count: 0,
            remote_end: None,
            ended_remote: false,
            ack_needed: false,
            seq,
            remote_acked: seq,
            pending: SendQueue::default(),
            sent: VecDeque::new(),
            lost: BTreeSet::new(),
            sent_base: 0,
            in_flight: 0,
            sacked: 0,
            unacked_bytes: 0,
            local_end: LocalEnd::Open,
            send_rwnd: RWND,
            wl1: 0,
            wl2: seq,
            cc: config.congestion.unwrap_or_else(|| Box::new(Bbr::new())),
            rtt: RttEstimator::default(),
            recovery: CaState::Open,
            high_seq: seq,
            rack: send::Rack::default(),
            rto_deadline: None,
            tlp_deadline: None,
            tlp_in_flight: false,
            reorder_deadline: None,
            zwp_deadline: None,
            zwp_count: 0,
            keepalive: None,
            keepalive_deadline: None,
            want_drain: false,
            change: None,
            force_one: false,
            rate: RateSampler::default(),
            mtu: MtuSearch::new(config.mtu_probing),
            pacing_tokens: send::INITIAL_PACING_TOKENS,
            pacing_empty_at: None,
            pacing_deadline: None,
        }
    }

    pub(crate) fn is_connected(&self) -> bool {
        self.remote.is_some()
    }

    /// Whether a datagram arriving on `socket` passes the firewall (§5.5). Returns
    /// `(accepted, foreign)`.
    pub(crate) fn admits(&self, socket: SocketId) -> (bool, bool) {
        let own = self.remote.map(|r| r.socket) == Some(socket) || self.old_socket == Some(socket);
        if own {
            (true, false)
        } else {
            (self.firewall == Firewall::AcceptAll, true)
        }
    }

    pub(crate) fn connect(&mut self, io: &mut Io<'_>, remote: Remote, ack: Option<u32>) {
        if let Some(ack) = ack {
            self.ack = ack;
            self.ooo.clear();
            self.ooo_count = 0;
        }
        self.wl1 = self.ack;
        self.remote = Some(remote);
        if let Some(interval) = self.keepalive {
            self.keepalive_deadline = Some(io.now + interval);
        }
        if self.ack_needed {
            self.send_ack(io);
        }
    }

    pub(crate) fn set_keepalive(&mut self, now: Instant, interval: Option<Duration>) {
        self.keepalive = interval.filter(|d| !d.is_zero());
        self.keepalive_deadline = match self.keepalive {
            Some(d) if self.remote.is_some() => Some(now + d),
            _ => None,
        };
    }

    pub(crate) fn change_remote(&mut self, io: &mut Io<'_>, remote: Remote) {
        if let Some(old) = self.remote {
            if old.socket != remote.socket {
                self.old_socket = Some(old.socket);
            }
        }
        self.remote = Some(remote);
        if self.sent.is_empty() {
            self.old_socket = None;
            self.change = None;
            io.events
                .push_back(Event::RemoteChanged { id: self.local_id });
        } else {
            self.change = Some(self.seq);
        }
    }

    /// Sends DESTROY (when connected) and closes (§5.4).
    pub(crate) fn destroy(&mut self, io: &mut Io<'_>) {
        if let (Some(remote), None) = (self.remote, self.relay_to) {
            let repr = Repr::new(PacketType::DESTROY, remote.id, RWND, self.seq, self.ack);
            self.seq = self.seq.wrapping_add(1);
            push_repr(io, remote, &repr);
        }
        self.close(CloseReason::Destroyed);
    }

    pub(crate) fn close(&mut self, reason: CloseReason) {
        if self.closing.is_none() {
            self.closing = Some(reason);
        }
    }

    /// Processes a UDX datagram addressed to this stream that passed the firewall and is
    /// not relayed (§6).
    pub(crate) fn handle_packet(&mut self, io: &mut Io<'_>, packet: &Packet<&[u8]>) {
        self.stats.packets_received += 1;
        let ptype = packet.packet_type();
        if ptype.contains(PacketType::HEARTBEAT) {
            self.send_ack(io);
            return;
        }
        let Ok(payload) = packet.payload() else {
            self.stats.dropped_bad_offset += 1;
            return;
        };
        let seq = packet.seq();
        let reliable = ptype.intersects(PacketType::DATA | PacketType::END);
        if seq_ge(seq, self.ack) {
            if reliable && !self.ended_remote {
                self.receive_reliable(io, ptype, seq, payload);
            }
            if ptype.contains(PacketType::END) {
                self.remote_end = Some(seq);
            }
            if ptype.contains(PacketType::DESTROY) {
                self.close(CloseReason::Reset);
                return;
            }
        } else if reliable {
            self.stats.duplicates += 1;
        }
        if ptype.contains(PacketType::MESSAGE) {
            self.stats.messages_received += 1;
            io.events.push_back(Event::Message {
                id: self.local_id,
                data: payload.to_vec(),
            });
        }
        self.drain_in_order(io);
        if seq_gt(packet.ack(), self.seq) {
            self.stats.acks_beyond_sent += 1;
            return;
        }
        self.process_ack(io, packet);
        if reliable {
            self.send_ack(io);
        }
    }

    fn receive_reliable(&mut self, io: &mut Io<'_>, ptype: PacketType, seq: u32, payload: &[u8]) {
        if seq == self.ack && ptype.contains(PacketType::DATA) {
            self.advance_ack();
            self.deliver(io, payload);
            return;
        }
        let Ok(offset) = usize::try_from(seq_diff(seq, self.ack)) else {
            return;
        };
        if offset >= MAX_OOO_DISTANCE {
            self.stats.dropped_out_of_window += 1;
            return;
        }
        if self.ooo.len() <= offset {
            self.ooo.resize_with(offset + 1, || None);
        }
        match self.ooo.get_mut(offset) {
            Some(slot @ None) => {
                *slot = Some(Buffered {
                    packet_type: ptype,
                    payload: payload.to_vec(),
                });
                self.ooo_count += 1;
            }
            _ => self.stats.duplicates += 1,
        }
    }

    /// `ack += 1`, shifting the out-of-order buffer.
    fn advance_ack(&mut self) {
        self.ack = self.ack.wrapping_add(1);
        if let Some(Some(_)) = self.ooo.pop_front() {
            // Slot 0 is the old `ack`, never occupied while it is the expected seq.
            self.ooo_count = self.ooo_count.saturating_sub(1);
        }
    }

    fn drain_in_order(&mut self, io: &mut Io<'_>) {
        while !self.ended_remote && self.closing.is_none() {
            if !matches!(self.ooo.front(), Some(Some(_))) {
                break;
            }
            let Some(Some(next)) = self.ooo.pop_front() else {
                break;
            };
            self.ooo_count = self.ooo_count.saturating_sub(1);
            self.ack = self.ack.wrapping_add(1);
            if next.packet_type.contains(PacketType::DATA) {
                self.deliver(io, &next.payload);
            }
        }
    }

    fn deliver(&mut self, io: &mut Io<'_>, payload: &[u8]) {
        if payload.is_empty() {
            return;
        }
        self.stats.bytes_delivered += payload.len() as u64;
        io.events.push_back(Event::Data {
            id: self.local_id,
            data: payload.to_vec(),
        });
    }

    /// SACK blocks for the buffered packets: maximal runs `[first, last + 1)` after the
    /// cumulative ack, at most [`MAX_SACK_BLOCKS`].
    fn sack_blocks(&self) -> Vec<SackBlock> {
        let mut blocks = Vec::new();
        let mut run: Option<u32> = None;
        let mut seen = 0;
        for (i, slot) in self.ooo.iter().enumerate() {
            let seq = self.ack.wrapping_add(u32::try_from(i).unwrap_or(u32::MAX));
            match (slot.is_some(), run) {
                (true, None) => run = Some(seq),
                (false, Some(start)) => {
                    blocks.push(SackBlock { start, end: seq });
                    run = None;
                    if blocks.len() == MAX_SACK_BLOCKS || seen >= self.ooo_count {
                        return blocks;
                    }
                }
                _ => {}
            }
            if slot.is_some() {
                seen += 1;
            }
        }
        if let Some(start) = run {
            if blocks.len() < MAX_SACK_BLOCKS {
                let end = self
                    .ack
                    .wrapping_add(u32::try_from(self.ooo.len()).unwrap_or(0));
                blocks.push(SackBlock { start, end });
            }
        }
        blocks
    }

    /// Sends an ACK (or SACK) now, then delivers EOF if the peer's END is covered (§6).
    pub(crate) fn send_ack(&mut self, io: &mut Io<'_>) {
        let Some(remote) = self.remote else {
            self.ack_needed = true;
            return;
        };
        self.ack_needed = false;
        let blocks = if self.ooo_count > 0 {
            self.sack_blocks()
        } else {
            Vec::new()
        };
        let ptype = if blocks.is_empty() {
            PacketType::ACK
        } else {
            PacketType::SACK
        };
        let mut repr = Repr::new(ptype, remote.id, RWND, self.seq, self.ack);
        repr.sacks = SackList::from_blocks(&blocks);
        push_repr(io, remote, &repr);
        self.stats.acks_sent += 1;
        if let Some(end) = self.remote_end {
            if !self.ended_remote && seq_lt(end, self.ack) {
                self.ended_remote = true;
                io.events.push_back(Event::End { id: self.local_id });
                if self.local_end == LocalEnd::Acked {
                    self.close(CloseReason::Ended);
                }
            }
        }
    }

    /// Slots of the out-of-order buffer (bounded by [`MAX_OOO_DISTANCE`]).
    #[cfg(test)]
    pub(crate) fn buffered_packets(&self) -> usize {
        self.ooo.len()
    }

    /// Earliest timer of this stream.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        [
            self.rto_deadline,
            self.tlp_deadline,
            self.reorder_deadline,
            self.zwp_deadline,
            self.keepalive_deadline,
            self.pacing_deadline,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}

/// Emits `repr` towards `remote` into the transmit queue.
pub(crate) fn push_repr(io: &mut Io<'_>, remote: Remote, repr: &Repr<'_>) {
    let mut contents = Vec::with_capacity(repr.buffer_len());
    // Every packet a stream builds is within the 2048-byte limit and well formed; an
    // error here would be a bug, and the packet is then simply not sent.
    if repr.emit_to_vec(&mut contents).is_ok() {
        io.out.push_back(Transmit {
            socket: remote.socket,
            destination: remote.addr,
            contents,
            ttl: None,
        });
    }
}
