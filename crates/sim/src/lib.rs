//! A deterministic network simulator for the sans-IO cores of this workspace.
//!
//! It will hold a virtual clock that jumps to the next deadline, seeded latency, jitter,
//! Gilbert-Elliott loss, duplication, reordering, MTU and rate limits, partitions, and NAT
//! models (none, endpoint-independent, address/port-dependent filtering and mapping), so
//! that UDX, dht-rpc and hyperdht are tested without sockets and every failure prints the
//! seed that reproduces it.
//!
//! Nothing is implemented yet; the UDX and dht-rpc issues bring it to life.
#![forbid(unsafe_code)]
