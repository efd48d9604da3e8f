//! Wire primitives of the Hyperswarm stack: a clean-room implementation of the JavaScript
//! `compact-encoding` 3.5.2 codecs (with the address codecs of `compact-encoding-net` and
//! the bit sets of `compact-encoding-bitfield`), specified in
//! `shared/spec/compact-encoding.md`.
//!
//! # Model
//!
//! The JS library runs every codec in three passes over a `{ start, end, buffer }` state:
//! `preencode` (add up the size), `encode` (write) and `decode` (read). Here:
//!
//! - [`Sink`] carries the encoding primitives. [`Counter`] is the `preencode` pass and
//!   [`Encoder`] the writing pass, so a message codec implements [`Encode::encode`] once and
//!   [`Encode::to_bytes`] allocates exactly once at the exact size.
//! - [`Decoder`] is a borrowing cursor; byte strings come back as slices of the input.
//!   [`Decode::from_bytes`] ignores trailing bytes, as `c.decode` does, because newer peers
//!   append fields that older ones skip.
//!
//! ```
//! use plures_compact::{Decoder, Encoder, Sink};
//! use std::net::SocketAddrV4;
//!
//! let addr: SocketAddrV4 = "127.0.0.1:49737".parse().unwrap();
//! let mut e = Encoder::new();
//! e.uint(300);
//! e.ipv4_address(addr);
//! e.string("hyperswarm");
//! let bytes = e.finish().unwrap();
//! assert_eq!(&bytes[..3], &[0xfd, 0x2c, 0x01]);
//!
//! let mut d = Decoder::new(&bytes);
//! assert_eq!(d.uint().unwrap(), 300);
//! assert_eq!(d.ipv4_address().unwrap(), addr);
//! assert_eq!(d.string().unwrap(), "hyperswarm");
//! assert!(d.is_empty());
//! ```
//!
//! # Bad input
//!
//! Decoding is total: any byte string yields a value or a [`DecodeError`], never a panic,
//! and no length prefix makes a decoder reserve more memory than the input still holds.
//! Integers are limited to 2^53 - 1 in both directions, like the reference, so anything
//! this crate encodes a JS peer can decode.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used))]

mod bitfield;
mod decode;
mod encode;
mod error;

pub use bitfield::{bitfield_width, encode_bitfield};
pub use decode::{Decode, Decoder};
pub use encode::{Counter, Encode, Encoder, Sink, uint_len};
pub use error::{DecodeError, EncodeError};

/// The largest integer the JS codecs accept (`Number.MAX_SAFE_INTEGER`, 2^53 - 1).
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// The largest element count `array` decodes (0x100000); larger counts are rejected before
/// any element is read.
pub const MAX_ARRAY_LEN: u64 = 0x10_0000;

#[cfg(test)]
mod tests;
