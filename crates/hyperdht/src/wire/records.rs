//! Records stored by storage nodes (spec §4.5, §4.6): `peer`, `lookupRawReply`,
//! `announce`, and the hyperdht address a client may connect to (spec §3).

use std::net::SocketAddrV4;

use plures_compact::{Decode, DecodeError, Decoder, Encode, Sink};

use super::{has, ipv4_array, put_ipv4_array};

/// The smallest encoded [`Peer`]: a key and an empty relay list.
const MIN_PEER_LEN: usize = 33;

/// `peer`: `fixed32 publicKey ‖ array(ipv4) relayAddresses`, the record a storage node
/// keeps per announcer and returns from FIND_PEER and LOOKUP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Peer {
    /// The announcer's Ed25519 public key.
    pub public_key: [u8; 32],
    /// Nodes that relay handshakes to it.
    pub relay_addresses: Vec<SocketAddrV4>,
}

impl Encode for Peer {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.fixed(&self.public_key, 32);
        put_ipv4_array(s, &self.relay_addresses);
    }
}

impl Decode<'_> for Peer {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            public_key: d.fixed()?,
            relay_addresses: ipv4_array(d)?,
        })
    }
}

/// `lookupRawReply`: `uint count ‖ count × peer ‖ uint bump`, the value of a LOOKUP reply.
/// A missing `bump` decodes as 0; the encoder always writes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LookupRawReply {
    /// The records (a storage node sends at most 20).
    pub peers: Vec<Peer>,
    /// The newest bump timestamp the node holds for the target.
    pub bump: u64,
}

impl Encode for LookupRawReply {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint_usize(self.peers.len());
        for p in &self.peers {
            p.encode(s);
        }
        s.uint(self.bump);
    }
}

impl Decode<'_> for LookupRawReply {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let count = d.uint()?;
        let fits = d.remaining() / MIN_PEER_LEN;
        if count > fits as u64 {
            return Err(DecodeError::OutOfBounds("lookupRawReply peers"));
        }
        let mut peers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            peers.push(Peer::decode(d)?);
        }
        let bump = if d.is_empty() { 0 } else { d.uint()? };
        Ok(Self { peers, bump })
    }
}

const PEER: u64 = 1;
const REFRESH: u64 = 1 << 1;
const SIGNATURE: u64 = 1 << 2;
const BUMP: u64 = 1 << 3;

/// `announce`: `flags ‖ [peer] ‖ [refresh] ‖ [signature] ‖ [bump]`, the value of ANNOUNCE
/// and UNANNOUNCE. A zero `bump` is not written.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Announce {
    /// The record to store or remove.
    pub peer: Option<Peer>,
    /// A refresh token (spec §6.2).
    pub refresh: Option<[u8; 32]>,
    /// Ed25519 signature over [`crate::crypto::announce_signable`].
    pub signature: Option<[u8; 64]>,
    /// A millisecond timestamp telling lookups the topic changed (not signed).
    pub bump: u64,
}

impl Encode for Announce {
    fn encode<S: Sink>(&self, s: &mut S) {
        let mut flags = 0;
        for (present, bit) in [
            (self.peer.is_some(), PEER),
            (self.refresh.is_some(), REFRESH),
            (self.signature.is_some(), SIGNATURE),
            (self.bump != 0, BUMP),
        ] {
            if present {
                flags |= bit;
            }
        }
        s.uint(flags);
        if let Some(p) = &self.peer {
            p.encode(s);
        }
        if let Some(r) = &self.refresh {
            s.fixed(r, 32);
        }
        if let Some(sig) = &self.signature {
            s.fixed(sig, 64);
        }
        if self.bump != 0 {
            s.uint(self.bump);
        }
    }
}

impl Decode<'_> for Announce {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let flags = d.uint()?;
        let peer = if has(flags, PEER) {
            Some(Peer::decode(d)?)
        } else {
            None
        };
        let refresh = if has(flags, REFRESH) {
            Some(d.fixed()?)
        } else {
            None
        };
        let signature = if has(flags, SIGNATURE) {
            Some(d.fixed()?)
        } else {
            None
        };
        let bump = if has(flags, BUMP) { d.uint()? } else { 0 };
        Ok(Self {
            peer,
            refresh,
            signature,
            bump,
        })
    }
}

const NODES: u64 = 1;

/// A hyperdht address (the `hyperdht-address` package; spec §3): `fixed32 publicKey ‖
/// uint flags ‖ [array(ipv4) nodes if flags & 1]`. Missing flags decode as 0. As the
/// reference does, the encoder flags a node list whenever one is given, even an empty
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HyperdhtAddress {
    /// The server's public key.
    pub public_key: [u8; 32],
    /// Nodes to try as relays first.
    pub nodes: Option<Vec<SocketAddrV4>>,
}

impl Encode for HyperdhtAddress {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.fixed(&self.public_key, 32);
        match &self.nodes {
            Some(nodes) => {
                s.uint(NODES);
                put_ipv4_array(s, nodes);
            }
            None => s.uint(0),
        }
    }
}

impl Decode<'_> for HyperdhtAddress {
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let public_key = d.fixed()?;
        let flags = if d.is_empty() { 0 } else { d.uint()? };
        let nodes = if has(flags, NODES) {
            Some(ipv4_array(d)?)
        } else {
            None
        };
        Ok(Self { public_key, nodes })
    }
}
