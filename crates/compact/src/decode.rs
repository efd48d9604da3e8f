//! The decoding cursor.
//!
//! Every method reads only inside the input slice and reports a [`DecodeError`] otherwise;
//! no method panics, and no length prefix or count makes a method reserve more memory
//! than the remaining input's size (prefixes are checked against the remaining bytes
//! before anything is taken or reserved).

use std::borrow::Cow;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::DecodeError;
use crate::{MAX_ARRAY_LEN, MAX_SAFE_INTEGER};

/// A cursor over a borrowed input, mirroring the `{ start, end, buffer }` state of the JS
/// codecs. Byte strings are returned as borrows of the input.
#[derive(Debug, Clone)]
pub struct Decoder<'a> {
    buf: &'a [u8],
    pos: usize,
}

/// Something that can be read from a [`Decoder`].
pub trait Decode<'a>: Sized {
    /// Reads one value at the cursor.
    fn decode(d: &mut Decoder<'a>) -> Result<Self, DecodeError>;

    /// Decodes one value from the start of `bytes`. Like the JS `c.decode`, bytes after the
    /// value are ignored: newer peers append fields that older ones skip.
    fn from_bytes(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        Self::decode(&mut Decoder::new(bytes))
    }
}

fn le_u64(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn be_u64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

fn safe(value: u64, what: &'static str) -> Result<u64, DecodeError> {
    if value > MAX_SAFE_INTEGER {
        Err(DecodeError::UintTooLarge(what))
    } else {
        Ok(value)
    }
}

/// Undoes the zig-zag mapping of the JS `int` codecs.
pub(crate) fn unzigzag(z: u64) -> i64 {
    // z <= 2^64-1; the shift leaves at most 63 bits, so the cast is lossless.
    let half = (z >> 1) as i64;
    if z & 1 == 0 { half } else { -half - 1 }
}

impl<'a> Decoder<'a> {
    /// A decoder positioned at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Whether every byte has been read.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The unread bytes, without consuming them.
    pub fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }

    /// Takes the next `n` bytes.
    pub fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(DecodeError::OutOfBounds(what));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Takes exactly `N` bytes as an array.
    pub fn array_of<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, what)?);
        Ok(out)
    }

    /// A sub-decoder over the next `n` bytes, which this decoder skips.
    pub fn sub(&mut self, n: usize, what: &'static str) -> Result<Self, DecodeError> {
        Ok(Self::new(self.take(n, what)?))
    }

    // ---- integers ------------------------------------------------------------------

    /// The compact variable-length `uint` (1, 3, 5 or 9 bytes). Non-minimal forms are
    /// accepted as the reference does; values above 2^53 - 1 are rejected.
    pub fn uint(&mut self) -> Result<u64, DecodeError> {
        const WHAT: &str = "uint";
        let first = self.take(1, WHAT)?[0];
        match first {
            0..=0xfc => Ok(u64::from(first)),
            0xfd => Ok(le_u64(self.take(2, WHAT)?)),
            0xfe => Ok(le_u64(self.take(4, WHAT)?)),
            0xff => safe(le_u64(self.take(8, WHAT)?), WHAT),
        }
    }

    /// A `uint` that must fit a `usize` (lengths and counts).
    pub fn uint_usize(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(self.uint()?).map_err(|_| DecodeError::Invalid("length"))
    }

    /// The zig-zag `int` (the `uint` of the zig-zag mapping).
    pub fn int(&mut self) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.uint()?))
    }

    /// `uint8`.
    pub fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1, "uint8")?[0])
    }

    /// `uint16`, little endian.
    pub fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array_of("uint16")?))
    }

    /// `uint24`, little endian.
    pub fn u24(&mut self) -> Result<u32, DecodeError> {
        Ok(le_u64(self.take(3, "uint24")?) as u32)
    }

    /// `uint32`, little endian.
    pub fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array_of("uint32")?))
    }

    /// `uint40`, `uint48`, `uint56` or `uint64` (little endian, `width` bytes), rejecting
    /// values above 2^53 - 1 as the reference does.
    pub fn uint_le(&mut self, width: usize) -> Result<u64, DecodeError> {
        let what = width_name(width, false);
        if !(1..=8).contains(&width) {
            return Err(DecodeError::Invalid(what));
        }
        safe(le_u64(self.take(width, what)?), what)
    }

    /// `uint64`, little endian (at most 2^53 - 1).
    pub fn u64(&mut self) -> Result<u64, DecodeError> {
        self.uint_le(8)
    }

    /// A big-endian unsigned integer of `width` bytes (`uint16be` .. `uint64be`),
    /// rejecting values above 2^53 - 1.
    pub fn uint_be(&mut self, width: usize) -> Result<u64, DecodeError> {
        let what = width_name(width, true);
        if !(1..=8).contains(&width) {
            return Err(DecodeError::Invalid(what));
        }
        safe(be_u64(self.take(width, what)?), what)
    }

    /// A zig-zag signed integer stored as a little-endian unsigned of `width` bytes
    /// (`int8` .. `int64`).
    pub fn int_le(&mut self, width: usize) -> Result<i64, DecodeError> {
        Ok(unzigzag(self.uint_le(width)?))
    }

    /// `float32`, little endian.
    pub fn f32(&mut self) -> Result<f32, DecodeError> {
        Ok(f32::from_le_bytes(self.array_of("float32")?))
    }

    /// `float64`, little endian.
    pub fn f64(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.array_of("float64")?))
    }

    /// `bool`: `01` is true and every other byte false, as in the reference.
    pub fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.take(1, "bool")?[0] == 1)
    }

    // ---- byte strings ----------------------------------------------------------------

    /// `buffer`: a `uint` length then that many bytes. A zero length is an empty slice.
    pub fn buffer(&mut self) -> Result<&'a [u8], DecodeError> {
        let len = self.uint()?;
        if len > self.remaining() as u64 {
            return Err(DecodeError::OutOfBounds("buffer"));
        }
        self.take(len as usize, "buffer")
    }

    /// `optionalBuffer`: like [`buffer`](Self::buffer) but a zero length is `None`.
    pub fn optional_buffer(&mut self) -> Result<Option<&'a [u8]>, DecodeError> {
        let bytes = self.buffer()?;
        Ok(if bytes.is_empty() { None } else { Some(bytes) })
    }

    /// `string` / `utf8`: a length-prefixed UTF-8 string. Invalid sequences become U+FFFD
    /// exactly as Node's decoder replaces them.
    pub fn string(&mut self) -> Result<Cow<'a, str>, DecodeError> {
        Ok(String::from_utf8_lossy(self.buffer()?))
    }

    /// `fixed(N)`: exactly `N` bytes, no prefix (`fixed32` for keys, `fixed64` for
    /// signatures).
    pub fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.array_of("fixed")
    }

    /// `raw`: everything that is left.
    pub fn raw(&mut self) -> &'a [u8] {
        let out = self.rest();
        self.pos = self.buf.len();
        out
    }

    // ---- containers ------------------------------------------------------------------

    /// The count of an `array`, rejecting counts above [`MAX_ARRAY_LEN`] before any element
    /// is read.
    pub fn array_len(&mut self) -> Result<usize, DecodeError> {
        let n = self.uint()?;
        if n > MAX_ARRAY_LEN {
            return Err(DecodeError::ArrayTooBig(n));
        }
        Ok(n as usize)
    }

    /// `array(enc)`: a count then the elements, each read by `element`. The memory reserved
    /// up front is at most the size of the remaining input, whatever count is claimed;
    /// beyond that the vector grows only as elements are actually decoded.
    pub fn array<T>(
        &mut self,
        mut element: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.array_len()?;
        let fits = self.remaining() / size_of::<T>().max(1);
        let mut out = Vec::with_capacity(n.min(fits));
        for _ in 0..n {
            out.push(element(self)?);
        }
        Ok(out)
    }

    /// `frame(enc)`: a `uint` length, then `inner` runs on exactly that region; bytes it
    /// leaves inside the region are skipped.
    pub fn frame<T>(
        &mut self,
        inner: impl FnOnce(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<T, DecodeError> {
        let len = self.uint()?;
        if len > self.remaining() as u64 {
            return Err(DecodeError::OutOfBounds("frame"));
        }
        let mut region = self.sub(len as usize, "frame")?;
        inner(&mut region)
    }

    // ---- addresses -------------------------------------------------------------------

    /// `ipv4`: four bytes in network order.
    pub fn ipv4(&mut self) -> Result<Ipv4Addr, DecodeError> {
        Ok(Ipv4Addr::from(self.array_of::<4>("ipv4")?))
    }

    /// `ipv4Address`: `ipv4` then a little-endian `uint16` port (6 bytes).
    pub fn ipv4_address(&mut self) -> Result<SocketAddrV4, DecodeError> {
        let ip = self.ipv4()?;
        Ok(SocketAddrV4::new(ip, self.u16()?))
    }

    /// `ipv6`: sixteen bytes, eight big-endian groups.
    pub fn ipv6(&mut self) -> Result<Ipv6Addr, DecodeError> {
        Ok(Ipv6Addr::from(self.array_of::<16>("ipv6")?))
    }

    /// `ipv6Address`: `ipv6` then a little-endian `uint16` port (18 bytes).
    pub fn ipv6_address(&mut self) -> Result<SocketAddrV6, DecodeError> {
        let ip = self.ipv6()?;
        Ok(SocketAddrV6::new(ip, self.u16()?, 0, 0))
    }

    /// `ip`: a family byte then the address; the reference reads any family other than 4
    /// as IPv6.
    pub fn ip(&mut self) -> Result<IpAddr, DecodeError> {
        Ok(match self.u8()? {
            4 => IpAddr::V4(self.ipv4()?),
            _ => IpAddr::V6(self.ipv6()?),
        })
    }

    /// `ipAddress`: `ip` then a little-endian `uint16` port.
    pub fn ip_address(&mut self) -> Result<SocketAddr, DecodeError> {
        let ip = self.ip()?;
        Ok(SocketAddr::new(ip, self.u16()?))
    }
}

fn width_name(width: usize, be: bool) -> &'static str {
    match (width, be) {
        (1, _) => "uint8",
        (2, false) => "uint16",
        (3, false) => "uint24",
        (4, false) => "uint32",
        (5, false) => "uint40",
        (6, false) => "uint48",
        (7, false) => "uint56",
        (8, false) => "uint64",
        (2, true) => "uint16be",
        (3, true) => "uint24be",
        (4, true) => "uint32be",
        (5, true) => "uint40be",
        (6, true) => "uint48be",
        (7, true) => "uint56be",
        (8, true) => "uint64be",
        _ => "fixed-width integer",
    }
}
