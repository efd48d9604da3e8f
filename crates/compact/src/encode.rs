//! Encoding: one [`Sink`] interface with two implementations, [`Counter`] (the JS
//! `preencode`: only adds up sizes) and [`Encoder`] (writes into a buffer sized from the
//! count), so a message codec is written once and serves both passes.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::EncodeError;
use crate::{MAX_ARRAY_LEN, MAX_SAFE_INTEGER};

/// The largest magnitude the JS `int` codec accepts (2^52).
const INT_LIMIT: i64 = 1 << 52;

/// Applies the zig-zag mapping of the JS `int` codecs (0, -1, 1, -2, ... → 0, 1, 2, 3, ...).
pub(crate) fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

/// The number of bytes the compact `uint` form of `n` takes.
pub fn uint_len(n: u64) -> usize {
    match n {
        0..=0xfc => 1,
        0xfd..=0xffff => 3,
        0x1_0000..=0xffff_ffff => 5,
        _ => 9,
    }
}

/// A destination for encoded bytes. The provided methods are the compact-encoding
/// primitives; implementors supply only [`put`](Self::put) and [`fail`](Self::fail).
///
/// Invalid values (an integer out of the JS range, a fixed field of the wrong size) do not
/// stop the pass: the first failure is recorded and reported when the bytes are taken out
/// (see [`Encoder::finish`]), which keeps message codecs free of `?` on every field.
pub trait Sink {
    /// Appends raw bytes.
    fn put(&mut self, bytes: &[u8]);

    /// Records that the value being encoded cannot be represented.
    fn fail(&mut self, error: EncodeError);

    /// Compact variable-length `uint`; values above 2^53 - 1 fail.
    fn uint(&mut self, n: u64) {
        if n > MAX_SAFE_INTEGER {
            self.fail(EncodeError::UintOutOfRange(n));
        }
        let le = n.to_le_bytes();
        match uint_len(n) {
            1 => self.put(&le[..1]),
            3 => {
                self.put(&[0xfd]);
                self.put(&le[..2]);
            }
            5 => {
                self.put(&[0xfe]);
                self.put(&le[..4]);
            }
            _ => {
                self.put(&[0xff]);
                self.put(&le);
            }
        }
    }

    /// A `usize` as a compact `uint` (lengths and counts).
    fn uint_usize(&mut self, n: usize) {
        self.uint(n as u64);
    }

    /// Zig-zag `int`; values outside -2^52 ..= 2^52 - 1 fail.
    fn int(&mut self, n: i64) {
        if !(-INT_LIMIT..INT_LIMIT).contains(&n) {
            self.fail(EncodeError::IntOutOfRange(n));
        }
        self.uint(zigzag(n) & MAX_SAFE_INTEGER);
    }

    /// `uint8`.
    fn u8(&mut self, n: u8) {
        self.put(&[n]);
    }

    /// `uint16`, little endian.
    fn u16(&mut self, n: u16) {
        self.put(&n.to_le_bytes());
    }

    /// `uint24`, little endian; values above 2^24 - 1 fail.
    fn u24(&mut self, n: u32) {
        if n > 0xff_ffff {
            self.fail(EncodeError::Width {
                value: u64::from(n),
                bytes: 3,
            });
        }
        self.put(&n.to_le_bytes()[..3]);
    }

    /// `uint32`, little endian.
    fn u32(&mut self, n: u32) {
        self.put(&n.to_le_bytes());
    }

    /// `uint40` .. `uint64`: little endian in `width` bytes; values that do not fit, or
    /// above 2^53 - 1, fail.
    fn uint_le(&mut self, n: u64, width: usize) {
        check_width(self, n, width);
        self.put(&n.to_le_bytes()[..width.min(8)]);
    }

    /// `uint64`, little endian (at most 2^53 - 1).
    fn u64(&mut self, n: u64) {
        self.uint_le(n, 8);
    }

    /// `uint16be` .. `uint64be`: big endian in `width` bytes.
    fn uint_be(&mut self, n: u64, width: usize) {
        check_width(self, n, width);
        let w = width.min(8);
        self.put(&n.to_be_bytes()[8 - w..]);
    }

    /// `int8` .. `int64`: zig-zag, then little endian in `width` bytes.
    fn int_le(&mut self, n: i64, width: usize) {
        if !(-INT_LIMIT..INT_LIMIT).contains(&n) {
            self.fail(EncodeError::IntOutOfRange(n));
        }
        self.uint_le(zigzag(n), width);
    }

    /// `float32`, little endian.
    fn f32(&mut self, x: f32) {
        self.put(&x.to_le_bytes());
    }

    /// `float64`, little endian.
    fn f64(&mut self, x: f64) {
        self.put(&x.to_le_bytes());
    }

    /// `bool` as `01` / `00`.
    fn bool(&mut self, b: bool) {
        self.put(&[u8::from(b)]);
    }

    /// `buffer`: `uint` length then the bytes.
    fn buffer(&mut self, bytes: &[u8]) {
        self.uint_usize(bytes.len());
        self.put(bytes);
    }

    /// `optionalBuffer`: `None` (and an empty buffer) is a single `00`.
    fn optional_buffer(&mut self, bytes: Option<&[u8]>) {
        self.buffer(bytes.unwrap_or_default());
    }

    /// `string` / `utf8`: `uint` byte length then the UTF-8 bytes.
    fn string(&mut self, s: &str) {
        self.buffer(s.as_bytes());
    }

    /// `fixed(n)`: exactly `n` bytes, no prefix; a value of another length fails.
    fn fixed(&mut self, bytes: &[u8], n: usize) {
        if bytes.len() != n {
            self.fail(EncodeError::FixedSize {
                expected: n,
                actual: bytes.len(),
            });
        }
        self.put(bytes);
    }

    /// `raw`: the bytes as they are (only valid as the last field).
    fn raw(&mut self, bytes: &[u8]) {
        self.put(bytes);
    }

    /// The count of an `array`; counts above [`MAX_ARRAY_LEN`] fail.
    fn array_len(&mut self, n: usize) {
        if n as u64 > MAX_ARRAY_LEN {
            self.fail(EncodeError::ArrayTooBig(n));
        }
        self.uint_usize(n);
    }

    /// `array(enc)`: the count, then each element written by `element`.
    fn array<T>(&mut self, items: &[T], mut element: impl FnMut(&mut Self, &T))
    where
        Self: Sized,
    {
        self.array_len(items.len());
        for item in items {
            element(self, item);
        }
    }

    /// `ipv4`: four bytes in network order.
    fn ipv4(&mut self, ip: Ipv4Addr) {
        self.put(&ip.octets());
    }

    /// `ipv4Address`: `ipv4` then the port as little-endian `uint16`.
    fn ipv4_address(&mut self, addr: SocketAddrV4) {
        self.ipv4(*addr.ip());
        self.u16(addr.port());
    }

    /// `ipv6`: sixteen bytes, eight big-endian groups.
    fn ipv6(&mut self, ip: Ipv6Addr) {
        self.put(&ip.octets());
    }

    /// `ipv6Address`: `ipv6` then the port as little-endian `uint16`.
    fn ipv6_address(&mut self, addr: SocketAddrV6) {
        self.ipv6(*addr.ip());
        self.u16(addr.port());
    }

    /// `ip`: family byte (4 or 6) then the address.
    fn ip(&mut self, ip: IpAddr) {
        match ip {
            IpAddr::V4(v4) => {
                self.u8(4);
                self.ipv4(v4);
            }
            IpAddr::V6(v6) => {
                self.u8(6);
                self.ipv6(v6);
            }
        }
    }

    /// `ipAddress`: `ip` then the port as little-endian `uint16`.
    fn ip_address(&mut self, addr: SocketAddr) {
        self.ip(addr.ip());
        self.u16(addr.port());
    }
}

fn check_width<S: Sink + ?Sized>(s: &mut S, n: u64, width: usize) {
    let fits = match width {
        1..=7 => n >> (8 * width) == 0,
        8 => true,
        _ => false,
    };
    if !fits {
        s.fail(EncodeError::Width {
            value: n,
            bytes: width,
        });
    } else if n > MAX_SAFE_INTEGER {
        s.fail(EncodeError::UintOutOfRange(n));
    }
}

/// The JS `preencode` pass: counts bytes, writes nothing.
#[derive(Debug, Default, Clone, Copy)]
pub struct Counter {
    len: usize,
}

impl Counter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes counted so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing has been counted.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Sink for Counter {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.len += bytes.len();
    }

    #[inline]
    fn fail(&mut self, _error: EncodeError) {}
}

/// Writes into a `Vec<u8>` and keeps the first failure.
#[derive(Debug, Default, Clone)]
pub struct Encoder {
    buf: Vec<u8>,
    error: Option<EncodeError>,
}

impl Encoder {
    /// An empty encoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// An encoder with room for `capacity` bytes (the result of a [`Counter`] pass).
    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            buf: Vec::with_capacity(capacity),
            error: None,
        }
    }

    /// Appends to an existing buffer, for reusing allocations.
    pub fn from_vec(buf: Vec<u8>) -> Self {
        Self { buf, error: None }
    }

    /// The bytes, or the first value that could not be encoded.
    pub fn finish(self) -> Result<Vec<u8>, EncodeError> {
        match self.error {
            Some(e) => Err(e),
            None => Ok(self.buf),
        }
    }
}

impl Sink for Encoder {
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn fail(&mut self, error: EncodeError) {
        self.error.get_or_insert(error);
    }
}

/// A value with a compact encoding. Implement [`encode`](Self::encode) once; the size pass
/// and the allocation come for free.
pub trait Encode {
    /// Writes the value into `sink`.
    fn encode<S: Sink>(&self, sink: &mut S);

    /// The exact encoded size (the JS `preencode`).
    fn encoded_len(&self) -> usize {
        let mut c = Counter::new();
        self.encode(&mut c);
        c.len()
    }

    /// Encodes into a buffer allocated once at the exact size.
    fn to_bytes(&self) -> Result<Vec<u8>, EncodeError> {
        let mut e = Encoder::with_capacity(self.encoded_len());
        self.encode(&mut e);
        e.finish()
    }
}
