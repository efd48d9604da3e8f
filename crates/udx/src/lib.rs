//! UDX: reliable, ordered byte streams multiplexed over one UDP socket, wire-compatible
//! with `udx-native` 1.21.3 / libudx (specified in `shared/spec/udx.md`).
//!
//! # What is here
//!
//! - [`wire`]: the packet codec. A 20-byte header with DATA / END / SACK / MESSAGE /
//!   DESTROY / HEARTBEAT flags, SACK blocks, MTU-probe padding and payload, read through
//!   a checked view ([`wire::Packet`]) or plain values ([`wire::Header`], [`wire::Repr`]),
//!   and the classifier ([`wire::classify`]) a shared socket uses to tell UDX packets from
//!   dht-rpc messages and holepunch probes.
//! - [`seq`]: 32-bit modular sequence-number comparison.
//!
//! ```
//! use plures_udx::wire::{Datagram, PacketType, Repr, classify};
//!
//! let mut buf = [0u8; 64];
//! let mut data = Repr::new(PacketType::DATA, 2, 4_194_304, 0, 0);
//! data.payload = b"hello";
//! let len = data.emit(&mut buf).unwrap();
//! assert_eq!(&buf[..4], &[0xff, 0x01, 0x01, 0x00]);
//!
//! let Datagram::Udx(packet) = classify(&buf[..len]) else { panic!("not udx") };
//! assert_eq!(packet.id(), 2);
//! assert_eq!(packet.payload().unwrap(), b"hello");
//! assert_eq!(Repr::parse(&packet).unwrap(), data);
//! ```
//!
//! # Bad input
//!
//! Nothing in this crate panics on bytes from the network: classification and decoding
//! are total and report failures as a small `Copy` [`DecodeError`].
//!
//! # What comes next (issue 4)
//!
//! - a sans-IO stream core driven by explicit time: RTO estimation, RACK-TLP loss
//!   detection, BBR congestion control with pacing, MTU probing, messages, relaying;
//! - a thin tokio driver exposing `UdxSocket` and `UdxStream`, sharing its UDP socket with
//!   dht-rpc and holepunch probes.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod error;
pub mod seq;
pub mod wire;

pub use error::{DecodeError, EmitError};
