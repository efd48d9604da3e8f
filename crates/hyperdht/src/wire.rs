//! The message encodings of `lib/messages.js` (spec §4), as [`Encode`] / [`Decode`]
//! implementations over the compact-encoding cursor of `plures-compact`.
//!
//! * [`relay`]: `handshake` and `holepunch`, the values of PEER_HANDSHAKE and
//!   PEER_HOLEPUNCH as they hop between client, relays and server.
//! * [`payload`]: `noisePayload` (inside the Noise messages) and `holepunchPayload`
//!   (inside the secure payload).
//! * [`records`]: `peer`, `lookupRawReply`, `announce` and the hyperdht address.
//! * [`mutable`]: `mutableSignable`, `mutablePutRequest`, `mutableGetResponse` and
//!   `pluginRequest`.
//!
//! # Bad input
//!
//! Every decoder is total: any byte string gives a value or a [`DecodeError`], never a
//! panic, and no count makes a decoder reserve more memory than the input holds. As in the
//! reference, bytes after a message are ignored (newer peers append fields), and flag bits
//! this version does not know are ignored.
//!
//! # Canonical form
//!
//! Encoding a decoded message gives a message that decodes to the same value, but not
//! always the same bytes: unknown flag bits, non-minimal varints, trailing bytes and flags
//! announcing empty optional fields (an empty `addresses4`, a zero `bump`) are dropped.
//!
//! [`Encode`]: plures_compact::Encode
//! [`Decode`]: plures_compact::Decode
//! [`DecodeError`]: plures_compact::DecodeError

use std::net::SocketAddrV4;

use plures_compact::{DecodeError, Decoder, Sink};

pub mod mutable;
pub mod payload;
pub mod records;
pub mod relay;

pub use mutable::{MutableGetResponse, MutablePutRequest, MutableSignable, PluginRequest};
pub use payload::{
    HolepunchInfo, HolepunchPayload, HolepunchRelay, NoisePayload, RelayThroughInfo,
    SecretStreamInfo, UdxInfo,
};
pub use records::{Announce, HyperdhtAddress, LookupRawReply, Peer};
pub use relay::{Handshake, Holepunch};

/// Writes `array(ipv4Address)`.
fn put_ipv4_array<S: Sink>(s: &mut S, list: &[SocketAddrV4]) {
    s.array(list, |s, a| s.ipv4_address(*a));
}

/// Reads `array(ipv4Address)`.
fn ipv4_array(d: &mut Decoder<'_>) -> Result<Vec<SocketAddrV4>, DecodeError> {
    d.array(Decoder::ipv4_address)
}

/// Whether bit `bit` of `flags` is set.
fn has(flags: u64, bit: u64) -> bool {
    flags & bit != 0
}
