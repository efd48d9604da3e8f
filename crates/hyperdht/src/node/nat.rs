//! The NAT sampler and classifier of spec §12.2 (`Nat`): one per holepuncher, fed the
//! `to` address of replies that came back to the puncher's socket (one sample per
//! responder), classifying the NAT in front of that socket as CONSISTENT (the same public
//! ip:port towards everyone) or RANDOM (the port changes per destination).

use std::net::{Ipv4Addr, SocketAddrV4};

use crate::constants::firewall;

/// Samples needed before a class is given.
pub const MIN_SAMPLES: usize = 3;
/// Samples after which the analysis is done even without a CONSISTENT verdict.
pub const DONE_SAMPLES: usize = 4;

/// A NAT sampler: counts the public addresses other nodes saw, classifies after each.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Nat {
    /// Distinct ip:ports, with hits, in the order first seen.
    addrs: Vec<(SocketAddrV4, usize)>,
    /// Distinct hosts, with hits, in the order first seen.
    hosts: Vec<(Ipv4Addr, usize)>,
    samples: usize,
    /// Who gave a sample (one each).
    responders: Vec<SocketAddrV4>,
    class: u64,
    open: bool,
    frozen: bool,
}

impl Nat {
    /// A sampler with no samples (class UNKNOWN).
    pub fn new() -> Self {
        Self::default()
    }

    /// A sampler for an unfirewalled node: OPEN at once, samples ignored.
    pub fn open() -> Self {
        Self {
            class: firewall::OPEN,
            open: true,
            ..Self::default()
        }
    }

    /// The current class (`firewall::UNKNOWN`, `OPEN`, `CONSISTENT` or `RANDOM`).
    pub fn class(&self) -> u64 {
        self.class
    }

    /// Samples taken.
    pub fn samples(&self) -> usize {
        self.samples
    }

    /// The analysis is finished: CONSISTENT/OPEN, or enough samples for a verdict.
    pub fn is_done(&self) -> bool {
        matches!(self.class, firewall::OPEN | firewall::CONSISTENT) || self.samples >= DONE_SAMPLES
    }

    /// Stops reclassifying (the class was sent in a punching round).
    pub fn freeze(&mut self) {
        self.frozen = true;
    }

    /// Adds the sample of `responder` (our address as it saw us), unless it gave one
    /// already: a node answering twice (retransmissions, several holepunch rounds through
    /// one relay) would otherwise count one NAT mapping several times.
    pub fn add_from(&mut self, responder: SocketAddrV4, addr: SocketAddrV4) {
        if self.open || self.frozen || self.responders.contains(&responder) {
            return;
        }
        self.responders.push(responder);
        self.add(addr);
    }

    /// Adds one sample (our address as one responder saw it) and reclassifies.
    pub fn add(&mut self, addr: SocketAddrV4) {
        if self.open || self.frozen {
            return;
        }
        self.samples += 1;
        bump(&mut self.addrs, addr);
        bump(&mut self.hosts, *addr.ip());
        // Stable sorts: ties keep the order first seen.
        self.addrs.sort_by_key(|a| std::cmp::Reverse(a.1));
        self.hosts.sort_by_key(|a| std::cmp::Reverse(a.1));
        if let Some(class) = self.classify() {
            self.class = class;
        }
    }

    fn classify(&self) -> Option<u64> {
        if self.samples < MIN_SAMPLES {
            return None;
        }
        let top = self.addrs.first()?.1;
        if top >= 3 {
            return Some(firewall::CONSISTENT);
        }
        if top == 1 {
            return Some(firewall::RANDOM);
        }
        // top == 2
        if self.hosts.len() == 1 && self.samples > 3 {
            return Some(firewall::RANDOM);
        }
        if self.hosts.len() > 1 && self.addrs.get(1).is_some_and(|a| a.1 > 1) {
            return Some(firewall::CONSISTENT);
        }
        if self.samples > 4 {
            return Some(firewall::RANDOM);
        }
        None
    }

    /// What to tell the peer: none while UNKNOWN; RANDOM: the top host with port 0;
    /// CONSISTENT: every ip:port seen at least twice, and at least the top two.
    pub fn addresses(&self) -> Vec<SocketAddrV4> {
        match self.class {
            firewall::RANDOM => self
                .hosts
                .first()
                .map(|h| vec![SocketAddrV4::new(h.0, 0)])
                .unwrap_or_default(),
            firewall::CONSISTENT => self
                .addrs
                .iter()
                .enumerate()
                .filter(|(i, a)| *i < 2 || a.1 >= 2)
                .map(|(_, a)| a.0)
                .collect(),
            _ => Vec::new(),
        }
    }
}

fn bump<T: PartialEq + Copy>(list: &mut Vec<(T, usize)>, key: T) {
    match list.iter_mut().find(|e| e.0 == key) {
        Some(e) => e.1 += 1,
        None => list.push((key, 1)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::constants::firewall::{CONSISTENT, RANDOM, UNKNOWN};

    fn a(host: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, host), port)
    }

    /// Feeds the samples, returning the class after each.
    fn classes(samples: &[SocketAddrV4]) -> (Vec<u64>, Nat) {
        let mut nat = Nat::new();
        let out = samples
            .iter()
            .map(|s| {
                nat.add(*s);
                nat.class()
            })
            .collect();
        (out, nat)
    }

    // The sequences below are the ones observed with the reference `Nat` class (spec
    // §12.2, "class after each sample").

    #[test]
    fn same_address_four_times_is_consistent_from_the_third() {
        let (c, nat) = classes(&[a(1, 10); 4]);
        assert_eq!(c, [UNKNOWN, UNKNOWN, CONSISTENT, CONSISTENT]);
        assert_eq!(nat.addresses(), [a(1, 10)]);
        assert!(nat.is_done());
    }

    #[test]
    fn three_ports_of_one_host_is_random() {
        let (c, nat) = classes(&[a(1, 10), a(1, 11), a(1, 12)]);
        assert_eq!(c, [UNKNOWN, UNKNOWN, RANDOM]);
        assert_eq!(nat.addresses(), [a(1, 0)]);
        assert!(!nat.is_done());
    }

    #[test]
    fn two_hosts_twice_each_is_consistent() {
        let (c, nat) = classes(&[a(1, 10), a(1, 10), a(2, 20), a(2, 20)]);
        assert_eq!(c, [UNKNOWN, UNKNOWN, UNKNOWN, CONSISTENT]);
        assert_eq!(nat.addresses(), [a(1, 10), a(2, 20)]);
    }

    #[test]
    fn one_port_twice_then_two_others_is_random() {
        let (c, nat) = classes(&[a(1, 10), a(1, 10), a(1, 11), a(1, 12)]);
        assert_eq!(c, [UNKNOWN, UNKNOWN, UNKNOWN, RANDOM]);
        assert!(nat.is_done());
    }

    #[test]
    fn one_port_twice_then_another_stays_unknown() {
        let (c, _) = classes(&[a(1, 10), a(1, 10), a(1, 11)]);
        assert_eq!(c, [UNKNOWN, UNKNOWN, UNKNOWN]);
    }

    #[test]
    fn two_hits_over_two_hosts_random_only_past_four_samples() {
        // Row "2 hits, > 4 samples": A:10 ×2 with three singles on other hosts.
        let (c, _) = classes(&[a(1, 10), a(1, 10), a(2, 20), a(3, 30), a(4, 40)]);
        assert_eq!(c, [UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, RANDOM]);
    }

    #[test]
    fn one_sample_per_responder() {
        // A symmetric NAT seen by two nodes, one of which answered three times (one
        // mapping per destination, so it saw the same port each time): still not
        // classified, where counting every answer would say CONSISTENT.
        let (r1, r2) = (a(50, 1), a(51, 1));
        let mut nat = Nat::new();
        nat.add_from(r1, a(1, 10));
        nat.add_from(r2, a(1, 11));
        nat.add_from(r2, a(1, 11));
        nat.add_from(r2, a(1, 11));
        assert_eq!((nat.samples(), nat.class()), (2, UNKNOWN));
        nat.add_from(a(52, 1), a(1, 12));
        assert_eq!(nat.class(), RANDOM);
    }

    #[test]
    fn open_ignores_samples_and_frozen_keeps_its_class() {
        let mut nat = Nat::open();
        nat.add(a(1, 1));
        assert_eq!(nat.class(), firewall::OPEN);
        assert!(nat.is_done());
        let (_, mut nat) = classes(&[a(1, 10); 3]);
        nat.freeze();
        for p in 11..20 {
            nat.add(a(1, p));
        }
        assert_eq!(nat.class(), CONSISTENT);
    }
}
