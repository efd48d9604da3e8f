//! Properties over random seeds and link settings.

use std::time::Duration;

use plures_sim::{LinkConfig, Loss, RateLimit, Reorder, Sim, Stats};
use proptest::prelude::*;

use crate::hosts::{PingPong, addr};

fn run(seed: u64, link: &LinkConfig) -> (Vec<plures_sim::LogEntry>, Stats) {
    let mut sim = Sim::new(seed);
    sim.enable_log();
    sim.set_default_link(link.clone());
    let (a, b) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
    let start = sim.start();
    let ms = Duration::from_millis(1);
    sim.add_host(PingPong::new(start, a, b, 3 * ms, 200), &[a]);
    sim.add_host(PingPong::new(start, b, a, 5 * ms, 200), &[b]);
    sim.run_for(Duration::from_secs(60)).unwrap();
    assert_eq!(sim.in_flight(), 0);
    (sim.log().to_vec(), sim.stats().clone())
}

fn link() -> impl Strategy<Value = LinkConfig> {
    (
        0u64..50,
        0u64..50,
        prop_oneof![
            Just(Loss::None),
            (0.0..0.5f64).prop_map(Loss::Bernoulli),
            (0.0..0.3f64, 0.1..1.0f64, 0.0..1.0f64)
                .prop_map(|(p, r, l)| Loss::gilbert_elliott(p, r, l)),
        ],
        0.0..0.3f64,
        proptest::option::of((0.0..0.5f64, 0u64..30)),
        proptest::option::of(6usize..12),
        proptest::option::of((1000u64..100_000, 10u64..1000)),
    )
        .prop_map(
            |(lat, jit, loss, duplicate, reorder, mtu, rate)| LinkConfig {
                latency: Duration::from_millis(lat),
                jitter: Duration::from_millis(jit),
                loss,
                duplicate,
                reorder: reorder.map(|(probability, ms)| Reorder {
                    probability,
                    extra_delay: Duration::from_millis(ms),
                }),
                mtu,
                rate: rate.map(|(bytes_per_sec, queue_bytes)| RateLimit {
                    bytes_per_sec,
                    queue_bytes,
                }),
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn every_datagram_is_accounted_for_and_runs_replay(seed in any::<u64>(), link in link()) {
        let (log, stats) = run(seed, &link);
        for (pair, s) in &stats.links {
            let dropped = s.lost + s.dropped_mtu + s.dropped_ttl + s.dropped_rate
                + s.dropped_partition + s.dropped_nat;
            prop_assert_eq!(s.sent + s.duplicated, s.delivered + dropped, "{:?}", pair);
        }
        let (log2, stats2) = run(seed, &link);
        prop_assert_eq!(log, log2);
        prop_assert_eq!(stats, stats2);
    }
}
