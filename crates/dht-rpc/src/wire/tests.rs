use std::net::{Ipv4Addr, SocketAddrV4};

use plures_compact::{Decode, Encode};
use proptest::prelude::*;

use super::*;
use crate::command::Command;

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

fn a(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn round_trip(p: &Packet<'_>, wire: &[u8]) {
    assert_eq!(hex::encode(p.to_bytes().unwrap()), hex::encode(wire));
    assert_eq!(p.encoded_len(), wire.len());
    assert_eq!(&Packet::decode(wire).unwrap(), p);
}

const ID: &str = "5e5723efac3d36c2223995450915b437a3a675bc3774eb6c527107d3069cac20";
const TOK: &str = "adbc55b1f8292697e70c852f66f2c9cc22a0acf90d8e0ea2b399cc0b1d88e922";

#[test]
fn spec_requests() {
    // §18.2: user command 7 with token, target and value.
    let wire = h(&format!(
        "031a34127f000001409c{}07{}0568656c6c6f",
        "bb".repeat(32),
        "aa".repeat(32)
    ));
    let mut r = Request::new(0x1234, a("127.0.0.1:40000"), Command::User(7));
    r.token = Some([0xbb; 32]);
    r.target = Some(NodeId([0xaa; 32]));
    r.value = Some(b"hello");
    assert_eq!(r.flags(), 0x1a);
    round_trip(&Packet::Request(r), &wire);

    let ping = Request::new(5, a("127.0.0.1:40000"), Command::Ping);
    round_trip(&Packet::Request(ping), &h("030405007f000001409c00"));

    let mut find = Request::new(6, a("127.0.0.1:40000"), Command::FindNode);
    find.target = Some(NodeId([0xaa; 32]));
    round_trip(
        &Packet::Request(find),
        &h(&format!("030c06007f000001409c02{}", "aa".repeat(32))),
    );

    let id = NodeId::from_addr(a("127.0.0.1:49999"));
    assert_eq!(id.to_string(), ID);
    let mut persistent = Request::new(0x0102, a("127.0.0.1:40000"), Command::Ping);
    persistent.id = Some(id);
    round_trip(
        &Packet::Request(persistent),
        &h(&format!("030502017f000001409c{ID}00")),
    );

    let mut nat = Request::new(0x0a11, a("127.0.0.1:49999"), Command::PingNat);
    nat.value = Some(&[0x40, 0x9c]);
    round_trip(&Packet::Request(nat), &h("0314110a7f0000014fc3 01 02 409c"));
}

#[test]
fn spec_responses() {
    let id = NodeId::from_addr(a("127.0.0.1:49999"));
    let to = a("127.0.0.1:40000");
    let token: [u8; 32] = h(TOK).try_into().unwrap();
    assert_eq!(crate::token::token(*to.ip(), &[0x22; 32]), token);
    let table = vec![a("10.0.0.2:2000"), a("10.0.0.1:1000")];

    let mut ping = Response::new(0x0a0b, to);
    ping.id = Some(id);
    round_trip(
        &Packet::Response(ping),
        &h(&format!("13010b0a7f000001409c{ID}")),
    );

    let mut find = Response::new(0x0a0c, to);
    find.id = Some(id);
    find.closer_nodes = Some(table.clone());
    round_trip(
        &Packet::Response(find),
        &h(&format!(
            "13050c0a7f000001409c{ID}020a000002d0070a000001e803"
        )),
    );

    let mut unknown = Response::new(0x0a0d, to);
    unknown.id = Some(id);
    unknown.closer_nodes = Some(table.clone());
    unknown.error = crate::error_code::UNKNOWN_COMMAND;
    round_trip(
        &Packet::Response(unknown),
        &h(&format!(
            "130d0d0a7f000001409c{ID}020a000002d0070a000001e80301"
        )),
    );

    let mut bad_token = Response::new(0x0a0f, to);
    bad_token.id = Some(id);
    bad_token.token = Some(token);
    bad_token.error = crate::error_code::INVALID_TOKEN;
    round_trip(
        &Packet::Response(bad_token),
        &h(&format!("130b0f0a7f000001409c{ID}{TOK}02")),
    );

    let mut ok = Response::new(0x0a10, to);
    ok.id = Some(id);
    ok.token = Some(token);
    ok.closer_nodes = Some(table);
    ok.value = Some(b"ok");
    round_trip(
        &Packet::Response(ok),
        &h(&format!(
            "1317100a7f000001409c{ID}{TOK}020a000002d0070a000001e803026f6b"
        )),
    );
}

#[test]
fn decoder_rules() {
    assert_eq!(Packet::decode(&[]), Err(DecodeError::TooShort(0)));
    assert_eq!(Packet::decode(&[0x03]), Err(DecodeError::TooShort(1)));
    assert_eq!(
        Packet::decode(&[0x00, 0x00]),
        Err(DecodeError::UnknownType(0))
    );
    assert_eq!(
        Packet::decode(&[0xff, 0x01]),
        Err(DecodeError::UnknownType(0xff))
    );
    assert!(matches!(
        Packet::decode(&[0x03, 0x00]),
        Err(DecodeError::Field(_))
    ));

    // Trailing bytes are ignored.
    let ping = h("030405007f000001409c00");
    let mut long = ping.clone();
    long.extend_from_slice(b"future fields");
    assert_eq!(Packet::decode(&long), Packet::decode(&ping));

    // Unknown flag bits are ignored; flags are a compact uint.
    let wide = h("03fd840005007f000001409c00");
    let Packet::Request(r) = Packet::decode(&wide).unwrap() else {
        panic!()
    };
    assert!(r.internal);
    assert_eq!(r.flags(), 0x04);
    assert_eq!(r.to_bytes().unwrap(), ping);

    // Empty values keep their flag.
    let empty = h("031405007f000001409c0000");
    let Packet::Request(r) = Packet::decode(&empty).unwrap() else {
        panic!()
    };
    assert_eq!(r.value, Some(&[][..]));
    assert_eq!(r.to_bytes().unwrap(), empty);

    // A response error of 0 behind the flag decodes as "no error".
    let zero = h("130805007f000001409c00");
    let Packet::Response(r) = Packet::decode(&zero).unwrap() else {
        panic!()
    };
    assert_eq!(r.error, 0);

    // Every strict prefix of a packet fails to decode (all fields are mandatory once
    // flagged), never panics.
    let full = h(&format!(
        "1317100a7f000001409c{ID}{TOK}020a000002d0070a000001e803026f6b"
    ));
    for n in 0..full.len() {
        assert!(Packet::decode(&full[..n]).is_err(), "prefix {n}");
    }

    // Absurd closer-node counts are refused before allocating.
    for count in [
        "fdffff",
        "feffffffff",
        "ff0000100000000000",
        "ffffffffffffffff1f",
    ] {
        let wire = h(&format!("130400007f000001409c{count}0a000001e803"));
        assert!(Packet::decode(&wire).is_err(), "{count}");
    }
    // Type mismatch through the per-type decoders.
    assert!(Request::from_bytes(&zero).is_err());
    assert!(Response::from_bytes(&ping).is_err());
}

fn arb_addr() -> impl Strategy<Value = SocketAddrV4> {
    (any::<u32>(), any::<u16>()).prop_map(|(ip, port)| SocketAddrV4::new(Ipv4Addr::from(ip), port))
}

type RequestParts = (
    u16,
    SocketAddrV4,
    Option<[u8; 32]>,
    Option<[u8; 32]>,
    bool,
    u64,
    Option<[u8; 32]>,
    Option<Vec<u8>>,
);

fn arb_request() -> impl Strategy<Value = RequestParts> {
    (
        any::<u16>(),
        arb_addr(),
        any::<Option<[u8; 32]>>(),
        any::<Option<[u8; 32]>>(),
        any::<bool>(),
        prop_oneof![
            0u64..8,
            any::<u64>().prop_map(|n| n & plures_compact::MAX_SAFE_INTEGER)
        ],
        any::<Option<[u8; 32]>>(),
        prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
    )
}

type ResponseParts = (
    u16,
    SocketAddrV4,
    Option<[u8; 32]>,
    Option<[u8; 32]>,
    Option<Vec<SocketAddrV4>>,
    u64,
    Option<Vec<u8>>,
);

fn arb_response() -> impl Strategy<Value = ResponseParts> {
    (
        any::<u16>(),
        arb_addr(),
        any::<Option<[u8; 32]>>(),
        any::<Option<[u8; 32]>>(),
        prop::option::of(prop::collection::vec(arb_addr(), 0..30)),
        prop_oneof![Just(0u64), 1u64..20, Just(plures_compact::MAX_SAFE_INTEGER)],
        prop::option::of(prop::collection::vec(any::<u8>(), 0..300)),
    )
}

fn check_encoding(p: &Packet<'_>) -> Result<(), TestCaseError> {
    let wire = p.to_bytes().unwrap();
    prop_assert_eq!(p.encoded_len(), wire.len());
    prop_assert_eq!(&Packet::decode(&wire).unwrap(), p);
    // Trailing bytes are ignored; every strict prefix is refused.
    let mut long = wire.clone();
    long.extend_from_slice(&[0xff; 7]);
    prop_assert_eq!(&Packet::decode(&long).unwrap(), p);
    for n in 0..wire.len() {
        prop_assert!(Packet::decode(&wire[..n]).is_err());
    }
    Ok(())
}

proptest! {
    #[test]
    fn request_round_trip(parts in arb_request()) {
        let (tid, to, id, token, internal, command, target, value) = parts;
        let r = Request {
            tid,
            to,
            id: id.map(NodeId),
            token,
            internal,
            command,
            target: target.map(NodeId),
            value: value.as_deref(),
        };
        prop_assert_eq!(r.command().number(), command);
        check_encoding(&Packet::Request(r))?;
    }

    #[test]
    fn response_round_trip(parts in arb_response()) {
        let (tid, to, id, token, closer_nodes, error, value) = parts;
        let r = Response {
            tid,
            to,
            id: id.map(NodeId),
            token,
            closer_nodes,
            error,
            value: value.as_deref(),
        };
        check_encoding(&Packet::Response(r))?;
    }

    #[test]
    fn decode_is_total_and_stable(bytes in prop::collection::vec(any::<u8>(), 0..400), kind in 0usize..3) {
        let mut bytes = bytes;
        // Bias toward the two packet types so most inputs reach the field decoders.
        if let Some(first) = bytes.first_mut() {
            *first = [REQUEST_TYPE, RESPONSE_TYPE, *first][kind];
        }
        if let Ok(p) = Packet::decode(&bytes) {
            let wire = p.to_bytes().unwrap();
            // Canonical re-encoding only drops unknown flag bits, non-minimal uints,
            // zero errors and trailing bytes.
            prop_assert!(wire.len() <= bytes.len());
            let again = Packet::decode(&wire).unwrap();
            prop_assert_eq!(&again, &p);
            prop_assert_eq!(again.to_bytes().unwrap(), wire);
        }
    }

    #[test]
    fn oversized_packets(
        len in 65_000usize..70_000,
        fill in any::<u8>(),
        first in prop_oneof![Just(REQUEST_TYPE), Just(RESPONSE_TYPE)],
    ) {
        let mut bytes = vec![fill; len];
        bytes[0] = first;
        if let Ok(p) = Packet::decode(&bytes) {
            let wire = p.to_bytes().unwrap();
            prop_assert_eq!(Packet::decode(&wire).unwrap(), p);
        }
    }
}
