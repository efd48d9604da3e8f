//! The simulator: hosts, NATs, links, the event queue and the virtual clock.

use std::cmp::{Ordering, Reverse};
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::host::{AnyHost, Host, HostId, Transmit};
use crate::link::{LinkConfig, LinkState};
use crate::nat::{Nat, NatConfig, NatId};
use crate::partition::Partition;
use crate::rng::Rng;
use crate::stats::{DropReason, HostStats, LogEntry, LogEvent, Stats};

/// Bounds for the `run_*` methods, so that a run never loops forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most virtual time one `run_until_cond` call may advance.
    pub max_time: Duration,
    /// Most events (deliveries plus timeouts) one `run_*` call may process.
    pub max_events: u64,
}

impl Default for Limits {
    /// One virtual hour and ten million events.
    fn default() -> Self {
        Self {
            max_time: Duration::from_secs(3600),
            max_events: 10_000_000,
        }
    }
}

/// Why a run stopped before its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunError {
    /// No datagram in flight and no host timeout: nothing can change any more.
    Idle {
        /// Virtual time since start when it happened.
        at: Duration,
    },
    /// The next event lies beyond [`Limits::max_time`].
    TimeLimit {
        /// Virtual time since start when it happened.
        at: Duration,
    },
    /// [`Limits::max_events`] events were processed.
    EventLimit {
        /// Virtual time since start when it happened.
        at: Duration,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Idle { at } => write!(f, "simulation idle at {at:?} before the condition held"),
            Self::TimeLimit { at } => write!(f, "virtual time limit reached at {at:?}"),
            Self::EventLimit { at } => write!(f, "event limit reached at {at:?}"),
        }
    }
}

impl std::error::Error for RunError {}

struct Slot {
    host: Box<dyn AnyHost>,
    addrs: Vec<SocketAddr>,
    nat: Option<NatId>,
    timeout: Option<Instant>,
}

#[derive(Debug, Clone, Copy)]
enum Via {
    /// Deliver to the link's receiver at the wire destination.
    Direct,
    /// Translate through this NAT on arrival.
    Nat(NatId),
}

struct InFlight {
    link: (HostId, HostId),
    from: SocketAddr,
    to: SocketAddr,
    via: Via,
    data: Vec<u8>,
}

struct Scheduled {
    at: Instant,
    seq: u64,
    datagram: InFlight,
}

impl PartialEq for Scheduled {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scheduled {}
impl PartialOrd for Scheduled {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Scheduled {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

enum Next {
    Datagram(Instant),
    Timeout(Instant, HostId),
}

impl Next {
    fn at(&self) -> Instant {
        match *self {
            Self::Datagram(t) | Self::Timeout(t, _) => t,
        }
    }
}

/// A deterministic, single-threaded network of [`Host`]s. See the crate docs.
pub struct Sim {
    seed: u64,
    rng: Rng,
    start: Instant,
    now: Instant,
    hosts: Vec<Slot>,
    nats: Vec<Nat>,
    public: BTreeMap<SocketAddr, HostId>,
    nat_by_ip: BTreeMap<IpAddr, NatId>,
    default_link: LinkConfig,
    links: BTreeMap<(HostId, HostId), LinkConfig>,
    link_state: BTreeMap<(HostId, HostId), LinkState>,
    partitions: Vec<Partition>,
    internet_hops: u8,
    queue: BinaryHeap<Reverse<Scheduled>>,
    seq: u64,
    dirty: BTreeSet<HostId>,
    stats: Stats,
    log: Option<Vec<LogEntry>>,
    limits: Limits,
}

impl fmt::Debug for Sim {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("elapsed", &self.elapsed())
            .field("hosts", &self.hosts.len())
            .field("nats", &self.nats.len())
            .field("in_flight", &self.queue.len())
            .finish_non_exhaustive()
    }
}

impl Sim {
    /// A new, empty simulation. All randomness derives from `seed`; the clock starts at one
    /// `Instant::now()` read here and is never read again.
    pub fn new(seed: u64) -> Self {
        let start = Instant::now();
        Self {
            seed,
            rng: Rng::new(seed),
            start,
            now: start,
            hosts: Vec::new(),
            nats: Vec::new(),
            public: BTreeMap::new(),
            nat_by_ip: BTreeMap::new(),
            default_link: LinkConfig::default(),
            links: BTreeMap::new(),
            link_state: BTreeMap::new(),
            partitions: Vec::new(),
            internet_hops: 1,
            queue: BinaryHeap::new(),
            seq: 0,
            dirty: BTreeSet::new(),
            stats: Stats::default(),
            log: None,
            limits: Limits::default(),
        }
    }

    /// The seed this simulation was created with.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A fresh seed drawn from the simulation's generator, for hosts that need their own.
    pub fn derive_seed(&mut self) -> u64 {
        self.rng.next_u64()
    }

    /// The virtual start time.
    pub fn start(&self) -> Instant {
        self.start
    }

    /// The current virtual time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// Virtual time since start.
    pub fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    /// Sets the bounds for the `run_*` methods.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Sets the impairments of every link without its own configuration.
    pub fn set_default_link(&mut self, config: LinkConfig) {
        self.default_link = config;
    }

    /// Sets the impairments of the directed link `from → to`.
    pub fn set_link(&mut self, from: HostId, to: HostId, config: LinkConfig) {
        self.links.insert((from, to), config);
    }

    /// Sets the impairments of both directions between `a` and `b`.
    pub fn set_link_both(&mut self, a: HostId, b: HostId, config: LinkConfig) {
        self.links.insert((b, a), config.clone());
        self.links.insert((a, b), config);
    }

    /// Sets the hop count of the public internet between two sites (default 1). A path's hop
    /// count is this plus one per NAT it crosses; LAN traffic has 0 hops.
    pub fn set_internet_hops(&mut self, hops: u8) {
        self.internet_hops = hops;
    }

    /// Adds a partition rule.
    pub fn add_partition(&mut self, partition: Partition) {
        self.partitions.push(partition);
    }

    /// Records every send, delivery, drop and timeout from now on (see [`Sim::log`]).
    pub fn enable_log(&mut self) {
        self.log.get_or_insert_with(Vec::new);
    }

    /// The event log, empty unless [`Sim::enable_log`] was called.
    pub fn log(&self) -> &[LogEntry] {
        self.log.as_deref().unwrap_or(&[])
    }

    /// All counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Datagrams currently in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }

    /// Adds a NAT. Its public IP must not be used by any other NAT or public host.
    ///
    /// # Panics
    /// If the public IP is already taken.
    pub fn add_nat(&mut self, config: NatConfig) -> NatId {
        let id = NatId(self.nats.len());
        let ip = config.public_ip;
        assert!(
            !self.public.keys().any(|a| a.ip() == ip),
            "NAT public IP {ip} is used by a public host"
        );
        assert!(
            self.nat_by_ip.insert(ip, id).is_none(),
            "NAT public IP {ip} is used by another NAT"
        );
        self.nats.push(Nat::new(config));
        id
    }

    /// Adds a host with public addresses.
    ///
    /// # Panics
    /// If `addrs` is empty or an address is taken (by a host or a NAT's public IP).
    pub fn add_host<H: Host>(&mut self, host: H, addrs: &[SocketAddr]) -> HostId {
        self.insert_host(Box::new(host), addrs, None)
    }

    /// Adds a host on the LAN of `nat`, with inner addresses that are unique on that LAN.
    ///
    /// # Panics
    /// If `addrs` is empty or an address is already on that LAN.
    pub fn add_host_behind<H: Host>(
        &mut self,
        nat: NatId,
        host: H,
        addrs: &[SocketAddr],
    ) -> HostId {
        self.insert_host(Box::new(host), addrs, Some(nat))
    }

    fn insert_host(
        &mut self,
        host: Box<dyn AnyHost>,
        addrs: &[SocketAddr],
        nat: Option<NatId>,
    ) -> HostId {
        assert!(!addrs.is_empty(), "a host needs at least one address");
        let id = HostId(self.hosts.len());
        for a in addrs {
            let taken = match nat {
                None => {
                    self.nat_by_ip.contains_key(&a.ip()) || self.public.insert(*a, id).is_some()
                }
                Some(n) => self.nats[n.0].lan.insert(*a, id).is_some(),
            };
            assert!(!taken, "address {a} is already taken");
        }
        self.hosts.push(Slot {
            host,
            addrs: addrs.to_vec(),
            nat,
            timeout: None,
        });
        self.stats.hosts.push(HostStats::default());
        self.dirty.insert(id);
        id
    }

    /// The addresses a host was added with.
    pub fn host_addrs(&self, id: HostId) -> &[SocketAddr] {
        &self.hosts[id.0].addrs
    }

    /// The number of live mappings of a NAT now.
    pub fn nat_mappings(&self, nat: NatId) -> usize {
        self.nats[nat.0].live_mappings(self.now)
    }

    /// The host `id` as its concrete type.
    ///
    /// # Panics
    /// If `id` is unknown or the host is not a `T`.
    pub fn host<T: Host>(&self, id: HostId) -> &T {
        let h = &self.hosts[id.0].host;
        let name = h.type_name();
        h.as_any().downcast_ref().unwrap_or_else(|| {
            panic!(
                "host {id:?} is a {name}, not a {}",
                std::any::type_name::<T>()
            )
        })
    }

    /// The host `id` as its concrete type, mutably. The host is drained (transmits and timeout
    /// re-polled) before the next event, so commands issued through it take effect.
    ///
    /// # Panics
    /// If `id` is unknown or the host is not a `T`.
    pub fn host_mut<T: Host>(&mut self, id: HostId) -> &mut T {
        self.dirty.insert(id);
        let h = &mut self.hosts[id.0].host;
        let name = h.type_name();
        h.as_any_mut().downcast_mut().unwrap_or_else(|| {
            panic!(
                "host {id:?} is a {name}, not a {}",
                std::any::type_name::<T>()
            )
        })
    }

    fn record(&mut self, event: LogEvent) {
        tracing::trace!(at = ?self.elapsed(), ?event, "sim");
        let at = self.now - self.start;
        if let Some(log) = &mut self.log {
            log.push(LogEntry { at, event });
        }
    }

    fn drop_datagram(&mut self, host: HostId, reason: DropReason, destination: SocketAddr) {
        self.record(LogEvent::Dropped {
            host,
            reason,
            destination,
        });
    }

    fn drain(&mut self, id: HostId) {
        let now = self.now;
        while let Some(t) = self.hosts[id.0].host.poll_transmit(now) {
            self.route(id, t);
        }
        let slot = &mut self.hosts[id.0];
        slot.timeout = slot.host.poll_timeout();
    }

    fn drain_dirty(&mut self) {
        while let Some(id) = self.dirty.pop_first() {
            self.drain(id);
        }
    }

    fn route(&mut self, src: HostId, t: Transmit) {
        let Transmit {
            source,
            destination: dst,
            contents,
            ttl,
        } = t;
        let len = contents.len();
        let hs = &mut self.stats.hosts[src.0];
        hs.datagrams_out += 1;
        hs.bytes_out += len as u64;
        self.record(LogEvent::Sent {
            host: src,
            source,
            destination: dst,
            len,
        });
        let slot = &self.hosts[src.0];
        assert!(
            slot.addrs.contains(&source),
            "host {src:?} sent from {source}, which is not one of its addresses {:?}",
            slot.addrs
        );
        let own_nat = slot.nat;

        // Resolve: (receiver, wire source, delivery, hop count, receiver's inner address).
        let lan_peer = own_nat.and_then(|n| self.nats[n.0].lan.get(&dst).copied());
        let (to, from, via, hops, inner_dst) = if let Some(peer) = lan_peer {
            (peer, source, Via::Direct, 0u16, dst)
        } else {
            let (from, src_hops) = match own_nat {
                None => (source, 0u16),
                Some(n) => {
                    let nat = &self.nats[n.0];
                    if nat.config.public_ip.is_ipv4() != dst.is_ipv4() {
                        self.stats.unroutable += 1;
                        return self.drop_datagram(src, DropReason::Unroutable, dst);
                    }
                    if nat.config.public_ip == dst.ip() && !nat.config.hairpinning {
                        self.stats.dropped_hairpin += 1;
                        return self.drop_datagram(src, DropReason::Hairpin, dst);
                    }
                    if ttl == Some(0) {
                        // Dies before its own NAT: no mapping; dropped for TTL below.
                        (source, 1)
                    } else {
                        let now = self.now;
                        (self.nats[n.0].outbound(now, source, dst, &mut self.rng), 1)
                    }
                }
            };
            if let Some(&peer) = self.public.get(&dst) {
                (
                    peer,
                    from,
                    Via::Direct,
                    src_hops + u16::from(self.internet_hops),
                    dst,
                )
            } else if let Some(&m) = self.nat_by_ip.get(&dst.ip()) {
                let Some(inner) = self.nats[m.0].peek(self.now, dst.port()) else {
                    self.stats.dropped_nat_unmapped += 1;
                    return self.drop_datagram(src, DropReason::NatUnmapped, dst);
                };
                let peer = self.nats[m.0].lan[&inner];
                let hops = if Some(m) == own_nat {
                    src_hops
                } else {
                    src_hops + u16::from(self.internet_hops) + 1
                };
                (peer, from, Via::Nat(m), hops, inner)
            } else {
                self.stats.unroutable += 1;
                return self.drop_datagram(src, DropReason::Unroutable, dst);
            }
        };

        let link = (src, to);
        let config = self.links.get(&link).unwrap_or(&self.default_link).clone();
        let ls = self.stats.links.entry(link).or_default();
        ls.sent += 1;
        if ttl.is_some_and(|t| u16::from(t) < hops) {
            ls.dropped_ttl += 1;
            return self.drop_datagram(src, DropReason::Ttl, dst);
        }
        let elapsed = self.now - self.start;
        let src_ips = [source.ip(), from.ip()];
        let dst_ips = [dst.ip(), inner_dst.ip()];
        if self
            .partitions
            .iter()
            .any(|p| p.blocks(elapsed, &src_ips, &dst_ips))
        {
            ls.dropped_partition += 1;
            return self.drop_datagram(src, DropReason::Partition, dst);
        }
        if config.mtu.is_some_and(|mtu| len > mtu) {
            ls.dropped_mtu += 1;
            return self.drop_datagram(src, DropReason::Mtu, dst);
        }
        let state = self.link_state.entry(link).or_default();
        let departure = match &config.rate {
            None => self.now,
            Some(rate) => match state.enqueue(self.now, len, rate) {
                Some(t) => t,
                None => {
                    ls.dropped_rate += 1;
                    return self.drop_datagram(src, DropReason::Rate, dst);
                }
            },
        };
        if state.lose(&config.loss, &mut self.rng) {
            ls.lost += 1;
            return self.drop_datagram(src, DropReason::Loss, dst);
        }
        let duplicate = self.rng.chance(config.duplicate);
        if duplicate {
            ls.duplicated += 1;
        }
        let mut copies = vec![contents];
        if duplicate {
            copies.push(copies[0].clone());
        }
        for data in copies {
            let mut at = departure + config.latency + self.rng.duration_up_to(config.jitter);
            if let Some(r) = config.reorder {
                if self.rng.chance(r.probability) {
                    at += r.extra_delay;
                }
            }
            self.seq += 1;
            self.queue.push(Reverse(Scheduled {
                at,
                seq: self.seq,
                datagram: InFlight {
                    link,
                    from,
                    to: dst,
                    via,
                    data,
                },
            }));
        }
    }

    fn deliver(&mut self, d: InFlight) {
        let InFlight {
            link,
            from,
            to,
            via,
            data,
        } = d;
        let (host, local) = match via {
            Via::Direct => (link.1, to),
            Via::Nat(m) => {
                let now = self.now;
                let nat = &mut self.nats[m.0];
                match nat.inbound(now, from, to.port()) {
                    Some(inner) => (nat.lan[&inner], inner),
                    None => {
                        self.stats.links.entry(link).or_default().dropped_nat += 1;
                        return self.drop_datagram(link.0, DropReason::NatFiltered, to);
                    }
                }
            }
        };
        self.stats.links.entry(link).or_default().delivered += 1;
        let hs = &mut self.stats.hosts[host.0];
        hs.datagrams_in += 1;
        hs.bytes_in += data.len() as u64;
        self.record(LogEvent::Delivered {
            host,
            local,
            from,
            len: data.len(),
        });
        let now = self.now;
        self.hosts[host.0]
            .host
            .handle_datagram(now, local, from, &data);
        self.drain(host);
    }

    fn fire(&mut self, id: HostId) {
        self.stats.hosts[id.0].timeouts += 1;
        self.record(LogEvent::Timeout { host: id });
        let now = self.now;
        let slot = &mut self.hosts[id.0];
        slot.timeout = None;
        slot.host.handle_timeout(now);
        self.drain(id);
    }

    /// The next event: the earliest delivery or host timeout. On a tie, deliveries come
    /// first (in send order), then timeouts by host id.
    fn next(&self) -> Option<Next> {
        let datagram = self.queue.peek().map(|s| s.0.at);
        let timeout = self
            .hosts
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.timeout.map(|t| (t, HostId(i))))
            .min();
        match (datagram, timeout) {
            (None, None) => None,
            (Some(d), Some((t, _))) if d <= t => Some(Next::Datagram(d)),
            (Some(d), None) => Some(Next::Datagram(d)),
            (_, Some((t, id))) => Some(Next::Timeout(t, id)),
        }
    }

    /// When the next event happens (never before now), after draining hosts touched through
    /// [`Sim::host_mut`] or just added.
    pub fn next_event_time(&mut self) -> Option<Instant> {
        self.drain_dirty();
        self.next().map(|n| n.at().max(self.now))
    }

    /// Processes one event: jumps the clock to it and delivers the datagram or fires the
    /// timeout, then drains that host. Returns `false` if there was nothing to do.
    pub fn step(&mut self) -> bool {
        self.drain_dirty();
        let Some(next) = self.next() else {
            return false;
        };
        self.now = self.now.max(next.at());
        match next {
            Next::Datagram(_) => {
                if let Some(Reverse(s)) = self.queue.pop() {
                    self.deliver(s.datagram);
                }
            }
            Next::Timeout(_, id) => self.fire(id),
        }
        true
    }

    /// Processes every event up to and including `deadline`, then sets the clock to
    /// `deadline` (if it is later than now).
    ///
    /// # Errors
    /// [`RunError::EventLimit`] after [`Limits::max_events`] events.
    pub fn run_until(&mut self, deadline: Instant) -> Result<(), RunError> {
        let mut events = 0u64;
        while self.next_event_time().is_some_and(|t| t <= deadline) {
            if events >= self.limits.max_events {
                return Err(RunError::EventLimit { at: self.elapsed() });
            }
            self.step();
            events += 1;
        }
        self.now = self.now.max(deadline);
        Ok(())
    }

    /// [`Sim::run_until`] `now + duration`.
    ///
    /// # Errors
    /// As [`Sim::run_until`].
    pub fn run_for(&mut self, duration: Duration) -> Result<(), RunError> {
        self.run_until(self.now + duration)
    }

    /// Steps until `done(self)` holds, checking it before every event. Bounded by
    /// [`Limits`]: at most `max_time` of virtual time from the call and `max_events` events.
    ///
    /// # Errors
    /// [`RunError::Idle`] if nothing is left to happen, [`RunError::TimeLimit`] or
    /// [`RunError::EventLimit`] when a limit is hit; the condition was false in each case.
    pub fn run_until_cond(&mut self, mut done: impl FnMut(&Self) -> bool) -> Result<(), RunError> {
        let limit = self.now + self.limits.max_time;
        let mut events = 0u64;
        loop {
            self.drain_dirty();
            if done(self) {
                return Ok(());
            }
            match self.next_event_time() {
                None => return Err(RunError::Idle { at: self.elapsed() }),
                Some(t) if t > limit => {
                    self.now = limit;
                    return Err(RunError::TimeLimit { at: self.elapsed() });
                }
                Some(_) => {}
            }
            if events >= self.limits.max_events {
                return Err(RunError::EventLimit { at: self.elapsed() });
            }
            self.step();
            events += 1;
        }
    }
}
