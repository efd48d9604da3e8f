//! A deterministic network simulator for the sans-IO cores of this workspace.
//!
//! Protocol cores (UDX, dht-rpc, hyperdht) own no socket and no clock. This crate runs
//! them as [`Host`]s on a simulated network with a virtual clock, seeded impairments and NAT
//! models, so that a whole swarm is tested in one thread without sockets or sleeps, and every
//! failure prints the seed that reproduces it.
//!
//! # Model
//!
//! * A **host** has one or more local `SocketAddr`s (IPv4 or IPv6). It is either public
//!   ([`Sim::add_host`]) or on the LAN of a **NAT** ([`Sim::add_host_behind`]).
//! * A **NAT** ([`NatConfig`]) owns a public IP and maps inner addresses to public ports:
//!   [`NatType::FullCone`] (EIM/EIF), [`NatType::RestrictedCone`] (EIM/ADF),
//!   [`NatType::PortRestrictedCone`] (EIM/APDF, natlab `cone`, hyperdht "consistent") and
//!   [`NatType::Symmetric`] (EDM/APDF, natlab `random`: a random public port per
//!   destination). A public host is the "None" case. Outbound datagrams create or refresh
//!   mappings and filter permissions when they are sent; inbound datagrams are translated or
//!   filtered when they *arrive*, so a permission opened while a datagram is in flight lets
//!   it in. Mappings expire after [`NatConfig::mapping_timeout`]; hairpinning is off by
//!   default. Hosts on the same LAN reach each other directly by inner address.
//! * A **link** is a directed pair of hosts `(from, to)`; it has a [`LinkConfig`]
//!   ([`Sim::set_link`], or [`Sim::set_default_link`] for all): latency, uniform jitter,
//!   Bernoulli or Gilbert-Elliott [`Loss`], duplication, [`Reorder`], MTU and a
//!   [`RateLimit`] with serialization delay and tail drop. Links keep their own loss and
//!   queue state, and count everything in [`LinkStats`].
//! * **Partitions** ([`Partition`]) drop traffic between address sets during a window.
//! * **TTL**: a path crosses one hop per NAT plus [`Sim::set_internet_hops`] (default 1)
//!   between sites, 0 on a LAN. A datagram whose `ttl` is below that is dropped; it still
//!   opens a mapping on the sender's own NAT, like hyperdht's low-TTL probes.
//!
//! Per datagram the order is: route (and the sender's NAT), TTL, partition, MTU, rate
//! queue, loss, duplication, then delay per copy (latency, jitter, reorder); at arrival the
//! receiver's NAT filter. The `run_until(|sim| ...)` form of the brief is
//! [`Sim::run_until_cond`].
//!
//! # Time
//!
//! [`Sim::new`] reads `Instant::now()` once; afterwards the clock only moves forward by
//! jumping to the next event: a datagram arrival or the earliest host timeout. No real time
//! passes and nothing sleeps. [`Sim::step`] processes one event; [`Sim::run_until`] and
//! [`Sim::run_for`] run up to a virtual deadline; [`Sim::run_until_cond`] runs until a
//! predicate holds. Each run is bounded by [`Limits`] (virtual time and event count) and
//! returns a [`RunError`] instead of looping forever. On a tie, deliveries go first (in
//! send order), then timeouts in host order.
//!
//! # Draining hosts
//!
//! After every input to a host (a delivered datagram, a fired timeout, being added, or a
//! [`Sim::host_mut`] borrow) the simulator calls [`Host::poll_transmit`] until it returns
//! `None`, routing each datagram at once, then [`Host::poll_timeout`] once and remembers the
//! deadline. A deadline in the past fires at the current time.
//!
//! # Determinism and seeds
//!
//! Every random choice (jitter, loss, duplication, reordering, NAT ports) comes from one
//! xoshiro256** generator seeded with [`Sim::seed`]; all internal maps are ordered. The same
//! seed and the same hosts give the same [`Sim::log`] and [`Stats`]. [`sim_test`] reads the
//! seed from the `SIM_SEED` environment variable (decimal or `0x` hex), falling back to the
//! test's default, and prints it when the test panics, so `SIM_SEED=<seed> cargo test <name>`
//! replays the failure.
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use plures_sim::{Host, LinkConfig, Sim, Transmit};
//!
//! /// Sends back everything it receives.
//! #[derive(Default)]
//! struct Echo(Vec<Transmit>);
//! impl Host for Echo {
//!     fn handle_datagram(&mut self, _: Instant, local: SocketAddr, from: SocketAddr, data: &[u8]) {
//!         self.0.push(Transmit { source: local, destination: from, contents: data.to_vec(), ttl: None });
//!     }
//!     fn handle_timeout(&mut self, _: Instant) {}
//!     fn poll_transmit(&mut self, _: Instant) -> Option<Transmit> { self.0.pop() }
//!     fn poll_timeout(&self) -> Option<Instant> { None }
//! }
//!
//! let a: SocketAddr = "198.51.100.1:1000".parse().unwrap();
//! let b: SocketAddr = "198.51.100.2:2000".parse().unwrap();
//! plures_sim::sim_test(42, |sim: &mut Sim| {
//!     sim.set_default_link(LinkConfig::with_latency(Duration::from_millis(25)));
//!     let mut first = Echo::default();
//!     first.0.push(Transmit { source: a, destination: b, contents: b"hi".to_vec(), ttl: None });
//!     let ha = sim.add_host(first, &[a]);
//!     let hb = sim.add_host(Echo::default(), &[b]);
//!     // They echo forever; stop after one round trip.
//!     sim.run_until_cond(|s| s.stats().host(ha).datagrams_in == 1).unwrap();
//!     assert_eq!(sim.elapsed(), Duration::from_millis(50));
//!     assert_eq!(sim.stats().link(ha, hb).delivered, 1);
//! });
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod host;
mod link;
mod nat;
mod partition;
mod rng;
mod sim;
mod stats;

pub use host::{Host, HostId, Transmit};
pub use link::{LinkConfig, LinkStats, Loss, RateLimit, Reorder};
pub use nat::{Filtering, Mapping, NatConfig, NatId, NatType};
pub use partition::Partition;
pub use rng::Rng;
pub use sim::{Limits, RunError, Sim};
pub use stats::{DropReason, HostStats, LogEntry, LogEvent, Stats};

use std::panic::{self, AssertUnwindSafe};

/// The name of the environment variable that overrides a test's seed.
pub const SEED_ENV: &str = "SIM_SEED";

/// The seed from `SIM_SEED` (decimal or `0x` hex), or `default` when it is unset.
///
/// # Panics
/// If `SIM_SEED` is set but not a number.
pub fn seed_from_env(default: u64) -> u64 {
    match std::env::var(SEED_ENV) {
        Err(_) => default,
        Ok(v) => {
            let v = v.trim();
            let parsed = match v.strip_prefix("0x").or_else(|| v.strip_prefix("0X")) {
                Some(hex) => u64::from_str_radix(hex, 16),
                None => v.parse(),
            };
            parsed.unwrap_or_else(|_| panic!("{SEED_ENV}={v:?} is not a u64"))
        }
    }
}

/// Runs `test` on a fresh [`Sim`] seeded by [`seed_from_env`]`(default_seed)`; if it panics,
/// prints the seed and how to replay it, then resumes the panic.
pub fn sim_test<F: FnOnce(&mut Sim)>(default_seed: u64, test: F) {
    let seed = seed_from_env(default_seed);
    let mut sim = Sim::new(seed);
    if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| test(&mut sim))) {
        eprintln!(
            "plures-sim: test failed with seed {seed} at virtual time {:?}; \
             reproduce with {SEED_ENV}={seed}",
            sim.elapsed()
        );
        panic::resume_unwind(p);
    }
}
