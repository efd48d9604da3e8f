//! Failure modes on the simulated network: a peer that vanishes mid-transfer, and links
//! whose MTU is at or below the size of UDX's packets.

mod common;

use std::time::{Duration, Instant};

use common::{App, MIB, Pair, Peer, addr_a, addr_b, transfer};
use plures_sim::{Limits, LinkConfig, Partition, Sim, sim_test};
use plures_udx::{BASE_MTU, CloseReason};

/// The largest datagram the core builds towards an IPv4 peer: 1152 payload + 20 header.
const MAX_CORE_DATAGRAM: usize = BASE_MTU - 28;

fn limits() -> Limits {
    Limits {
        max_time: Duration::from_secs(120),
        max_events: 2_000_000,
    }
}

/// Runs until A's stream 1 closes; returns when (since start) and why.
fn run_until_sender_closed(sim: &mut Sim, pair: Pair) -> (Duration, CloseReason) {
    if let Err(e) = sim.run_until_cond(|s| pair.peer_a(s).app(1).closed.is_some()) {
        panic!(
            "sender never closed: {e}; {:?}",
            pair.peer_a(sim).app(1).stats
        );
    }
    let (at, reason) = pair.peer_a(sim).app(1).closed.unwrap();
    (at - sim.start(), reason)
}

/// Cuts A and B apart for good from `cut` on.
fn partition_from(sim: &mut Sim, cut: Duration) {
    sim.add_partition(Partition::between(
        vec![addr_a().ip()],
        vec![addr_b().ip()],
        cut..Duration::MAX,
    ));
}

/// The sender's give-up must come ≈ 13 s after its first unacknowledged transmission
/// (spec §8.3: rto = 1000 ms on a 40 ms RTT path, expiries at 1, 3, 5, 7, 9, 11 s, give-up
/// at the 7th); one tail-loss probe (2 * srtt) may come first.
fn assert_give_up(after: Duration) {
    assert!(
        (Duration::from_secs(12)..Duration::from_millis(14_500)).contains(&after),
        "gave up {after:?} after the first unacknowledged transmission"
    );
}

/// After 1 MiB was delivered and acknowledged, the peer disappears for good; then the
/// application writes 64 KiB more (less than one window, so everything is sent at once).
/// The sender must close `TimedOut` ≈ 13 s later, and the simulation must come to rest.
#[test]
fn vanished_peer_times_out() {
    sim_test(0x7130_0001, |sim| {
        sim.set_limits(limits());
        let pair = Pair::new(sim, LinkConfig::with_latency(Duration::from_millis(20)));
        let now = sim.now();
        sim.host_mut::<Peer>(pair.b)
            .open(now, 2, 1, addr_a(), App::reader());
        let writer = App {
            to_write: MIB,
            ..App::default()
        };
        sim.host_mut::<Peer>(pair.a)
            .open(now, 1, 2, addr_b(), writer);
        let cut = Duration::from_secs(1);
        partition_from(sim, cut);
        sim.run_until(sim.start() + cut).unwrap();
        assert_eq!(pair.peer_b(sim).app(2).received, MIB);
        let now = sim.now();
        sim.host_mut::<Peer>(pair.a).write_more(now, 1, 64 * 1024);
        let (at, reason) = run_until_sender_closed(sim, pair);
        let a = pair.peer_a(sim).app(1);
        let after = at - cut;
        println!(
            "vanished peer: seed {}, sender closed {reason:?} {:.3} s after its first unacked \
             transmission ({} RTO expiries, {} TLPs, {} retransmissions)",
            sim.seed(),
            after.as_secs_f64(),
            a.stats.rto_expiries,
            a.stats.loss_probes,
            a.stats.retransmissions,
        );
        assert_eq!(reason, CloseReason::TimedOut);
        assert_give_up(after);
        // The receiver has nothing in flight and no keepalive, so like libudx it does not
        // notice; the simulation must still come to rest instead of spinning.
        let b = pair.peer_b(sim);
        println!(
            "vanished peer: receiver closed {:?}, receiver timer {:?}",
            b.app(2).closed,
            b.ep.poll_timeout().map(|t| t - sim.now())
        );
        let rest = sim.run_for(Duration::from_secs(60));
        assert!(rest.is_ok(), "{rest:?}");
        assert!(
            sim.next_event_time().is_none(),
            "something is still scheduled after the sender gave up"
        );
    });
}

/// The peer disappears in the middle of a bulk transfer, while the writer still has
/// queued, unsent data. The sender must give up ≈ 13 s after the cut, like above. This
/// caught a bug: every tail-loss probe sent one new queued packet, armed another probe and
/// pushed the RTO back, so the give-up came only after the whole send queue had been
/// probed out one packet per 2 * srtt (≈ 34.9 s here). A probe is now sent once per
/// episode (RFC 8985 §7), until an ack delivers new data.
#[test]
fn vanished_peer_mid_transfer_times_out() {
    sim_test(0x7130_0002, |sim| {
        sim.set_limits(limits());
        let pair = Pair::new(sim, LinkConfig::with_latency(Duration::from_millis(20)));
        pair.start(sim, 1, 2, 1 << 40);
        let cut = Duration::from_secs(1);
        partition_from(sim, cut);
        sim.run_until(sim.start() + cut).unwrap();
        let before = pair.peer_b(sim).app(2).received;
        assert!(before > MIB, "data flowed before the partition: {before}");
        let (at, reason) = run_until_sender_closed(sim, pair);
        let a = pair.peer_a(sim).app(1);
        let after = at - cut;
        println!(
            "vanished mid-transfer: seed {}, {:.1} MiB delivered before the cut; sender closed \
             {reason:?} {:.3} s after the cut ({} RTO expiries, {} TLPs, {} retransmissions)",
            sim.seed(),
            before as f64 / MIB as f64,
            after.as_secs_f64(),
            a.stats.rto_expiries,
            a.stats.loss_probes,
            a.stats.retransmissions,
        );
        assert_eq!(reason, CloseReason::TimedOut);
        assert_give_up(after);
    });
}

/// An MTU of exactly 1200 carries a full transfer: the core never builds a datagram larger
/// than 1172 bytes (1200 minus the IPv4 and UDP headers the core budgets for), and the
/// link's stricter payload limit of 1200 never drops anything.
#[test]
fn mtu_1200_carries_everything() {
    sim_test(0x7130_0003, |sim| {
        let link = LinkConfig {
            mtu: Some(BASE_MTU),
            ..LinkConfig::with_latency(Duration::from_millis(20))
        };
        let o = transfer(sim, link, 8 * MIB, limits());
        o.print("mtu_1200", sim.seed());
        println!("mtu_1200: largest datagram {} bytes", o.max_datagram);
        assert_eq!(o.sim.total().dropped_mtu, 0);
        assert!(o.max_datagram <= MAX_CORE_DATAGRAM, "{}", o.max_datagram);
        assert_eq!(o.max_datagram, MAX_CORE_DATAGRAM, "full packets were used");
    });
}

/// A link whose MTU is below the core's full packets black-holes DATA while the small
/// ACKs still pass: there is no MTU discovery to fall back on, so the sender retransmits
/// on its RTO schedule and closes `TimedOut` ≈ 13 s after its first transmission; the
/// receiver gets nothing.
#[test]
fn mtu_below_packet_size_black_holes_and_times_out() {
    sim_test(0x7130_0004, |sim| {
        sim.set_limits(limits());
        let link = LinkConfig {
            mtu: Some(1100),
            ..LinkConfig::with_latency(Duration::from_millis(20))
        };
        let pair = Pair::new(sim, link);
        let wall = Instant::now();
        pair.start(sim, 1, 2, MIB);
        let (at, reason) = run_until_sender_closed(sim, pair);
        let a = pair.peer_a(sim).app(1);
        let b = pair.peer_b(sim).app(2);
        let t = sim.stats().link(pair.a, pair.b);
        println!(
            "mtu_1100: seed {}, sender closed {reason:?} at {:.3} s, {} datagrams dropped for MTU \
             of {} sent, {} retransmissions, receiver got {} bytes; {:?} wall",
            sim.seed(),
            at.as_secs_f64(),
            t.dropped_mtu,
            t.sent,
            a.stats.retransmissions,
            b.received,
            wall.elapsed(),
        );
        assert_eq!(reason, CloseReason::TimedOut);
        assert_eq!(b.received, 0);
        assert_eq!(t.dropped_mtu, t.sent, "every A→B datagram was too big");
        assert!(
            (Duration::from_secs(12)..Duration::from_millis(14_500)).contains(&at),
            "gave up at {at:?}"
        );
    });
}
