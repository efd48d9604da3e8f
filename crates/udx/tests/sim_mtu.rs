//! MTU probing (§9) on simulated links: the search climbs to the path MTU in steps of 32,
//! stops after three lost probes, and the data of a lost probe still arrives (it is
//! retransmitted without padding). The simulator's link MTU counts UDP payload bytes;
//! an IP MTU of M is a link MTU of M − 28 for IPv4.

mod common;

use std::time::Duration;

use common::{MIB, Pair, pattern_hash};
use plures_sim::{Limits, LinkConfig, RateLimit, Sim, sim_test};
use plures_udx::CloseReason;

/// IPv4 + UDP header bytes.
const IP_UDP: usize = 28;

fn limits() -> Limits {
    Limits {
        max_time: Duration::from_secs(120),
        max_events: 2_000_000,
    }
}

/// Sends `bytes` from A (probing) to B over a link with IP MTU `ip_mtu` and checks the
/// transfer. Returns the MTU A's stream settled at (its last value before it closed) and
/// how much of the transfer had arrived when it got there.
fn probe_transfer(sim: &mut Sim, ip_mtu: usize, bytes: u64) -> (usize, u64) {
    sim.set_limits(limits());
    let link = LinkConfig {
        mtu: Some(ip_mtu - IP_UDP),
        // 20 Mbit/s, so that the transfer spans enough round trips for the search (one
        // probe per round trip).
        rate: Some(RateLimit {
            bytes_per_sec: 2_500_000,
            queue_bytes: 128 * 1024,
        }),
        ..LinkConfig::with_latency(Duration::from_millis(10))
    };
    let pair = Pair::new(sim, link);
    sim.host_mut::<common::Peer>(pair.a).mtu_probing = true;
    pair.start(sim, 1, 2, bytes);
    let (mut mtu, mut settled_at) = (0, 0);
    let done =
        |s: &Sim| pair.peer_a(s).app(1).closed.is_some() && pair.peer_b(s).app(2).closed.is_some();
    while !done(sim) {
        let before = mtu;
        sim.run_until_cond(|s| done(s) || pair.peer_a(s).ep.mtu(1).is_some_and(|m| m != before))
            .expect("transfer finishes");
        if let Some(m) = pair.peer_a(sim).ep.mtu(1) {
            if m != mtu {
                mtu = m;
                settled_at = pair.peer_b(sim).app(2).received;
            }
        }
    }
    let a = pair.peer_a(sim).app(1);
    let b = pair.peer_b(sim).app(2);
    assert_eq!(b.received, bytes);
    assert_eq!(b.hash, pattern_hash(bytes), "content hash");
    assert_eq!(a.closed.map(|c| c.1), Some(CloseReason::Ended));
    (mtu, settled_at)
}

/// A link with IP MTU 1300: probes of 1232, 1264 and 1296 bytes get through, 1328 is lost
/// three times, and the stream settles at 1296 (1248-byte payloads); the lost probes'
/// data is resent unpadded and the transfer completes.
#[test]
fn falls_back_below_a_1300_byte_path() {
    sim_test(0x3713_0001, |sim| {
        let (mtu, at) = probe_transfer(sim, 1300, 4 * MIB);
        let t = sim.stats().total();
        println!(
            "mtu_1300: seed {}, settled at {mtu} after {at} bytes, {} datagrams dropped for MTU",
            sim.seed(),
            t.dropped_mtu
        );
        assert_eq!(mtu, 1296);
        assert_eq!(t.dropped_mtu, 3, "exactly the three failed probes");
    });
}

/// A clean 1500-byte path: the search reaches 1500 and nothing is dropped.
#[test]
fn climbs_to_1500() {
    sim_test(0x3713_0002, |sim| {
        let (mtu, at) = probe_transfer(sim, 1500, 4 * MIB);
        println!(
            "mtu_1500: seed {}, reached {mtu} after {at} bytes",
            sim.seed()
        );
        assert_eq!(mtu, 1500);
        assert_eq!(sim.stats().total().dropped_mtu, 0);
    });
}
