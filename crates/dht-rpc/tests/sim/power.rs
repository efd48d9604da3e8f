//! Network health (spec §15), suspend/resume and wake-up (§16) in a simulated network.
//!
//! The truth is the network model: a partition drops every datagram of the node under
//! test, a sleeping machine gets neither datagrams nor timers, and what the node sends is
//! decoded off the wire.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_dht_rpc::node::{MORE_STABLE_TICKS, RequestError};
use plures_dht_rpc::wire::Packet;
use plures_dht_rpc::{Command, Config, Dht, Dropped, Error, Event, Socket};
use plures_sim::{Host, HostId, LinkConfig, Partition, Sim, Transmit, sim_test};

use crate::adapter::{SimNode, addr, network};

const SERVER_PORT: u16 = 49737;
const CLIENT_PORT: u16 = 50000;
const TICK: Duration = Duration::from_secs(5);

/// The node under test: both sockets on one IP; it can sleep (no input, no timers) and
/// records its events and the requests it sends.
struct Probe {
    dht: Dht,
    ip: Ipv4Addr,
    asleep: bool,
    events: Vec<(Instant, Event)>,
    sent: Vec<Vec<u8>>,
}

impl Probe {
    fn new(config: Config, ip: Ipv4Addr, now: Instant) -> Self {
        Self {
            dht: Dht::new(config, now),
            ip,
            asleep: false,
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn drain(&mut self, now: Instant) {
        while let Some(e) = self.dht.poll_event() {
            self.events.push((now, e));
        }
    }

    fn addrs(ip: Ipv4Addr) -> [SocketAddr; 2] {
        [
            SocketAddrV4::new(ip, SERVER_PORT).into(),
            SocketAddrV4::new(ip, CLIENT_PORT).into(),
        ]
    }

    fn health_updates(&self, since: Instant) -> Vec<(Instant, bool, bool)> {
        self.events
            .iter()
            .filter(|(at, _)| *at >= since)
            .filter_map(|(at, e)| match e {
                Event::NetworkUpdate { online, degraded } => Some((*at, *online, *degraded)),
                _ => None,
            })
            .collect()
    }

    /// The requests sent since `from` (an index into `sent`), decoded.
    fn requests_since(&self, from: usize) -> Vec<(Command, bool)> {
        self.sent[from..]
            .iter()
            .filter_map(|b| match Packet::decode(b) {
                Ok(Packet::Request(r)) => Some((r.command(), r.id.is_some())),
                _ => None,
            })
            .collect()
    }
}

impl Host for Probe {
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
        if self.asleep {
            return;
        }
        let socket = if local.port() == SERVER_PORT {
            Socket::Server
        } else {
            Socket::Client
        };
        if let SocketAddr::V4(from) = from {
            let _ = self.dht.handle_datagram(now, socket, from, data);
        }
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.asleep {
            return;
        }
        self.dht.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self, _now: Instant) -> Option<Transmit> {
        if self.asleep {
            return None;
        }
        let t = self.dht.poll_transmit()?;
        self.sent.push(t.contents.clone());
        let port = match t.socket {
            Socket::Server => SERVER_PORT,
            _ => CLIENT_PORT,
        };
        Some(Transmit {
            source: SocketAddrV4::new(self.ip, port).into(),
            destination: t.destination.into(),
            contents: t.contents,
            ttl: None,
        })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        if self.asleep {
            None
        } else {
            self.dht.poll_timeout()
        }
    }
}

const PROBE_IP: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 2);

/// Ten public persistent nodes and the probe with `ephemeral`, bootstrapped.
fn setup(sim: &mut Sim, ephemeral: Option<bool>) -> (Vec<HostId>, HostId) {
    sim.set_default_link(LinkConfig {
        jitter: Duration::from_millis(10),
        ..LinkConfig::with_latency(Duration::from_millis(30))
    });
    let hosts = network(
        sim,
        10,
        Duration::from_millis(100),
        Duration::from_secs(30),
        false,
    );
    let config = Config {
        bootstrap: vec![addr(0)],
        ephemeral,
        firewalled: ephemeral != Some(false),
        server_port: SERVER_PORT,
        ..Config::new(sim.derive_seed())
    };
    let probe = sim.add_host(
        Probe::new(config, PROBE_IP, sim.now()),
        &Probe::addrs(PROBE_IP),
    );
    sim.run_until_cond(|s| s.host::<Probe>(probe).dht.is_bootstrapped())
        .expect("bootstrap");
    (hosts, probe)
}

/// One tick of application traffic: the probe pings five network nodes.
fn pings(sim: &mut Sim, probe: HostId) {
    let now = sim.now();
    let p = sim.host_mut::<Probe>(probe);
    for i in 1..=5 {
        p.dht
            .request(now, addr(i), Command::Ping, None, None, None)
            .expect("ping");
    }
}

/// A node whose network goes dark (every datagram to and from it dropped) while its
/// application keeps sending: offline after two offline tick intervals (§15), reported by
/// exactly one `NetworkUpdate`; online again on the first interval with a response.
#[test]
fn dark_network_goes_offline_and_comes_back() {
    sim_test(61, |sim: &mut Sim| {
        let (hosts, probe) = setup(sim, Some(false));
        for _ in 0..6 {
            pings(sim, probe);
            sim.run_for(TICK).expect("run");
        }
        assert!(sim.host::<Probe>(probe).dht.online());
        assert!(
            sim.host::<Probe>(probe)
                .health_updates(sim.start())
                .is_empty()
        );

        let others: Vec<IpAddr> = hosts
            .iter()
            .map(|&h| IpAddr::V4(*sim.host::<SimNode>(h).addr.ip()))
            .collect();
        let dark_from = sim.elapsed();
        let dark = Duration::from_secs(60);
        sim.add_partition(Partition::between(
            vec![IpAddr::V4(PROBE_IP)],
            others,
            dark_from..dark_from + dark,
        ));
        let dark_at = sim.now();
        for _ in 0..12 {
            pings(sim, probe);
            sim.run_for(TICK).expect("run");
        }
        let p = sim.host::<Probe>(probe);
        assert!(!p.dht.online());
        assert!(!p.dht.degraded());
        let updates = p.health_updates(dark_at);
        assert_eq!(updates.len(), 1, "{updates:?}");
        let (at, online, degraded) = updates[0];
        assert!(!online && !degraded);
        // The first offline interval can only start once the first pings timed out (4 s),
        // and the second ends a tick later: never before 2 ticks, at most 5 ticks in.
        let after = at - dark_at;
        assert!(after > TICK && after <= 5 * TICK, "{after:?}");

        // The network returns.
        let back_at = sim.now();
        for _ in 0..4 {
            pings(sim, probe);
            sim.run_for(TICK).expect("run");
        }
        let p = sim.host::<Probe>(probe);
        assert!(p.dht.online());
        let updates = p.health_updates(back_at);
        assert_eq!(updates.len(), 1, "{updates:?}");
        assert!(updates[0].1 && !updates[0].2);
        assert!(updates[0].0 - back_at <= 3 * TICK);
    });
}

/// The expected tick after a wake-up from `before` (spec §16).
fn woken_tick(before: u64) -> u64 {
    let mut t = before + MORE_STABLE_TICKS as u64;
    while t % 8 != 6 {
        t += 1;
    }
    t
}

/// An adaptive node that became persistent sleeps 20 s (no timers, no input): its next
/// tick runs the wake-up: tick arithmetic, `Ephemeral` then `Wakeup`, and a refresh
/// (FIND_NODE) right away whose packets no longer carry the id.
#[test]
fn wake_up_after_sleep_makes_an_adaptive_node_ephemeral_and_refreshes() {
    sim_test(62, |sim: &mut Sim| {
        let (_, probe) = setup(sim, None);
        sim.run_until_cond(|s| s.host::<Probe>(probe).dht.is_persistent())
            .expect("persistent after the stable period");
        sim.run_for(Duration::from_secs(30)).expect("run");
        let p = sim.host_mut::<Probe>(probe);
        assert!(p.requests_since(0).iter().any(|&(_, id)| id));
        let tick = p.dht.tick();
        p.asleep = true;
        sim.run_for(Duration::from_secs(20)).expect("sleep");
        let p = sim.host_mut::<Probe>(probe);
        p.asleep = false;
        let (woke, sent) = (p.events.len(), p.sent.len());
        sim.run_for(Duration::from_millis(1)).expect("wake");
        let p = sim.host::<Probe>(probe);
        assert_eq!(p.dht.tick(), woken_tick(tick));
        assert_eq!(p.dht.tick() % 8, 6);
        assert!(!p.dht.is_persistent());
        let events: Vec<&Event> = p.events[woke..].iter().map(|(_, e)| e).collect();
        let eph = events.iter().position(|e| **e == Event::Ephemeral);
        let wake = events.iter().position(|e| **e == Event::Wakeup);
        assert!(eph.is_some() && eph < wake, "{events:?}");
        let reqs = p.requests_since(sent);
        assert!(
            reqs.iter().any(|&(c, _)| c == Command::FindNode),
            "refresh at once: {reqs:?}"
        );
        // Retransmissions of pings sent before the sleep keep their bytes; every request
        // built after the wake-up is id-less.
        assert!(
            reqs.iter()
                .filter(|&&(c, _)| c == Command::FindNode)
                .all(|&(_, id)| !id),
            "{reqs:?}"
        );
        // A second wake-up does not emit `Ephemeral` again, and a normal tick adds one.
        sim.run_for(TICK).expect("run");
        assert_eq!(sim.host::<Probe>(probe).dht.tick(), woken_tick(tick) + 1);
    });
}

/// Suspend fails the request in flight with the typed error, sends and answers nothing,
/// refuses new requests; resume runs the wake-up and refreshes at once.
#[test]
fn suspend_stops_everything_and_resume_refreshes() {
    sim_test(63, |sim: &mut Sim| {
        let (hosts, probe) = setup(sim, Some(false));
        sim.run_for(Duration::from_secs(10)).expect("run");
        let now = sim.now();
        let p = sim.host_mut::<Probe>(probe);
        let req = p
            .dht
            .request(now, addr(1), Command::Ping, None, None, None)
            .expect("ping");
        assert!(p.dht.suspend(now));
        assert!(!p.dht.suspend(now));
        assert_eq!(p.dht.poll_timeout(), None);
        assert!(
            p.dht.poll_transmit().is_none(),
            "the unsent ping is dropped"
        );
        let failed = std::iter::from_fn(|| p.dht.poll_event()).any(|e| {
            e == Event::RequestFailed {
                request: req,
                error: RequestError::Suspended,
            }
        });
        assert!(failed);
        assert_eq!(
            p.dht.request(now, addr(2), Command::Ping, None, None, None),
            Err(Error::Suspended)
        );
        let (sent, tick) = (p.sent.len(), p.dht.tick());

        // Another node pings the suspended one: no answer, it times out.
        let other = hosts[3];
        let target = SocketAddrV4::new(PROBE_IP, SERVER_PORT);
        let ping = sim
            .host_mut::<SimNode>(other)
            .dht
            .request(now, target, Command::Ping, None, None, None)
            .expect("ping");
        sim.run_for(Duration::from_secs(30)).expect("suspended");
        let p = sim.host::<Probe>(probe);
        assert_eq!(p.sent.len(), sent, "nothing sent while suspended");
        assert_eq!(p.dht.tick(), tick, "no ticks while suspended");
        assert!(
            p.dht.stats().suspended >= 4,
            "the ping's 4 attempts dropped"
        );
        let mut p2 = Dht::new(Config::new(1), sim.now());
        assert!(p2.suspend(sim.now()));
        assert_eq!(
            p2.handle_datagram(sim.now(), Socket::Server, addr(1), &[0x03, 0]),
            Err(Dropped::Suspended)
        );
        let _ = (ping, other);

        let now = sim.now();
        let p = sim.host_mut::<Probe>(probe);
        assert!(p.dht.resume(now));
        assert!(!p.dht.resume(now));
        let events_from = p.events.len();
        sim.run_for(Duration::from_millis(1)).expect("resume");
        let p = sim.host::<Probe>(probe);
        assert_eq!(p.dht.tick(), woken_tick(tick));
        let reqs = p.requests_since(sent);
        assert!(
            reqs.iter().any(|&(c, _)| c == Command::FindNode),
            "{reqs:?}"
        );
        assert!(
            reqs.iter().all(|&(c, _)| c != Command::Ping),
            "nothing old resent"
        );
        assert!(
            p.events[events_from..]
                .iter()
                .all(|(_, e)| *e != Event::Ephemeral)
        );
        assert!(
            p.dht.is_persistent(),
            "a forced persistent node stays persistent"
        );
        sim.run_for(Duration::from_secs(10)).expect("run");
        assert!(sim.host::<Probe>(probe).dht.online());
    });
}
