//! The `dht_rpc_packet` target: any datagram goes through the dht-rpc packet decoder.
//!
//! Asserts: the decoder's verdict on the first bytes agrees with the spec (fewer than 2
//! bytes, or a first byte other than `03`/`13`, is never a packet); every accessor of a
//! decoded packet is total; a closer-node list never holds more nodes than the input has
//! room for; a decoded packet re-encodes into exactly `encoded_len()` bytes, no longer than
//! the input (canonical form only drops unknown flag bits, non-minimal `uint`s, zero error
//! codes and trailing bytes), which decode back to the same packet and re-encode to the
//! same bytes; and every strict prefix of that canonical encoding is refused.

use std::net::{Ipv4Addr, SocketAddrV4};

use plures_compact::Encode;
use plures_dht_rpc::wire::Packet;
use plures_dht_rpc::{DecodeError, NodeId, validate_id};

use crate::prefix_lengths;

/// Runs one input.
pub fn run(data: &[u8]) {
    let packet = match Packet::decode(data) {
        Ok(p) => p,
        Err(DecodeError::TooShort(n)) => {
            assert!(data.len() < 2 && n == data.len());
            return;
        }
        Err(DecodeError::UnknownType(b)) => {
            assert!(data.len() >= 2 && b == data[0] && b != 0x03 && b != 0x13);
            return;
        }
        Err(_) => {
            assert!(data.len() >= 2 && (data[0] == 0x03 || data[0] == 0x13));
            return;
        }
    };
    assert!(data.len() >= 2);

    // Accessors answer without panicking and agree with the packet kind.
    let source = SocketAddrV4::new(Ipv4Addr::new(data[0], data[1], 0, 1), 1);
    let _ = (packet.tid(), packet.to(), validate_id(packet.id(), source));
    match &packet {
        Packet::Request(r) => {
            assert_eq!(data[0], 0x03);
            assert_eq!(r.command().number(), r.command);
            assert_eq!(r.command().is_internal(), r.internal);
            assert!(r.flags() <= 0x1f);
            if let Some(v) = r.value {
                assert!(v.len() < data.len());
            }
        }
        Packet::Response(r) => {
            assert_eq!(data[0], 0x13);
            assert!(r.flags() <= 0x1f);
            if let Some(nodes) = &r.closer_nodes {
                assert!(nodes.len() * 6 <= data.len());
                for &node in nodes {
                    let id = NodeId::from_addr(node);
                    assert_eq!(validate_id(Some(id), node), Some(id));
                }
            }
            if let Some(v) = r.value {
                assert!(v.len() < data.len());
            }
        }
    }

    let wire = packet.to_bytes().expect("a decoded packet encodes");
    assert_eq!(wire.len(), packet.encoded_len(), "encoded_len disagrees");
    assert!(wire.len() <= data.len(), "canonical form grew");
    let again = Packet::decode(&wire).expect("a re-encoded packet decodes");
    assert_eq!(again, packet, "encode then decode changed the packet");
    assert_eq!(
        again.to_bytes().expect("encodes"),
        wire,
        "encode is not a fixed point"
    );
    for n in prefix_lengths(wire.len()) {
        assert!(Packet::decode(&wire[..n]).is_err(), "prefix {n} decodes");
    }
}
