//! Known-answer tests from `shared/spec/udx.md` §3–4, §8.6, §9, §15, round trips and
//! malformed-input sweeps.

use proptest::prelude::*;

use super::*;
use crate::{DecodeError, EmitError};

const RWND: u32 = 4_194_304;

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '|')
        .collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn packet(bytes: &[u8]) -> Packet<&[u8]> {
    match classify(bytes) {
        Datagram::Udx(p) => p,
        Datagram::Other(_) => panic!("not classified as UDX: {bytes:02x?}"),
    }
}

/// Checks the header fields of `hex`, that its body parses to `sacks` and `payload`, and
/// that the parsed form re-emits the same bytes (through both emitters).
#[allow(clippy::too_many_arguments)]
fn known_answer(
    hex: &str,
    ty: PacketType,
    doff: u8,
    id: u32,
    seq: u32,
    ack: u32,
    sacks: &[SackBlock],
    payload: &[u8],
) {
    let bytes = unhex(hex);
    let p = packet(&bytes);
    let header = Header::parse(&p).unwrap();
    assert_eq!(
        header,
        Header {
            packet_type: ty,
            data_offset: doff,
            id,
            rwnd: RWND,
            seq,
            ack,
        },
        "{hex}"
    );
    assert_eq!(header.to_bytes()[..], bytes[..HEADER_LEN]);
    let repr = Repr::parse(&p).unwrap();
    assert_eq!(repr.sacks, SackList::from_blocks(sacks), "{hex}");
    assert_eq!(repr.payload, payload, "{hex}");
    assert_eq!(p.sack_blocks(), SackList::from_blocks(sacks));
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out), Ok(bytes.len()));
    assert_eq!(out, bytes, "{hex}");
    let mut v = Vec::new();
    assert_eq!(repr.emit_to_vec(&mut v), Ok(bytes.len()));
    assert_eq!(v, bytes);
}

#[test]
fn u1_data_hello() {
    known_answer(
        "ff 01 01 00 | 02000000 | 00004000 | 00000000 | 00000000 | 68656c6c6f",
        PacketType::DATA,
        0,
        2,
        0,
        0,
        &[],
        b"hello",
    );
}

#[test]
fn u2_ack_and_message() {
    known_answer(
        "ff01000001000000000040000000000001000000",
        PacketType::ACK,
        0,
        1,
        0,
        1,
        &[],
        &[],
    );
    known_answer(
        "ff010800020000000000400001000000000000006d7367",
        PacketType::MESSAGE,
        0,
        2,
        1,
        0,
        &[],
        b"msg",
    );
}

#[test]
fn u3_sack() {
    let hex = "ff010400010000000000400000000000030000000500000008000000";
    known_answer(
        hex,
        PacketType::SACK,
        0,
        1,
        0,
        3,
        &[SackBlock { start: 5, end: 8 }],
        &[],
    );
    // The reference's payload view of a doff-0 SACK packet is the SACK area itself.
    let bytes = unhex(hex);
    assert_eq!(packet(&bytes).payload().unwrap(), &bytes[HEADER_LEN..]);
}

#[test]
fn u4_end_and_close() {
    let cases = [
        (
            "ff01020002000000000040000400000000000000",
            PacketType::END,
            2,
            4,
            0,
        ),
        (
            "ff01000001000000000040000000000005000000",
            PacketType::ACK,
            1,
            0,
            5,
        ),
        (
            "ff01000002000000000040000500000000000000",
            PacketType::ACK,
            2,
            5,
            0,
        ),
        (
            "ff01020001000000000040000000000005000000",
            PacketType::END,
            1,
            0,
            5,
        ),
        (
            "ff01000002000000000040000500000001000000",
            PacketType::ACK,
            2,
            5,
            1,
        ),
    ];
    for (hex, ty, id, seq, ack) in cases {
        known_answer(hex, ty, 0, id, seq, ack, &[], &[]);
    }
}

#[test]
fn u5_heartbeat_and_destroy() {
    known_answer(
        "ff01200002000000000040000100000000000000",
        PacketType::HEARTBEAT,
        0,
        2,
        1,
        0,
        &[],
        &[],
    );
    known_answer(
        "ff01100002000000000040000100000000000000",
        PacketType::DESTROY,
        0,
        2,
        1,
        0,
        &[],
        &[],
    );
}

#[test]
fn u6_mtu_probe_padding_is_skipped() {
    let mut bytes = unhex("ff 01 01 20 02000000 00004000 12000000 00000000");
    bytes.extend_from_slice(&[0; 32]);
    let data: Vec<u8> = (0..1152u32).map(|i| i as u8).collect();
    bytes.extend_from_slice(&data);
    assert_eq!(bytes.len(), 1204);
    let p = packet(&bytes);
    assert_eq!(p.data_offset(), 32);
    assert_eq!(p.seq(), 0x12);
    assert_eq!(p.payload().unwrap(), &data[..]);
    let repr = Repr::parse(&p).unwrap();
    assert_eq!((repr.padding, repr.payload), (32, &data[..]));
    let mut out = [0u8; 2048];
    assert_eq!(repr.emit(&mut out), Ok(1204));
    assert_eq!(out[..1204], bytes[..]);
}

#[test]
fn data_with_end() {
    let ty = PacketType::DATA | PacketType::END;
    assert_eq!(ty.bits(), 0x03);
    known_answer(
        "ff01030002000000000040000700000003000000 6c617374",
        ty,
        0,
        2,
        7,
        3,
        &[],
        b"last",
    );
}

#[test]
fn type_flag_values() {
    let flags = [
        (PacketType::DATA, 0x01, "DATA"),
        (PacketType::END, 0x02, "END"),
        (PacketType::SACK, 0x04, "SACK"),
        (PacketType::MESSAGE, 0x08, "MESSAGE"),
        (PacketType::DESTROY, 0x10, "DESTROY"),
        (PacketType::HEARTBEAT, 0x20, "HEARTBEAT"),
    ];
    for (flag, bits, name) in flags {
        assert_eq!(flag.bits(), bits);
        assert_eq!(flag.names().collect::<Vec<_>>(), [name]);
    }
    assert!(PacketType::ACK.is_empty());
    assert_eq!(PacketType::ACK.names().count(), 0);
    let t = PacketType::from_bits_retain(0xc5);
    assert_eq!(t.unknown(), 0xc0);
    assert!(t.contains(PacketType::DATA | PacketType::SACK));
    assert!(!t.intersects(PacketType::END));
    assert_eq!(format!("{t:?}"), "PacketType(DATA | SACK | 0xc0)");
    assert_eq!(format!("{:?}", PacketType::ACK), "PacketType(ACK)");
}

#[test]
fn header_constants() {
    assert_eq!((MAGIC, VERSION, HEADER_LEN), (0xff, 1, 20));
    assert_eq!(
        (SACK_BLOCK_LEN, MAX_SACK_BLOCKS, MAX_DATAGRAM_LEN),
        (8, 50, 2048)
    );
}

#[test]
fn classification() {
    let udx19 = unhex("ff01000001000000000040000000000001000000");
    let cases: [(&[u8], bool); 9] = [
        (&[], false),
        (&[0x00], false),                                        // holepunch probe
        (&unhex("030cab3b7f00000149c2")[..], false),             // dht-rpc request
        (&unhex("1300ab3b7f0000014ac2")[..], false),             // dht-rpc response
        (&udx19[..19], false),                                   // one byte short
        (&[&[0xff, 0x02][..], &udx19[2..]].concat()[..], false), // other version
        (&[&[0xfe, 0x01][..], &udx19[2..]].concat()[..], false), // other magic
        (&udx19[..], true),
        (&[&udx19[..2], &[0xc0][..], &udx19[3..]].concat()[..], true), // unknown type bits
    ];
    for (bytes, udx) in cases {
        assert_eq!(is_udx(bytes), udx, "{bytes:02x?}");
        match classify(bytes) {
            Datagram::Udx(p) => {
                assert!(udx);
                assert_eq!(p.as_bytes(), bytes);
            }
            Datagram::Other(b) => {
                assert!(!udx);
                assert_eq!(b, bytes);
            }
        }
    }
}

#[test]
fn decode_errors() {
    let good = unhex("ff01000001000000000040000000000001000000");
    assert_eq!(
        Packet::new_checked(&good[..5]).unwrap_err(),
        DecodeError::Truncated(5)
    );
    let mut bad = good.clone();
    bad[0] = 0x03;
    assert_eq!(
        Packet::new_checked(&bad[..]).unwrap_err(),
        DecodeError::BadMagic(0x03)
    );
    bad[0] = 0xff;
    bad[1] = 2;
    assert_eq!(
        Packet::new_checked(&bad[..]).unwrap_err(),
        DecodeError::BadVersion(2)
    );

    // doff beyond the datagram: still UDX, but the payload is unusable.
    let mut far = good.clone();
    far[3] = 4;
    far.extend_from_slice(&[1, 2, 3]);
    let p = Packet::new_checked(&far[..]).unwrap();
    let err = DecodeError::DataOffsetTooLarge { doff: 4, rest: 3 };
    assert_eq!(p.payload(), Err(err));
    assert_eq!(Repr::parse(&p), Err(err));
    // doff == rest leaves an empty payload.
    far[3] = 3;
    let p = Packet::new_checked(&far[..]).unwrap();
    assert_eq!(p.payload(), Ok(&[][..]));
}

#[test]
fn sack_area_follows_doff_rule() {
    let head = unhex("ff01 0c 00 01000000 00004000 00000000 03000000");
    let blocks = unhex("05000000 08000000 0a000000 0b000000");
    let with = |doff: u8, tail: &[u8]| {
        let mut b = head.clone();
        b[3] = doff;
        b.extend_from_slice(&blocks);
        b.extend_from_slice(tail);
        b
    };
    let b1 = SackBlock { start: 5, end: 8 };
    let b2 = SackBlock { start: 10, end: 11 };
    assert_eq!(head[2], 0x0c); // SACK | MESSAGE

    // doff 0: the whole rest is the SACK area; a partial block is ignored.
    let d = with(0, &[0xaa, 0xbb, 0xcc]);
    let p = packet(&d);
    assert_eq!(p.sack_blocks().iter().collect::<Vec<_>>(), [b1, b2]);
    assert_eq!(p.payload().unwrap().len(), 19);
    let r = Repr::parse(&p).unwrap();
    assert_eq!((r.sacks.len(), r.payload), (2, &[][..]));

    // 0 < doff < rest: the first doff bytes are the area, the rest is payload.
    let d = with(8, b"msg");
    let p = packet(&d);
    assert_eq!(p.sack_blocks().iter().collect::<Vec<_>>(), [b1]);
    let r = Repr::parse(&p).unwrap();
    assert_eq!(r.sacks, SackList::from_blocks(&[b1]));
    assert_eq!(r.payload, &d[28..]);

    // An odd doff inside the rest: floor(doff / 8) blocks.
    let d = with(15, b"");
    assert_eq!(packet(&d).sack_blocks().len(), 1);

    // doff == rest: the area is the whole rest, the payload empty.
    let d = with(16, b"");
    let p = packet(&d);
    assert_eq!(p.sack_blocks().len(), 2);
    assert_eq!(p.payload().unwrap(), b"");

    // Without the SACK flag the same bytes are padding and payload, never blocks.
    let mut d = with(8, b"x");
    d[2] = PacketType::MESSAGE.bits();
    let p = packet(&d);
    assert!(p.sack_blocks().is_empty());
    let r = Repr::parse(&p).unwrap();
    assert_eq!((r.padding, r.payload.len()), (8, 9));
}

#[test]
fn emit_rules() {
    let blocks = [SackBlock { start: 1, end: 2 }; 51];
    let mut r = Repr::new(PacketType::SACK, 1, RWND, 0, 0);
    r.sacks = SackList::from_blocks(&blocks[..50]);
    let mut buf = [0u8; 2048];
    assert_eq!(r.emit(&mut buf), Ok(20 + 400));
    assert_eq!(buf[3], 0);
    r.sacks = SackList::from_blocks(&blocks);
    assert_eq!(r.emit(&mut buf), Err(EmitError::TooManySackBlocks(51)));

    // SACK plus payload: doff = blocks' length, at most 31 blocks.
    r.payload = b"p";
    r.sacks = SackList::from_blocks(&blocks[..31]);
    assert_eq!(r.header().unwrap().data_offset, 248);
    r.sacks = SackList::from_blocks(&blocks[..32]);
    assert_eq!(r.emit(&mut buf), Err(EmitError::TooManySackBlocks(32)));
    r.sacks = SackList::EMPTY;
    assert!(matches!(
        r.emit(&mut buf),
        Err(EmitError::Unrepresentable(_))
    ));
    r.payload = b"";
    r.padding = 1;
    assert!(matches!(
        r.emit(&mut buf),
        Err(EmitError::Unrepresentable(_))
    ));

    let mut r = Repr::new(PacketType::DATA, 1, RWND, 0, 0);
    r.sacks = SackList::from_blocks(&blocks[..1]);
    assert!(matches!(
        r.emit(&mut buf),
        Err(EmitError::Unrepresentable(_))
    ));
    r.sacks = SackList::EMPTY;
    let big = [7u8; 2029];
    r.payload = &big;
    assert_eq!(r.emit(&mut buf), Err(EmitError::TooLong(2049)));
    r.payload = &big[..2028];
    assert_eq!(r.emit(&mut buf), Ok(2048));
    assert_eq!(
        r.emit(&mut buf[..100]),
        Err(EmitError::BufferTooSmall {
            needed: 2048,
            available: 100
        })
    );
    assert_eq!(
        Header::default().emit(&mut buf[..19]),
        Err(EmitError::BufferTooSmall {
            needed: 20,
            available: 19
        })
    );
}

#[test]
fn emit_appends_to_vec() {
    let mut v = vec![0xaa];
    let mut r = Repr::new(PacketType::DATA, 9, RWND, 3, 4);
    r.padding = 3;
    r.payload = b"xy";
    assert_eq!(r.emit_to_vec(&mut v), Ok(25));
    assert_eq!(v.len(), 26);
    assert_eq!(v[0], 0xaa);
    assert_eq!(&v[21..], &[0, 0, 0, b'x', b'y']);
    assert_eq!(Repr::parse(&packet(&v[1..])).unwrap(), r);
}

#[test]
fn setters_rewrite_fields() {
    let mut bytes = unhex("ff01000001000000000040000000000001000000");
    let mut p = Packet::new_unchecked(&mut bytes[..]);
    p.set_id(0xdead_beef);
    p.set_seq(7);
    p.set_ack(8);
    p.set_rwnd(9);
    p.set_packet_type(PacketType::HEARTBEAT);
    p.set_data_offset(0);
    assert!(p.rest_mut().is_empty());
    assert_eq!(
        Header::parse(&p).unwrap(),
        Header {
            packet_type: PacketType::HEARTBEAT,
            data_offset: 0,
            id: 0xdead_beef,
            rwnd: 9,
            seq: 7,
            ack: 8,
        }
    );
    // On a short buffer, fields that do not fit are neither written nor read.
    let mut short = [0xffu8; 6];
    let mut p = Packet::new_unchecked(&mut short[..]);
    p.set_id(0);
    p.set_ack(1);
    p.set_data_offset(0);
    assert_eq!(short, [0xff, 0xff, 0xff, 0, 0xff, 0xff]);
    let p = Packet::new_unchecked(&short[..]);
    assert_eq!((p.ack(), p.rest().len()), (0, 0));
    assert!(format!("{p:?}").contains("Truncated"));
}

fn arb_type() -> impl Strategy<Value = PacketType> {
    any::<u8>().prop_map(PacketType::from_bits_retain)
}

fn arb_blocks(max: usize) -> impl Strategy<Value = Vec<SackBlock>> {
    prop::collection::vec(
        (any::<u32>(), any::<u32>()).prop_map(|(start, end)| SackBlock { start, end }),
        0..=max,
    )
}

/// Owned inputs of a valid [`Repr`], borrowed by `repr()`.
#[derive(Debug, Clone)]
struct Owned {
    ty: PacketType,
    fields: [u32; 4],
    blocks: Vec<SackBlock>,
    padding: u8,
    payload: Vec<u8>,
}

impl Owned {
    fn repr(&self) -> Repr<'_> {
        let [id, rwnd, seq, ack] = self.fields;
        let mut r = Repr::new(self.ty, id, rwnd, seq, ack);
        r.sacks = SackList::from_blocks(&self.blocks);
        r.padding = self.padding;
        r.payload = &self.payload;
        r
    }
}

/// Every layout [`Repr::emit`] accepts.
fn arb_valid() -> impl Strategy<Value = Owned> {
    let fields = any::<[u32; 4]>();
    let plain = (
        arb_type().prop_map(|t| PacketType::from_bits_retain(t.bits() & !0x04)),
        fields,
        any::<u8>(),
        prop::collection::vec(any::<u8>(), 0..=1500),
    )
        .prop_map(|(ty, fields, padding, payload)| Owned {
            ty,
            fields,
            blocks: Vec::new(),
            padding,
            payload,
        });
    let sack_only =
        (arb_type(), fields, arb_blocks(MAX_SACK_BLOCKS)).prop_map(|(ty, fields, blocks)| Owned {
            ty: ty | PacketType::SACK,
            fields,
            blocks,
            padding: 0,
            payload: Vec::new(),
        });
    let sack_payload = (
        arb_type(),
        fields,
        arb_blocks(31).prop_filter("needs a block", |b| !b.is_empty()),
        prop::collection::vec(any::<u8>(), 1..=1200),
    )
        .prop_map(|(ty, fields, blocks, payload)| Owned {
            ty: ty | PacketType::SACK,
            fields,
            blocks,
            padding: 0,
            payload,
        });
    prop_oneof![plain, sack_only, sack_payload]
}

/// Asserts that reading `bytes` in every way the crate offers does not panic and agrees
/// with itself.
fn read_everything(bytes: &[u8]) {
    let p = Packet::new_unchecked(bytes);
    let _ = (p.magic(), p.version(), p.packet_type(), p.data_offset());
    let _ = (
        p.id(),
        p.rwnd(),
        p.seq(),
        p.ack(),
        p.rest(),
        format!("{p:?}"),
    );
    let blocks = p.sack_blocks();
    assert_eq!(blocks.iter().count(), blocks.len());
    assert!(blocks.wire_len() <= p.rest().len());
    let _ = p.payload();
    assert_eq!(is_udx(bytes), p.check().is_ok());
    match classify(bytes) {
        Datagram::Udx(p) => {
            let header = Header::parse(&p).unwrap();
            assert_eq!(header.to_bytes()[..], bytes[..HEADER_LEN]);
            match Repr::parse(&p) {
                Ok(repr) => {
                    assert!(repr.buffer_len() <= bytes.len());
                    let mut v = Vec::new();
                    if let Ok(n) = repr.emit_to_vec(&mut v) {
                        assert_eq!(n, v.len());
                    }
                }
                Err(e) => assert!(matches!(e, DecodeError::DataOffsetTooLarge { .. })),
            }
        }
        Datagram::Other(b) => assert_eq!(b, bytes),
    }
}

proptest! {
    #[test]
    fn emit_then_parse(o in arb_valid()) {
        let repr = o.repr();
        let mut buf = vec![0u8; repr.buffer_len() + 3];
        let n = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(n, repr.buffer_len());
        let mut v = Vec::new();
        prop_assert_eq!(repr.emit_to_vec(&mut v), Ok(n));
        prop_assert_eq!(&v[..], &buf[..n]);
        let p = Packet::new_checked(&buf[..n]).unwrap();
        prop_assert_eq!(Repr::parse(&p).unwrap(), repr);
        prop_assert_eq!(Header::parse(&p).unwrap(), repr.header().unwrap());
        prop_assert_eq!(p.sack_blocks(), repr.sacks);
        if !repr.packet_type.contains(PacketType::SACK) {
            prop_assert_eq!(p.payload().unwrap(), repr.payload);
        }
    }

    #[test]
    fn header_round_trip(ty in arb_type(), doff: u8, fields: [u32; 4], tail in prop::collection::vec(any::<u8>(), 0..64)) {
        let [id, rwnd, seq, ack] = fields;
        let h = Header { packet_type: ty, data_offset: doff, id, rwnd, seq, ack };
        let mut bytes = vec![0u8; h.buffer_len()];
        prop_assert_eq!(h.emit(&mut bytes), Ok(HEADER_LEN));
        bytes.extend_from_slice(&tail);
        prop_assert_eq!(Header::parse(&Packet::new_checked(&bytes[..]).unwrap()), Ok(h));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..=2048)) {
        read_everything(&bytes);
    }

    #[test]
    fn udx_shaped_bytes_never_panic(
        ty in arb_type(),
        doff: u8,
        header in any::<[u8; 16]>(),
        rest in prop::collection::vec(any::<u8>(), 0..=2028),
    ) {
        let mut bytes = vec![MAGIC, VERSION, ty.bits(), doff];
        bytes.extend_from_slice(&header);
        bytes.extend_from_slice(&rest);
        prop_assert!(is_udx(&bytes));
        read_everything(&bytes);
    }
}

#[test]
fn short_and_absurd_datagrams() {
    // Every prefix of a SACK packet with an absurd data offset, and every doff value on a
    // small packet.
    let mut bytes = unhex("ff01ff ff 01000000 00004000 00000000 03000000");
    bytes.extend((0..2028u32).map(|i| i as u8));
    for len in 0..=bytes.len() {
        read_everything(&bytes[..len]);
    }
    for doff in 0..=255u8 {
        for extra in [0usize, 1, 7, 8, 9, 254, 255, 256] {
            let mut b = unhex("ff01 05 00 01000000 00004000 00000000 03000000");
            b[3] = doff;
            b.extend(std::iter::repeat_n(0x11, extra));
            read_everything(&b);
        }
    }
}
