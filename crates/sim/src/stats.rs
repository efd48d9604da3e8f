//! Counters and the optional event log.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use crate::host::HostId;
use crate::link::LinkStats;

/// Per-host traffic counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostStats {
    /// Datagrams the host sent.
    pub datagrams_out: u64,
    /// Payload bytes the host sent.
    pub bytes_out: u64,
    /// Datagrams delivered to the host.
    pub datagrams_in: u64,
    /// Payload bytes delivered to the host.
    pub bytes_in: u64,
    /// Times `handle_timeout` was called.
    pub timeouts: u64,
}

/// All counters of a simulation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Per directed link `(from, to)`; only links that carried traffic appear.
    pub links: BTreeMap<(HostId, HostId), LinkStats>,
    /// Per host, indexed by [`HostId::index`].
    pub hosts: Vec<HostStats>,
    /// Datagrams to an address nobody owns (or across address families).
    pub unroutable: u64,
    /// Datagrams to the sender's own NAT's public address with hairpinning off.
    pub dropped_hairpin: u64,
    /// Datagrams to a NAT's public port that had no live mapping when sent.
    pub dropped_nat_unmapped: u64,
}

impl Stats {
    /// The counters of the directed link `from → to` (zero if it never carried traffic).
    pub fn link(&self, from: HostId, to: HostId) -> LinkStats {
        self.links.get(&(from, to)).copied().unwrap_or_default()
    }

    /// The counters of one host.
    pub fn host(&self, id: HostId) -> HostStats {
        self.hosts.get(id.0).copied().unwrap_or_default()
    }

    /// The sum over all links.
    pub fn total(&self) -> LinkStats {
        let mut t = LinkStats::default();
        for s in self.links.values() {
            t.add(s);
        }
        t
    }
}

/// Why a datagram was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DropReason {
    /// Nobody owns the destination.
    Unroutable,
    /// Sent to its own NAT's public address with hairpinning off.
    Hairpin,
    /// The destination NAT had no live mapping on that port.
    NatUnmapped,
    /// The destination NAT's filter refused it.
    NatFiltered,
    /// TTL smaller than the hop count.
    Ttl,
    /// A partition rule.
    Partition,
    /// Larger than the MTU.
    Mtu,
    /// Tail-dropped by the rate limiter.
    Rate,
    /// The loss model.
    Loss,
}

/// One entry of the event log (see [`Sim::enable_log`](crate::Sim::enable_log)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEvent {
    /// A host handed a datagram to the network.
    Sent {
        /// The sender.
        host: HostId,
        /// The source address as the host gave it.
        source: SocketAddr,
        /// The destination.
        destination: SocketAddr,
        /// Payload length.
        len: usize,
    },
    /// A datagram reached a host.
    Delivered {
        /// The receiver.
        host: HostId,
        /// The receiver's local address.
        local: SocketAddr,
        /// The source as the receiver sees it.
        from: SocketAddr,
        /// Payload length.
        len: usize,
    },
    /// A datagram was dropped.
    Dropped {
        /// The sender.
        host: HostId,
        /// Why.
        reason: DropReason,
        /// The destination it was sent to.
        destination: SocketAddr,
    },
    /// A host's timeout fired.
    Timeout {
        /// The host.
        host: HostId,
    },
}

/// A log event with its time since the simulation started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Virtual time since start.
    pub at: Duration,
    /// What happened.
    pub event: LogEvent,
}
