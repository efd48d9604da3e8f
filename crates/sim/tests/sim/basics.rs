//! Clock, draining, limits, determinism and host access.

use std::collections::VecDeque;
use std::time::Duration;

use plures_sim::{Limits, LinkConfig, LinkStats, Loss, Reorder, RunError, Sim, Transmit, sim_test};

use crate::hosts::{Echo, PingPong, Prober, Timer, addr};

const MS: Duration = Duration::from_millis(1);

#[test]
fn echo_round_trip_takes_two_latencies() {
    sim_test(1, |sim| {
        sim.set_default_link(LinkConfig::with_latency(20 * MS));
        let (a, b) = (addr("198.51.100.1:1000"), addr("198.51.100.2:2000"));
        let ha = sim.add_host(Prober::new(a), &[a]);
        let hb = sim.add_host(Echo::default(), &[b]);
        sim.host_mut::<Prober>(ha).send(b, b"hello");
        sim.run_until_cond(|s| !s.host::<Prober>(ha).got.is_empty())
            .unwrap();
        assert_eq!(sim.elapsed(), 40 * MS);
        assert_eq!(sim.host::<Prober>(ha).got, vec![(b, b"hello".to_vec())]);
        let link = sim.stats().link(ha, hb);
        assert_eq!((link.sent, link.delivered), (1, 1));
        assert_eq!(sim.stats().host(hb).bytes_in, 5);
        assert_eq!(sim.stats().host(hb).bytes_out, 5);
        assert_eq!(
            sim.run_until_cond(|_| false),
            Err(RunError::Idle { at: 40 * MS })
        );
    });
}

#[test]
fn ping_pong_over_ipv6() {
    sim_test(2, |sim| {
        let (a, b) = (addr("[2001:db8::1]:1"), addr("[2001:db8::2]:2"));
        let start = sim.start();
        let ha = sim.add_host(PingPong::new(start, a, b, 100 * MS, 5), &[a]);
        let hb = sim.add_host(PingPong::new(start, b, a, 100 * MS, 0), &[b]);
        sim.run_for(Duration::from_secs(1)).unwrap();
        let pongs = &sim.host::<PingPong>(ha).pongs;
        let expect: Vec<_> = (0..5u32)
            .map(|n| (start + 20 * MS + n * 100 * MS, n))
            .collect();
        assert_eq!(pongs, &expect);
        assert_eq!(sim.stats().link(hb, ha).delivered, 5);
        assert_eq!(sim.elapsed(), Duration::from_secs(1));
    });
}

#[test]
fn timeouts_fire_at_exact_virtual_instants() {
    sim_test(3, |sim| {
        let start = sim.start();
        let deadlines: VecDeque<_> = [5 * MS, 17 * MS, Duration::from_nanos(1_000_000_003)]
            .into_iter()
            .map(|d| start + d)
            .collect();
        let h = sim.add_host(
            Timer {
                deadlines: deadlines.clone(),
                fired: Vec::new(),
            },
            &[addr("198.51.100.1:1")],
        );
        sim.run_until(start + 17 * MS).unwrap();
        assert_eq!(
            sim.host::<Timer>(h).fired.len(),
            2,
            "deadline itself is included"
        );
        sim.run_for(Duration::from_secs(5)).unwrap();
        assert_eq!(sim.host::<Timer>(h).fired, Vec::from(deadlines));
        assert_eq!(sim.stats().host(h).timeouts, 3);
        assert_eq!(sim.elapsed(), Duration::from_secs(5) + 17 * MS);
    });
}

#[test]
fn run_stops_at_max_events() {
    sim_test(4, |sim| {
        let (a, b) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
        // Two echo hosts bounce one datagram forever.
        let first = Transmit {
            source: a,
            destination: b,
            contents: b"x".to_vec(),
            ttl: None,
        };
        let ha = sim.add_host(Echo::starting(first), &[a]);
        let hb = sim.add_host(Echo::default(), &[b]);
        sim.set_limits(Limits {
            max_time: Duration::from_secs(3600),
            max_events: 1000,
        });
        let err = sim.run_until_cond(|_| false).unwrap_err();
        assert_eq!(err, RunError::EventLimit { at: 1000 * 10 * MS });
        assert_eq!(sim.stats().total().delivered, 1000);
        assert_eq!(sim.stats().link(ha, hb).delivered, 500);
        let err = sim
            .run_until(sim.now() + Duration::from_secs(3600))
            .unwrap_err();
        assert_eq!(err, RunError::EventLimit { at: 2000 * 10 * MS });
    });
}

#[test]
fn run_stops_at_max_time() {
    sim_test(5, |sim| {
        let (a, b) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
        let start = sim.start();
        sim.add_host(
            PingPong::new(start, a, b, Duration::from_secs(1), u32::MAX),
            &[a],
        );
        sim.add_host(PingPong::new(start, b, a, Duration::from_secs(1), 0), &[b]);
        sim.set_limits(Limits {
            max_time: Duration::from_secs(10),
            max_events: u64::MAX,
        });
        let err = sim.run_until_cond(|_| false).unwrap_err();
        assert_eq!(
            err,
            RunError::TimeLimit {
                at: Duration::from_secs(10)
            }
        );
    });
}

fn lossy_run(seed: u64) -> (Vec<plures_sim::LogEntry>, plures_sim::Stats) {
    let mut sim = Sim::new(seed);
    sim.enable_log();
    sim.set_default_link(LinkConfig {
        latency: 30 * MS,
        jitter: 10 * MS,
        loss: Loss::gilbert_elliott(0.05, 0.3, 0.8),
        duplicate: 0.05,
        reorder: Some(Reorder {
            probability: 0.1,
            extra_delay: 15 * MS,
        }),
        ..LinkConfig::default()
    });
    let (a, b) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
    let start = sim.start();
    sim.add_host(PingPong::new(start, a, b, 7 * MS, 300), &[a]);
    sim.add_host(PingPong::new(start, b, a, 11 * MS, 300), &[b]);
    sim.run_for(Duration::from_secs(10)).unwrap();
    (sim.log().to_vec(), sim.stats().clone())
}

#[test]
fn same_seed_same_run_different_seed_different_run() {
    let (log1, stats1) = lossy_run(99);
    let (log2, stats2) = lossy_run(99);
    let (log3, stats3) = lossy_run(100);
    assert!(log1.len() > 1000);
    assert_eq!(log1, log2);
    assert_eq!(stats1, stats2);
    assert_ne!(log1, log3);
    assert_ne!(stats1, stats3);
    let t: LinkStats = stats1.total();
    assert!(t.lost > 0 && t.duplicated > 0);
    assert_eq!(t.sent + t.duplicated, t.delivered + t.lost);
}

#[test]
fn sending_to_nobody_is_counted_unroutable() {
    sim_test(6, |sim| {
        let a = addr("198.51.100.1:1");
        let h = sim.add_host(Prober::new(a), &[a]);
        sim.host_mut::<Prober>(h).send(addr("198.51.100.9:9"), b"?");
        sim.host_mut::<Prober>(h)
            .send(addr("[2001:db8::9]:9"), b"?");
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.stats().unroutable, 2);
        assert_eq!(sim.stats().total(), LinkStats::default());
    });
}

#[test]
#[should_panic(expected = "not one of its addresses")]
fn sending_from_a_foreign_address_panics() {
    let mut sim = Sim::new(7);
    let a = addr("198.51.100.1:1");
    let h = sim.add_host(Prober::new(addr("198.51.100.1:2")), &[a]);
    sim.host_mut::<Prober>(h).send(a, b"x");
    sim.step();
}

#[test]
#[should_panic(expected = "boom")]
fn sim_test_resumes_the_panic() {
    sim_test(8, |_| panic!("boom"));
}

#[test]
fn hosts_with_several_addresses_receive_on_each() {
    sim_test(9, |sim| {
        let (a, b1, b2) = (
            addr("198.51.100.1:1"),
            addr("198.51.100.2:2"),
            addr("[2001:db8::2]:2"),
        );
        let a6 = addr("[2001:db8::1]:1");
        let ha = sim.add_host(Prober::new(a), &[a, a6]);
        sim.add_host(Echo::default(), &[b1, b2]);
        sim.host_mut::<Prober>(ha).send(b1, b"v4");
        sim.host_mut::<Prober>(ha).out.push_back(Transmit {
            source: a6,
            destination: b2,
            contents: b"v6".to_vec(),
            ttl: None,
        });
        sim.run_for(Duration::from_secs(1)).unwrap();
        let got = &sim.host::<Prober>(ha).got;
        assert_eq!(got, &vec![(b1, b"v4".to_vec()), (b2, b"v6".to_vec())]);
    });
}
