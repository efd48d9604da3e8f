//! UDX: reliable, ordered byte streams multiplexed over one UDP socket, wire-compatible
//! with `udx-native` 1.21.3 (see `shared/spec/udx.md`).
//!
//! This crate will hold:
//! - the packet codec (20-byte header, DATA/END/SACK/MESSAGE/DESTROY/HEARTBEAT, SACK ranges);
//! - a sans-IO stream core: RTO estimation, RACK-TLP loss detection, BBR congestion control
//!   with pacing, MTU probing, relaying, all driven by explicit time;
//! - a thin tokio driver exposing `UdxSocket` and `UdxStream`, sharing its UDP socket with
//!   dht-rpc and holepunch probes.
//!
//! Nothing is implemented yet; the work is tracked in issue 4.
#![forbid(unsafe_code)]
