//! The UDX packet codec (`shared/spec/udx.md` §3–4, §13).
//!
//! Every UDX packet is one UDP datagram: a 20-byte header (magic `0xff`, version 1, type
//! flags, data offset, then stream id, receive window, seq and ack as little-endian
//! `u32`), optional extension bytes (SACK blocks, or zero padding on MTU probes) and a
//! payload.
//!
//! - [`classify`] / [`is_udx`] split UDX packets from dht-rpc messages and holepunch
//!   probes on a shared socket.
//! - [`Packet`] is a view over a received or outgoing buffer with total accessors.
//! - [`Header`] and [`Repr`] are the plain-value forms with `parse`, `emit` and
//!   `buffer_len`; emitting writes into a caller's slice or appends to a `Vec` with no
//!   other allocation.
//!
//! # Bad input
//!
//! Decoding never panics: any byte string is classified, and every accessor of a
//! [`Packet`] returns a value (0 or an empty slice when the buffer is short) or a
//! [`DecodeError`](crate::DecodeError). Absurd data offsets and SACK areas are bounded by
//! the datagram itself.

mod classify;
mod flags;
mod packet;
mod repr;
mod sack;

pub use classify::{Datagram, classify, is_udx};
pub use flags::PacketType;
pub use packet::{HEADER_LEN, Header, MAGIC, MAX_DATAGRAM_LEN, Packet, VERSION};
pub use repr::Repr;
pub use sack::{MAX_SACK_BLOCKS, SACK_BLOCK_LEN, SackBlock, SackIter, SackList};

#[cfg(test)]
mod tests;
