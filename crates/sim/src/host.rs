//! What a simulated machine runs.

use std::any::Any;
use std::net::SocketAddr;
use std::time::Instant;

/// One datagram a [`Host`] wants to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// The local address it is sent from; must be one of the host's addresses.
    pub source: SocketAddr,
    /// Where it goes.
    pub destination: SocketAddr,
    /// The UDP payload.
    pub contents: Vec<u8>,
    /// The IP TTL / hop limit, `None` for the OS default (never dropped for TTL).
    pub ttl: Option<u8>,
}

/// A sans-IO machine driven by the simulator.
///
/// After every input (`handle_datagram`, `handle_timeout`, or a `Sim::host_mut` borrow) the
/// simulator calls `poll_transmit` until it returns `None`, then `poll_timeout` once.
pub trait Host: 'static {
    /// A datagram arrived on `local` (one of the host's addresses) from `from`.
    fn handle_datagram(&mut self, now: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]);
    /// The deadline last returned by `poll_timeout` was reached.
    fn handle_timeout(&mut self, now: Instant);
    /// The next datagram to send, if any.
    fn poll_transmit(&mut self, now: Instant) -> Option<Transmit>;
    /// When `handle_timeout` should next be called, if ever.
    fn poll_timeout(&self) -> Option<Instant>;
}

/// Identifies a host inside one [`Sim`](crate::Sim), in the order hosts were added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostId(pub(crate) usize);

impl HostId {
    /// The position of the host in insertion order, from 0.
    pub fn index(self) -> usize {
        self.0
    }
}

/// A `Host` that can also be downcast, so tests can reach their concrete type.
pub(crate) trait AnyHost: Host {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
    fn type_name(&self) -> &'static str;
}

impl<T: Host> AnyHost for T {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
    fn type_name(&self) -> &'static str {
        std::any::type_name::<T>()
    }
}
