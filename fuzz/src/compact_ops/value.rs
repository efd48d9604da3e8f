//! What the operations decode.

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// A decoded value. Floats are kept as bit patterns so that NaNs compare.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// `uint`, `u64`, `uint_le`, `uint_be`.
    Uint(u64),
    /// `int`, `int_le`.
    Int(i64),
    /// `u8`.
    U8(u8),
    /// `u16`.
    U16(u16),
    /// `u24`, `u32`.
    U32(u32),
    /// `f32` bits.
    F32(u32),
    /// `f64` bits.
    F64(u64),
    /// `bool`.
    Bool(bool),
    /// `buffer`, `fixed`, `raw`, `take`.
    Bytes(&'a [u8]),
    /// `optional_buffer`.
    Optional(Option<&'a [u8]>),
    /// `string`.
    Text(Cow<'a, str>),
    /// `uint_usize`, `array_len`.
    Len(usize),
    /// `array` elements.
    List(Vec<Value<'a>>),
    /// The values of the operations run inside a `frame`.
    Group(Vec<Value<'a>>),
    /// `ipv4`.
    Ipv4(Ipv4Addr),
    /// `ipv4_address`.
    Ipv4Address(SocketAddrV4),
    /// `ipv6`.
    Ipv6(Ipv6Addr),
    /// `ipv6_address`.
    Ipv6Address(SocketAddrV6),
    /// `ip`.
    Ip(IpAddr),
    /// `ip_address`.
    IpAddress(SocketAddr),
    /// `bitfield(length)`.
    Bits(u64),
}

/// A value and whether its input used the canonical form (see the module docs).
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Decoded<'a> {
    pub(super) value: Value<'a>,
    pub(super) canonical: bool,
}

/// Hex for assertion messages.
pub(super) struct Hex<'a>(pub(super) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 512;
        for b in self.0.iter().take(SHOWN) {
            write!(f, "{b:02x}")?;
        }
        if self.0.len() > SHOWN {
            write!(f, "... ({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}
