//! The `udx_packet` target: any datagram goes through the UDX classifier and decoders.
//!
//! Asserts: classification agrees with the spec's rule (at least 20 bytes starting `ff 01`)
//! and hands non-UDX datagrams back untouched; every accessor of a UDX packet is total; the
//! parsed header re-emits to the first 20 bytes exactly; a datagram that parses into a
//! `Repr` re-emits into exactly `buffer_len()` bytes that parse back to the same value,
//! and emitting that again gives the same bytes (a fixed point).

use plures_udx::wire::{Datagram, Header, Packet, Repr, classify, is_udx};

/// Runs one input.
pub fn run(data: &[u8]) {
    let spec_says_udx = data.len() >= 20 && data[0] == 0xff && data[1] == 0x01;
    assert_eq!(is_udx(data), spec_says_udx);
    let packet = match classify(data) {
        Datagram::Other(rest) => {
            assert!(!spec_says_udx);
            assert_eq!(rest, data);
            return;
        }
        Datagram::Udx(packet) => packet,
    };
    assert!(spec_says_udx);

    // Every accessor answers without panicking.
    let _ = (packet.packet_type().names().count(), packet.data_offset());
    let _ = (packet.id(), packet.rwnd(), packet.seq(), packet.ack());
    let blocks: Vec<_> = packet.sack_blocks().iter().collect();
    assert!(blocks.len() * 8 <= packet.rest().len());
    if let Ok(payload) = packet.payload() {
        assert!(payload.len() <= packet.rest().len());
    }

    let header = Header::parse(&packet).expect("a classified UDX packet has a header");
    assert_eq!(&header.to_bytes()[..], &data[..20]);

    let Ok(repr) = Repr::parse(&packet) else {
        return;
    };
    let Ok(first) = emit(&repr) else { return };
    let reparsed_packet = Packet::new_checked(&first[..]).expect("emitted packet checks");
    let again = Repr::parse(&reparsed_packet).expect("emitted packet parses");
    assert_eq!(again, repr, "emit then parse changed the packet");
    let second = emit(&again).expect("a re-parsed packet emits");
    assert_eq!(first, second, "emit is not a fixed point");
}

fn emit(repr: &Repr<'_>) -> Result<Vec<u8>, plures_udx::EmitError> {
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(&mut buf)?;
    assert_eq!(n, buf.len(), "buffer_len disagrees with emit");
    Ok(buf)
}
