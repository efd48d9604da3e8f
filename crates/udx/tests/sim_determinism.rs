//! Determinism: the same seed gives the same simulation, event for event.

mod common;

use std::time::Duration;

use common::{MIB, transfer};
use plures_sim::{Limits, LinkConfig, LogEntry, Loss, Reorder, Sim, Stats, sim_test};
use plures_udx::StreamStats;

/// Everything observable about one run.
#[derive(Debug, PartialEq)]
struct Fingerprint {
    stats: Stats,
    log: Vec<LogEntry>,
    transfer_time: Duration,
    total_time: Duration,
    sender: StreamStats,
    receiver: StreamStats,
}

/// A 4 MiB transfer with every random impairment on: jitter, bursty loss, duplication and
/// reordering.
fn run(sim: &mut Sim) -> Fingerprint {
    sim.enable_log();
    let link = LinkConfig {
        latency: Duration::from_millis(15),
        jitter: Duration::from_millis(3),
        loss: Loss::gilbert_elliott(0.01, 0.3, 0.8),
        duplicate: 0.01,
        reorder: Some(Reorder {
            probability: 0.01,
            extra_delay: Duration::from_millis(10),
        }),
        ..LinkConfig::default()
    };
    let limits = Limits {
        max_time: Duration::from_secs(300),
        max_events: 1_000_000,
    };
    let o = transfer(sim, link, 4 * MIB, limits);
    Fingerprint {
        stats: o.sim,
        log: sim.log().to_vec(),
        transfer_time: o.transfer_time,
        total_time: o.total_time,
        sender: o.sender,
        receiver: o.receiver,
    }
}

#[test]
fn same_seed_same_run() {
    sim_test(0xde7e_0001, |sim| {
        let first = run(sim);
        let second = run(&mut Sim::new(sim.seed()));
        let t = first.stats.total();
        println!(
            "determinism: seed {}, {} log entries, {} datagrams, {} lost, {} duplicated, \
             {} retransmissions, {:?} virtual",
            sim.seed(),
            first.log.len(),
            t.sent,
            t.lost,
            t.duplicated,
            first.sender.retransmissions,
            first.total_time,
        );
        assert!(
            t.lost > 0 && t.duplicated > 0,
            "the impairments were active"
        );
        assert!(first == second, "two runs with seed {} differ", sim.seed());

        // And the seed matters: another one takes another path.
        let other = run(&mut Sim::new(sim.seed() ^ 0x5555));
        assert_ne!(first.stats, other.stats, "a different seed changed nothing");
    });
}
