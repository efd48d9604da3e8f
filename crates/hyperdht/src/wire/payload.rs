//! `noisePayload` (spec §4.3), the plaintext inside Noise messages 1 and 2, and
//! `holepunchPayload` (spec §4.4), the plaintext inside the secure payload of
//! PEER_HOLEPUNCH.

use std::net::{SocketAddrV4, SocketAddrV6};

use plures_compact::{Decode, DecodeError, Decoder, Encode, Sink};

use super::{has, ipv4_array, put_ipv4_array};

/// The only `noisePayload` version this stack speaks.
pub const NOISE_PAYLOAD_VERSION: u64 = 1;

const HOLEPUNCH: u64 = 1;
const ADDRESSES4: u64 = 1 << 1;
const ADDRESSES6: u64 = 1 << 2;
const UDX: u64 = 1 << 3;
const SECRET_STREAM: u64 = 1 << 4;
const RELAY_THROUGH: u64 = 1 << 5;
const RELAY_ADDRESSES: u64 = 1 << 6;

const UDX_REUSABLE_SOCKET: u64 = 1;

/// `noisePayload`: what client and server tell each other inside the Noise handshake.
///
/// A version other than 1 is decoded as that version with every other field at its
/// default, reading nothing more; such a payload encodes as the version alone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoisePayload {
    /// Always 1 for this protocol.
    pub version: u64,
    /// [`crate::constants::error_code`].
    pub error: u64,
    /// The sender's NAT class ([`crate::constants::firewall`]).
    pub firewall: u64,
    /// Server only: its holepunch slot and announce relays.
    pub holepunch: Option<HolepunchInfo>,
    /// IPv4 addresses the peer may be reached at (the flag is only set when non-empty).
    pub addresses4: Vec<SocketAddrV4>,
    /// IPv6 addresses, likewise.
    pub addresses6: Vec<SocketAddrV6>,
    /// The sender's UDX stream.
    pub udx: Option<UdxInfo>,
    /// Present when the sender runs a secret-stream over the UDX stream.
    pub secret_stream: Option<SecretStreamInfo>,
    /// A blind relay to pair through (spec §14).
    pub relay_through: Option<RelayThroughInfo>,
    /// Server only: the relays it announced to (encoded even when empty).
    pub relay_addresses: Option<Vec<SocketAddrV4>>,
}

impl Default for NoisePayload {
    fn default() -> Self {
        Self {
            version: NOISE_PAYLOAD_VERSION,
            error: 0,
            firewall: 0,
            holepunch: None,
            addresses4: Vec::new(),
            addresses6: Vec::new(),
            udx: None,
            secret_stream: None,
            relay_through: None,
            relay_addresses: None,
        }
    }
}

/// The `holepunch` part of a [`NoisePayload`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolepunchInfo {
    /// The server's holepunch slot, echoed in PEER_HOLEPUNCH `id`.
    pub id: u64,
    /// The server's announce relays and its address as each saw it.
    pub relays: Vec<HolepunchRelay>,
}

/// One relay of [`HolepunchInfo`]: `ipv4 relayAddress ‖ ipv4 peerAddress`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HolepunchRelay {
    /// The relay node.
    pub relay_address: SocketAddrV4,
    /// The server as that relay saw it.
    pub peer_address: SocketAddrV4,
}

/// The `udx` part of a [`NoisePayload`]: `version ‖ features ‖ id ‖ seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UdxInfo {
    /// Always 1.
    pub version: u64,
    /// Feature bit 0: the sender's socket may be reused for later connections.
    pub reusable_socket: bool,
    /// The sender's raw stream id.
    pub id: u64,
    /// The sender's initial sequence number (0).
    pub seq: u64,
}

impl Default for UdxInfo {
    fn default() -> Self {
        Self {
            version: 1,
            reusable_socket: false,
            id: 0,
            seq: 0,
        }
    }
}

/// The `secretStream` part of a [`NoisePayload`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SecretStreamInfo {
    /// Always 1.
    pub version: u64,
}

impl Default for SecretStreamInfo {
    fn default() -> Self {
        Self { version: 1 }
    }
}

/// The `relayThrough` part of a [`NoisePayload`]: `version ‖ flags ‖ publicKey ‖ token`.
/// The flags are written as 0 and ignored on decode, as in the reference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayThroughInfo {
    /// Always 1.
    pub version: u64,
    /// The blind relay's public key.
    pub public_key: [u8; 32],
    /// The pairing token.
    pub token: [u8; 32],
}

impl Encode for NoisePayload {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(self.version);
        if self.version != NOISE_PAYLOAD_VERSION {
            return;
        }
        let mut flags = 0;
        for (present, bit) in [
            (self.holepunch.is_some(), HOLEPUNCH),
            (!self.addresses4.is_empty(), ADDRESSES4),
            (!self.addresses6.is_empty(), ADDRESSES6),
            (self.udx.is_some(), UDX),
            (self.secret_stream.is_some(), SECRET_STREAM),
            (self.relay_through.is_some(), RELAY_THROUGH),
            (self.relay_addresses.is_some(), RELAY_ADDRESSES),
        ] {
            if present {
                flags |= bit;
            }
        }
        s.uint(flags);
        s.uint(self.error);
        s.uint(self.firewall);
        if let Some(h) = &self.holepunch {
            s.uint(h.id);
            s.array(&h.relays, |s, r| {
                s.ipv4_address(r.relay_address);
                s.ipv4_address(r.peer_address);
            });
        }
        if !self.addresses4.is_empty() {
            put_ipv4_array(s, &self.addresses4);
        }
        if !self.addresses6.is_empty() {
            s.array(&self.addresses6, |s, a| s.ipv6_address(*a));
        }
        if let Some(u) = &self.udx {
            s.uint(u.version);
            s.uint(if u.reusable_socket {
                UDX_REUSABLE_SOCKET
            } else {
                0
            });
            s.uint(u.id);
            s.uint(u.seq);
        }
        if let Some(ss) = &self.secret_stream {
            s.uint(ss.version);
        }
        if let Some(r) = &self.relay_through {
            s.uint(r.version);
            s.uint(0);
            s.fixed(&r.public_key, 32);
            s.fixed(&r.token, 32);
        }
        if let Some(list) = &self.relay_addresses {
            put_ipv4_array(s, list);
        }
    }
}

impl Decode<'_> for NoisePayload {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let version = d.uint()?;
        if version != NOISE_PAYLOAD_VERSION {
            return Ok(Self {
                version,
                ..Self::default()
            });
        }
        let flags = d.uint()?;
        let error = d.uint()?;
        let firewall = d.uint()?;
        let holepunch = if has(flags, HOLEPUNCH) {
            let id = d.uint()?;
            let relays = d.array(|d| {
                Ok(HolepunchRelay {
                    relay_address: d.ipv4_address()?,
                    peer_address: d.ipv4_address()?,
                })
            })?;
            Some(HolepunchInfo { id, relays })
        } else {
            None
        };
        let addresses4 = if has(flags, ADDRESSES4) {
            ipv4_array(d)?
        } else {
            Vec::new()
        };
        let addresses6 = if has(flags, ADDRESSES6) {
            d.array(Decoder::ipv6_address)?
        } else {
            Vec::new()
        };
        let udx = if has(flags, UDX) {
            let version = d.uint()?;
            let features = d.uint()?;
            Some(UdxInfo {
                version,
                reusable_socket: has(features, UDX_REUSABLE_SOCKET),
                id: d.uint()?,
                seq: d.uint()?,
            })
        } else {
            None
        };
        let secret_stream = if has(flags, SECRET_STREAM) {
            Some(SecretStreamInfo { version: d.uint()? })
        } else {
            None
        };
        let relay_through = if has(flags, RELAY_THROUGH) {
            let version = d.uint()?;
            let _flags = d.uint()?;
            Some(RelayThroughInfo {
                version,
                public_key: d.fixed()?,
                token: d.fixed()?,
            })
        } else {
            None
        };
        let relay_addresses = if has(flags, RELAY_ADDRESSES) {
            Some(ipv4_array(d)?)
        } else {
            None
        };
        Ok(Self {
            version,
            error,
            firewall,
            holepunch,
            addresses4,
            addresses6,
            udx,
            secret_stream,
            relay_through,
            relay_addresses,
        })
    }
}

const CONNECTED: u64 = 1;
const PUNCHING: u64 = 1 << 1;
const ADDRESSES: u64 = 1 << 2;
const REMOTE_ADDRESS: u64 = 1 << 3;
const TOKEN: u64 = 1 << 4;
const REMOTE_TOKEN: u64 = 1 << 5;

/// `holepunchPayload`: `flags ‖ error ‖ firewall ‖ round ‖ [addresses] ‖ [remoteAddress]
/// ‖ [token] ‖ [remoteToken]`; `connected` and `punching` are flag bits only.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HolepunchPayload {
    /// [`crate::constants::error_code`].
    pub error: u64,
    /// The sender's NAT class ([`crate::constants::firewall`]).
    pub firewall: u64,
    /// Counts the messages of one side.
    pub round: u64,
    /// The sender already has a path.
    pub connected: bool,
    /// The sender is punching.
    pub punching: bool,
    /// The sender's public addresses, as its NAT sampler sees them.
    pub addresses: Option<Vec<SocketAddrV4>>,
    /// The receiver's address as the sender knows it.
    pub remote_address: Option<SocketAddrV4>,
    /// `token(receiver host)` under the sender's local secret.
    pub token: Option<[u8; 32]>,
    /// The receiver's token, echoed.
    pub remote_token: Option<[u8; 32]>,
}

impl Encode for HolepunchPayload {
    fn encode<S: Sink>(&self, s: &mut S) {
        let mut flags = 0;
        for (present, bit) in [
            (self.connected, CONNECTED),
            (self.punching, PUNCHING),
            (self.addresses.is_some(), ADDRESSES),
            (self.remote_address.is_some(), REMOTE_ADDRESS),
            (self.token.is_some(), TOKEN),
            (self.remote_token.is_some(), REMOTE_TOKEN),
        ] {
            if present {
                flags |= bit;
            }
        }
        s.uint(flags);
        s.uint(self.error);
        s.uint(self.firewall);
        s.uint(self.round);
        if let Some(list) = &self.addresses {
            put_ipv4_array(s, list);
        }
        if let Some(a) = self.remote_address {
            s.ipv4_address(a);
        }
        if let Some(t) = &self.token {
            s.fixed(t, 32);
        }
        if let Some(t) = &self.remote_token {
            s.fixed(t, 32);
        }
    }
}

impl Decode<'_> for HolepunchPayload {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = d.uint()?;
        let error = d.uint()?;
        let firewall = d.uint()?;
        let round = d.uint()?;
        let addresses = if has(flags, ADDRESSES) {
            Some(ipv4_array(d)?)
        } else {
            None
        };
        let remote_address = if has(flags, REMOTE_ADDRESS) {
            Some(d.ipv4_address()?)
        } else {
            None
        };
        let token = if has(flags, TOKEN) {
            Some(d.fixed()?)
        } else {
            None
        };
        let remote_token = if has(flags, REMOTE_TOKEN) {
            Some(d.fixed()?)
        } else {
            None
        };
        Ok(Self {
            error,
            firewall,
            round,
            connected: has(flags, CONNECTED),
            punching: has(flags, PUNCHING),
            addresses,
            remote_address,
            token,
            remote_token,
        })
    }
}
