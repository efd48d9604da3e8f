//! The `udx_endpoint` target: two sans-IO UDX endpoints, each with one stream connected to
//! the other, driven by a script decoded from the input.
//!
//! Endpoint `a` is the one under attack: besides the packets of its peer `b` it receives
//! raw input bytes and mutated valid packets. Time is virtual (a base `Instant` plus offsets
//! from the input) and only moves forward.
//!
//! Asserts, for both endpoints:
//! - nothing panics;
//! - every datagram sent is at most 1500 bytes, goes from socket 0 to the peer's address,
//!   is UDX and parses with the wire codec (`Repr::parse`), names the peer's stream id;
//! - right after `handle_timeout(now)`, `poll_timeout` is `None` or not before `now`;
//! - in-order data handed out equals a prefix of what the peer wrote (for `a` as long as
//!   no foreign packet reached its stream), never follows `End`, and the per-stream
//!   `bytes_delivered` counter equals the data handed out; a message received by a clean
//!   `a` is one `b` sent; counters never exceed the packets received;
//! - out-of-order buffer cap: a DATA packet at least `MAX_OOO_DISTANCE` past every
//!   sequence number the stream can have acknowledged is dropped and counted in
//!   `dropped_out_of_window` (unless the peer already ended), and its bytes are never
//!   delivered;
//! - after `Closed`, the stream id is free (`has_stream` is false), a UDX datagram for it
//!   comes back as `NotUdx`, and the endpoint never transmits again;
//! - completion: after the script, with lossless delivery and time running to each
//!   timer until nothing is pending (or 60 s of virtual time pass without a delivered
//!   byte), every byte written is delivered and ends are seen, unless a stream closed
//!   otherwise or `a` took a foreign packet (which may forge acknowledgements).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use plures_udx::seq::seq_max;
use plures_udx::wire::{Packet, PacketType, Repr, SackBlock, SackList, is_udx};
use plures_udx::{
    CloseReason, Endpoint, Event, MAX_OOO_DISTANCE, RWND, Received, SocketId, StreamConfig,
    Transmit,
};

use crate::script::{Clock, Cursor};

/// Largest datagram the endpoint may build (below any Ethernet MTU).
const MAX_SENT: usize = 1500;
/// Upper bound on bytes written per run, to keep runs fast.
const MAX_WRITTEN: u64 = 256 * 1024;
/// Steps of the completion phase.
const FINISH_STEPS: usize = 100_000;
/// The completion phase gives up after this much virtual time without a delivered byte. It
/// must outlast the longest legitimate silence: the RTO is capped at 30 s and an expiry
/// re-arms the timer to twice that, so a sender may wait 60 s between retransmissions.
const STALL: Duration = Duration::from_secs(150);

/// The byte at stream offset `k` of everything a side writes: aperiodic enough that a
/// shifted or repeated chunk does not match.
fn pattern(k: u64) -> u8 {
    (k.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as u8
}

struct Side {
    ep: Endpoint,
    id: u32,
    remote_id: u32,
    addr: SocketAddr,
    peer_addr: SocketAddr,
    /// Bytes written (the pattern offset of the next write).
    written: u64,
    /// Bytes handed out in order by the stream.
    received: u64,
    /// Messages this side sent.
    messages: Vec<Vec<u8>>,
    ended: bool,
    got_end: bool,
    closed: Option<CloseReason>,
    /// Only the peer's packets ever reached the stream.
    clean: bool,
    /// Seq after the highest reliable packet this side sent.
    next_seq: u32,
    /// The ack field of the newest packet this side sent.
    last_ack: u32,
}

impl Side {
    fn new(id: u32, remote_id: u32, addr: SocketAddr, peer_addr: SocketAddr) -> Self {
        let mut ep = Endpoint::new();
        ep.create_stream(id, StreamConfig::default())
            .expect("a fresh endpoint has the id free");
        Self {
            ep,
            id,
            remote_id,
            addr,
            peer_addr,
            written: 0,
            received: 0,
            messages: Vec::new(),
            ended: false,
            got_end: false,
            closed: None,
            clean: true,
            next_seq: 0,
            last_ack: 0,
        }
    }

    /// Drains transmits into `wire`, checking each.
    fn drain(&mut self, wire: &mut VecDeque<Vec<u8>>) {
        while let Some(t) = self.ep.poll_transmit() {
            assert!(self.closed.is_none(), "transmit after Closed: {t:?}");
            self.check_transmit(&t);
            wire.push_back(t.contents);
            assert!(wire.len() < 1 << 16, "unbounded transmit queue");
        }
    }

    fn check_transmit(&mut self, t: &Transmit) {
        assert!(
            t.contents.len() <= MAX_SENT,
            "datagram of {} bytes",
            t.contents.len()
        );
        assert_eq!(t.socket, SocketId(0));
        assert_eq!(t.destination, self.peer_addr);
        assert!(is_udx(&t.contents), "non-UDX datagram from a stream");
        let packet = Packet::new_checked(&t.contents[..]).expect("sent packet checks");
        let repr = Repr::parse(&packet).expect("sent packet parses");
        assert_eq!(repr.id, self.remote_id, "packet for the wrong stream");
        if repr
            .packet_type
            .intersects(PacketType::DATA.union(PacketType::END))
        {
            self.next_seq = seq_max(self.next_seq, repr.seq.wrapping_add(1));
        }
        self.last_ack = repr.ack;
    }

    /// Drains events, checking them against what `peer` wrote and sent.
    fn events(&mut self, peer_written: u64, peer_messages: &[Vec<u8>]) {
        while let Some(e) = self.ep.poll_event() {
            match e {
                Event::Data { id, data } => {
                    assert_eq!(id, self.id);
                    assert!(!self.got_end, "data after End");
                    if self.clean {
                        for (i, &b) in data.iter().enumerate() {
                            assert_eq!(b, pattern(self.received + i as u64), "corrupt data");
                        }
                        assert!(self.received + data.len() as u64 <= peer_written);
                    }
                    self.received += data.len() as u64;
                }
                Event::End { id } => {
                    assert_eq!(id, self.id);
                    assert!(!self.got_end, "End twice");
                    self.got_end = true;
                }
                Event::Message { id, data } => {
                    assert_eq!(id, self.id);
                    if self.clean {
                        assert!(peer_messages.contains(&data), "message never sent");
                    }
                }
                Event::Closed { id, reason } => {
                    assert_eq!(id, self.id);
                    assert!(self.closed.is_none(), "Closed twice");
                    self.closed = Some(reason);
                    assert!(!self.ep.has_stream(id), "closed id still in use");
                    assert!(self.ep.stream_stats(id).is_none());
                }
                Event::Drained { id } | Event::RemoteChanged { id } => assert_eq!(id, self.id),
                Event::Incoming { .. } => panic!("Incoming on a connected stream"),
                _ => {}
            }
        }
        if let Some(stats) = self.ep.stream_stats(self.id) {
            assert_eq!(stats.bytes_delivered, self.received, "bytes_delivered");
            let ep = self.ep.stats();
            assert!(stats.packets_received <= ep.consumed);
            assert!(stats.duplicates + stats.dropped_out_of_window <= stats.packets_received);
            assert!(stats.messages_received <= stats.packets_received);
        }
    }

    /// Feeds one datagram from `from`.
    fn deliver(&mut self, clock: &Clock, from: SocketAddr, datagram: &[u8]) -> Received {
        let r = self
            .ep
            .handle_datagram(clock.now(), SocketId(0), from, datagram);
        if self.closed.is_some() {
            assert_eq!(r, Received::NotUdx, "a closed stream took a datagram");
        }
        r
    }

    fn timeout(&mut self, clock: &Clock) {
        let now = clock.now();
        self.ep.handle_timeout(now);
        if let Some(t) = self.ep.poll_timeout() {
            assert!(t >= now, "poll_timeout in the past after handle_timeout");
        }
    }

    fn write(&mut self, clock: &Clock, len: usize) {
        if self.written + len as u64 > MAX_WRITTEN {
            return;
        }
        let data: Vec<u8> = (0..len as u64).map(|i| pattern(self.written + i)).collect();
        if self.ep.write(clock.now(), self.id, &data).is_ok() {
            assert!(!self.ended && self.closed.is_none());
            self.written += len as u64;
        }
    }

    fn done(&self) -> bool {
        self.closed.is_some()
    }
}

struct World {
    clock: Clock,
    a: Side,
    b: Side,
    /// Datagrams in flight a → b and b → a.
    ab: VecDeque<Vec<u8>>,
    ba: VecDeque<Vec<u8>>,
}

impl World {
    fn settle(&mut self) {
        self.a.drain(&mut self.ab);
        self.b.drain(&mut self.ba);
        self.a.events(self.b.written, &self.b.messages);
        self.b.events(self.a.written, &self.a.messages);
        // Events can queue transmits (none today), and closing can happen in `events`.
        self.a.drain(&mut self.ab);
        self.b.drain(&mut self.ba);
    }

    /// Delivers up to `n` packets b → a (or a → b), dropping those whose bit is set.
    fn pump(&mut self, to_a: bool, n: usize, drop_mask: u8) {
        for i in 0..n {
            let (queue, side, from) = if to_a {
                (&mut self.ba, &mut self.a, self.b.addr)
            } else {
                (&mut self.ab, &mut self.b, self.a.addr)
            };
            let Some(d) = queue.pop_front() else { break };
            if drop_mask >> (i % 8) & 1 == 1 {
                continue;
            }
            let r = side.deliver(&self.clock, from, &d);
            if side.closed.is_none() {
                assert_eq!(r, Received::Consumed, "own peer's packet not consumed");
            }
            self.settle();
        }
    }

    /// A foreign datagram for `a`: marks it unclean if the stream took it.
    fn inject(&mut self, from: SocketAddr, datagram: &[u8]) {
        let before = self
            .a
            .ep
            .stream_stats(self.a.id)
            .map(|s| s.packets_received);
        let r = self.a.deliver(&self.clock, from, datagram);
        let ours = is_udx(datagram) && Packet::new_unchecked(datagram).id() == self.a.id;
        if r == Received::Consumed {
            assert!(ours, "consumed a datagram for no stream");
            self.a.clean = false;
        } else {
            assert!(
                !ours || before.is_none(),
                "live stream refused its datagram"
            );
        }
        self.settle();
    }

    /// A DATA packet far past anything `a` can have acknowledged must be dropped.
    fn probe_far(&mut self, extra: u32) {
        if !self.a.clean || self.a.closed.is_some() {
            return;
        }
        // `a`'s cumulative ack is at most one past the highest seq `b` sent.
        let seq = self
            .b
            .next_seq
            .wrapping_add(MAX_OOO_DISTANCE as u32)
            .wrapping_add(extra % 100_000);
        let mut repr = Repr::new(PacketType::DATA, self.a.id, RWND, seq, self.b.last_ack);
        repr.payload = b"far";
        let mut buf = Vec::new();
        repr.emit_to_vec(&mut buf)
            .expect("a small DATA packet emits");
        let before = self.a.ep.stream_stats(self.a.id).expect("live stream");
        let received = self.a.received;
        let r = self.a.deliver(&self.clock, self.b.addr, &buf);
        assert_eq!(r, Received::Consumed);
        self.settle();
        // After the peer's END the stream takes no more reliable packets at all.
        if self.a.closed.is_none() && !self.a.got_end {
            let after = self.a.ep.stream_stats(self.a.id).expect("live stream");
            assert_eq!(
                after.dropped_out_of_window,
                before.dropped_out_of_window + 1,
                "far packet buffered (seq {seq}, peer next seq {})",
                self.b.next_seq
            );
        }
        assert_eq!(self.a.received, received, "far packet delivered");
    }

    fn mutated(&mut self, c: &mut Cursor<'_>) {
        let kind = c.u8();
        let packet_type = PacketType::from_bits_retain(c.u8());
        let id = match kind & 3 {
            0 | 1 => self.a.id,
            2 => self.b.id,
            _ => c.u32(),
        };
        let rwnd = match kind >> 2 & 3 {
            0 => RWND,
            1 => 0,
            2 => u32::from(c.u16()),
            _ => c.u32(),
        };
        let seq = self.b.next_seq.wrapping_add(c.u8() as i8 as u32);
        let ack = self.a.next_seq.wrapping_add(c.u8() as i8 as u32);
        let nblocks = usize::from(kind >> 4 & 3);
        let blocks: Vec<SackBlock> = (0..nblocks)
            .map(|_| {
                let start = ack.wrapping_add(u32::from(c.u8()));
                SackBlock {
                    start,
                    end: start.wrapping_add(u32::from(c.u8() % 8)),
                }
            })
            .collect();
        let len = usize::from(c.u8() % 64);
        let payload = c.bytes(len);
        let mut repr = Repr::new(packet_type, id, rwnd, seq, ack);
        if packet_type.contains(PacketType::SACK) {
            repr.sacks = SackList::from_blocks(&blocks);
        }
        repr.payload = payload;
        if kind >> 6 == 3 {
            repr.padding = c.u8() % 4;
        }
        let mut buf = Vec::new();
        if repr.emit_to_vec(&mut buf).is_ok() {
            let from = if kind & 0x80 == 0 {
                self.b.addr
            } else {
                "10.9.8.7:4000".parse().expect("address")
            };
            self.inject(from, &buf);
        }
    }

    fn finish(&mut self) {
        let mut progress = (self.a.received, self.b.received, self.clock.now());
        for _ in 0..FINISH_STEPS {
            if (self.a.received, self.b.received) != (progress.0, progress.1) {
                progress = (self.a.received, self.b.received, self.clock.now());
            } else if self.clock.now() - progress.2 > STALL {
                break;
            }
            if !self.ab.is_empty() || !self.ba.is_empty() {
                self.pump(true, self.ba.len(), 0);
                self.pump(false, self.ab.len(), 0);
                continue;
            }
            let next = [self.a.ep.poll_timeout(), self.b.ep.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            let Some(t) = next else { break };
            self.clock.advance_to(t);
            self.a.timeout(&self.clock);
            self.b.timeout(&self.clock);
            self.settle();
        }
        let a_ok = matches!(self.a.closed, None | Some(CloseReason::Ended));
        let b_ok = matches!(self.b.closed, None | Some(CloseReason::Ended));
        if a_ok && b_ok && self.a.clean {
            assert_eq!(self.b.received, self.a.written, "a → b transfer incomplete");
            assert_eq!(self.a.received, self.b.written, "b → a transfer incomplete");
            assert_eq!(self.b.got_end, self.a.ended, "a's END not seen");
            assert_eq!(self.a.got_end, self.b.ended, "b's END not seen");
            if self.a.ended && self.b.ended {
                assert_eq!(self.a.closed, Some(CloseReason::Ended));
                assert_eq!(self.b.closed, Some(CloseReason::Ended));
            }
        }
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let flags = c.u8();
    let addr_a: SocketAddr = if flags & 1 == 0 {
        "127.0.0.1:5001".parse().expect("address")
    } else {
        "[::1]:5001".parse().expect("address")
    };
    let addr_b: SocketAddr = if flags & 2 == 0 {
        "127.0.0.2:5002".parse().expect("address")
    } else {
        "[::2]:5002".parse().expect("address")
    };
    let clock = Clock::new();
    let (id_a, id_b) = (1, 2);
    let mut w = World {
        a: Side::new(id_a, id_b, addr_a, addr_b),
        b: Side::new(id_b, id_a, addr_b, addr_a),
        clock,
        ab: VecDeque::new(),
        ba: VecDeque::new(),
    };
    let now = w.clock.now();
    for side in [&mut w.a, &mut w.b] {
        side.ep
            .connect(
                now,
                side.id,
                SocketId(0),
                side.remote_id,
                side.peer_addr,
                Some(0),
            )
            .expect("connect");
    }
    w.settle();

    let mut steps = 0;
    while !c.is_empty() && steps < 512 {
        steps += 1;
        let op = c.u8();
        let arg = c.u8();
        match op % 13 {
            0 => w.pump(true, usize::from(arg % 8) + 1, c.u8()),
            1 => w.pump(false, usize::from(arg % 8) + 1, c.u8()),
            2 => {
                let raw = c.bytes(usize::from(arg)).to_vec();
                let from = if op & 0x80 == 0 {
                    w.b.addr
                } else {
                    "10.0.0.9:9".parse().expect("address")
                };
                w.inject(from, &raw);
            }
            3 => w.mutated(&mut c),
            4 => {
                let ms = u64::from(arg) * u64::from(c.u8() % 64 + 1);
                w.clock.advance(Duration::from_millis(ms));
                w.a.timeout(&w.clock);
                w.b.timeout(&w.clock);
                w.settle();
            }
            5 | 6 => {
                let len = usize::from(arg) * 37 + usize::from(c.u8());
                let side = if op % 13 == 5 { &mut w.a } else { &mut w.b };
                side.write(&w.clock, len);
                w.settle();
            }
            7 | 8 => {
                let side = if op % 13 == 7 { &mut w.a } else { &mut w.b };
                if side.ep.end(w.clock.now(), side.id).is_ok() {
                    side.ended = true;
                }
                w.settle();
            }
            9 | 10 => {
                let side = if op % 13 == 9 { &mut w.a } else { &mut w.b };
                let len = usize::from(arg) * 5;
                let msg: Vec<u8> = (0..len).map(|i| (i as u8) ^ op).collect();
                if side.ep.send_message(w.clock.now(), side.id, &msg).is_ok() {
                    side.messages.push(msg);
                }
                w.settle();
            }
            11 => {
                // Destroy only now and then, or few scripts would get far.
                if arg > 240 {
                    let side = if arg & 1 == 0 { &mut w.a } else { &mut w.b };
                    let _ = side.ep.destroy(w.clock.now(), side.id);
                    w.settle();
                    let side = if arg & 1 == 0 { &w.a } else { &w.b };
                    assert!(side.done(), "destroy did not close");
                }
            }
            _ => w.probe_far(u32::from(arg) * 397),
        }
        // A closed stream's id takes no datagrams.
        if w.a.closed.is_some() {
            let repr = Repr::new(PacketType::ACK, w.a.id, RWND, 0, 0);
            let mut buf = Vec::new();
            repr.emit_to_vec(&mut buf).expect("emits");
            assert_eq!(w.a.deliver(&w.clock, w.b.addr, &buf), Received::NotUdx);
            assert!(!w.a.ep.has_stream(w.a.id));
        }
    }
    w.finish();
}
