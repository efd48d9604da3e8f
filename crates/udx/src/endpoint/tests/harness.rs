//! A tiny deterministic link harness: endpoints with addressed sockets, a queue of
//! datagrams with delivery times, seeded loss / duplication / reordering from a
//! xorshift generator, and a virtual clock that jumps to the next event.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::{Endpoint, Event, Received, SocketId, Transmit};

/// xorshift64*, seeded through one splitmix64 step so that small seeds start from
/// well-mixed states; callers use the high 32 bits (the low bits are weaker).
pub(super) struct XorShift(u64);

impl XorShift {
    pub(super) fn new(seed: u64) -> Self {
        let mut z = seed.wrapping_add(0x9e37_79b9_7f4a_7c15);
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)).max(1))
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// True with probability `per_mille / 1000`.
    pub(super) fn chance(&mut self, per_mille: u64) -> bool {
        (self.next() >> 32) % 1000 < per_mille
    }

    pub(super) fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { (self.next() >> 32) % n }
    }
}

/// Link behaviour, the same in both directions.
#[derive(Debug, Clone, Copy)]
pub(super) struct LinkConfig {
    pub(super) latency: Duration,
    /// Extra random delay up to this much (reorders datagrams).
    pub(super) jitter: Duration,
    pub(super) loss_per_mille: u64,
    pub(super) dup_per_mille: u64,
    /// A bottleneck per direction: bytes per second and drop-tail queue in bytes.
    pub(super) bottleneck: Option<(u64, u64)>,
}

impl Default for LinkConfig {
    fn default() -> Self {
        Self {
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            loss_per_mille: 0,
            dup_per_mille: 0,
            bottleneck: None,
        }
    }
}

pub(super) struct Node {
    pub(super) ep: Endpoint,
    pub(super) addrs: Vec<SocketAddr>,
    pub(super) events: Vec<Event>,
    pub(super) not_udx: Vec<(SocketAddr, Vec<u8>)>,
    /// A vanished node receives nothing and runs no timers.
    pub(super) down: bool,
}

/// One datagram on the wire, as logged.
#[derive(Debug, Clone)]
pub(super) struct Logged {
    #[allow(dead_code)]
    pub(super) at: Duration,
    pub(super) from: SocketAddr,
    pub(super) transmit: Transmit,
}

/// A datagram on the link: (node, socket, from, bytes), keyed by (delivery time, order).
type OnWire = (usize, SocketId, SocketAddr, Vec<u8>);

pub(super) struct Net {
    pub(super) base: Instant,
    pub(super) now: Instant,
    pub(super) nodes: Vec<Node>,
    pub(super) link: LinkConfig,
    pub(super) seed: u64,
    pub(super) rng: XorShift,
    queue: BTreeMap<(Instant, u64), OnWire>,
    order: u64,
    pub(super) log: Vec<Logged>,
    pub(super) keep_log: bool,
    pub(super) steps: u64,
    /// Streams created by [`pair`](Self::pair) use BBR (the default) or NewReno.
    pub(super) bbr: bool,
    /// When each directed bottleneck is free again.
    busy_until: BTreeMap<(usize, usize), Instant>,
    /// Datagrams dropped at a full bottleneck queue.
    pub(super) queue_drops: u64,
}

pub(super) fn addr(node: usize, socket: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 0, node as u8 + 1], 4000 + socket as u16))
}

impl Net {
    pub(super) fn new(nodes: usize, sockets: usize, link: LinkConfig, seed: u64) -> Self {
        let base = Instant::now();
        Self {
            base,
            now: base,
            nodes: (0..nodes)
                .map(|n| Node {
                    ep: Endpoint::new(),
                    addrs: (0..sockets).map(|s| addr(n, s)).collect(),
                    events: Vec::new(),
                    not_udx: Vec::new(),
                    down: false,
                })
                .collect(),
            link,
            seed,
            rng: XorShift::new(seed),
            queue: BTreeMap::new(),
            order: 0,
            log: Vec::new(),
            keep_log: true,
            steps: 0,
            bbr: true,
            busy_until: BTreeMap::new(),
            queue_drops: 0,
        }
    }

    fn route(&self, dest: SocketAddr) -> Option<(usize, SocketId)> {
        self.nodes.iter().enumerate().find_map(|(n, node)| {
            node.addrs
                .iter()
                .position(|a| *a == dest)
                .map(|s| (n, SocketId(s)))
        })
    }

    fn enqueue(&mut self, src: usize, to: (usize, SocketId), from: SocketAddr, bytes: Vec<u8>) {
        let jitter = self.link.jitter.as_micros() as u64;
        let delay = self.link.latency + Duration::from_micros(self.rng.below(jitter + 1));
        let mut depart = self.now;
        if let Some((rate, limit)) = self.link.bottleneck {
            let free = self
                .busy_until
                .get(&(src, to.0))
                .copied()
                .unwrap_or(self.now)
                .max(self.now);
            let backlog = (free - self.now).as_secs_f64() * rate as f64;
            if backlog > limit as f64 {
                self.queue_drops += 1;
                return;
            }
            let tx = Duration::from_secs_f64((bytes.len() + 28) as f64 / rate as f64);
            depart = free + tx;
            self.busy_until.insert((src, to.0), depart);
        }
        self.order += 1;
        self.queue
            .insert((depart + delay, self.order), (to.0, to.1, from, bytes));
    }

    /// Moves every pending transmit onto the link and collects events.
    pub(super) fn drain(&mut self) {
        for n in 0..self.nodes.len() {
            while let Some(t) = self.nodes[n].ep.poll_transmit() {
                assert!(
                    t.contents.len() <= 1172,
                    "datagram of {} bytes",
                    t.contents.len()
                );
                let from = self.nodes[n].addrs[t.socket.0];
                if self.keep_log {
                    self.log.push(Logged {
                        at: self.now - self.base,
                        from,
                        transmit: t.clone(),
                    });
                }
                let Some(to) = self.route(t.destination) else {
                    continue;
                };
                if self.rng.chance(self.link.loss_per_mille) {
                    continue;
                }
                if self.rng.chance(self.link.dup_per_mille) {
                    self.enqueue(n, to, from, t.contents.clone());
                }
                self.enqueue(n, to, from, t.contents);
            }
            while let Some(e) = self.nodes[n].ep.poll_event() {
                self.nodes[n].events.push(e);
            }
        }
    }

    /// Advances to the next event and processes everything due. `false` when idle.
    pub(super) fn step(&mut self) -> bool {
        self.steps += 1;
        self.drain();
        let next_packet = self.queue.keys().next().map(|k| k.0);
        let next_timer = self
            .nodes
            .iter()
            .filter(|n| !n.down)
            .filter_map(|n| n.ep.poll_timeout())
            .min();
        let Some(next) = [next_packet, next_timer].into_iter().flatten().min() else {
            return false;
        };
        self.now = self.now.max(next);
        while let Some(entry) = self.queue.first_entry() {
            if entry.key().0 > self.now {
                break;
            }
            let (to, socket, from, bytes) = entry.remove();
            let node = &mut self.nodes[to];
            if node.down {
                continue;
            }
            if node.ep.handle_datagram(self.now, socket, from, &bytes) == Received::NotUdx {
                node.not_udx.push((from, bytes));
            }
        }
        for node in &mut self.nodes {
            if !node.down && node.ep.poll_timeout().is_some_and(|t| t <= self.now) {
                node.ep.handle_timeout(self.now);
            }
        }
        self.drain();
        true
    }

    /// The events other than data, per node.
    pub(super) fn summary(&self) -> Vec<Vec<&Event>> {
        self.nodes
            .iter()
            .map(|n| {
                n.events
                    .iter()
                    .filter(|e| !matches!(e, Event::Data { .. }))
                    .collect()
            })
            .collect()
    }

    /// Steps until `done` holds; panics after `max_steps`.
    pub(super) fn run_until(&mut self, max_steps: u64, mut done: impl FnMut(&Self) -> bool) {
        let start = self.steps;
        while !done(self) {
            assert!(
                self.steps - start < max_steps,
                "not done after {max_steps} steps"
            );
            if !self.step() {
                assert!(
                    done(self),
                    "seed {}: network went idle first: {:?}",
                    self.seed,
                    self.summary()
                );
                return;
            }
        }
    }

    /// Steps at least once, then until no datagram is on the link.
    pub(super) fn settle(&mut self, max_steps: u64) {
        for _ in 0..max_steps {
            self.step();
            if self.queue.is_empty() {
                return;
            }
        }
        panic!("link still busy after {max_steps} steps");
    }

    /// Connects stream `a_id` on node `a` with stream `b_id` on node `b` (socket 0).
    pub(super) fn pair(&mut self, a: usize, a_id: u32, b: usize, b_id: u32) {
        self.pair_with(a, a_id, b, b_id, crate::Firewall::RejectForeign);
    }

    /// [`pair`](Self::pair) with a firewall policy for both streams.
    pub(super) fn pair_with(
        &mut self,
        a: usize,
        a_id: u32,
        b: usize,
        b_id: u32,
        firewall: crate::Firewall,
    ) {
        let now = self.now;
        for (n, id, peer, peer_id) in [(a, a_id, b, b_id), (b, b_id, a, a_id)] {
            let peer_addr = self.nodes[peer].addrs[0];
            let ep = &mut self.nodes[n].ep;
            let mut config = crate::StreamConfig::default().with_firewall(firewall);
            if !self.bbr {
                config.congestion = Some(Box::new(crate::congestion::NewReno::new()));
            }
            ep.create_stream(id, config).unwrap();
            ep.connect(now, id, SocketId(0), peer_id, peer_addr, None)
                .unwrap();
        }
    }

    /// The concatenated `Data` of stream `id` at node `n`.
    pub(super) fn received(&self, n: usize, id: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for e in &self.nodes[n].events {
            if let Event::Data { id: i, data } = e {
                if *i == id {
                    out.extend_from_slice(data);
                }
            }
        }
        out
    }

    pub(super) fn has_event(&self, n: usize, want: &Event) -> bool {
        self.nodes[n].events.contains(want)
    }
}

/// Deterministic pseudo-random bytes.
pub(super) fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = XorShift::new(seed);
    (0..len).map(|_| rng.next() as u8).collect()
}
