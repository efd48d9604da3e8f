//! Small hosts used by the tests.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use plures_sim::{Host, Transmit};

pub(crate) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn tx(source: SocketAddr, destination: SocketAddr, contents: Vec<u8>) -> Transmit {
    Transmit {
        source,
        destination,
        contents,
        ttl: None,
    }
}

/// Sends every datagram back to where it came from.
#[derive(Default)]
pub(crate) struct Echo {
    out: VecDeque<Transmit>,
}

impl Echo {
    /// An echo host that first sends `first`.
    pub(crate) fn starting(first: Transmit) -> Self {
        Self {
            out: VecDeque::from([first]),
        }
    }
}

impl Host for Echo {
    fn handle_datagram(&mut self, _: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        self.out.push_back(tx(local, from, data.to_vec()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// Sends `ping <n>` to its peer every `interval` (until `count` pings), answers every ping
/// with `pong <n>`, and records the pongs it gets.
pub(crate) struct PingPong {
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) interval: Duration,
    pub(crate) count: u32,
    pub(crate) sent: u32,
    pub(crate) next: Option<Instant>,
    pub(crate) pongs: Vec<(Instant, u32)>,
    out: VecDeque<Transmit>,
}

impl PingPong {
    pub(crate) fn new(
        start: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        interval: Duration,
        count: u32,
    ) -> Self {
        Self {
            local,
            peer,
            interval,
            count,
            sent: 0,
            next: (count > 0).then_some(start),
            pongs: Vec::new(),
            out: VecDeque::new(),
        }
    }
}

impl Host for PingPong {
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        let text = std::str::from_utf8(data).unwrap();
        let (kind, n) = text.split_once(' ').unwrap();
        let n: u32 = n.parse().unwrap();
        match kind {
            "ping" => self
                .out
                .push_back(tx(local, from, format!("pong {n}").into_bytes())),
            "pong" => self.pongs.push((now, n)),
            _ => panic!("unexpected {text}"),
        }
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.out.push_back(tx(
            self.local,
            self.peer,
            format!("ping {}", self.sent).into_bytes(),
        ));
        self.sent += 1;
        self.next = (self.sent < self.count).then_some(now + self.interval);
    }
    fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

/// Sends `count` datagrams of `size` bytes (sequence number in the first 4 bytes) to `peer`,
/// one every `interval` starting at `start`; `interval == 0` sends them all at once.
pub(crate) struct Blaster {
    pub(crate) local: SocketAddr,
    pub(crate) peer: SocketAddr,
    pub(crate) size: usize,
    pub(crate) interval: Duration,
    pub(crate) count: u32,
    pub(crate) sent: u32,
    pub(crate) next: Option<Instant>,
    pub(crate) ttl: Option<u8>,
}

impl Blaster {
    pub(crate) fn new(
        start: Instant,
        local: SocketAddr,
        peer: SocketAddr,
        size: usize,
        interval: Duration,
        count: u32,
    ) -> Self {
        Self {
            local,
            peer,
            size: size.max(4),
            interval,
            count,
            sent: 0,
            next: Some(start),
            ttl: None,
        }
    }
}

impl Host for Blaster {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit> {
        let due = self.next.is_some_and(|t| t <= now) && self.sent < self.count;
        if !due {
            return None;
        }
        let mut contents = vec![0u8; self.size];
        contents[..4].copy_from_slice(&self.sent.to_be_bytes());
        self.sent += 1;
        if !self.interval.is_zero() {
            self.next = self.next.map(|t| t + self.interval);
        }
        if self.sent == self.count {
            self.next = None;
        }
        Some(Transmit {
            source: self.local,
            destination: self.peer,
            contents,
            ttl: self.ttl,
        })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.next
    }
}

/// Records every datagram's sequence number, arrival time and length.
#[derive(Default)]
pub(crate) struct Sink {
    pub(crate) got: Vec<(u32, Instant, usize)>,
}

impl Host for Sink {
    fn handle_datagram(&mut self, now: Instant, _: SocketAddr, _: SocketAddr, data: &[u8]) {
        let seq = u32::from_be_bytes(data[..4].try_into().unwrap());
        self.got.push((seq, now, data.len()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// Wakes at fixed deadlines and records when it was woken.
pub(crate) struct Timer {
    pub(crate) deadlines: VecDeque<Instant>,
    pub(crate) fired: Vec<Instant>,
}

impl Host for Timer {
    fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: SocketAddr, _: &[u8]) {}
    fn handle_timeout(&mut self, now: Instant) {
        self.fired.push(now);
        self.deadlines.pop_front();
    }
    fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
        None
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.front().copied()
    }
}

/// A holepunching peer: sends what it is told, answers `probe` with `ack`, records everything.
pub(crate) struct Prober {
    pub(crate) local: SocketAddr,
    pub(crate) out: VecDeque<Transmit>,
    pub(crate) got: Vec<(SocketAddr, Vec<u8>)>,
}

impl Prober {
    pub(crate) fn new(local: SocketAddr) -> Self {
        Self {
            local,
            out: VecDeque::new(),
            got: Vec::new(),
        }
    }

    pub(crate) fn send(&mut self, to: SocketAddr, data: &[u8]) {
        self.out.push_back(tx(self.local, to, data.to_vec()));
    }

    pub(crate) fn send_ttl(&mut self, to: SocketAddr, data: &[u8], ttl: u8) {
        self.out.push_back(Transmit {
            ttl: Some(ttl),
            ..tx(self.local, to, data.to_vec())
        });
    }

    /// The first address that sent `data`.
    pub(crate) fn sender_of(&self, data: &[u8]) -> Option<SocketAddr> {
        self.got.iter().find(|(_, d)| d == data).map(|(a, _)| *a)
    }
}

impl Host for Prober {
    fn handle_datagram(&mut self, _: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        if data == b"probe" {
            self.out.push_back(tx(local, from, b"ack".to_vec()));
        }
        self.got.push((from, data.to_vec()));
    }
    fn handle_timeout(&mut self, _: Instant) {}
    fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> {
        self.out.pop_front()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}
