//! Known answers from the spec's table (recorded from the JS reference), round-trip
//! properties, and totality on arbitrary input.

use std::net::{IpAddr, SocketAddr, SocketAddrV4, SocketAddrV6};

use proptest::prelude::*;

use crate::*;

/// Runs the same writes through the size pass and the writing pass, checks that they
/// agree, and returns the written bytes.
macro_rules! enc {
    (|$e:ident| $body:expr) => {{
        let mut counter = Counter::new();
        {
            let $e = &mut counter;
            $body;
        }
        let mut encoder = Encoder::new();
        {
            let $e = &mut encoder;
            $body;
        }
        let out = encoder.finish();
        if let Ok(bytes) = &out {
            assert_eq!(bytes.len(), counter.len(), "size pass disagrees");
        }
        out
    }};
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[test]
fn uint_known_answers() {
    let table: &[(u64, &str)] = &[
        (0, "00"),
        (1, "01"),
        (252, "fc"),
        (253, "fdfd00"),
        (255, "fdff00"),
        (256, "fd0001"),
        (65535, "fdffff"),
        (65536, "fe00000100"),
        (0xffff_ffff, "feffffffff"),
        (0x1_0000_0000, "ff0000000001000000"),
        (MAX_SAFE_INTEGER, "ffffffffffffff1f00"),
    ];
    for &(n, h) in table {
        let bytes = enc!(|e| e.uint(n)).unwrap();
        assert_eq!(hex(&bytes), h, "encode {n}");
        assert_eq!(uint_len(n), bytes.len());
        assert_eq!(Decoder::new(&unhex(h)).uint(), Ok(n), "decode {h}");
    }
}

#[test]
fn uint_decode_edges() {
    assert_eq!(Decoder::new(&unhex("fd0500")).uint(), Ok(5));
    assert_eq!(Decoder::new(&unhex("fe00000000")).uint(), Ok(0));
    assert_eq!(
        Decoder::new(&unhex("ff0000000000002000")).uint(),
        Err(DecodeError::UintTooLarge("uint"))
    );
    for h in ["", "fd", "fd05", "fe000000", "ff00000000000000"] {
        assert_eq!(
            Decoder::new(&unhex(h)).uint(),
            Err(DecodeError::OutOfBounds("uint")),
            "{h}"
        );
    }
    assert_eq!(
        enc!(|e| e.uint(MAX_SAFE_INTEGER + 1)),
        Err(EncodeError::UintOutOfRange(MAX_SAFE_INTEGER + 1))
    );
}

#[test]
fn int_known_answers() {
    let table: &[(i64, &str)] = &[
        (0, "00"),
        (-1, "01"),
        (1, "02"),
        (-2, "03"),
        (2, "04"),
        (63, "7e"),
        (-64, "7f"),
        (64, "80"),
        (126, "fc"),
        (127, "fdfe00"),
        (-127, "fdfd00"),
        ((1 << 52) - 1, "fffeffffffffff1f00"),
        (-(1 << 52), "ffffffffffffff1f00"),
    ];
    for &(n, h) in table {
        assert_eq!(hex(&enc!(|e| e.int(n)).unwrap()), h, "encode {n}");
        assert_eq!(Decoder::new(&unhex(h)).int(), Ok(n), "decode {h}");
    }
    assert!(enc!(|e| e.int(1 << 52)).is_err());
    assert!(enc!(|e| e.int(-(1 << 52) - 1)).is_err());
}

#[test]
fn fixed_width_known_answers() {
    assert_eq!(hex(&enc!(|e| e.u24(0x123456)).unwrap()), "563412");
    assert_eq!(hex(&enc!(|e| e.u32(0x12345678)).unwrap()), "78563412");
    assert_eq!(
        hex(&enc!(|e| e.u64(0x1234_5678_9abc)).unwrap()),
        "bc9a785634120000"
    );
    assert_eq!(
        hex(&enc!(|e| e.uint_be(0x12345678, 4)).unwrap()),
        "12345678"
    );
    assert_eq!(Decoder::new(&unhex("563412")).u24(), Ok(0x123456));
    assert_eq!(Decoder::new(&unhex("12345678")).uint_be(4), Ok(0x12345678));
    assert!(Decoder::new(&unhex("5634")).u24().is_err());
    assert!(enc!(|e| e.u24(1 << 24)).is_err());
    assert!(enc!(|e| e.uint_le(1 << 40, 5)).is_err());
}

#[test]
fn byte_strings_and_text() {
    assert_eq!(hex(&enc!(|e| e.buffer(b"abc")).unwrap()), "03616263");
    assert_eq!(hex(&enc!(|e| e.buffer(b"")).unwrap()), "00");
    assert_eq!(hex(&enc!(|e| e.optional_buffer(None)).unwrap()), "00");
    assert_eq!(hex(&enc!(|e| e.string("héllo")).unwrap()), "0668c3a96c6c6f");
    assert_eq!(Decoder::new(&unhex("00")).optional_buffer(), Ok(None));
    assert_eq!(Decoder::new(&unhex("00")).buffer(), Ok(&b""[..]));
    assert_eq!(
        Decoder::new(&unhex("03aabb")).buffer(),
        Err(DecodeError::OutOfBounds("buffer"))
    );
    assert_eq!(
        Decoder::new(&unhex("02ff41")).string().unwrap(),
        "\u{fffd}A"
    );
    assert_eq!(
        Decoder::new(&unhex("03e080af")).string().unwrap(),
        "\u{fffd}\u{fffd}\u{fffd}"
    );
    assert_eq!(
        enc!(|e| e.fixed(&[0; 31], 32)),
        Err(EncodeError::FixedSize {
            expected: 32,
            actual: 31
        })
    );
    assert!(Decoder::new(&[0; 31]).fixed::<32>().is_err());
}

#[test]
fn bool_array_frame() {
    for (h, b) in [("00", false), ("01", true), ("02", false), ("ff", false)] {
        assert_eq!(Decoder::new(&unhex(h)).bool(), Ok(b));
    }
    assert!(Decoder::new(&[]).bool().is_err());
    let bytes = enc!(|e| e.array(&[1u64, 300], |e, &n| e.uint(n))).unwrap();
    assert_eq!(hex(&bytes), "0201fd2c01");
    assert_eq!(Decoder::new(&bytes).array(|d| d.uint()), Ok(vec![1, 300]));
    assert_eq!(
        Decoder::new(&unhex("fe01001000")).array(|d| d.uint()),
        Err(DecodeError::ArrayTooBig(0x100001))
    );
    // A count at the limit is accepted, then fails on the missing elements.
    assert_eq!(
        Decoder::new(&unhex("fe00001000")).array(|d| d.uint()),
        Err(DecodeError::OutOfBounds("uint"))
    );
    let framed = unhex("03026162ff");
    let mut d = Decoder::new(&framed);
    assert_eq!(d.frame(|d| d.string()).unwrap(), "ab");
    assert_eq!(d.rest(), &[0xff]);
    assert!(Decoder::new(&unhex("0502")).frame(|d| d.uint()).is_err());
}

#[test]
fn addresses_known_answers() {
    let v4: SocketAddrV4 = "1.2.3.4:4660".parse().unwrap();
    assert_eq!(hex(&enc!(|e| e.ipv4_address(v4)).unwrap()), "010203043412");
    let v6: SocketAddrV6 = "[::1]:443".parse().unwrap();
    assert_eq!(
        hex(&enc!(|e| e.ipv6_address(v6)).unwrap()),
        "00000000000000000000000000000001bb01"
    );
    let any: SocketAddr = "1.2.3.4:80".parse().unwrap();
    assert_eq!(hex(&enc!(|e| e.ip_address(any)).unwrap()), "04010203045000");
    let any6: SocketAddr = "[::1]:80".parse().unwrap();
    assert_eq!(
        hex(&enc!(|e| e.ip_address(any6)).unwrap()),
        "06000000000000000000000000000000015000"
    );
    // Any family byte other than 4 reads as IPv6.
    let mut bytes = unhex("05");
    bytes.extend_from_slice(&[0; 15]);
    bytes.push(1);
    assert_eq!(
        Decoder::new(&bytes).ip(),
        Ok(IpAddr::V6("::1".parse().unwrap()))
    );
    assert!(Decoder::new(&unhex("7f000001")).ipv4_address().is_err());
}

#[test]
fn bitfield_known_answers() {
    let mut e = Encoder::new();
    encode_bitfield(&mut e, 5, 7);
    assert_eq!(hex(&e.finish().unwrap()), "05");
    let mut e = Encoder::new();
    encode_bitfield(&mut e, 0x1ff, 16);
    let bytes = e.finish().unwrap();
    assert_eq!(hex(&bytes), "fdff01");
    assert_eq!(Decoder::new(&bytes).bitfield(16), Ok(0x1ff));
    // A declared length of 8 bits or fewer keeps the lowest byte only.
    assert_eq!(Decoder::new(&bytes).bitfield(8), Ok(0xff));
    let mut e = Encoder::new();
    encode_bitfield(&mut e, 0x80, 7);
    assert_eq!(e.finish(), Err(EncodeError::Bitfield(7)));
}

/// A message made of every primitive, to check that the size pass and the writing pass
/// agree and that decoding inverts encoding.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    a: u64,
    b: i64,
    c: u16,
    d: u32,
    e: u64,
    f: f64,
    g: bool,
    h: Vec<u8>,
    i: Option<Vec<u8>>,
    j: String,
    k: [u8; 32],
    l: Vec<SocketAddr>,
    m: SocketAddrV4,
    n: u64,
}

impl Encode for Sample {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(self.a);
        s.int(self.b);
        s.u16(self.c);
        s.u24(self.d);
        s.uint_le(self.e, 6);
        s.f64(self.f);
        s.bool(self.g);
        s.buffer(&self.h);
        s.optional_buffer(self.i.as_deref());
        s.string(&self.j);
        s.fixed(&self.k, 32);
        s.array(&self.l, |s, a| s.ip_address(*a));
        s.ipv4_address(self.m);
        s.uint_be(self.n, 8);
    }
}

impl<'a> Decode<'a> for Sample {
    fn decode(d: &mut Decoder<'a>) -> Result<Self, DecodeError> {
        Ok(Self {
            a: d.uint()?,
            b: d.int()?,
            c: d.u16()?,
            d: d.u24()?,
            e: d.uint_le(6)?,
            f: d.f64()?,
            g: d.bool()?,
            h: d.buffer()?.to_vec(),
            i: d.optional_buffer()?.map(<[u8]>::to_vec),
            j: d.string()?.into_owned(),
            k: d.fixed()?,
            l: d.array(|d| d.ip_address())?,
            m: d.ipv4_address()?,
            n: d.uint_be(8)?,
        })
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::from((ip, p))),
    ]
}

fn sample() -> impl Strategy<Value = Sample> {
    (
        (
            0..=MAX_SAFE_INTEGER,
            -(1i64 << 52)..(1i64 << 52),
            any::<u16>(),
            0u32..(1 << 24),
            0u64..(1 << 48),
            any::<f64>().prop_filter("NaN never compares equal", |f| !f.is_nan()),
            any::<bool>(),
        ),
        (
            proptest::collection::vec(any::<u8>(), 0..300),
            proptest::option::of(proptest::collection::vec(any::<u8>(), 1..40)),
            ".{0,40}",
            any::<[u8; 32]>(),
            proptest::collection::vec(socket_addr(), 0..5),
            (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddrV4::new(ip.into(), p)),
            0..=MAX_SAFE_INTEGER,
        ),
    )
        .prop_map(|((a, b, c, d, e, f, g), (h, i, j, k, l, m, n))| Sample {
            a,
            b,
            c,
            d,
            e,
            f,
            g,
            h,
            i,
            j,
            k,
            l,
            m,
            n,
        })
}

proptest! {
    #[test]
    fn sample_round_trips(s in sample(), trailing in proptest::collection::vec(any::<u8>(), 0..8)) {
        let mut bytes = s.to_bytes().unwrap();
        prop_assert_eq!(bytes.len(), s.encoded_len());
        bytes.extend_from_slice(&trailing);
        prop_assert_eq!(Sample::from_bytes(&bytes).unwrap(), s);
    }

    #[test]
    fn uint_round_trips(n in 0..=MAX_SAFE_INTEGER) {
        let bytes = enc!(|e| e.uint(n)).unwrap();
        prop_assert_eq!(bytes.len(), uint_len(n));
        prop_assert_eq!(Decoder::new(&bytes).uint(), Ok(n));
    }

    #[test]
    fn int_round_trips(n in -(1i64 << 52)..(1i64 << 52)) {
        let bytes = enc!(|e| e.int(n)).unwrap();
        prop_assert_eq!(Decoder::new(&bytes).int(), Ok(n));
    }

    #[test]
    fn bitfield_round_trips(length in 0u32..=64, raw in any::<u64>()) {
        let bits = if length == 64 { raw } else { raw & ((1u64 << length) - 1) };
        let mut e = Encoder::new();
        encode_bitfield(&mut e, bits, length);
        let bytes = e.finish().unwrap();
        prop_assert_eq!(bytes.len(), match bitfield_width(length).unwrap() { 1 => 1, w => w + 1 });
        prop_assert_eq!(Decoder::new(&bytes).bitfield(length), Ok(bits));
    }

    /// Every decoder is total: arbitrary input gives a value or an error, and a value never
    /// claims more bytes than the input had.
    #[test]
    fn decoders_are_total(bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Sample::from_bytes(&bytes);
        let mut d = Decoder::new(&bytes);
        while !d.is_empty() {
            let before = d.remaining();
            let step = match before % 7 {
                0 => d.uint().map(drop),
                1 => d.buffer().map(drop),
                2 => d.array(|d| d.ip_address()).map(drop),
                3 => d.frame(|d| d.string().map(drop)),
                4 => d.bitfield(16).map(drop),
                5 => d.int_le(7).map(drop),
                _ => d.ip().map(drop),
            };
            if step.is_err() { break; }
            prop_assert!(d.remaining() < before);
        }
    }
}
