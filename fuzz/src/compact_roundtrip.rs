//! `compact_roundtrip`: structured messages built with `arbitrary`, encoded through the
//! [`Encode`] trait and decoded back through [`Decode`].
//!
//! # The message
//!
//! A [`Message`] is an `array` of [`Field`]s, each written as a `u8` tag then its value, so
//! it decodes without a schema. Fields cover every primitive (`uint`, `int`, the fixed-width
//! and big-endian integers with their width, floats, `bool`, `buffer`, `optionalBuffer`,
//! `string`, `fixed32`/`fixed64`, the v4/v6 address codecs, `bitfield` with its declared
//! length), arrays (of `uint`, of `string`, of `ipAddress`, of arrays of `int`, of records),
//! a `frame` holding a nested message followed by a `raw` tail (inside the frame, where
//! `raw` is closed by the length prefix), and arrays of nested messages. Values are drawn
//! inside the ranges the codecs accept ([`SafeUint`], [`U24`], ...); out-of-range values are
//! exercised separately by [`Wild`].
//!
//! # Properties
//!
//! For the message built from the input:
//!
//! - [`Encode::to_bytes`] succeeds and [`Encode::encoded_len`] equals the byte length;
//! - the bytes decode to an equal message (floats by bit pattern) and are consumed exactly;
//! - [`Decode::from_bytes`] ignores bytes appended after the message;
//! - no strict prefix of the bytes decodes: every field kind used here is closed (a length,
//!   a count or a fixed width tells where it ends), which is why `raw` appears only inside a
//!   frame and never as the last field of a message.
//!
//! For the raw input decoded as a message (untrusted bytes): if it decodes, the value
//! encodes without error, with `encoded_len` right, decodes back to itself, and its encoding
//! is a fixed point (canonical).
//!
//! For [`Wild`] values, drawn over the whole integer ranges: each encoder refuses exactly
//! the values outside its codec's range (uint above 2^53 - 1, int outside -2^52 ..= 2^52 - 1,
//! `uint24` above 2^24 - 1, a width that does not hold the value, a bitfield longer than 64
//! bits or holding bits past its length, an array count above the limit, a fixed field of
//! another size), and every value it accepts decodes back, in the expected number of bytes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use arbitrary::{Arbitrary, Unstructured};
use plures_compact::{
    Decode, DecodeError, Decoder, Encode, Encoder, MAX_ARRAY_LEN, MAX_SAFE_INTEGER, Sink,
    encode_bitfield,
};

use crate::{prefix_lengths, zigzag};

/// How deeply messages nest (through frames and arrays of messages).
pub const MAX_NESTING: usize = 8;

/// The largest magnitude of the `int` codecs (2^52).
const INT_LIMIT: i64 = 1 << 52;

fn unzigzag(z: u64) -> i64 {
    let half = (z >> 1) as i64;
    if z & 1 == 0 { half } else { -half - 1 }
}

/// A `uint` in range, drawn so that every size class (1, 3, 5, 9 bytes) is likely.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeUint(pub u64);

impl<'a> Arbitrary<'a> for SafeUint {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let v = match u8::arbitrary(u)? % 4 {
            0 => u.int_in_range(0..=0xfc)?,
            1 => u.int_in_range(0xfd..=0xffff)?,
            2 => u.int_in_range(0x1_0000..=0xffff_ffff)?,
            _ => u.int_in_range(0x1_0000_0000..=MAX_SAFE_INTEGER)?,
        };
        Ok(Self(v))
    }
}

/// An `int` in range (the zig-zag image of a [`SafeUint`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SafeInt(pub i64);

impl<'a> Arbitrary<'a> for SafeInt {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(unzigzag(SafeUint::arbitrary(u)?.0)))
    }
}

/// A `uint24` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct U24(pub u32);

impl<'a> Arbitrary<'a> for U24 {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u.int_in_range(0..=0xff_ffff)?))
    }
}

/// The largest value a fixed-width field of `width` bytes carries.
fn width_max(width: usize) -> u64 {
    if width >= 7 {
        MAX_SAFE_INTEGER
    } else {
        (1u64 << (8 * width)) - 1
    }
}

/// A fixed-width unsigned integer and its width in bytes (1..=8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sized {
    /// Width in bytes.
    pub width: usize,
    /// The value, which fits the width and 2^53 - 1.
    pub value: u64,
}

impl<'a> Arbitrary<'a> for Sized {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let width = u.int_in_range(1..=8)?;
        let value = u.int_in_range(0..=width_max(width))?;
        Ok(Self { width, value })
    }
}

/// A zig-zag fixed-width signed integer (`int8` .. `int64`) and its width.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SizedInt {
    /// Width in bytes.
    pub width: usize,
    /// The value, whose zig-zag image fits the width.
    pub value: i64,
}

impl<'a> Arbitrary<'a> for SizedInt {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let Sized { width, value } = Sized::arbitrary(u)?;
        Ok(Self {
            width,
            value: unzigzag(value),
        })
    }
}

/// A bit set and its declared length (0..=64), no bit set past the length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bits {
    /// Declared length in bits.
    pub length: u32,
    /// The set.
    pub bits: u64,
}

impl Bits {
    fn new(length: u32, bits: u64) -> Option<Self> {
        let fits = length == 64 || (length < 64 && bits >> length == 0);
        fits.then_some(Self { length, bits })
    }
}

impl<'a> Arbitrary<'a> for Bits {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let length = u.int_in_range(0..=64)?;
        let bits = u64::arbitrary(u)?;
        let mask = if length == 64 {
            u64::MAX
        } else {
            (1u64 << length) - 1
        };
        Ok(Self {
            length,
            bits: bits & mask,
        })
    }
}

/// A non-empty byte string (what `optionalBuffer` gives back as `Some`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonEmpty(pub Vec<u8>);

impl<'a> Arbitrary<'a> for NonEmpty {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let mut bytes = Vec::<u8>::arbitrary(u)?;
        if bytes.is_empty() {
            bytes.push(u8::arbitrary(u)?);
        }
        Ok(Self(bytes))
    }
}

/// An IPv6 socket address without flow info or scope (which the codec does not carry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr6(pub SocketAddrV6);

impl<'a> Arbitrary<'a> for Addr6 {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(SocketAddrV6::new(
            Ipv6Addr::arbitrary(u)?,
            u16::arbitrary(u)?,
            0,
            0,
        )))
    }
}

/// A v4 or v6 socket address as `ipAddress` carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addr(pub SocketAddr);

impl<'a> Arbitrary<'a> for Addr {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(if bool::arbitrary(u)? {
            SocketAddr::V4(SocketAddrV4::arbitrary(u)?)
        } else {
            SocketAddr::V6(Addr6::arbitrary(u)?.0)
        }))
    }
}

/// A record such as a peer entry: the element type of [`Field::Records`].
#[derive(Debug, Clone, PartialEq, Eq, Arbitrary)]
pub struct Record {
    /// `fixed32`.
    pub key: [u8; 32],
    /// `ipv4Address`.
    pub peer: SocketAddrV4,
    /// `optionalBuffer`.
    pub note: Option<NonEmpty>,
    /// `bitfield(7)`.
    pub flags: Flags7,
    /// `uint`.
    pub seq: SafeUint,
}

/// A `bitfield(7)` value (as blind-relay uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags7(pub u8);

impl<'a> Arbitrary<'a> for Flags7 {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self(u8::arbitrary(u)? & 0x7f))
    }
}

impl Encode for Record {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.fixed(&self.key, 32);
        s.ipv4_address(self.peer);
        s.optional_buffer(self.note.as_ref().map(|n| &n.0[..]));
        encode_bitfield(s, u64::from(self.flags.0), 7);
        s.uint(self.seq.0);
    }
}

impl<'a> Decode<'a> for Record {
    fn decode(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            key: d.fixed::<32>()?,
            peer: d.ipv4_address()?,
            note: d.optional_buffer()?.map(|b| NonEmpty(b.to_vec())),
            flags: match d.bitfield(7)? {
                v @ 0..=0x7f => Flags7(v as u8),
                _ => return Err(DecodeError::Invalid("bitfield(7)")),
            },
            seq: SafeUint(d.uint()?),
        })
    }
}

/// A self-describing message: an `array` of tagged fields.
#[derive(Debug, Clone, PartialEq, Arbitrary)]
pub struct Message {
    /// The fields, in wire order.
    pub fields: Vec<Field>,
}

/// One tagged field. The tag is the variant's position, as [`Field::tag`] gives it.
#[derive(Debug, Clone, PartialEq, Arbitrary)]
pub enum Field {
    /// `uint`.
    Uint(SafeUint),
    /// `int`.
    Int(SafeInt),
    /// `uint8`.
    U8(u8),
    /// `uint16`.
    U16(u16),
    /// `uint24`.
    U24(U24),
    /// `uint32`.
    U32(u32),
    /// `uint64`.
    U64(SafeUint),
    /// Width byte, then `uint{8..64}` little endian.
    UintLe(Sized),
    /// Width byte, then `uint{8..64}be`.
    UintBe(Sized),
    /// Width byte, then `int{8..64}`.
    IntLe(SizedInt),
    /// `float32`, as bits.
    F32(u32),
    /// `float64`, as bits.
    F64(u64),
    /// `bool`.
    Bool(bool),
    /// `buffer`.
    Buffer(Vec<u8>),
    /// `optionalBuffer`.
    OptionalBuffer(Option<NonEmpty>),
    /// `string`.
    String(String),
    /// `fixed32`.
    Fixed32([u8; 32]),
    /// `fixed64`.
    Fixed64([u8; 64]),
    /// `ipv4`.
    Ipv4(Ipv4Addr),
    /// `ipv4Address`.
    Ipv4Address(SocketAddrV4),
    /// `ipv6`.
    Ipv6(Ipv6Addr),
    /// `ipv6Address`.
    Ipv6Address(Addr6),
    /// `ip`.
    Ip(IpAddr),
    /// `ipAddress`.
    IpAddress(Addr),
    /// Length byte, then `bitfield(length)`.
    Bitfield(Bits),
    /// `array(uint)`.
    Uints(Vec<SafeUint>),
    /// `array(string)`.
    Strings(Vec<String>),
    /// `array(ipAddress)`.
    Addresses(Vec<Addr>),
    /// `array(array(int))`.
    Matrix(Vec<Vec<SafeInt>>),
    /// `array(record)`.
    Records(Vec<Record>),
    /// `frame`: a nested message, then `raw` up to the end of the frame.
    Frame(Message, Vec<u8>),
    /// `array(message)`.
    Messages(Vec<Message>),
}

impl Field {
    /// The wire tag.
    pub fn tag(&self) -> u8 {
        match self {
            Self::Uint(_) => 0,
            Self::Int(_) => 1,
            Self::U8(_) => 2,
            Self::U16(_) => 3,
            Self::U24(_) => 4,
            Self::U32(_) => 5,
            Self::U64(_) => 6,
            Self::UintLe(_) => 7,
            Self::UintBe(_) => 8,
            Self::IntLe(_) => 9,
            Self::F32(_) => 10,
            Self::F64(_) => 11,
            Self::Bool(_) => 12,
            Self::Buffer(_) => 13,
            Self::OptionalBuffer(_) => 14,
            Self::String(_) => 15,
            Self::Fixed32(_) => 16,
            Self::Fixed64(_) => 17,
            Self::Ipv4(_) => 18,
            Self::Ipv4Address(_) => 19,
            Self::Ipv6(_) => 20,
            Self::Ipv6Address(_) => 21,
            Self::Ip(_) => 22,
            Self::IpAddress(_) => 23,
            Self::Bitfield(_) => 24,
            Self::Uints(_) => 25,
            Self::Strings(_) => 26,
            Self::Addresses(_) => 27,
            Self::Matrix(_) => 28,
            Self::Records(_) => 29,
            Self::Frame(..) => 30,
            Self::Messages(_) => 31,
        }
    }

    fn decode_nested(d: &mut Decoder<'_>, depth: usize) -> Result<Self, DecodeError> {
        let width = |d: &mut Decoder<'_>| d.u8().map(usize::from);
        Ok(match d.u8()? {
            0 => Self::Uint(SafeUint(d.uint()?)),
            1 => Self::Int(SafeInt(d.int()?)),
            2 => Self::U8(d.u8()?),
            3 => Self::U16(d.u16()?),
            4 => Self::U24(U24(d.u24()?)),
            5 => Self::U32(d.u32()?),
            6 => Self::U64(SafeUint(d.u64()?)),
            7 => {
                let width = width(d)?;
                Self::UintLe(Sized {
                    width,
                    value: d.uint_le(width)?,
                })
            }
            8 => {
                let width = width(d)?;
                Self::UintBe(Sized {
                    width,
                    value: d.uint_be(width)?,
                })
            }
            9 => {
                let width = width(d)?;
                Self::IntLe(SizedInt {
                    width,
                    value: d.int_le(width)?,
                })
            }
            10 => Self::F32(d.f32()?.to_bits()),
            11 => Self::F64(d.f64()?.to_bits()),
            12 => Self::Bool(d.bool()?),
            13 => Self::Buffer(d.buffer()?.to_vec()),
            14 => Self::OptionalBuffer(d.optional_buffer()?.map(|b| NonEmpty(b.to_vec()))),
            15 => Self::String(d.string()?.into_owned()),
            16 => Self::Fixed32(d.fixed()?),
            17 => Self::Fixed64(d.fixed()?),
            18 => Self::Ipv4(d.ipv4()?),
            19 => Self::Ipv4Address(d.ipv4_address()?),
            20 => Self::Ipv6(d.ipv6()?),
            21 => Self::Ipv6Address(Addr6(d.ipv6_address()?)),
            22 => Self::Ip(d.ip()?),
            23 => Self::IpAddress(Addr(d.ip_address()?)),
            24 => {
                let length = u32::from(d.u8()?);
                let bits = d.bitfield(length)?;
                Self::Bitfield(Bits::new(length, bits).ok_or(DecodeError::Invalid("bitfield"))?)
            }
            25 => Self::Uints(d.array(|d| d.uint().map(SafeUint))?),
            26 => Self::Strings(d.array(|d| d.string().map(|s| s.into_owned()))?),
            27 => Self::Addresses(d.array(|d| d.ip_address().map(Addr))?),
            28 => Self::Matrix(d.array(|d| d.array(|d| d.int().map(SafeInt)))?),
            29 => Self::Records(d.array(Record::decode)?),
            30 => d.frame(|region| {
                let message = Message::decode_nested(region, depth + 1)?;
                Ok(Self::Frame(message, region.raw().to_vec()))
            })?,
            31 => Self::Messages(d.array(|d| Message::decode_nested(d, depth + 1))?),
            _ => return Err(DecodeError::Invalid("field tag")),
        })
    }
}

impl Encode for Field {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.u8(self.tag());
        let width = |s: &mut S, width: usize| s.u8(u8::try_from(width).unwrap_or(u8::MAX));
        match self {
            Self::Uint(v) => s.uint(v.0),
            Self::Int(v) => s.int(v.0),
            Self::U8(v) => s.u8(*v),
            Self::U16(v) => s.u16(*v),
            Self::U24(v) => s.u24(v.0),
            Self::U32(v) => s.u32(*v),
            Self::U64(v) => s.u64(v.0),
            Self::UintLe(v) => {
                width(s, v.width);
                s.uint_le(v.value, v.width);
            }
            Self::UintBe(v) => {
                width(s, v.width);
                s.uint_be(v.value, v.width);
            }
            Self::IntLe(v) => {
                width(s, v.width);
                s.int_le(v.value, v.width);
            }
            Self::F32(bits) => s.f32(f32::from_bits(*bits)),
            Self::F64(bits) => s.f64(f64::from_bits(*bits)),
            Self::Bool(b) => s.bool(*b),
            Self::Buffer(b) => s.buffer(b),
            Self::OptionalBuffer(b) => s.optional_buffer(b.as_ref().map(|n| &n.0[..])),
            Self::String(t) => s.string(t),
            Self::Fixed32(b) => s.fixed(b, 32),
            Self::Fixed64(b) => s.fixed(b, 64),
            Self::Ipv4(ip) => s.ipv4(*ip),
            Self::Ipv4Address(a) => s.ipv4_address(*a),
            Self::Ipv6(ip) => s.ipv6(*ip),
            Self::Ipv6Address(a) => s.ipv6_address(a.0),
            Self::Ip(ip) => s.ip(*ip),
            Self::IpAddress(a) => s.ip_address(a.0),
            Self::Bitfield(b) => {
                s.u8(u8::try_from(b.length).unwrap_or(u8::MAX));
                encode_bitfield(s, b.bits, b.length);
            }
            Self::Uints(v) => s.array(v, |s, x| s.uint(x.0)),
            Self::Strings(v) => s.array(v, |s, x| s.string(x)),
            Self::Addresses(v) => s.array(v, |s, a| s.ip_address(a.0)),
            Self::Matrix(rows) => s.array(rows, |s, row| s.array(row, |s, x| s.int(x.0))),
            Self::Records(v) => s.array(v, |s, r| r.encode(s)),
            Self::Frame(message, tail) => {
                s.uint_usize(message.encoded_len() + tail.len());
                message.encode(s);
                s.raw(tail);
            }
            Self::Messages(v) => s.array(v, |s, m| m.encode(s)),
        }
    }
}

impl Message {
    /// How deeply messages nest inside this one (0 for none).
    pub fn depth(&self) -> usize {
        self.fields
            .iter()
            .map(|f| match f {
                Field::Frame(m, _) => 1 + m.depth(),
                Field::Messages(ms) => 1 + ms.iter().map(Self::depth).max().unwrap_or(0),
                _ => 0,
            })
            .max()
            .unwrap_or(0)
    }

    fn decode_nested(d: &mut Decoder<'_>, depth: usize) -> Result<Self, DecodeError> {
        if depth > MAX_NESTING {
            return Err(DecodeError::Invalid("message nesting"));
        }
        Ok(Self {
            fields: d.array(|d| Field::decode_nested(d, depth))?,
        })
    }
}

impl Encode for Message {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.array(&self.fields, |s, f| f.encode(s));
    }
}

impl<'a> Decode<'a> for Message {
    fn decode(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Self::decode_nested(d, 0)
    }
}

/// Values over the whole range of their Rust types, for the encoders' range checks.
#[derive(Debug, Clone, Arbitrary)]
pub struct Wild {
    uint: u64,
    int: i64,
    u24: u32,
    le: (u8, u64),
    be: (u8, u64),
    int_le: (u8, i64),
    bitfield: (u8, u64),
    array_len: u32,
    fixed: (u8, Vec<u8>),
}

/// What the target reads from its input: out-of-range values first, the message last (it
/// takes the rest).
#[derive(Debug, Clone, Arbitrary)]
pub struct Input {
    /// Values for the encoders' range checks.
    pub wild: Wild,
    /// The message to round-trip.
    pub message: Message,
}

/// Encodes one value with `f`; checks that the encoder refuses it exactly when `valid` is
/// false, and otherwise that `decode` reads it back from exactly `len` bytes.
fn check_range<T: PartialEq + std::fmt::Debug>(
    what: &str,
    value: T,
    valid: bool,
    len: impl FnOnce() -> usize,
    f: impl FnOnce(&mut Encoder),
    decode: impl FnOnce(&mut Decoder<'_>) -> Result<T, DecodeError>,
) {
    let mut e = Encoder::new();
    f(&mut e);
    match e.finish() {
        Ok(bytes) => {
            assert!(valid, "{what} encoded the out-of-range {value:?}");
            assert_eq!(bytes.len(), len(), "{what} of {value:?}: size");
            let mut d = Decoder::new(&bytes);
            assert_eq!(decode(&mut d), Ok(value), "{what}: {bytes:02x?}");
            assert!(d.is_empty());
        }
        Err(e) => assert!(!valid, "{what} refused {value:?}: {e}"),
    }
}

/// The size of the minimal `uint` form, computed here independently of the crate.
fn uint_size(n: u64) -> usize {
    if n < 0xfd {
        1
    } else if n <= 0xffff {
        3
    } else if n <= 0xffff_ffff {
        5
    } else {
        9
    }
}

fn check_wild(w: &Wild) {
    check_range(
        "uint",
        w.uint,
        w.uint <= MAX_SAFE_INTEGER,
        || uint_size(w.uint),
        |e| e.uint(w.uint),
        |d| d.uint(),
    );
    check_range(
        "int",
        w.int,
        (-INT_LIMIT..INT_LIMIT).contains(&w.int),
        || uint_size(zigzag(w.int)),
        |e| e.int(w.int),
        |d| d.int(),
    );
    check_range(
        "uint24",
        w.u24,
        w.u24 <= 0xff_ffff,
        || 3,
        |e| e.u24(w.u24),
        |d| d.u24(),
    );
    let fits = |width: usize, v: u64| (1..=8).contains(&width) && v <= width_max(width);
    let (width, v) = (usize::from(w.le.0 % 10), w.le.1);
    check_range(
        "uint_le",
        v,
        fits(width, v),
        || width,
        |e| e.uint_le(v, width),
        |d| d.uint_le(width),
    );
    let (width, v) = (usize::from(w.be.0 % 10), w.be.1);
    check_range(
        "uint_be",
        v,
        fits(width, v),
        || width,
        |e| e.uint_be(v, width),
        |d| d.uint_be(width),
    );
    let (width, v) = (usize::from(w.int_le.0 % 10), w.int_le.1);
    check_range(
        "int_le",
        v,
        (-INT_LIMIT..INT_LIMIT).contains(&v) && fits(width, zigzag(v)),
        || width,
        |e| e.int_le(v, width),
        |d| d.int_le(width),
    );
    let (length, bits) = (u32::from(w.bitfield.0 % 72), w.bitfield.1);
    check_range(
        "bitfield",
        bits,
        Bits::new(length, bits).is_some(),
        || match length {
            0..=7 => 1,
            8..=16 => 3,
            17..=32 => 5,
            _ => 9,
        },
        |e| encode_bitfield(e, bits, length),
        |d| d.bitfield(length),
    );
    let n = w.array_len as usize % (2 * MAX_ARRAY_LEN as usize);
    check_range(
        "array_len",
        n,
        n as u64 <= MAX_ARRAY_LEN,
        || uint_size(n as u64),
        |e| e.array_len(n),
        |d| d.array_len(),
    );
    let (size, bytes) = (usize::from(w.fixed.0 % 40), &w.fixed.1);
    check_range(
        "fixed",
        bytes.clone(),
        bytes.len() == size,
        || size,
        |e| e.fixed(bytes, size),
        |d| d.take(size, "fixed").map(<[u8]>::to_vec),
    );
}

/// Encodes `message` and checks the sizes, returning the bytes.
fn encode_checked(message: &Message) -> Vec<u8> {
    let bytes = message
        .to_bytes()
        .unwrap_or_else(|e| panic!("{message:?} does not encode: {e}"));
    assert_eq!(
        message.encoded_len(),
        bytes.len(),
        "encoded_len of {message:?}"
    );
    bytes
}

/// Decodes `bytes` as a message that must be `expected` and fill them exactly.
fn decode_exact(bytes: &[u8], expected: &Message) {
    let mut d = Decoder::new(bytes);
    let decoded = Message::decode(&mut d)
        .unwrap_or_else(|e| panic!("{expected:?} encoded as {bytes:02x?} does not decode: {e}"));
    assert_eq!(&decoded, expected, "round trip of {bytes:02x?}");
    assert!(d.is_empty(), "{} trailing bytes", d.remaining());
}

/// The untrusted-input half: whatever decodes, re-encodes to a canonical fixed point.
fn check_untrusted(data: &[u8]) {
    let Ok(message) = Message::from_bytes(data) else {
        return;
    };
    let bytes = encode_checked(&message);
    decode_exact(&bytes, &message);
    assert_eq!(encode_checked(&message), bytes);
}

/// The structured half: a valid message round-trips and no truncation of it decodes.
fn check_message(message: &Message, junk: &[u8]) {
    if message.depth() > MAX_NESTING {
        return;
    }
    let bytes = encode_checked(message);
    decode_exact(&bytes, message);

    let mut extended = bytes.clone();
    extended.extend_from_slice(junk);
    assert_eq!(
        Message::from_bytes(&extended).as_ref(),
        Ok(message),
        "trailing bytes changed the message"
    );

    for k in prefix_lengths(bytes.len()) {
        if let Ok(m) = Message::from_bytes(&bytes[..k]) {
            panic!(
                "strict prefix {:02x?} of {bytes:02x?} decodes as {m:?}",
                &bytes[..k]
            );
        }
    }
}

/// The `compact_roundtrip` fuzz target.
pub fn run(data: &[u8]) {
    check_untrusted(data);
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(data)) else {
        return;
    };
    check_wild(&input.wild);
    check_message(&input.message, &data[..data.len().min(9)]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        let inner = Message {
            fields: vec![
                Field::Uint(SafeUint(300)),
                Field::String("hyperswarm".into()),
                Field::Bitfield(Bits {
                    length: 12,
                    bits: 0xabc,
                }),
            ],
        };
        Message {
            fields: vec![
                Field::Int(SafeInt(-INT_LIMIT)),
                Field::U64(SafeUint(MAX_SAFE_INTEGER)),
                Field::UintBe(Sized {
                    width: 3,
                    value: 0xabcdef,
                }),
                Field::IntLe(SizedInt {
                    width: 8,
                    value: INT_LIMIT - 1,
                }),
                Field::F64(f64::NAN.to_bits() | 1),
                Field::OptionalBuffer(None),
                Field::IpAddress(Addr("[::1]:49737".parse().unwrap())),
                Field::Records(vec![Record {
                    key: [7; 32],
                    peer: "127.0.0.1:1".parse().unwrap(),
                    note: Some(NonEmpty(vec![0])),
                    flags: Flags7(0x7f),
                    seq: SafeUint(1 << 40),
                }]),
                Field::Matrix(vec![vec![], vec![SafeInt(-1), SafeInt(1000)]]),
                Field::Frame(inner.clone(), vec![1, 2, 3]),
                Field::Messages(vec![inner, Message { fields: vec![] }]),
            ],
        }
    }

    #[test]
    fn sample_round_trips() {
        let m = sample();
        check_message(&m, &[0xff, 0]);
        check_untrusted(&m.to_bytes().unwrap());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut m = Message { fields: vec![] };
        for _ in 0..=MAX_NESTING {
            m = Message {
                fields: vec![Field::Frame(m, vec![])],
            };
        }
        assert_eq!(m.depth(), MAX_NESTING + 1);
        assert_eq!(
            Message::from_bytes(&m.to_bytes().unwrap()),
            Err(DecodeError::Invalid("message nesting"))
        );
    }

    #[test]
    fn arbitrary_inputs() {
        for seed in 0..200u32 {
            let data: Vec<u8> = (0..seed * 3)
                .map(|i| (i.wrapping_mul(2_654_435_761) >> 13 ^ seed) as u8)
                .collect();
            run(&data);
        }
    }
}
