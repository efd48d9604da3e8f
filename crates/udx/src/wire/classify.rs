//! Telling UDX packets apart from the other traffic on a shared socket.

use super::packet::{HEADER_LEN, MAGIC, Packet, VERSION};

/// What a datagram received on a UDX socket is, judged by its bytes alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// A UDX packet: at least 20 bytes starting `ff 01`. Whether UDX consumes it still
    /// depends on its id naming a live stream; if not, the socket passes it on as
    /// [`Other`](Self::Other) data.
    Udx(Packet<&'a [u8]>),
    /// Anything else (dht-rpc `0x03`/`0x13`, the 1-byte holepunch probe, other versions,
    /// short datagrams): for the socket's generic message handler, unchanged.
    Other(&'a [u8]),
}

/// Whether a datagram is a UDX packet: length at least [`HEADER_LEN`], byte 0
/// [`MAGIC`], byte 1 [`VERSION`]. Type bits and data offset do not matter, as in the
/// reference (`#process_packet`): a packet with unknown type bits or an impossible data
/// offset is still UDX and is dropped by the stream, not passed to the application.
#[must_use]
pub fn is_udx(datagram: &[u8]) -> bool {
    datagram.len() >= HEADER_LEN && datagram.starts_with(&[MAGIC, VERSION])
}

/// Splits UDX packets from other datagrams (see [`is_udx`]).
#[must_use]
pub fn classify(datagram: &[u8]) -> Datagram<'_> {
    if is_udx(datagram) {
        Datagram::Udx(Packet::new_unchecked(datagram))
    } else {
        Datagram::Other(datagram)
    }
}
