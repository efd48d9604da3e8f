//! The type byte (header byte 2): a set of flag bits.

use std::fmt;
use std::ops::{BitAnd, BitOr, BitOrAssign};

/// The packet type byte, a set of flags (`UDX_HEADER_*`). The empty set is a pure ACK.
///
/// Bits 6 and 7 have no meaning. Senders write 0 there; the reference tests each known
/// bit on its own and ignores the rest, so a received type byte keeps its unknown bits
/// (see [`unknown`](Self::unknown)) and re-emits unchanged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct PacketType(u8);

impl PacketType {
    /// No flag: a pure acknowledgement (type `0x00`).
    pub const ACK: Self = Self(0);
    /// Stream data; consumes a sequence number.
    pub const DATA: Self = Self(0x01);
    /// End of the sender's byte stream (half close); consumes a sequence number.
    pub const END: Self = Self(0x02);
    /// Selective-acknowledgement blocks follow the header.
    pub const SACK: Self = Self(0x04);
    /// The payload is an unreliable datagram ("message").
    pub const MESSAGE: Self = Self(0x08);
    /// Abortive close (reset).
    pub const DESTROY: Self = Self(0x10);
    /// Probe the receiver must answer with an ACK (keepalive, zero-window probe).
    pub const HEARTBEAT: Self = Self(0x20);
    /// Every flag with a meaning.
    pub const KNOWN: Self = Self(0x3f);

    /// The flags in bit order with their names, as the reference's tools print them.
    const NAMED: [(Self, &'static str); 6] = [
        (Self::DATA, "DATA"),
        (Self::END, "END"),
        (Self::SACK, "SACK"),
        (Self::MESSAGE, "MESSAGE"),
        (Self::DESTROY, "DESTROY"),
        (Self::HEARTBEAT, "HEARTBEAT"),
    ];

    /// The type byte as received, unknown bits included.
    #[must_use]
    pub const fn from_bits_retain(bits: u8) -> Self {
        Self(bits)
    }

    /// The raw type byte.
    #[must_use]
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// No flag is set (a pure ACK).
    #[must_use]
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Every flag of `other` is set.
    #[must_use]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Some flag of `other` is set.
    #[must_use]
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    /// Both sets together.
    #[must_use]
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }

    /// The bits without a meaning (6 and 7) that are set.
    #[must_use]
    pub const fn unknown(self) -> u8 {
        self.0 & !Self::KNOWN.0
    }

    /// The names of the known flags that are set, in bit order (`DATA`, `END`, `SACK`,
    /// `MESSAGE`, `DESTROY`, `HEARTBEAT`).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMED
            .into_iter()
            .filter(move |(flag, _)| self.contains(*flag))
            .map(|(_, name)| name)
    }
}

impl BitOr for PacketType {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

impl BitOrAssign for PacketType {
    fn bitor_assign(&mut self, rhs: Self) {
        *self = self.union(rhs);
    }
}

impl BitAnd for PacketType {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl fmt::Debug for PacketType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PacketType(")?;
        if self.is_empty() {
            write!(f, "ACK")?;
        }
        let mut sep = "";
        for name in self.names() {
            write!(f, "{sep}{name}")?;
            sep = " | ";
        }
        if self.unknown() != 0 {
            write!(f, "{sep}{:#04x}", self.unknown())?;
        }
        write!(f, ")")
    }
}
