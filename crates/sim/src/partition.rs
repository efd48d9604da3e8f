//! Partition rules: drop traffic between two address sets during a time window.

use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

/// Drops every datagram from an address in `a` to an address in `b` (and, when
/// `both_ways`, from `b` to `a`) sent while the simulated time since start is in `window`.
///
/// A datagram matches a set through any of its addresses: the sender's own address, its
/// address after its NAT, the destination it was sent to, or the receiving host's inner
/// address. Listing a NAT's public IP therefore cuts off every host behind it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// One side.
    pub a: Vec<IpAddr>,
    /// The other side.
    pub b: Vec<IpAddr>,
    /// When the rule applies, as time since the simulation started (`start..end`).
    pub window: Range<Duration>,
    /// Whether `b → a` is dropped too.
    pub both_ways: bool,
}

impl Partition {
    /// A partition in both directions.
    pub fn between(a: Vec<IpAddr>, b: Vec<IpAddr>, window: Range<Duration>) -> Self {
        Self {
            a,
            b,
            window,
            both_ways: true,
        }
    }

    /// A partition that drops only `a → b`.
    pub fn one_way(a: Vec<IpAddr>, b: Vec<IpAddr>, window: Range<Duration>) -> Self {
        Self {
            a,
            b,
            window,
            both_ways: false,
        }
    }

    pub(crate) fn blocks(&self, elapsed: Duration, src: &[IpAddr], dst: &[IpAddr]) -> bool {
        if !self.window.contains(&elapsed) {
            return false;
        }
        let any = |set: &[IpAddr], ips: &[IpAddr]| ips.iter().any(|ip| set.contains(ip));
        (any(&self.a, src) && any(&self.b, dst))
            || (self.both_ways && any(&self.b, src) && any(&self.a, dst))
    }
}
