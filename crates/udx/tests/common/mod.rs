//! Shared harness of the `sim_*` tests: a [`Peer`] runs one UDX [`Endpoint`] as a
//! `plures-sim` host, with a tiny application per stream that either writes a deterministic
//! byte pattern (respecting backpressure) or hashes what it reads.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use plures_sim::{Host, HostId, LinkConfig, Sim, Stats, Transmit};
use plures_udx::wire::{Packet, PacketType, is_udx};
use plures_udx::{CloseReason, Endpoint, Event, SocketId, StreamConfig, StreamError, StreamStats};

pub(crate) const MIB: u64 = 1 << 20;

/// Bytes handed to one `Endpoint::write` call.
const CHUNK: usize = 64 * 1024;

pub(crate) fn addr_a() -> SocketAddr {
    "198.51.100.1:4000".parse().unwrap()
}

pub(crate) fn addr_b() -> SocketAddr {
    "198.51.100.2:5000".parse().unwrap()
}

/// One step of splitmix64: the pattern generator.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Fills `buf` with the test pattern starting at stream offset `offset`: byte `i` of the
/// stream is byte `i % 8` of `mix(i / 8)`, so any slice can be produced independently.
pub(crate) fn fill_pattern(offset: u64, buf: &mut [u8]) {
    let mut pos = offset;
    let mut i = 0;
    while i < buf.len() {
        let word = mix(pos / 8).to_le_bytes();
        let start = (pos % 8) as usize;
        let n = (8 - start).min(buf.len() - i);
        buf[i..i + n].copy_from_slice(&word[start..start + n]);
        i += n;
        pos += n as u64;
    }
}

/// 64-bit FNV-1a.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fnv(pub(crate) u64);

impl Default for Fnv {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    pub(crate) fn update(&mut self, data: &[u8]) {
        let mut h = self.0;
        for &b in data {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        self.0 = h;
    }
}

/// The hash of the first `len` pattern bytes.
pub(crate) fn pattern_hash(len: u64) -> Fnv {
    let mut h = Fnv::default();
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0;
    while off < len {
        let n = CHUNK.min((len - off) as usize);
        fill_pattern(off, &mut buf[..n]);
        h.update(&buf[..n]);
        off += n as u64;
    }
    h
}

/// The application on one stream: a writer (`to_write > 0`), a reader, or both.
#[derive(Debug, Default)]
pub(crate) struct App {
    /// Pattern bytes to write, then `end` when `end_after_write`.
    pub(crate) to_write: u64,
    pub(crate) end_after_write: bool,
    /// Call `end` as soon as the peer's END arrives (half close back).
    pub(crate) end_on_eof: bool,
    pub(crate) written: u64,
    pub(crate) ended: bool,
    pub(crate) blocked: bool,
    pub(crate) drained_events: u64,
    pub(crate) write_error: Option<StreamError>,
    /// Reader side.
    pub(crate) received: u64,
    pub(crate) hash: Fnv,
    pub(crate) first_data: Option<Instant>,
    pub(crate) last_data: Option<Instant>,
    pub(crate) got_end: Option<Instant>,
    pub(crate) closed: Option<(Instant, CloseReason)>,
    /// The stream's counters as last seen before it closed (the endpoint forgets them).
    pub(crate) stats: StreamStats,
}

impl App {
    pub(crate) fn writer(bytes: u64) -> Self {
        Self {
            to_write: bytes,
            end_after_write: true,
            ..Self::default()
        }
    }

    pub(crate) fn reader() -> Self {
        Self {
            end_on_eof: true,
            ..Self::default()
        }
    }

    /// Writes until the endpoint pushes back or everything is queued; then ends.
    fn write_some(&mut self, ep: &mut Endpoint, now: Instant, id: u32) -> bool {
        if self.closed.is_some() || self.ended || self.write_error.is_some() {
            return false;
        }
        let mut did = false;
        let mut buf = Vec::new();
        while !self.blocked && self.written < self.to_write {
            let n = CHUNK.min((self.to_write - self.written) as usize);
            buf.resize(n, 0);
            fill_pattern(self.written, &mut buf);
            match ep.write(now, id, &buf) {
                Ok(accepting) => {
                    self.written += n as u64;
                    self.blocked = !accepting;
                    did = true;
                }
                Err(e) => {
                    self.write_error = Some(e);
                    return true;
                }
            }
        }
        if self.end_after_write && self.written == self.to_write {
            if let Err(e) = ep.end(now, id) {
                self.write_error = Some(e);
            }
            self.ended = true;
            did = true;
        }
        did
    }
}

/// Per-stream RTT probe from the sender's view: the first transmission time of every DATA
/// packet, sampled when a cumulative ack first covers exactly that packet (Karn: packets
/// sent more than once are not sampled).
#[derive(Debug, Default)]
struct RttProbe {
    /// remote id → seq → (first sent, sent more than once).
    sent: HashMap<u32, BTreeMap<u32, (Instant, bool)>>,
}

/// A simulated machine with one UDP socket running one UDX endpoint.
pub(crate) struct Peer {
    pub(crate) ep: Endpoint,
    pub(crate) addr: SocketAddr,
    pub(crate) apps: BTreeMap<u32, App>,
    /// local id → remote id.
    remote_of: BTreeMap<u32, u32>,
    /// The largest datagram the endpoint produced.
    pub(crate) max_datagram: usize,
    pub(crate) not_udx: u64,
    /// Streams opened from now on search for a larger MTU (§9).
    pub(crate) mtu_probing: bool,
    rtt: RttProbe,
    /// (local id, when the ack arrived, RTT).
    pub(crate) rtt_samples: Vec<(u32, Instant, Duration)>,
}

impl Peer {
    pub(crate) fn new(addr: SocketAddr) -> Self {
        Self {
            ep: Endpoint::new(),
            addr,
            apps: BTreeMap::new(),
            remote_of: BTreeMap::new(),
            max_datagram: 0,
            not_udx: 0,
            mtu_probing: false,
            rtt: RttProbe::default(),
            rtt_samples: Vec::new(),
        }
    }

    /// Creates stream `id`, connects it to `remote_id` at `remote`, and starts `app`.
    pub(crate) fn open(
        &mut self,
        now: Instant,
        id: u32,
        remote_id: u32,
        remote: SocketAddr,
        app: App,
    ) {
        let config = StreamConfig::default().with_mtu_probing(self.mtu_probing);
        self.ep.create_stream(id, config).unwrap();
        self.ep
            .connect(now, id, SocketId(0), remote_id, remote, None)
            .unwrap();
        self.remote_of.insert(id, remote_id);
        self.apps.insert(id, app);
        self.pump(now);
    }

    /// Lets the writer on stream `id` write `bytes` more pattern bytes.
    pub(crate) fn write_more(&mut self, now: Instant, id: u32, bytes: u64) {
        self.apps.get_mut(&id).unwrap().to_write += bytes;
        self.pump(now);
    }

    pub(crate) fn app(&self, id: u32) -> &App {
        &self.apps[&id]
    }

    /// Lets the applications react to the endpoint's events; true if anything happened.
    fn pump(&mut self, now: Instant) -> bool {
        let mut did = false;
        loop {
            for (&id, app) in &mut self.apps {
                did |= app.write_some(&mut self.ep, now, id);
            }
            let Some(event) = self.ep.poll_event() else {
                break;
            };
            did = true;
            match event {
                Event::Data { id, data } => {
                    if let Some(app) = self.apps.get_mut(&id) {
                        app.first_data.get_or_insert(now);
                        app.last_data = Some(now);
                        app.received += data.len() as u64;
                        app.hash.update(&data);
                    }
                }
                Event::End { id } => {
                    if let Some(app) = self.apps.get_mut(&id) {
                        app.got_end = Some(now);
                        if app.end_on_eof && !app.ended {
                            app.ended = true;
                            if let Err(e) = self.ep.end(now, id) {
                                app.write_error = Some(e);
                            }
                        }
                    }
                }
                Event::Drained { id } => {
                    if let Some(app) = self.apps.get_mut(&id) {
                        app.blocked = false;
                        app.drained_events += 1;
                    }
                }
                Event::Closed { id, reason } => {
                    if let Some(app) = self.apps.get_mut(&id) {
                        app.closed = Some((now, reason));
                    }
                }
                _ => {}
            }
        }
        for (&id, app) in &mut self.apps {
            if let Some(s) = self.ep.stream_stats(id) {
                app.stats = s;
            }
        }
        did
    }

    fn note_sent_at(&mut self, now: Instant, contents: &[u8]) {
        if !is_udx(contents) {
            return;
        }
        let p = Packet::new_unchecked(contents);
        if !p.packet_type().contains(PacketType::DATA) {
            return;
        }
        self.rtt
            .sent
            .entry(p.id())
            .or_default()
            .entry(p.seq())
            .and_modify(|e| e.1 = true)
            .or_insert((now, false));
    }

    fn note_received(&mut self, now: Instant, contents: &[u8]) {
        if !is_udx(contents) {
            return;
        }
        let p = Packet::new_unchecked(contents);
        let Some(&remote) = self.remote_of.get(&p.id()) else {
            return;
        };
        let Some(sent) = self.rtt.sent.get_mut(&remote) else {
            return;
        };
        let ack = p.ack();
        if ack == 0 {
            return;
        }
        if let Some(&(at, again)) = sent.get(&(ack - 1)) {
            if !again {
                self.rtt_samples.push((p.id(), now, now - at));
            }
        }
        *sent = sent.split_off(&ack);
    }
}

impl Host for Peer {
    fn handle_datagram(&mut self, now: Instant, _local: SocketAddr, from: SocketAddr, data: &[u8]) {
        self.note_received(now, data);
        if self.ep.handle_datagram(now, SocketId(0), from, data) == plures_udx::Received::NotUdx {
            self.not_udx += 1;
        }
        self.pump(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.ep.handle_timeout(now);
        self.pump(now);
    }

    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        loop {
            if let Some(t) = self.ep.poll_transmit() {
                self.max_datagram = self.max_datagram.max(t.contents.len());
                self.note_sent_at(now, &t.contents);
                return Some(Transmit {
                    source: self.addr,
                    destination: t.destination,
                    contents: t.contents,
                    ttl: t.ttl,
                });
            }
            // Packetising may have produced events (e.g. a close); let the apps react.
            if !self.pump(now) {
                return None;
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.ep.poll_timeout()
    }
}

/// The two hosts of a point-to-point scenario: `a` (198.51.100.1:4000) and `b`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Pair {
    pub(crate) a: HostId,
    pub(crate) b: HostId,
}

impl Pair {
    /// Adds the two hosts; `link` becomes the default link (both directions).
    pub(crate) fn new(sim: &mut Sim, link: LinkConfig) -> Self {
        sim.set_default_link(link);
        let a = sim.add_host(Peer::new(addr_a()), &[addr_a()]);
        let b = sim.add_host(Peer::new(addr_b()), &[addr_b()]);
        Self { a, b }
    }

    pub(crate) fn peer_a<'s>(&self, sim: &'s Sim) -> &'s Peer {
        sim.host::<Peer>(self.a)
    }

    pub(crate) fn peer_b<'s>(&self, sim: &'s Sim) -> &'s Peer {
        sim.host::<Peer>(self.b)
    }

    /// Opens stream `id_a` on A (writing `bytes` then ending) to stream `id_b` on B (a
    /// reader that ends back at EOF).
    pub(crate) fn start(&self, sim: &mut Sim, id_a: u32, id_b: u32, bytes: u64) {
        let now = sim.now();
        sim.host_mut::<Peer>(self.b)
            .open(now, id_b, id_a, addr_a(), App::reader());
        sim.host_mut::<Peer>(self.a)
            .open(now, id_a, id_b, addr_b(), App::writer(bytes));
    }
}

/// What a finished transfer measured.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) bytes: u64,
    /// Start to the receiver's `End` event.
    pub(crate) transfer_time: Duration,
    /// Start to both streams closed.
    pub(crate) total_time: Duration,
    pub(crate) sender: StreamStats,
    pub(crate) receiver: StreamStats,
    pub(crate) sender_close: CloseReason,
    pub(crate) receiver_close: CloseReason,
    pub(crate) sim: Stats,
    pub(crate) max_datagram: usize,
}

impl Outcome {
    /// Goodput in Mbit/s (payload bytes over start → receiver EOF).
    pub(crate) fn goodput_mbps(&self) -> f64 {
        self.bytes as f64 * 8.0 / self.transfer_time.as_secs_f64() / 1e6
    }

    pub(crate) fn print(&self, name: &str, seed: u64) {
        let ab = self.sim.total();
        println!(
            "{name}: seed {seed}, {} MiB in {:.3} s virtual ({:.3} s to close), goodput {:.1} Mbit/s, \
             {} sent / {} retransmitted ({:.2} %), {} RTOs, {} TLPs, {} RACK losses; \
             receiver {} duplicates; network: {} datagrams, {} lost, {} duplicated, {} dropped by rate; \
             close {:?}/{:?}",
            self.bytes as f64 / MIB as f64,
            self.transfer_time.as_secs_f64(),
            self.total_time.as_secs_f64(),
            self.goodput_mbps(),
            self.sender.packets_sent,
            self.sender.retransmissions,
            100.0 * self.sender.retransmissions as f64 / self.sender.packets_sent.max(1) as f64,
            self.sender.rto_expiries,
            self.sender.loss_probes,
            self.sender.rack_losses,
            self.receiver.duplicates,
            ab.sent,
            ab.lost,
            ab.duplicated,
            ab.dropped_rate,
            self.sender_close,
            self.receiver_close,
        );
    }
}

/// Sends `bytes` pattern bytes from A to B over `link` and runs until both streams closed,
/// within `limits`. Asserts the bytes arrived exactly (length and hash) and that A closed
/// cleanly; B may close `TimedOut` if the very last ACK was lost (no TIME-WAIT in UDX).
pub(crate) fn transfer(
    sim: &mut Sim,
    link: LinkConfig,
    bytes: u64,
    limits: plures_sim::Limits,
) -> Outcome {
    sim.set_limits(limits);
    let pair = Pair::new(sim, link);
    let start = sim.now();
    pair.start(sim, 1, 2, bytes);
    let done =
        |s: &Sim| pair.peer_a(s).app(1).closed.is_some() && pair.peer_b(s).app(2).closed.is_some();
    if let Err(e) = sim.run_until_cond(done) {
        let a = pair.peer_a(sim).app(1);
        let b = pair.peer_b(sim).app(2);
        panic!(
            "transfer did not finish: {e}; A wrote {} closed {:?} stats {:?}; B received {} end {:?} closed {:?}",
            a.written, a.closed, a.stats, b.received, b.got_end, b.closed
        );
    }
    let a = pair.peer_a(sim).app(1);
    let b = pair.peer_b(sim).app(2);
    assert_eq!(a.write_error, None);
    assert_eq!(b.received, bytes, "length");
    assert_eq!(b.hash, pattern_hash(bytes), "content hash");
    let got_end = b.got_end.expect("B saw END");
    let (a_at, a_reason) = a.closed.unwrap();
    let (b_at, b_reason) = b.closed.unwrap();
    assert_eq!(a_reason, CloseReason::Ended, "sender close");
    assert!(
        matches!(b_reason, CloseReason::Ended | CloseReason::TimedOut),
        "receiver close {b_reason:?}"
    );
    Outcome {
        bytes,
        transfer_time: got_end - start,
        total_time: a_at.max(b_at) - start,
        sender: a.stats,
        receiver: b.stats,
        sender_close: a_reason,
        receiver_close: b_reason,
        sim: sim.stats().clone(),
        max_datagram: pair
            .peer_a(sim)
            .max_datagram
            .max(pair.peer_b(sim).max_datagram),
    }
}
