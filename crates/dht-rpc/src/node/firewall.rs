//! Firewall detection and the ephemeral → persistent switch (spec §11 `quickFirewall`, §13
//! `checkIfFirewalled`, `updateNetworkState`).
//!
//! The reference awaits its probes; here they are a small state machine. A check
//! ([`FirewallProbe`]) sends PING_NAT (value: the server socket's local port) to up to five
//! recently seen nodes, topped up with the bootstrap nodes, from the main socket. While it
//! runs, the node records the source host of every datagram that arrives on its server
//! socket. When every PING_NAT has been answered or has failed, the replies from hosts seen
//! on the server socket are counted and their `to` fields sampled into a fresh
//! [`NatSampler`]; the node is reachable if enough replied (3 of ≥ 5 candidates, else 1)
//! and that sampler agrees with the main one on the host and reports the server socket's
//! local port. Only one check runs at a time; a second request while one runs fails.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use super::{Ctx, Dht, Event, QueryId};
use crate::command::Command;
use crate::id::NodeId;
use crate::io::SendOptions;
use crate::nat::NatSampler;

/// Most nodes a firewall check asks (the most recently seen ones).
pub const FIREWALL_CANDIDATES: usize = 5;

/// Who asked for a network-state update, i.e. what to do with its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Purpose {
    /// After the first bootstrap query: on success run the second iteration.
    Bootstrap,
    /// The adaptive countdown (result unused).
    Adaptive,
}

/// A running `checkIfFirewalled` and the `updateNetworkState` waiting for it.
#[derive(Debug)]
pub(super) struct FirewallProbe {
    purpose: Purpose,
    only_firewall: bool,
    candidates: usize,
    pending: usize,
    /// Source hosts of datagrams that arrived on the server socket meanwhile.
    server_hosts: HashSet<Ipv4Addr>,
    /// `(from, to)` of each PING_NAT reply.
    replies: Vec<(SocketAddrV4, SocketAddrV4)>,
    /// The main sampler's estimate when the update started.
    nat_before: (Option<Ipv4Addr>, u16),
}

/// The bootstrap's quick firewall test (spec §11 step 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum QuickFirewall {
    /// Nothing sent (yet).
    #[default]
    Idle,
    /// PING_NAT sent to the first responder of this bootstrap query.
    Sent(QueryId),
    /// It was answered while that query ran (`testNat`).
    Answered,
}

impl FirewallProbe {
    /// Records the source host of a datagram that arrived on the server socket.
    pub(super) fn on_server_datagram(&mut self, from: SocketAddrV4) {
        self.server_hosts.insert(*from.ip());
    }
}

impl Dht {
    /// The PING_NAT value: the server socket's local port.
    fn ping_nat_value(&self) -> [u8; 2] {
        self.config.server_port.to_le_bytes()
    }

    /// §11: the first reply of the first bootstrap query triggers one PING_NAT to its
    /// sender.
    pub(super) fn quick_firewall(&mut self, now: Instant, query: QueryId, from: SocketAddrV4) {
        if self.quick != QuickFirewall::Idle
            || !self.firewalled
            || !self.config.quick_firewall
            || self.config.ephemeral == Some(false)
            || self.config.server_port == 0
        {
            return;
        }
        let value = self.ping_nat_value();
        let opts = SendOptions {
            any_source: true,
            ..SendOptions::default()
        };
        let sent = self.send_request(
            now,
            from,
            Command::PingNat,
            None,
            Some(&value),
            None,
            Ctx::QuickNat(query),
            opts,
        );
        if sent.is_ok() {
            self.quick = QuickFirewall::Sent(query);
        }
    }

    /// A reply to the quick PING_NAT: it counts only while its query runs.
    pub(super) fn quick_firewall_reply(&mut self, query: QueryId) {
        if self.quick == QuickFirewall::Sent(query) && self.queries.contains_key(&query) {
            self.quick = QuickFirewall::Answered;
        }
    }

    /// §11 step 2–3, after each bootstrap query.
    pub(super) fn bootstrap_done(&mut self, now: Instant, iteration: u8) {
        if self.bootstrapped {
            return;
        }
        let forced_persistent = self.config.ephemeral == Some(false);
        let test_nat = self.quick == QuickFirewall::Answered;
        if iteration == 1 && (test_nat || forced_persistent) {
            match self.update_network_state(now, !forced_persistent, Purpose::Bootstrap) {
                Some(true) => {
                    self.start_bootstrap(now, 2);
                    return;
                }
                // The firewall check is running; it resumes the bootstrap.
                None => return,
                Some(false) => {}
            }
        }
        self.set_bootstrapped();
    }

    fn set_bootstrapped(&mut self) {
        self.bootstrapped = true;
        self.push_event(Event::Ready);
    }

    /// §13 `updateNetworkState`: `Some(result)` if it finished at once, `None` while a
    /// firewall check runs (its result then goes to `purpose`).
    pub(super) fn update_network_state(
        &mut self,
        now: Instant,
        only_firewall: bool,
        purpose: Purpose,
    ) -> Option<bool> {
        if !self.ephemeral || (only_firewall && !self.firewalled) || self.probe.is_some() {
            return Some(false);
        }
        if !only_firewall {
            self.last_checked_host = self.nat.host();
            self.stable_ticks = super::MORE_STABLE_TICKS;
        }
        if self.nat.host().is_none() || self.nat.port() == 0 {
            return Some(false);
        }
        let nat_before = (self.nat.host(), self.nat.port());
        if !self.firewalled {
            return Some(self.finish_update(now, only_firewall, nat_before, None));
        }
        if !self.start_probe(now, only_firewall, purpose, nat_before) {
            return Some(false);
        }
        None
    }

    /// Sends the PING_NATs of `checkIfFirewalled`; false if there is nobody to ask.
    fn start_probe(
        &mut self,
        now: Instant,
        only_firewall: bool,
        purpose: Purpose,
        nat_before: (Option<Ipv4Addr>, u16),
    ) -> bool {
        if self.config.server_port == 0 {
            return false;
        }
        let mut candidates: Vec<SocketAddrV4> = self
            .recency
            .values()
            .rev()
            .filter_map(|id| self.table.get(id).map(|n| n.addr))
            .take(FIREWALL_CANDIDATES)
            .collect();
        if candidates.len() < FIREWALL_CANDIDATES {
            candidates.extend(self.config.bootstrap.iter().copied());
        }
        let value = self.ping_nat_value();
        let opts = SendOptions {
            any_source: true,
            ..SendOptions::default()
        };
        let mut pending = 0;
        for &to in &candidates {
            let sent = self.send_request(
                now,
                to,
                Command::PingNat,
                None,
                Some(&value),
                None,
                Ctx::FirewallProbe,
                opts,
            );
            pending += usize::from(sent.is_ok());
        }
        if pending == 0 {
            return false;
        }
        self.probe = Some(FirewallProbe {
            purpose,
            only_firewall,
            candidates: candidates.len(),
            pending,
            server_hosts: HashSet::new(),
            replies: Vec::new(),
            nat_before,
        });
        true
    }

    /// A PING_NAT of the running check was answered (`Some(to)`) or failed (`None`).
    pub(super) fn probe_settled(
        &mut self,
        now: Instant,
        from: SocketAddrV4,
        to: Option<SocketAddrV4>,
    ) {
        let Some(probe) = self.probe.as_mut() else {
            return;
        };
        if let Some(to) = to {
            probe.replies.push((from, to));
        }
        probe.pending = probe.pending.saturating_sub(1);
        if probe.pending > 0 {
            return;
        }
        let Some(probe) = self.probe.take() else {
            return;
        };
        let sampler = self.evaluate_probe(&probe);
        let ok = sampler.is_some_and(|s| {
            self.finish_update(now, probe.only_firewall, probe.nat_before, Some(s))
        });
        if probe.purpose == Purpose::Bootstrap && !self.bootstrapped {
            if ok {
                self.start_bootstrap(now, 2);
            } else {
                self.set_bootstrapped();
            }
        }
    }

    /// `checkIfFirewalled` step 3–4: the probe sampler if the node is reachable.
    fn evaluate_probe(&self, probe: &FirewallProbe) -> Option<NatSampler> {
        let mut sampler = NatSampler::new();
        let mut count = 0;
        for (from, to) in &probe.replies {
            if probe.server_hosts.contains(from.ip()) {
                count += 1;
                sampler.add(*to.ip(), to.port());
            }
        }
        let needed = if probe.candidates >= FIREWALL_CANDIDATES {
            3
        } else {
            1
        };
        let reachable = count >= needed
            && sampler.host().is_some()
            && sampler.host() == self.nat.host()
            && sampler.port() != 0
            && sampler.port() == self.config.server_port;
        reachable.then_some(sampler)
    }

    /// `updateNetworkState` step 4 (after a passed check) to 9.
    fn finish_update(
        &mut self,
        now: Instant,
        only_firewall: bool,
        nat_before: (Option<Ipv4Addr>, u16),
        sampler: Option<NatSampler>,
    ) -> bool {
        if sampler.is_some() {
            self.firewalled = false;
        }
        if !self.ephemeral || (self.nat.host(), self.nat.port()) != nat_before {
            return false;
        }
        if let Some(s) = &sampler {
            if s.host() != self.nat.host() || s.port() == 0 {
                return false;
            }
        }
        if !only_firewall {
            if self.config.ephemeral == Some(true) {
                return false;
            }
            self.ephemeral = false;
        }
        if let Some(s) = sampler {
            let changed = (s.host(), s.port()) != (self.nat.host(), self.nat.port());
            self.nat = s;
            self.id_less_sources.clear();
            if changed {
                let (host, port) = (self.nat.host(), self.nat.port());
                self.push_event(Event::NatUpdate { host, port });
            }
        }
        let (Some(host), port) = (self.nat.host(), self.nat.port()) else {
            return false;
        };
        let id = NodeId::from_addr(SocketAddrV4::new(host, port));
        if id != self.table.id() {
            for dropped in self.table.rebuild(id) {
                if let Some(meta) = self.meta.remove(&dropped.id) {
                    self.recency.remove(&meta.seq);
                }
            }
            if self.bootstrapped {
                self.refresh(now);
            }
        }
        if !self.ephemeral {
            self.push_event(Event::Persistent { id });
        }
        true
    }
}

#[cfg(test)]
mod tests;
