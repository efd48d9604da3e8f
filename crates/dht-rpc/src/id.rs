//! Node ids (`dht-rpc lib/peer.js#id`, spec §4) and the XOR metric.

use std::cmp::Ordering;
use std::fmt;
use std::net::SocketAddrV4;

use blake2::digest::consts::U32;
use blake2::{Blake2b, Digest};

/// Length of node ids, tokens and targets in bytes.
pub const ID_LEN: usize = 32;

/// A 32-byte node id (also the type of lookup targets).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct NodeId(pub [u8; ID_LEN]);

/// Unkeyed BLAKE2b with a 32-byte digest (libsodium `crypto_generichash` without a key).
pub(crate) fn blake2b_256(data: &[u8]) -> [u8; ID_LEN] {
    Blake2b::<U32>::digest(data).into()
}

impl NodeId {
    /// The id a node listening at `addr` must use once it is persistent:
    /// `BLAKE2b-256(ipv4Address(addr))`, the 4 address octets followed by the port as
    /// little-endian `uint16`.
    pub fn from_addr(addr: SocketAddrV4) -> Self {
        let mut h = [0u8; 6];
        h[..4].copy_from_slice(&addr.ip().octets());
        h[4..].copy_from_slice(&addr.port().to_le_bytes());
        Self(blake2b_256(&h))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; ID_LEN] {
        &self.0
    }

    /// Whether this id is the one `source` must carry (spec §3.5 step 3).
    pub fn matches(&self, source: SocketAddrV4) -> bool {
        *self == Self::from_addr(source)
    }

    /// The XOR distance to `other`, a 256-bit big-endian number.
    pub fn distance(&self, other: &Self) -> Distance {
        let mut d = [0u8; ID_LEN];
        for (i, byte) in d.iter_mut().enumerate() {
            *byte = self.0[i] ^ other.0[i];
        }
        Distance(d)
    }

    /// Orders `a` and `b` by their XOR distance to `self` (the query engine's metric):
    /// at the first byte where they differ, the one whose XOR with this id is smaller wins.
    pub fn cmp_distance(&self, a: &Self, b: &Self) -> Ordering {
        for i in 0..ID_LEN {
            if a.0[i] != b.0[i] {
                return (self.0[i] ^ a.0[i]).cmp(&(self.0[i] ^ b.0[i]));
            }
        }
        Ordering::Equal
    }
}

/// Keeps `carried` only if it is the id of the datagram's observed `source` (spec §3.5
/// step 3). A mismatching id is treated as absent; the packet itself is still processed.
pub fn validate_id(carried: Option<NodeId>, source: SocketAddrV4) -> Option<NodeId> {
    carried.filter(|id| id.matches(source))
}

impl From<[u8; ID_LEN]> for NodeId {
    fn from(bytes: [u8; ID_LEN]) -> Self {
        Self(bytes)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({self})")
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in &self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// An XOR distance between two ids; compares as a 256-bit big-endian integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Distance(pub [u8; ID_LEN]);

impl Distance {
    /// The index of the most significant set bit counted from the top (0 = bit 7 of byte 0),
    /// or `None` for distance zero. For the distance between a table's own id and a node id
    /// this is the node's row (spec §8).
    pub fn leading_zeros(&self) -> Option<usize> {
        self.0
            .iter()
            .position(|&b| b != 0)
            .map(|i| 8 * i + self.0[i].leading_zeros() as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        let id = NodeId::from_addr("127.0.0.1:49737".parse().unwrap());
        assert_eq!(
            id.to_string(),
            "d1dcf835b0d62b9230c41393cb96a34f5f8b9f814f421ca3382dfc1678022e0e"
        );
        assert!(id.matches("127.0.0.1:49737".parse().unwrap()));
        assert!(!id.matches("127.0.0.1:49738".parse().unwrap()));
        assert_eq!(
            validate_id(Some(id), "127.0.0.2:49737".parse().unwrap()),
            None
        );
        assert_eq!(
            validate_id(Some(id), "127.0.0.1:49737".parse().unwrap()),
            Some(id)
        );
    }

    #[test]
    fn distance_order() {
        let t = NodeId([0xaa; 32]);
        let a = NodeId([0x03; 32]);
        let b = NodeId([0x0b; 32]);
        // 0x03 ^ 0xaa = 0xa9 > 0x0b ^ 0xaa = 0xa1.
        assert_eq!(t.cmp_distance(&a, &b), Ordering::Greater);
        assert_eq!(t.distance(&a).cmp(&t.distance(&b)), Ordering::Greater);
        assert_eq!(t.distance(&t).leading_zeros(), None);
        let mut one = [0u8; 32];
        one[1] = 0x20;
        assert_eq!(Distance(one).leading_zeros(), Some(10));
    }
}
