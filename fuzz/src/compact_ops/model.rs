//! The model: the wire format, written independently of the decoder.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use plures_compact::{DecodeError, MAX_ARRAY_LEN, MAX_SAFE_INTEGER};

use crate::uint_form_len;

use super::op::Op;
use super::value::Value;

/// The kinds of error the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expect {
    OutOfBounds,
    TooLarge,
    ArrayTooBig(u64),
    Invalid,
}

impl Expect {
    pub(super) fn matches(self, e: &DecodeError) -> bool {
        match (self, e) {
            (Self::OutOfBounds, DecodeError::OutOfBounds(_))
            | (Self::TooLarge, DecodeError::UintTooLarge(_))
            | (Self::Invalid, DecodeError::Invalid(_)) => true,
            (Self::ArrayTooBig(n), DecodeError::ArrayTooBig(m)) => n == *m,
            _ => false,
        }
    }
}

pub(super) fn le(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(a)
}

pub(super) fn be(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[8 - bytes.len()..].copy_from_slice(bytes);
    u64::from_be_bytes(a)
}

fn unzigzag(z: u64) -> i64 {
    let half = (z >> 1) as i64;
    if z & 1 == 0 { half } else { -half - 1 }
}

fn first_n(input: &[u8], n: usize) -> Result<&[u8], Expect> {
    input.get(..n).ok_or(Expect::OutOfBounds)
}

/// A compact `uint` at the start of `input`: its value and its length.
pub(super) fn model_uint(input: &[u8]) -> Result<(u64, usize), Expect> {
    let first = *input.first().ok_or(Expect::OutOfBounds)?;
    let n = uint_form_len(first);
    let bytes = first_n(input, n)?;
    let v = if n == 1 {
        u64::from(first)
    } else {
        le(&bytes[1..])
    };
    if v > MAX_SAFE_INTEGER {
        return Err(Expect::TooLarge);
    }
    Ok((v, n))
}

/// A length-prefixed byte string at the start of `input` and the total length.
pub(super) fn model_bytes(input: &[u8]) -> Result<(&[u8], usize), Expect> {
    let (len, n) = model_uint(input)?;
    let rest = &input[n..];
    if len > rest.len() as u64 {
        return Err(Expect::OutOfBounds);
    }
    let len = len as usize;
    Ok((&rest[..len], n + len))
}

/// A fixed-width unsigned integer (`uint_le` / `uint_be`).
fn model_width(input: &[u8], width: usize, big_endian: bool) -> Result<(u64, usize), Expect> {
    if !(1..=8).contains(&width) {
        return Err(Expect::Invalid);
    }
    let bytes = first_n(input, width)?;
    let v = if big_endian { be(bytes) } else { le(bytes) };
    if v > MAX_SAFE_INTEGER {
        return Err(Expect::TooLarge);
    }
    Ok((v, width))
}

fn model_ipv4(bytes: &[u8]) -> Ipv4Addr {
    Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3])
}

fn model_ipv6(bytes: &[u8]) -> Ipv6Addr {
    let group = |i: usize| u16::from_be_bytes([bytes[2 * i], bytes[2 * i + 1]]);
    Ipv6Addr::new(
        group(0),
        group(1),
        group(2),
        group(3),
        group(4),
        group(5),
        group(6),
        group(7),
    )
}

fn model_port(bytes: &[u8]) -> u16 {
    u16::from_le_bytes([bytes[0], bytes[1]])
}

/// `ip` at the start of `input`: the family byte `4` means IPv4, anything else IPv6.
fn model_ip(input: &[u8]) -> Result<(IpAddr, usize), Expect> {
    let family = *input.first().ok_or(Expect::OutOfBounds)?;
    Ok(if family == 4 {
        (IpAddr::V4(model_ipv4(&first_n(input, 5)?[1..])), 5)
    } else {
        (IpAddr::V6(model_ipv6(&first_n(input, 17)?[1..])), 17)
    })
}

/// A bitfield's bits as written (before any masking by the declared length) and its size.
pub(super) fn model_bitfield(input: &[u8]) -> Result<(u64, usize), Expect> {
    let first = *input.first().ok_or(Expect::OutOfBounds)?;
    match uint_form_len(first) {
        1 => Ok((u64::from(first), 1)),
        n => first_n(input, n).map(|b| (le(&b[1..]), n)),
    }
}

/// What the wire format says a leaf operation gives on `input`: the value and the bytes it
/// takes, or the kind of error. `None` for arrays and frames, which are checked through
/// their elements.
pub(super) fn model<'a>(op: &Op, input: &'a [u8]) -> Option<Result<(Value<'a>, usize), Expect>> {
    use Value as V;
    let fixed = |n: usize| first_n(input, n);
    let result = match op {
        Op::Uint => model_uint(input).map(|(v, n)| (V::Uint(v), n)),
        Op::UintUsize => model_uint(input).map(|(v, n)| (V::Len(v as usize), n)),
        Op::Int => model_uint(input).map(|(v, n)| (V::Int(unzigzag(v)), n)),
        Op::ArrayLen => model_uint(input).and_then(|(v, n)| {
            if v > MAX_ARRAY_LEN {
                Err(Expect::ArrayTooBig(v))
            } else {
                Ok((V::Len(v as usize), n))
            }
        }),
        Op::U8 => fixed(1).map(|b| (V::U8(b[0]), 1)),
        Op::U16 => fixed(2).map(|b| (V::U16(le(b) as u16), 2)),
        Op::U24 => fixed(3).map(|b| (V::U32(le(b) as u32), 3)),
        Op::U32 => fixed(4).map(|b| (V::U32(le(b) as u32), 4)),
        Op::U64 => model_width(input, 8, false).map(|(v, n)| (V::Uint(v), n)),
        Op::UintLe(w) => model_width(input, *w, false).map(|(v, n)| (V::Uint(v), n)),
        Op::UintBe(w) => model_width(input, *w, true).map(|(v, n)| (V::Uint(v), n)),
        Op::IntLe(w) => model_width(input, *w, false).map(|(v, n)| (V::Int(unzigzag(v)), n)),
        Op::F32 => fixed(4).map(|b| (V::F32(le(b) as u32), 4)),
        Op::F64 => fixed(8).map(|b| (V::F64(le(b)), 8)),
        Op::Bool => fixed(1).map(|b| (V::Bool(b[0] == 1), 1)),
        Op::Buffer => model_bytes(input).map(|(b, n)| (V::Bytes(b), n)),
        Op::OptionalBuffer => {
            model_bytes(input).map(|(b, n)| (V::Optional((!b.is_empty()).then_some(b)), n))
        }
        Op::String => model_bytes(input).map(|(b, n)| (V::Text(String::from_utf8_lossy(b)), n)),
        Op::Fixed0 | Op::Fixed1 | Op::Fixed2 | Op::Fixed16 | Op::Fixed32 | Op::Fixed64 => {
            let n = op.fixed_len().unwrap_or_default();
            fixed(n).map(|b| (V::Bytes(b), n))
        }
        Op::Take(n) => fixed(*n).map(|b| (V::Bytes(b), *n)),
        Op::Raw => Ok((V::Bytes(input), input.len())),
        Op::Ipv4 => fixed(4).map(|b| (V::Ipv4(model_ipv4(b)), 4)),
        Op::Ipv4Address => fixed(6).map(|b| {
            let addr = SocketAddrV4::new(model_ipv4(b), model_port(&b[4..]));
            (V::Ipv4Address(addr), 6)
        }),
        Op::Ipv6 => fixed(16).map(|b| (V::Ipv6(model_ipv6(b)), 16)),
        Op::Ipv6Address => fixed(18).map(|b| {
            let addr = SocketAddrV6::new(model_ipv6(b), model_port(&b[16..]), 0, 0);
            (V::Ipv6Address(addr), 18)
        }),
        Op::Ip => model_ip(input).map(|(ip, n)| (V::Ip(ip), n)),
        Op::IpAddress => model_ip(input).and_then(|(ip, n)| {
            let port = model_port(first_n(input, n + 2)?.get(n..).unwrap_or_default());
            Ok((V::IpAddress(SocketAddr::new(ip, port)), n + 2))
        }),
        Op::Bitfield(length) => model_bitfield(input).map(|(v, n)| {
            // Like the reference, a declared length of at most 8 bits keeps one byte.
            (V::Bits(if *length <= 8 { v & 0xff } else { v }), n)
        }),
        Op::Array(_) | Op::Frame(_) => return None,
    };
    Some(result)
}
