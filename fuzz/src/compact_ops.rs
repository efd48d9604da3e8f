//! `compact_ops`: the input is a script of [`Decoder`] operations followed by the bytes they
//! run over.
//!
//! # Script format
//!
//! `[k] [k op bytes] [payload...]`: the first byte says how many of the following bytes
//! describe operations (capped at what is there); the rest is the payload. Op bytes are
//! parsed by [`Op::parse`]: one byte picks the operation (modulo the number of operations),
//! parameterised operations take the next byte (`uint_le`/`uint_be`/`int_le` width modulo
//! 10, so the invalid widths 0 and 9 occur too; `take` length), `array` takes the next
//! operation as its element, `frame` takes a count byte (modulo 5) and that many operations.
//! Nesting stops at depth [`MAX_DEPTH`]. [`script`] writes a script back.
//!
//! # Properties
//!
//! The top-level operations run in order over the payload until the first error. Then:
//!
//! - every leaf operation agrees with an independent model of the wire format written here
//!   (`model`): same success or same kind of error, same value, same number of bytes;
//! - the cursor never moves backwards nor past the end; a success consumes more than zero
//!   bytes, except `raw` (which consumes exactly what was left), `fixed::<0>` and `take(0)`;
//!   a frame consumes exactly its prefix plus its announced length;
//! - decoding is local: the same operation over just the bytes it consumed gives the same
//!   value and consumes them all; an error is reproduced on a fresh decoder;
//! - no strict prefix of the consumed bytes decodes, unless the operation ends in `raw`;
//! - the value re-encodes with the matching [`Sink`] method without an encode error, the
//!   [`Counter`] pass agrees with the [`Encoder`] on the size, the result decodes to the same
//!   value (floats compared by bit pattern, NaN included), and the re-encoding equals the
//!   input bytes exactly when the input used the canonical form (minimal `uint` prefixes,
//!   `bool` `00`/`01`, valid UTF-8, `ip` family `4`/`6`, a frame with no skipped bytes, a
//!   bitfield in the size class of its declared length). One exception: a bitfield holding
//!   bits past its declared length, which the decoder accepts but the encoder refuses under
//!   that length, is re-encoded under the smallest length that holds it (see
//!   `bitfield_encode_length`);
//! - `uint` values decode the same from every wider form, and `bitfield` values round-trip
//!   through every size class that holds them, while narrower declared lengths are refused;
//! - the values of the whole successful prefix of the script, re-encoded one after another,
//!   decode again by the same script to the same values and consume the buffer exactly, and
//!   encoding that decoding again gives the same bytes (the canonical form is a fixed point).

use std::borrow::Cow;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use plures_compact::{
    Counter, DecodeError, Decoder, EncodeError, Encoder, MAX_ARRAY_LEN, MAX_SAFE_INTEGER, Sink,
    encode_bitfield, uint_len,
};

use crate::{prefix_lengths, uint_form_len, zigzag};

/// How deep arrays and frames nest in a script.
pub const MAX_DEPTH: usize = 4;

/// The most operations one frame runs.
pub const MAX_FRAME_OPS: usize = 4;

/// One [`Decoder`] operation (and the matching [`Sink`] method for re-encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `uint`.
    Uint,
    /// `uint_usize`.
    UintUsize,
    /// `int`.
    Int,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u24`.
    U24,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `uint_le(width)`, width 0..=9.
    UintLe(usize),
    /// `uint_be(width)`, width 0..=9.
    UintBe(usize),
    /// `int_le(width)`, width 0..=9.
    IntLe(usize),
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `bool`.
    Bool,
    /// `buffer`.
    Buffer,
    /// `optional_buffer`.
    OptionalBuffer,
    /// `string`.
    String,
    /// `fixed::<0>`.
    Fixed0,
    /// `fixed::<1>`.
    Fixed1,
    /// `fixed::<2>`.
    Fixed2,
    /// `fixed::<16>`.
    Fixed16,
    /// `fixed::<32>`.
    Fixed32,
    /// `fixed::<64>`.
    Fixed64,
    /// `raw`.
    Raw,
    /// `take(n)` (re-encoded with `put`).
    Take(usize),
    /// `array_len`.
    ArrayLen,
    /// `array` of one element operation.
    Array(Box<Op>),
    /// `frame` running a sequence of operations on its region.
    Frame(Vec<Op>),
    /// `ipv4`.
    Ipv4,
    /// `ipv4_address`.
    Ipv4Address,
    /// `ipv6`.
    Ipv6,
    /// `ipv6_address`.
    Ipv6Address,
    /// `ip`.
    Ip,
    /// `ip_address`.
    IpAddress,
    /// `bitfield(length)`, length 0..=64.
    Bitfield(u32),
}

/// The number of distinct op codes.
const CODES: u8 = 35;

fn next_byte(bytes: &mut &[u8]) -> Option<u8> {
    let (&b, rest) = bytes.split_first()?;
    *bytes = rest;
    Some(b)
}

impl Op {
    /// Parses one operation from the front of `bytes`; `None` once they are used up.
    pub fn parse(bytes: &mut &[u8], depth: usize) -> Option<Self> {
        let code = next_byte(bytes)? % CODES;
        let mut param = || next_byte(bytes).unwrap_or(0);
        Some(match code {
            0 => Self::Uint,
            1 => Self::UintUsize,
            2 => Self::Int,
            3 => Self::U8,
            4 => Self::U16,
            5 => Self::U24,
            6 => Self::U32,
            7 => Self::U64,
            8 => Self::UintLe(usize::from(param() % 10)),
            9 => Self::UintBe(usize::from(param() % 10)),
            10 => Self::IntLe(usize::from(param() % 10)),
            11 => Self::F32,
            12 => Self::F64,
            13 => Self::Bool,
            14 => Self::Buffer,
            15 => Self::OptionalBuffer,
            16 => Self::String,
            17 => Self::Fixed0,
            18 => Self::Fixed1,
            19 => Self::Fixed2,
            20 => Self::Fixed16,
            21 => Self::Fixed32,
            22 => Self::Fixed64,
            23 => Self::Raw,
            24 => Self::Take(usize::from(param())),
            25 => Self::ArrayLen,
            26 if depth < MAX_DEPTH => {
                Self::Array(Box::new(Self::parse(bytes, depth + 1).unwrap_or(Self::U8)))
            }
            27 if depth < MAX_DEPTH => {
                let n = usize::from(param()) % (MAX_FRAME_OPS + 1);
                Self::Frame(
                    (0..n)
                        .map_while(|_| Self::parse(bytes, depth + 1))
                        .collect(),
                )
            }
            26 | 27 => Self::Uint,
            28 => Self::Ipv4,
            29 => Self::Ipv4Address,
            30 => Self::Ipv6,
            31 => Self::Ipv6Address,
            32 => Self::Ip,
            33 => Self::IpAddress,
            _ => Self::Bitfield(u32::from(param()) % 65),
        })
    }

    /// Appends the op bytes that [`parse`](Self::parse) reads back as `self` (within
    /// [`MAX_DEPTH`], at most [`MAX_FRAME_OPS`] per frame, widths below 10, `take` below 256).
    pub fn write(&self, out: &mut Vec<u8>) {
        let param = |n: usize| u8::try_from(n).expect("op parameter above 255");
        match self {
            Self::Uint => out.push(0),
            Self::UintUsize => out.push(1),
            Self::Int => out.push(2),
            Self::U8 => out.push(3),
            Self::U16 => out.push(4),
            Self::U24 => out.push(5),
            Self::U32 => out.push(6),
            Self::U64 => out.push(7),
            Self::UintLe(w) => out.extend([8, param(*w)]),
            Self::UintBe(w) => out.extend([9, param(*w)]),
            Self::IntLe(w) => out.extend([10, param(*w)]),
            Self::F32 => out.push(11),
            Self::F64 => out.push(12),
            Self::Bool => out.push(13),
            Self::Buffer => out.push(14),
            Self::OptionalBuffer => out.push(15),
            Self::String => out.push(16),
            Self::Fixed0 => out.push(17),
            Self::Fixed1 => out.push(18),
            Self::Fixed2 => out.push(19),
            Self::Fixed16 => out.push(20),
            Self::Fixed32 => out.push(21),
            Self::Fixed64 => out.push(22),
            Self::Raw => out.push(23),
            Self::Take(n) => out.extend([24, param(*n)]),
            Self::ArrayLen => out.push(25),
            Self::Array(elem) => {
                out.push(26);
                elem.write(out);
            }
            Self::Frame(ops) => {
                out.extend([27, param(ops.len())]);
                for op in ops {
                    op.write(out);
                }
            }
            Self::Ipv4 => out.push(28),
            Self::Ipv4Address => out.push(29),
            Self::Ipv6 => out.push(30),
            Self::Ipv6Address => out.push(31),
            Self::Ip => out.push(32),
            Self::IpAddress => out.push(33),
            Self::Bitfield(length) => out.extend([34, param(*length as usize)]),
        }
    }

    /// The size of a `fixed::<N>` operation.
    fn fixed_len(&self) -> Option<usize> {
        match self {
            Self::Fixed0 => Some(0),
            Self::Fixed1 => Some(1),
            Self::Fixed2 => Some(2),
            Self::Fixed16 => Some(16),
            Self::Fixed32 => Some(32),
            Self::Fixed64 => Some(64),
            _ => None,
        }
    }

    /// Whether every strict prefix of a successful decoding must fail. Not so for anything
    /// that ends in `raw`, which accepts any tail; a frame is closed whatever it holds,
    /// because its length prefix is checked first.
    fn closed(&self) -> bool {
        match self {
            Self::Raw => false,
            Self::Array(elem) => elem.closed(),
            _ => true,
        }
    }
}

/// Splits an input into its operations and its payload (see the module docs).
pub fn parse_script(data: &[u8]) -> (Vec<Op>, &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return (Vec::new(), &[]);
    };
    let (mut op_bytes, payload) = rest.split_at(usize::from(k).min(rest.len()));
    let mut ops = Vec::new();
    while let Some(op) = Op::parse(&mut op_bytes, 0) {
        ops.push(op);
    }
    (ops, payload)
}

/// The script running `ops` over `payload`.
///
/// # Panics
///
/// If the operations take more than 255 op bytes.
pub fn script(ops: &[Op], payload: &[u8]) -> Vec<u8> {
    let mut op_bytes = Vec::new();
    for op in ops {
        op.write(&mut op_bytes);
    }
    let k = u8::try_from(op_bytes.len()).expect("script above 255 op bytes");
    let mut out = vec![k];
    out.extend(op_bytes);
    out.extend_from_slice(payload);
    out
}

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
struct Decoded<'a> {
    value: Value<'a>,
    canonical: bool,
}

/// Hex for assertion messages.
struct Hex<'a>(&'a [u8]);

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

// ---- the model ---------------------------------------------------------------------------

/// The kinds of error the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    OutOfBounds,
    TooLarge,
    ArrayTooBig(u64),
    Invalid,
}

impl Expect {
    fn matches(self, e: &DecodeError) -> bool {
        match (self, e) {
            (Self::OutOfBounds, DecodeError::OutOfBounds(_))
            | (Self::TooLarge, DecodeError::UintTooLarge(_))
            | (Self::Invalid, DecodeError::Invalid(_)) => true,
            (Self::ArrayTooBig(n), DecodeError::ArrayTooBig(m)) => n == *m,
            _ => false,
        }
    }
}

fn le(bytes: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(a)
}

fn be(bytes: &[u8]) -> u64 {
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
fn model_uint(input: &[u8]) -> Result<(u64, usize), Expect> {
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
fn model_bytes(input: &[u8]) -> Result<(&[u8], usize), Expect> {
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
fn model_bitfield(input: &[u8]) -> Result<(u64, usize), Expect> {
    let first = *input.first().ok_or(Expect::OutOfBounds)?;
    match uint_form_len(first) {
        1 => Ok((u64::from(first), 1)),
        n => first_n(input, n).map(|b| (le(&b[1..]), n)),
    }
}

/// What the wire format says a leaf operation gives on `input`: the value and the bytes it
/// takes, or the kind of error. `None` for arrays and frames, which are checked through
/// their elements.
fn model<'a>(op: &Op, input: &'a [u8]) -> Option<Result<(Value<'a>, usize), Expect>> {
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

// ---- running operations ------------------------------------------------------------------

/// The fewest bits that hold `v`.
fn bit_length(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// The encoded size of a bitfield of declared length `length` (a marker byte plus the
/// value, except below 8 bits).
fn bitfield_size(length: u32) -> usize {
    match length {
        0..=7 => 1,
        8..=16 => 3,
        17..=32 => 5,
        _ => 9,
    }
}

/// Whether the bytes a leaf took are the canonical encoding of its value; for arrays and
/// frames, whether their own prefix is (their contents are judged element by element).
fn form_is_canonical(op: &Op, value: &Value<'_>, bytes: &[u8]) -> bool {
    // For a length-prefixed value: whether the prefix is the minimal `uint` of the rest.
    let minimal_prefix = || {
        let prefix = uint_form_len(bytes[0]);
        prefix == uint_len((bytes.len() - prefix) as u64)
    };
    match (op, value) {
        (Op::Uint, Value::Uint(v)) => bytes.len() == uint_len(*v),
        (Op::UintUsize | Op::ArrayLen, Value::Len(n)) => bytes.len() == uint_len(*n as u64),
        (Op::Int, Value::Int(n)) => bytes.len() == uint_len(zigzag(*n)),
        (Op::Bool, _) => bytes[0] <= 1,
        (Op::Buffer | Op::OptionalBuffer | Op::Frame(_), _) => minimal_prefix(),
        (Op::String, Value::Text(text)) => matches!(text, Cow::Borrowed(_)) && minimal_prefix(),
        (Op::Ip | Op::IpAddress, _) => bytes[0] == 4 || bytes[0] == 6,
        (Op::Bitfield(length), Value::Bits(v)) => {
            // The size class of the declared length, no bit dropped, none past the length.
            bytes.len() == bitfield_size(*length)
                && model_bitfield(bytes).map(|(raw, _)| raw) == Ok(*v)
                && bit_length(*v) <= *length
        }
        (Op::Array(_), Value::List(items)) => {
            uint_form_len(bytes[0]) == uint_len(items.len() as u64)
        }
        _ => true,
    }
}

fn exec_inner<'a>(op: &Op, d: &mut Decoder<'a>) -> Result<Decoded<'a>, DecodeError> {
    let value = match op {
        Op::Uint => Value::Uint(d.uint()?),
        Op::UintUsize => Value::Len(d.uint_usize()?),
        Op::Int => Value::Int(d.int()?),
        Op::U8 => Value::U8(d.u8()?),
        Op::U16 => Value::U16(d.u16()?),
        Op::U24 => Value::U32(d.u24()?),
        Op::U32 => Value::U32(d.u32()?),
        Op::U64 => Value::Uint(d.u64()?),
        Op::UintLe(w) => Value::Uint(d.uint_le(*w)?),
        Op::UintBe(w) => Value::Uint(d.uint_be(*w)?),
        Op::IntLe(w) => Value::Int(d.int_le(*w)?),
        Op::F32 => Value::F32(d.f32()?.to_bits()),
        Op::F64 => Value::F64(d.f64()?.to_bits()),
        Op::Bool => Value::Bool(d.bool()?),
        Op::Buffer => Value::Bytes(d.buffer()?),
        Op::OptionalBuffer => Value::Optional(d.optional_buffer()?),
        Op::String => Value::Text(d.string()?),
        Op::Fixed0 => fixed::<0>(d)?,
        Op::Fixed1 => fixed::<1>(d)?,
        Op::Fixed2 => fixed::<2>(d)?,
        Op::Fixed16 => fixed::<16>(d)?,
        Op::Fixed32 => fixed::<32>(d)?,
        Op::Fixed64 => fixed::<64>(d)?,
        Op::Raw => Value::Bytes(d.raw()),
        Op::Take(n) => Value::Bytes(d.take(*n, "take")?),
        Op::ArrayLen => Value::Len(d.array_len()?),
        Op::Array(elem) => {
            let mut canonical = true;
            let items = d.array(|d| {
                let item = exec(elem, d)?;
                canonical &= item.canonical;
                Ok(item.value)
            })?;
            return Ok(Decoded {
                value: Value::List(items),
                canonical,
            });
        }
        Op::Frame(ops) => {
            return d.frame(|region| {
                let mut items = Vec::with_capacity(ops.len());
                let mut canonical = true;
                for op in ops {
                    let item = exec(op, region)?;
                    canonical &= item.canonical;
                    items.push(item.value);
                }
                Ok(Decoded {
                    value: Value::Group(items),
                    canonical: canonical && region.is_empty(),
                })
            });
        }
        Op::Ipv4 => Value::Ipv4(d.ipv4()?),
        Op::Ipv4Address => Value::Ipv4Address(d.ipv4_address()?),
        Op::Ipv6 => Value::Ipv6(d.ipv6()?),
        Op::Ipv6Address => Value::Ipv6Address(d.ipv6_address()?),
        Op::Ip => Value::Ip(d.ip()?),
        Op::IpAddress => Value::IpAddress(d.ip_address()?),
        Op::Bitfield(length) => Value::Bits(d.bitfield(*length)?),
    };
    Ok(Decoded {
        value,
        canonical: true,
    })
}

/// `fixed::<N>`, described by the input bytes it returned a copy of.
fn fixed<'a, const N: usize>(d: &mut Decoder<'a>) -> Result<Value<'a>, DecodeError> {
    let input = d.rest();
    let array = d.fixed::<N>()?;
    assert_eq!(array[..], input[..N], "fixed::<{N}> copied other bytes");
    Ok(Value::Bytes(&input[..N]))
}

/// Runs `op` at the cursor and checks what can be checked of that one step.
fn exec<'a>(op: &Op, d: &mut Decoder<'a>) -> Result<Decoded<'a>, DecodeError> {
    let input = d.rest();
    let start = d.position();
    let mut result = exec_inner(op, d);
    let consumed = d
        .position()
        .checked_sub(start)
        .unwrap_or_else(|| panic!("{op:?} moved the cursor backwards"));
    assert!(
        consumed <= input.len(),
        "{op:?} moved the cursor past the end"
    );
    assert_eq!(d.remaining(), input.len() - consumed, "{op:?}: remaining");
    assert_eq!(d.rest(), &input[consumed..], "{op:?}: rest");
    let bytes = &input[..consumed];

    if let Ok(decoded) = &mut result {
        match op {
            Op::Raw => assert_eq!(consumed, input.len(), "raw left bytes"),
            Op::Fixed0 | Op::Take(0) => assert_eq!(consumed, 0),
            _ => assert!(consumed > 0, "{op:?} succeeded on no bytes"),
        }
        match op {
            Op::Array(_) => {
                let (count, n) = model_uint(input).expect("array count");
                let Value::List(items) = &decoded.value else {
                    unreachable!()
                };
                assert_eq!(items.len() as u64, count, "array count");
                assert!(consumed >= n);
            }
            Op::Frame(_) => {
                let (_, n) = model_bytes(input).expect("frame prefix");
                assert_eq!(consumed, n, "a frame takes its prefix and its region");
            }
            _ => {}
        }
        decoded.canonical &= form_is_canonical(op, &decoded.value, bytes);
    }

    match (&result, model(op, input)) {
        (_, None) => {}
        (Ok(decoded), Some(Ok((value, n)))) => {
            assert_eq!(decoded.value, value, "{op:?} on {}", Hex(input));
            assert_eq!(consumed, n, "{op:?} on {}: bytes taken", Hex(input));
        }
        (Err(e), Some(Err(expect))) => {
            assert!(
                expect.matches(e),
                "{op:?} on {}: error {e:?}, model expects {expect:?}",
                Hex(input)
            );
        }
        (got, Some(expected)) => panic!(
            "{op:?} on {}: decoder gave {got:?}, model expects {expected:?}",
            Hex(input)
        ),
    }
    if let (Op::Array(_), Err(e)) = (op, &result) {
        // A bad count is reported as such, before any element is read.
        match model_uint(input) {
            Err(expect) => assert!(expect.matches(e), "array count: {e:?} vs {expect:?}"),
            Ok((count, _)) if count > MAX_ARRAY_LEN => {
                assert_eq!(*e, DecodeError::ArrayTooBig(count))
            }
            Ok(_) => {}
        }
    }
    result
}

// ---- re-encoding -------------------------------------------------------------------------

/// Writes `value` (decoded by `op`) with the matching [`Sink`] method.
fn encode<S: Sink>(op: &Op, value: &Value<'_>, s: &mut S) {
    match (op, value) {
        (Op::Uint, Value::Uint(n)) => s.uint(*n),
        (Op::UintUsize, Value::Len(n)) => s.uint_usize(*n),
        (Op::ArrayLen, Value::Len(n)) => s.array_len(*n),
        (Op::Int, Value::Int(n)) => s.int(*n),
        (Op::U8, Value::U8(n)) => s.u8(*n),
        (Op::U16, Value::U16(n)) => s.u16(*n),
        (Op::U24, Value::U32(n)) => s.u24(*n),
        (Op::U32, Value::U32(n)) => s.u32(*n),
        (Op::U64, Value::Uint(n)) => s.u64(*n),
        (Op::UintLe(w), Value::Uint(n)) => s.uint_le(*n, *w),
        (Op::UintBe(w), Value::Uint(n)) => s.uint_be(*n, *w),
        (Op::IntLe(w), Value::Int(n)) => s.int_le(*n, *w),
        (Op::F32, Value::F32(bits)) => s.f32(f32::from_bits(*bits)),
        (Op::F64, Value::F64(bits)) => s.f64(f64::from_bits(*bits)),
        (Op::Bool, Value::Bool(b)) => s.bool(*b),
        (Op::Buffer, Value::Bytes(b)) => s.buffer(b),
        (Op::OptionalBuffer, Value::Optional(b)) => s.optional_buffer(*b),
        (Op::String, Value::Text(t)) => s.string(t),
        (Op::Raw, Value::Bytes(b)) => s.raw(b),
        (Op::Take(_), Value::Bytes(b)) => s.put(b),
        (_, Value::Bytes(b)) if op.fixed_len().is_some() => {
            s.fixed(b, op.fixed_len().unwrap_or_default())
        }
        (Op::Array(elem), Value::List(items)) => s.array(items, |s, item| encode(elem, item, s)),
        (Op::Frame(ops), Value::Group(items)) => {
            assert_eq!(ops.len(), items.len());
            let mut inner = Encoder::new();
            for (op, item) in ops.iter().zip(items) {
                encode(op, item, &mut inner);
            }
            match inner.finish() {
                Ok(bytes) => s.buffer(&bytes),
                Err(e) => s.fail(e),
            }
        }
        (Op::Ipv4, Value::Ipv4(ip)) => s.ipv4(*ip),
        (Op::Ipv4Address, Value::Ipv4Address(a)) => s.ipv4_address(*a),
        (Op::Ipv6, Value::Ipv6(ip)) => s.ipv6(*ip),
        (Op::Ipv6Address, Value::Ipv6Address(a)) => s.ipv6_address(*a),
        (Op::Ip, Value::Ip(ip)) => s.ip(*ip),
        (Op::IpAddress, Value::IpAddress(a)) => s.ip_address(*a),
        (Op::Bitfield(length), Value::Bits(v)) => {
            encode_bitfield(s, *v, bitfield_encode_length(*length, *v))
        }
        _ => unreachable!("{value:?} is not a value of {op:?}"),
    }
}

/// Encodes the values of `steps` one after another, with the [`Counter`] pass first as a
/// message codec would, and checks that both passes agree on the size.
fn encode_steps(steps: &[(&Op, Value<'_>)]) -> Result<Vec<u8>, EncodeError> {
    let mut counter = Counter::new();
    for (op, value) in steps {
        encode(op, value, &mut counter);
    }
    let mut encoder = Encoder::with_capacity(counter.len());
    for (op, value) in steps {
        encode(op, value, &mut encoder);
    }
    let bytes = encoder.finish()?;
    assert_eq!(
        counter.len(),
        bytes.len(),
        "Counter and Encoder disagree on {steps:?}"
    );
    Ok(bytes)
}

// ---- the properties ----------------------------------------------------------------------

/// Every form of `uint` wide enough for `v` decodes to `v`.
fn check_uint_forms(v: u64) {
    let le = v.to_le_bytes();
    let mut forms = Vec::new();
    if v <= 0xfc {
        forms.push(vec![v as u8]);
    }
    if v <= 0xffff {
        forms.push([&[0xfd], &le[..2]].concat());
    }
    if v <= 0xffff_ffff {
        forms.push([&[0xfe], &le[..4]].concat());
    }
    forms.push([&[0xff], &le[..]].concat());
    for form in forms {
        let mut d = Decoder::new(&form);
        assert_eq!(d.uint(), Ok(v), "uint form {}", Hex(&form));
        assert!(d.is_empty());
    }
}

/// The declared length a decoded bitfield is re-encoded with: its own when the value fits
/// it, else the fewest bits that hold the value.
///
/// A bitfield decoder takes whatever the marker byte announces, so `bitfield(7)` reads `fc`
/// as 0xfc and `bitfield(12)` reads `fe ff ff 00 00` as 0xffff, while `encode_bitfield`
/// refuses bits at or past the declared length. Such a value cannot be written back under the
/// length it was read with (see [`check_bitfield`]); it is written under a length that holds
/// it instead, which decodes to the same value under the original length.
fn bitfield_encode_length(length: u32, v: u64) -> u32 {
    length.max(bit_length(v))
}

/// A decoded `bitfield(length)` value `v`: it re-encodes under `length` exactly when it
/// fits, and it round-trips through every size class that holds it (decoded with that
/// class's length), while lengths too short for it are refused by the encoder.
fn check_bitfield(length: u32, v: u64) {
    let need = bit_length(v);
    let mut e = Encoder::new();
    encode_bitfield(&mut e, v, length);
    assert_eq!(
        e.finish().is_ok(),
        need <= length,
        "bitfield({length}) encoding of {v:#x}"
    );
    for length in [need, 7, 8, 16, 17, 32, 33, 64] {
        if length < need {
            continue;
        }
        let mut e = Encoder::new();
        encode_bitfield(&mut e, v, length);
        let bytes = e.finish().expect("bitfield that fits");
        assert_eq!(
            bytes.len(),
            bitfield_size(length),
            "bitfield({length}) of {v}"
        );
        let mut d = Decoder::new(&bytes);
        assert_eq!(
            d.bitfield(length),
            Ok(v),
            "bitfield({length}) {}",
            Hex(&bytes)
        );
        assert!(d.is_empty());
    }
    if need > 0 {
        let mut e = Encoder::new();
        encode_bitfield(&mut e, v, need - 1);
        assert!(e.finish().is_err(), "bitfield({}) accepted {v}", need - 1);
    }
}

/// Whether `value` has a canonical encoding under `op`: everything does except a bitfield
/// holding bits past its declared length (see `bitfield_encode_length`), and what contains
/// one.
fn has_canonical_form(op: &Op, value: &Value<'_>) -> bool {
    match (op, value) {
        (Op::Bitfield(length), Value::Bits(v)) => bit_length(*v) <= *length,
        (Op::Array(elem), Value::List(items)) => items.iter().all(|v| has_canonical_form(elem, v)),
        (Op::Frame(ops), Value::Group(items)) => ops
            .iter()
            .zip(items)
            .all(|(op, v)| has_canonical_form(op, v)),
        _ => true,
    }
}

/// The checks on one successful top-level step: `bytes` is what it consumed.
fn check_step(op: &Op, decoded: &Decoded<'_>, bytes: &[u8]) {
    // Local: the consumed bytes alone give the same result.
    let mut d = Decoder::new(bytes);
    let again = exec(op, &mut d)
        .unwrap_or_else(|e| panic!("{op:?} fails on its own bytes {}: {e:?}", Hex(bytes)));
    assert_eq!(&again, decoded, "{op:?} on its own bytes {}", Hex(bytes));
    assert!(d.is_empty(), "{op:?} left some of its own bytes");

    // Truncated: no strict prefix decodes.
    if op.closed() {
        for k in prefix_lengths(bytes.len()) {
            let prefix = &bytes[..k];
            if let Ok(v) = exec(op, &mut Decoder::new(prefix)) {
                panic!(
                    "{op:?} decodes the strict prefix {} of {}: {:?}",
                    Hex(prefix),
                    Hex(bytes),
                    v.value
                );
            }
        }
    }

    // Round trip through the encoder.
    let step = [(op, decoded.value.clone())];
    let encoded = encode_steps(&step)
        .unwrap_or_else(|e| panic!("{op:?}: decoded {:?} does not encode: {e}", decoded.value));
    let mut d = Decoder::new(&encoded);
    let back = exec(op, &mut d).unwrap_or_else(|e| {
        panic!(
            "{op:?}: re-encoding {} of {:?} does not decode: {e:?}",
            Hex(&encoded),
            decoded.value
        )
    });
    assert_eq!(
        back.value,
        decoded.value,
        "{op:?} re-encoded {}",
        Hex(&encoded)
    );
    assert!(
        d.is_empty(),
        "{op:?} re-encoded {} not consumed",
        Hex(&encoded)
    );
    let representable = has_canonical_form(op, &decoded.value);
    assert_eq!(
        back.canonical,
        representable,
        "{op:?}: the encoder wrote {}",
        Hex(&encoded)
    );
    if representable {
        assert_eq!(
            encoded == bytes,
            decoded.canonical,
            "{op:?}: input {} re-encodes as {} (input canonical: {})",
            Hex(bytes),
            Hex(&encoded),
            decoded.canonical
        );
    }

    match (op, &decoded.value) {
        (_, Value::Uint(v)) => check_uint_forms(*v),
        (Op::Bitfield(length), Value::Bits(v)) => check_bitfield(*length, *v),
        _ => {}
    }
}

/// The successful prefix of the script, re-encoded as a whole, decodes the same.
fn check_script(steps: &[(&Op, Value<'_>)]) {
    let encoded = encode_steps(steps).expect("decoded values encode");
    let mut d = Decoder::new(&encoded);
    let mut again = Vec::with_capacity(steps.len());
    for (op, value) in steps {
        let back = exec(op, &mut d).unwrap_or_else(|e| {
            panic!(
                "{op:?} fails in the re-encoded script {}: {e:?}",
                Hex(&encoded)
            )
        });
        assert_eq!(&back.value, value, "{op:?} in the re-encoded script");
        assert_eq!(back.canonical, has_canonical_form(op, value));
        again.push((*op, back.value));
    }
    assert!(
        d.is_empty(),
        "re-encoded script {} not consumed",
        Hex(&encoded)
    );
    let twice = encode_steps(&again).expect("decoded values encode");
    assert_eq!(
        twice, encoded,
        "the canonical encoding is not a fixed point"
    );
}

/// The `compact_ops` fuzz target.
pub fn run(data: &[u8]) {
    let (ops, payload) = parse_script(data);
    let mut d = Decoder::new(payload);
    let mut steps = Vec::with_capacity(ops.len());
    for op in &ops {
        let input = d.rest();
        let start = d.position();
        match exec(op, &mut d) {
            Ok(decoded) => {
                check_step(op, &decoded, &input[..d.position() - start]);
                steps.push((op, decoded.value));
            }
            Err(e) => {
                let again = exec(op, &mut Decoder::new(input)).err();
                assert_eq!(
                    again,
                    Some(e),
                    "{op:?} on {} is not deterministic",
                    Hex(input)
                );
                break;
            }
        }
    }
    check_script(&steps);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_back() {
        let ops = vec![
            Op::Uint,
            Op::UintLe(9),
            Op::Take(200),
            Op::Array(Box::new(Op::Frame(vec![
                Op::Ip,
                Op::Array(Box::new(Op::Raw)),
            ]))),
            Op::Frame(vec![]),
            Op::Bitfield(33),
        ];
        let data = script(&ops, &[1, 2, 3]);
        let (parsed, payload) = parse_script(&data);
        assert_eq!(parsed, ops);
        assert_eq!(payload, &[1, 2, 3]);
    }

    #[test]
    fn every_code_parses() {
        for code in 0..=255u8 {
            let bytes = [code, 3, 26, 0];
            let mut b = &bytes[..];
            let op = Op::parse(&mut b, 0).expect("an op");
            let mut written = Vec::new();
            op.write(&mut written);
            let mut w = &written[..];
            assert_eq!(Op::parse(&mut w, 0), Some(op));
        }
    }

    #[test]
    fn samples() {
        let cases: &[(&[Op], &[u8])] = &[
            (&[Op::Uint, Op::Uint, Op::Uint], &[0xfd, 5, 0, 0xfc, 0xff]),
            (&[Op::Bool, Op::Bool, Op::Bool], &[0, 1, 2]),
            (&[Op::String], &[3, 0xff, b'a', 0xc3]),
            (&[Op::Ip, Op::IpAddress], &[5; 40]),
            (
                &[Op::Frame(vec![Op::U8]), Op::Raw, Op::Raw],
                &[3, 1, 2, 3, 4],
            ),
            (&[Op::Array(Box::new(Op::Raw))], &[3, 1, 2]),
            (&[Op::Array(Box::new(Op::Fixed0))], &[0xfe, 0, 0, 0x10, 0]),
            (
                &[Op::Bitfield(7), Op::Bitfield(7), Op::Bitfield(64)],
                &[
                    0xfd, 3, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
            ),
            (
                &[Op::IntLe(8), Op::UintBe(0)],
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0],
            ),
            (
                &[Op::F64, Op::F32],
                &[1, 0, 0, 0, 0, 0, 0xf8, 0x7f, 1, 0, 0xc0, 0xff],
            ),
        ];
        for (ops, payload) in cases {
            run(&script(ops, payload));
        }
        for len in 0..64 {
            run(&(0..len).map(|i| (i * 37 + 11) as u8).collect::<Vec<_>>());
        }
    }
}
