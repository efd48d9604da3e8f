//! `handshake` and `holepunch` (spec §4.1, §4.2): the values of PEER_HANDSHAKE and
//! PEER_HOLEPUNCH requests and replies. `mode` says which hop sent the message
//! ([`crate::constants::mode`]); the optional addresses tell a relay or the server who the
//! other end is.

use std::net::SocketAddrV4;

use plures_compact::{Decode, DecodeError, Decoder, Encode, Sink};

use super::has;

const PEER_ADDRESS: u64 = 1;
const RELAY_ADDRESS: u64 = 2;

/// `handshake`: `flags ‖ mode ‖ noise ‖ [peerAddress] ‖ [relayAddress]`. Flags come
/// before the mode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Handshake {
    /// Relay mode ([`crate::constants::mode`]).
    pub mode: u64,
    /// A Noise IK message (`noise.md` §4).
    pub noise: Vec<u8>,
    /// The client (towards the server) or the server (towards the client).
    pub peer_address: Option<SocketAddrV4>,
    /// The first relay, for a second relay's hop.
    pub relay_address: Option<SocketAddrV4>,
}

impl Encode for Handshake {
    fn encode<S: Sink>(&self, s: &mut S) {
        let mut flags = 0;
        if self.peer_address.is_some() {
            flags |= PEER_ADDRESS;
        }
        if self.relay_address.is_some() {
            flags |= RELAY_ADDRESS;
        }
        s.uint(flags);
        s.uint(self.mode);
        s.buffer(&self.noise);
        if let Some(a) = self.peer_address {
            s.ipv4_address(a);
        }
        if let Some(a) = self.relay_address {
            s.ipv4_address(a);
        }
    }
}

impl Decode<'_> for Handshake {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = d.uint()?;
        let mode = d.uint()?;
        let noise = d.buffer()?.to_vec();
        let peer_address = if has(flags, PEER_ADDRESS) {
            Some(d.ipv4_address()?)
        } else {
            None
        };
        let relay_address = if has(flags, RELAY_ADDRESS) {
            Some(d.ipv4_address()?)
        } else {
            None
        };
        Ok(Self {
            mode,
            noise,
            peer_address,
            relay_address,
        })
    }
}

/// `holepunch`: `flags ‖ mode ‖ id ‖ payload ‖ [peerAddress]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holepunch {
    /// Relay mode ([`crate::constants::mode`]).
    pub mode: u64,
    /// The server's holepunch slot.
    pub id: u64,
    /// A secure payload (spec §12.3).
    pub payload: Vec<u8>,
    /// The other end, as the sending hop knows it.
    pub peer_address: Option<SocketAddrV4>,
}

impl Encode for Holepunch {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(if self.peer_address.is_some() {
            PEER_ADDRESS
        } else {
            0
        });
        s.uint(self.mode);
        s.uint(self.id);
        s.buffer(&self.payload);
        if let Some(a) = self.peer_address {
            s.ipv4_address(a);
        }
    }
}

impl Decode<'_> for Holepunch {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = d.uint()?;
        let mode = d.uint()?;
        let id = d.uint()?;
        let payload = d.buffer()?.to_vec();
        let peer_address = if has(flags, PEER_ADDRESS) {
            Some(d.ipv4_address()?)
        } else {
            None
        };
        Ok(Self {
            mode,
            id,
            payload,
            peer_address,
        })
    }
}
