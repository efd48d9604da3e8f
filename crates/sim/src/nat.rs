//! NAT models (RFC 4787 terms): mapping and filtering behaviour, timeouts, hairpinning.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use crate::host::HostId;
use crate::rng::Rng;

/// Identifies a NAT inside one [`Sim`](crate::Sim).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NatId(pub(crate) usize);

/// How outbound flows get public ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mapping {
    /// One public port per inner address, whatever the destination (EIM, "consistent").
    EndpointIndependent,
    /// A new public port per (inner address, destination) pair (EDM, "random"/symmetric).
    EndpointDependent,
}

/// Which inbound datagrams a mapping lets through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filtering {
    /// Anyone may send to a live mapping (EIF).
    EndpointIndependent,
    /// Only IPs the inner host has sent to through this mapping (ADF).
    AddressDependent,
    /// Only IP:port pairs the inner host has sent to through this mapping (APDF).
    AddressAndPortDependent,
}

/// The classic NAT types, as presets of [`Mapping`] and [`Filtering`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NatType {
    /// EIM + EIF ("full cone"; natlab `fullcone`).
    FullCone,
    /// EIM + ADF ("restricted cone").
    RestrictedCone,
    /// EIM + APDF ("port-restricted cone"; natlab `cone`, hyperdht CONSISTENT).
    PortRestrictedCone,
    /// EDM + APDF ("symmetric"; natlab `random`, hyperdht RANDOM).
    Symmetric,
}

/// Configuration of one NAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatConfig {
    /// The NAT's public address; inner hosts appear as `public_ip:mapped_port`.
    pub public_ip: IpAddr,
    /// Mapping behaviour.
    pub mapping: Mapping,
    /// Filtering behaviour.
    pub filtering: Filtering,
    /// A mapping (and each filter permission) dies after this long without traffic.
    pub mapping_timeout: Duration,
    /// Whether inner hosts can reach each other through the public address.
    pub hairpinning: bool,
    /// Keep the inner port as the public port when it is free (Linux MASQUERADE does).
    /// Ignored for endpoint-dependent mapping, which always picks a random port.
    pub port_preservation: bool,
}

impl NatConfig {
    /// A NAT of the given type with a 30 s mapping timeout (Linux's unreplied UDP timeout),
    /// no hairpinning, and port preservation for the endpoint-independent types.
    pub fn new(public_ip: IpAddr, kind: NatType) -> Self {
        let (mapping, filtering) = match kind {
            NatType::FullCone => (Mapping::EndpointIndependent, Filtering::EndpointIndependent),
            NatType::RestrictedCone => (Mapping::EndpointIndependent, Filtering::AddressDependent),
            NatType::PortRestrictedCone => (
                Mapping::EndpointIndependent,
                Filtering::AddressAndPortDependent,
            ),
            NatType::Symmetric => (
                Mapping::EndpointDependent,
                Filtering::AddressAndPortDependent,
            ),
        };
        Self {
            public_ip,
            mapping,
            filtering,
            mapping_timeout: Duration::from_secs(30),
            hairpinning: false,
            port_preservation: true,
        }
    }

    /// Sets the mapping timeout.
    pub fn mapping_timeout(mut self, timeout: Duration) -> Self {
        self.mapping_timeout = timeout;
        self
    }

    /// Turns hairpinning on or off.
    pub fn hairpinning(mut self, on: bool) -> Self {
        self.hairpinning = on;
        self
    }
}

type MapKey = (SocketAddr, Option<SocketAddr>);

#[derive(Debug)]
struct Entry {
    key: MapKey,
    last_used: Instant,
    permits: BTreeMap<SocketAddr, Instant>,
}

/// The state of one NAT: its LAN and its mappings.
#[derive(Debug)]
pub(crate) struct Nat {
    pub(crate) config: NatConfig,
    pub(crate) lan: BTreeMap<SocketAddr, HostId>,
    by_key: BTreeMap<MapKey, u16>,
    by_port: BTreeMap<u16, Entry>,
}

impl Nat {
    pub(crate) fn new(config: NatConfig) -> Self {
        Self {
            config,
            lan: BTreeMap::new(),
            by_key: BTreeMap::new(),
            by_port: BTreeMap::new(),
        }
    }

    fn alive(&self, last: Instant, now: Instant) -> bool {
        now.saturating_duration_since(last) <= self.config.mapping_timeout
    }

    fn remove(&mut self, port: u16) {
        if let Some(e) = self.by_port.remove(&port) {
            self.by_key.remove(&e.key);
        }
    }

    fn port_free(&mut self, port: u16, now: Instant) -> bool {
        match self.by_port.get(&port) {
            None => true,
            Some(e) if !self.alive(e.last_used, now) => {
                self.remove(port);
                true
            }
            Some(_) => false,
        }
    }

    fn allocate(&mut self, now: Instant, inner: SocketAddr, rng: &mut Rng) -> u16 {
        if self.config.mapping == Mapping::EndpointIndependent
            && self.config.port_preservation
            && inner.port() != 0
            && self.port_free(inner.port(), now)
        {
            return inner.port();
        }
        for _ in 0..1024 {
            let port = 1024 + rng.below(65536 - 1024) as u16;
            if self.port_free(port, now) {
                return port;
            }
        }
        (1024..=u16::MAX)
            .find(|p| self.port_free(*p, now))
            .expect("simulated NAT ran out of public ports")
    }

    /// Translates an outbound datagram, creating or refreshing its mapping and permission.
    pub(crate) fn outbound(
        &mut self,
        now: Instant,
        inner: SocketAddr,
        dst: SocketAddr,
        rng: &mut Rng,
    ) -> SocketAddr {
        let key = match self.config.mapping {
            Mapping::EndpointIndependent => (inner, None),
            Mapping::EndpointDependent => (inner, Some(dst)),
        };
        let live = self.by_key.get(&key).copied().filter(|p| {
            self.by_port
                .get(p)
                .is_some_and(|e| self.alive(e.last_used, now))
        });
        let port = match live {
            Some(p) => p,
            None => {
                if let Some(old) = self.by_key.get(&key).copied() {
                    self.remove(old);
                }
                let p = self.allocate(now, inner, rng);
                self.by_key.insert(key, p);
                self.by_port.insert(
                    p,
                    Entry {
                        key,
                        last_used: now,
                        permits: BTreeMap::new(),
                    },
                );
                tracing::trace!(public = %SocketAddr::new(self.config.public_ip, p), %inner, %dst, "nat mapping created");
                p
            }
        };
        if let Some(e) = self.by_port.get_mut(&port) {
            e.last_used = now;
            e.permits.insert(dst, now);
        }
        SocketAddr::new(self.config.public_ip, port)
    }

    /// The inner address a live mapping on `port` points at, ignoring filtering.
    pub(crate) fn peek(&self, now: Instant, port: u16) -> Option<SocketAddr> {
        let e = self.by_port.get(&port)?;
        self.alive(e.last_used, now).then_some(e.key.0)
    }

    /// Translates an inbound datagram from `from` to public `port`, or `None` if filtered.
    pub(crate) fn inbound(
        &mut self,
        now: Instant,
        from: SocketAddr,
        port: u16,
    ) -> Option<SocketAddr> {
        let timeout = self.config.mapping_timeout;
        let alive = |t: Instant| now.saturating_duration_since(t) <= timeout;
        let e = self.by_port.get_mut(&port)?;
        if !alive(e.last_used) {
            self.remove(port);
            return None;
        }
        let ok = match self.config.filtering {
            Filtering::EndpointIndependent => true,
            Filtering::AddressDependent => e
                .permits
                .iter()
                .any(|(a, t)| a.ip() == from.ip() && alive(*t)),
            Filtering::AddressAndPortDependent => e.permits.get(&from).is_some_and(|t| alive(*t)),
        };
        if ok {
            e.last_used = now;
            Some(e.key.0)
        } else {
            None
        }
    }

    /// The number of live mappings at `now`.
    pub(crate) fn live_mappings(&self, now: Instant) -> usize {
        self.by_port
            .values()
            .filter(|e| self.alive(e.last_used, now))
            .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn eim_keeps_port_edm_changes_it() {
        let now = Instant::now();
        let mut rng = Rng::new(3);
        let ip: IpAddr = "203.0.113.10".parse().unwrap();
        let inner = addr("10.0.0.2:5000");
        let mut eim = Nat::new(NatConfig::new(ip, NatType::PortRestrictedCone));
        let a = eim.outbound(now, inner, addr("1.1.1.1:1"), &mut rng);
        let b = eim.outbound(now, inner, addr("2.2.2.2:2"), &mut rng);
        assert_eq!(a, b);
        assert_eq!(a.port(), 5000);
        let mut edm = Nat::new(NatConfig::new(ip, NatType::Symmetric));
        let a = edm.outbound(now, inner, addr("1.1.1.1:1"), &mut rng);
        let b = edm.outbound(now, inner, addr("2.2.2.2:2"), &mut rng);
        assert_ne!(a, b);
        assert_eq!(edm.live_mappings(now), 2);
    }

    #[test]
    fn filtering_and_expiry() {
        let now = Instant::now();
        let mut rng = Rng::new(3);
        let ip: IpAddr = "203.0.113.10".parse().unwrap();
        let inner = addr("10.0.0.2:5000");
        let peer = addr("1.1.1.1:1");
        let mut nat = Nat::new(
            NatConfig::new(ip, NatType::RestrictedCone).mapping_timeout(Duration::from_secs(5)),
        );
        let public = nat.outbound(now, inner, peer, &mut rng);
        assert_eq!(
            nat.inbound(now, addr("1.1.1.1:9"), public.port()),
            Some(inner)
        );
        assert_eq!(nat.inbound(now, addr("9.9.9.9:1"), public.port()), None);
        let late = now + Duration::from_secs(11);
        assert_eq!(nat.inbound(late, peer, public.port()), None);
        assert_eq!(nat.live_mappings(late), 0);
    }
}
