//! NAT behaviour and the classic holepunching matrix.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use plures_sim::{HostId, LinkConfig, NatConfig, NatType, Sim, sim_test};

use crate::hosts::{Prober, addr};

const MS: Duration = Duration::from_millis(1);

/// `None` is a public host.
type Kind = Option<NatType>;

const KINDS: [Kind; 5] = [
    None,
    Some(NatType::FullCone),
    Some(NatType::RestrictedCone),
    Some(NatType::PortRestrictedCone),
    Some(NatType::Symmetric),
];

fn add_peer(sim: &mut Sim, kind: Kind, site: u8) -> HostId {
    match kind {
        None => {
            let a = addr(&format!("192.0.2.{site}:40000"));
            sim.add_host(Prober::new(a), &[a])
        }
        Some(t) => {
            let ip: IpAddr = format!("203.0.113.{site}").parse().unwrap();
            let nat = sim.add_nat(NatConfig::new(ip, t));
            let a = addr(&format!("198.18.{site}.2:40000"));
            sim.add_host_behind(nat, Prober::new(a), &[a])
        }
    }
}

/// Both peers register with a public server, learn each other's server-observed address,
/// then probe that address three times (both sides at once, 100 ms apart) and ack every
/// probe to its source. True if each side heard from the other.
fn holepunch(seed: u64, ka: Kind, kb: Kind) -> bool {
    let mut sim = Sim::new(seed);
    sim.set_default_link(LinkConfig::with_latency(15 * MS));
    let s = addr("198.51.100.11:49737");
    let hs = sim.add_host(Prober::new(s), &[s]);
    let ha = add_peer(&mut sim, ka, 10);
    let hb = add_peer(&mut sim, kb, 130);
    sim.host_mut::<Prober>(ha).send(s, b"A");
    sim.host_mut::<Prober>(hb).send(s, b"B");
    sim.run_for(Duration::from_secs(1)).unwrap();
    let server = sim.host::<Prober>(hs);
    let (a_pub, b_pub) = (
        server.sender_of(b"A").unwrap(),
        server.sender_of(b"B").unwrap(),
    );
    for _ in 0..3 {
        sim.host_mut::<Prober>(ha).send(b_pub, b"probe");
        sim.host_mut::<Prober>(hb).send(a_pub, b"probe");
        sim.run_for(100 * MS).unwrap();
    }
    let heard = |h: HostId| sim.host::<Prober>(h).got.iter().any(|(from, _)| *from != s);
    heard(ha) && heard(hb)
}

fn expected(a: Kind, b: Kind) -> bool {
    use NatType::{PortRestrictedCone as Prc, Symmetric as Sym};
    !matches!(
        (a, b),
        (Some(Prc), Some(Sym)) | (Some(Sym), Some(Prc)) | (Some(Sym), Some(Sym))
    )
}

#[test]
fn holepunching_matrix_matches_the_classic_table() {
    let seed = plures_sim::seed_from_env(20);
    let mut table = String::new();
    let mut wrong = Vec::new();
    for ka in KINDS {
        for kb in KINDS {
            let got = holepunch(seed, ka, kb);
            table.push_str(&format!("{ka:?} <-> {kb:?}: {got}\n"));
            if got != expected(ka, kb) {
                wrong.push((ka, kb, got));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "seed {seed}: unexpected cells {wrong:?}\n{table}"
    );
}

#[test]
fn symmetric_nat_uses_a_new_port_per_destination_cone_keeps_it() {
    sim_test(21, |sim| {
        let (s1, s2) = (addr("198.51.100.1:1"), addr("198.51.100.2:2"));
        let h1 = sim.add_host(Prober::new(s1), &[s1]);
        let h2 = sim.add_host(Prober::new(s2), &[s2]);
        let sym = add_peer(sim, Some(NatType::Symmetric), 10);
        let cone = add_peer(sim, Some(NatType::PortRestrictedCone), 130);
        for h in [sym, cone] {
            sim.host_mut::<Prober>(h).send(s1, &[h.index() as u8]);
            sim.host_mut::<Prober>(h).send(s2, &[h.index() as u8]);
        }
        sim.run_for(Duration::from_secs(1)).unwrap();
        let seen = |server: HostId, h: HostId| -> SocketAddr {
            sim.host::<Prober>(server)
                .sender_of(&[h.index() as u8])
                .unwrap()
        };
        assert_ne!(seen(h1, sym), seen(h2, sym));
        assert_eq!(seen(h1, cone), seen(h2, cone));
        assert_eq!(
            seen(h1, cone),
            addr("203.0.113.130:40000"),
            "port preserved"
        );
    });
}

#[test]
fn unsolicited_inbound_is_filtered_and_unmapped_ports_dropped() {
    sim_test(22, |sim| {
        let s = addr("198.51.100.1:1");
        let hs = sim.add_host(Prober::new(s), &[s]);
        let ha = add_peer(sim, Some(NatType::PortRestrictedCone), 10);
        sim.host_mut::<Prober>(ha).send(s, b"hi");
        sim.run_for(Duration::from_secs(1)).unwrap();
        let a_pub = sim.host::<Prober>(hs).sender_of(b"hi").unwrap();
        // A second server port is not permitted.
        let s2 = addr("198.51.100.1:2");
        let hs2 = sim.add_host(Prober::new(s2), &[s2]);
        sim.host_mut::<Prober>(hs2).send(a_pub, b"x");
        // No mapping on another port at all.
        sim.host_mut::<Prober>(hs)
            .send(addr("203.0.113.10:1"), b"x");
        // The permitted server gets through.
        sim.host_mut::<Prober>(hs).send(a_pub, b"ok");
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.stats().link(hs2, ha).dropped_nat, 1);
        assert_eq!(sim.stats().dropped_nat_unmapped, 1);
        assert_eq!(sim.host::<Prober>(ha).got, vec![(s, b"ok".to_vec())]);
    });
}

#[test]
fn mappings_expire_after_the_timeout() {
    sim_test(23, |sim| {
        let s = addr("198.51.100.1:1");
        let hs = sim.add_host(Prober::new(s), &[s]);
        let nat = sim.add_nat(
            NatConfig::new("203.0.113.10".parse().unwrap(), NatType::FullCone)
                .mapping_timeout(Duration::from_secs(30)),
        );
        let a = addr("198.18.1.2:5000");
        let ha = sim.add_host_behind(nat, Prober::new(a), &[a]);
        sim.host_mut::<Prober>(ha).send(s, b"hi");
        sim.run_for(Duration::from_secs(20)).unwrap();
        let a_pub = sim.host::<Prober>(hs).sender_of(b"hi").unwrap();
        sim.host_mut::<Prober>(hs).send(a_pub, b"in time");
        sim.run_for(Duration::from_secs(40)).unwrap();
        assert_eq!(sim.nat_mappings(nat), 0);
        sim.host_mut::<Prober>(hs).send(a_pub, b"too late");
        sim.run_for(Duration::from_secs(1)).unwrap();
        assert_eq!(sim.host::<Prober>(ha).got, vec![(s, b"in time".to_vec())]);
        assert_eq!(sim.stats().dropped_nat_unmapped, 1);
    });
}

#[test]
fn mapping_expiring_in_flight_is_filtered_on_arrival() {
    sim_test(24, |sim| {
        let s = addr("198.51.100.1:1");
        let hs = sim.add_host(Prober::new(s), &[s]);
        let nat = sim.add_nat(
            NatConfig::new("203.0.113.10".parse().unwrap(), NatType::FullCone)
                .mapping_timeout(Duration::from_secs(1)),
        );
        let a = addr("198.18.1.2:5000");
        let ha = sim.add_host_behind(nat, Prober::new(a), &[a]);
        sim.set_link(hs, ha, LinkConfig::with_latency(Duration::from_secs(2)));
        sim.host_mut::<Prober>(ha).send(s, b"hi");
        sim.run_for(20 * MS).unwrap();
        let a_pub = sim.host::<Prober>(hs).sender_of(b"hi").unwrap();
        sim.host_mut::<Prober>(hs).send(a_pub, b"slow");
        sim.run_for(Duration::from_secs(3)).unwrap();
        assert_eq!(sim.stats().link(hs, ha).dropped_nat, 1);
        assert!(sim.host::<Prober>(ha).got.is_empty());
    });
}

#[test]
fn hairpinning_is_off_by_default_and_lan_is_direct() {
    for hairpin in [false, true] {
        sim_test(25, |sim| {
            let s = addr("198.51.100.1:1");
            let hs = sim.add_host(Prober::new(s), &[s]);
            let nat = sim.add_nat(
                NatConfig::new("203.0.113.10".parse().unwrap(), NatType::FullCone)
                    .hairpinning(hairpin),
            );
            let (a, b) = (addr("198.18.1.2:5000"), addr("198.18.1.3:6000"));
            let ha = sim.add_host_behind(nat, Prober::new(a), &[a]);
            let hb = sim.add_host_behind(nat, Prober::new(b), &[b]);
            sim.host_mut::<Prober>(hb).send(s, b"b");
            sim.run_for(Duration::from_secs(1)).unwrap();
            let b_pub = sim.host::<Prober>(hs).sender_of(b"b").unwrap();
            sim.host_mut::<Prober>(ha).send(b_pub, b"hairpin");
            sim.host_mut::<Prober>(ha).send(b, b"lan");
            sim.run_for(Duration::from_secs(1)).unwrap();
            let got = &sim.host::<Prober>(hb).got;
            assert!(
                got.contains(&(a, b"lan".to_vec())),
                "LAN traffic is not translated"
            );
            let a_pub = SocketAddr::new(b_pub.ip(), 5000);
            assert_eq!(got.contains(&(a_pub, b"hairpin".to_vec())), hairpin);
            assert_eq!(sim.stats().dropped_hairpin, u64::from(!hairpin));
        });
    }
}
