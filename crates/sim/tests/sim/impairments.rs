//! Loss, bursts, reordering, duplication, jitter, rate, MTU, partitions and TTL.

use std::net::IpAddr;
use std::time::Duration;

use plures_sim::{
    LinkConfig, Loss, NatConfig, NatType, Partition, RateLimit, Reorder, Sim, sim_test,
};

use crate::hosts::{Blaster, Prober, Sink, addr};

const MS: Duration = Duration::from_millis(1);

/// A blaster at .1 sending `count` datagrams to a sink at .2 over `link`; returns the
/// sequence numbers in arrival order with their arrival times.
fn blast(
    sim: &mut Sim,
    link: LinkConfig,
    size: usize,
    interval: Duration,
    count: u32,
) -> (plures_sim::HostId, plures_sim::HostId) {
    let (a, b) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
    sim.set_default_link(link);
    let start = sim.start();
    let ha = sim.add_host(Blaster::new(start, a, b, size, interval, count), &[a]);
    let hb = sim.add_host(Sink::default(), &[b]);
    sim.run_until_cond(|s| s.in_flight() == 0 && s.host::<Blaster>(ha).sent == count)
        .unwrap();
    sim.run_for(Duration::from_secs(10)).unwrap();
    (ha, hb)
}

#[test]
fn bernoulli_loss_rate_is_within_bounds() {
    sim_test(10, |sim| {
        let link = LinkConfig {
            loss: Loss::Bernoulli(0.1),
            ..LinkConfig::default()
        };
        let (ha, hb) = blast(sim, link, 8, Duration::ZERO, 100_000);
        let s = sim.stats().link(ha, hb);
        assert_eq!(s.sent, 100_000);
        assert_eq!(s.lost + s.delivered, 100_000);
        // sd = sqrt(0.09 / 1e5) ≈ 0.00095; allow about 6 sd.
        let rate = s.lost as f64 / 1e5;
        assert!((rate - 0.1).abs() < 0.006, "loss rate {rate}");
        assert_eq!(sim.host::<Sink>(hb).got.len() as u64, s.delivered);
    });
}

#[test]
fn gilbert_elliott_losses_come_in_bursts_of_mean_one_over_r() {
    sim_test(11, |sim| {
        let (p, r) = (0.01, 0.25);
        let link = LinkConfig {
            loss: Loss::gilbert_elliott(p, r, 1.0),
            ..LinkConfig::default()
        };
        let n = 100_000u32;
        let (ha, hb) = blast(sim, link, 8, Duration::ZERO, n);
        let mut received = vec![false; n as usize];
        for (seq, _, _) in &sim.host::<Sink>(hb).got {
            received[*seq as usize] = true;
        }
        let mut bursts = Vec::new();
        let mut run = 0u32;
        for got in received.iter().chain([&true]) {
            if *got {
                if run > 0 {
                    bursts.push(run);
                }
                run = 0;
            } else {
                run += 1;
            }
        }
        let mean = f64::from(bursts.iter().sum::<u32>()) / bursts.len() as f64;
        assert!(
            (mean - 1.0 / r).abs() < 0.4,
            "mean burst {mean}, {} bursts",
            bursts.len()
        );
        let loss = sim.stats().link(ha, hb).lost as f64 / f64::from(n);
        let expect = p / (p + r);
        assert!((loss - expect).abs() < 0.01, "loss {loss} vs {expect}");
    });
}

fn inversions(sim: &Sim, sink: plures_sim::HostId) -> usize {
    let got = &sim.host::<Sink>(sink).got;
    got.windows(2).filter(|w| w[1].0 < w[0].0).count()
}

#[test]
fn reordering_reorders_and_nothing_else_does() {
    sim_test(12, |sim| {
        let link = LinkConfig {
            reorder: Some(Reorder {
                probability: 0.2,
                extra_delay: 5 * MS,
            }),
            ..LinkConfig::default()
        };
        let (_, hb) = blast(sim, link, 100, MS, 1000);
        assert_eq!(sim.host::<Sink>(hb).got.len(), 1000);
        let inv = inversions(sim, hb);
        assert!(inv > 100, "only {inv} inversions");
    });
    sim_test(12, |sim| {
        let (_, hb) = blast(sim, LinkConfig::default(), 100, MS, 1000);
        assert_eq!(inversions(sim, hb), 0);
    });
}

#[test]
fn jitter_stays_within_bounds_and_duplicates_are_counted() {
    sim_test(13, |sim| {
        let link = LinkConfig {
            latency: 50 * MS,
            jitter: 20 * MS,
            duplicate: 0.1,
            ..LinkConfig::default()
        };
        let n = 10_000u32;
        let (ha, hb) = blast(sim, link, 8, MS, n);
        let start = sim.start();
        for (seq, at, _) in &sim.host::<Sink>(hb).got {
            let delay = *at - (start + *seq * MS);
            assert!((50 * MS..=70 * MS).contains(&delay), "delay {delay:?}");
        }
        let s = sim.stats().link(ha, hb);
        assert_eq!(s.delivered, u64::from(n) + s.duplicated);
        assert!(
            (800..1200).contains(&s.duplicated),
            "{} duplicates",
            s.duplicated
        );
    });
}

#[test]
fn rate_limit_gives_configured_throughput() {
    sim_test(14, |sim| {
        let bytes_per_sec = 100_000;
        let link = LinkConfig {
            rate: Some(RateLimit {
                bytes_per_sec,
                queue_bytes: 10_000,
            }),
            ..LinkConfig::default()
        };
        // Offer 200 kB/s for 10 s.
        let (ha, hb) = blast(sim, link, 1000, 5 * MS, 2000);
        let got = &sim.host::<Sink>(hb).got;
        let (first, last) = (got[0].1, got[got.len() - 1].1);
        let bytes: usize = got[1..].iter().map(|g| g.2).sum();
        let rate = bytes as f64 / (last - first).as_secs_f64();
        let want = bytes_per_sec as f64;
        assert!((rate - want).abs() < want * 0.05, "throughput {rate} B/s");
        let s = sim.stats().link(ha, hb);
        assert!(s.dropped_rate > 900, "{} tail drops", s.dropped_rate);
        assert_eq!(s.delivered + s.dropped_rate, 2000);
        // First byte leaves at once, so the first datagram arrives after 10 ms + 10 ms.
        assert_eq!(first - sim.start(), 20 * MS);
    });
}

#[test]
fn datagrams_over_the_mtu_are_dropped() {
    sim_test(15, |sim| {
        let (a, b) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
        sim.set_default_link(LinkConfig {
            mtu: Some(1200),
            ..LinkConfig::default()
        });
        let ha = sim.add_host(Prober::new(a), &[a]);
        let hb = sim.add_host(Prober::new(b), &[b]);
        sim.host_mut::<Prober>(ha).send(b, &[0; 1200]);
        sim.host_mut::<Prober>(ha).send(b, &[0; 1201]);
        sim.run_for(Duration::from_secs(1)).unwrap();
        let s = sim.stats().link(ha, hb);
        assert_eq!((s.sent, s.delivered, s.dropped_mtu), (2, 1, 1));
        assert_eq!(sim.host::<Prober>(hb).got[0].1.len(), 1200);
    });
}

#[test]
fn partition_drops_only_inside_its_window() {
    sim_test(16, |sim| {
        let ips: [IpAddr; 2] = [
            "198.51.100.1".parse().unwrap(),
            "198.51.100.2".parse().unwrap(),
        ];
        sim.add_partition(Partition::one_way(
            vec![ips[0]],
            vec![ips[1]],
            Duration::from_secs(1)..Duration::from_secs(2),
        ));
        let (ha, hb) = blast(sim, LinkConfig::default(), 8, 100 * MS, 30);
        let s = sim.stats().link(ha, hb);
        assert_eq!((s.dropped_partition, s.delivered), (10, 20));
        let seqs: Vec<u32> = sim.host::<Sink>(hb).got.iter().map(|g| g.0).collect();
        let expect: Vec<u32> = (0..10).chain(20..30).collect();
        assert_eq!(seqs, expect);
    });
}

#[test]
fn partition_covers_hosts_behind_a_nat_and_both_directions() {
    sim_test(17, |sim| {
        let nat_ip: IpAddr = "203.0.113.10".parse().unwrap();
        let nat = sim.add_nat(NatConfig::new(nat_ip, NatType::FullCone));
        let (a, s) = (addr("198.18.1.2:5000"), addr("198.51.100.1:1"));
        let ha = sim.add_host_behind(nat, Prober::new(a), &[a]);
        let hs = sim.add_host(Prober::new(s), &[s]);
        sim.add_partition(Partition::between(
            vec![s.ip()],
            vec![nat_ip],
            Duration::ZERO..Duration::from_secs(1),
        ));
        sim.host_mut::<Prober>(ha).send(s, b"1");
        sim.run_for(Duration::from_secs(2)).unwrap();
        assert_eq!(sim.stats().link(ha, hs).dropped_partition, 1);
        sim.host_mut::<Prober>(ha).send(s, b"2");
        sim.run_for(Duration::from_secs(2)).unwrap();
        assert_eq!(sim.stats().link(ha, hs).delivered, 1);
    });
}

#[test]
fn ttl_below_hop_count_is_dropped_but_opens_own_nat() {
    sim_test(18, |sim| {
        let nat = sim.add_nat(NatConfig::new(
            "203.0.113.10".parse().unwrap(),
            NatType::PortRestrictedCone,
        ));
        let (a, s) = (addr("198.18.1.2:5000"), addr("198.51.100.1:1"));
        let ha = sim.add_host_behind(nat, Prober::new(a), &[a]);
        let hs = sim.add_host(Prober::new(s), &[s]);
        // NAT + 1 internet hop = 2 hops.
        sim.host_mut::<Prober>(ha).send_ttl(s, b"low", 1);
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.stats().link(ha, hs).dropped_ttl, 1);
        assert_eq!(
            sim.nat_mappings(nat),
            1,
            "the low-TTL datagram opened a mapping"
        );
        sim.host_mut::<Prober>(ha).send_ttl(s, b"ok", 2);
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.stats().link(ha, hs).delivered, 1);
        // Public to public crosses only the internet.
        sim.host_mut::<Prober>(hs)
            .send_ttl(addr("203.0.113.10:5000"), b"in", 2);
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(
            sim.stats().link(hs, ha).delivered,
            1,
            "internet + receiving NAT"
        );
        // natlab's --hops 8: hyperdht's TTL-5 probes die in transit.
        sim.set_internet_hops(8);
        sim.host_mut::<Prober>(ha).send_ttl(s, b"probe", 5);
        sim.host_mut::<Prober>(ha).send_ttl(s, b"probe", 64);
        sim.run_for(Duration::from_secs(1)).unwrap();
        let l = sim.stats().link(ha, hs);
        assert_eq!((l.dropped_ttl, l.delivered), (2, 2));
    });
}
