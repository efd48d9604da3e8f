//! Fewer datagrams per round trip: a pure ACK that a later packet of the same stream
//! repeats is not sent, and the task yields once after handing received data to a reader
//! so that a reply written in that scheduling tick can be the packet that carries the ACK.
//!
//! Every UDX packet carries the sender's cumulative ack, and the receiver processes the
//! ack field of DATA, END and MESSAGE packets as it does a pure ACK's (§6). A pure ACK
//! (type 0, no SACK blocks, no payload) queued before such a packet of the same stream
//! with the same or a newer ack tells the peer nothing that packet does not. Nothing else
//! is dropped: pure ACKs in a row all leave (the peer's delivery-rate and loss logic
//! counts them), SACKs always leave, and the ACK is never held beyond one scheduling tick,
//! so the receiver still acks every DATA packet promptly (§6).

use std::net::SocketAddr;

use crate::Transmit;
use crate::seq::seq_ge;
use crate::wire::{HEADER_LEN, Packet, PacketType, is_udx};

/// The header fields the elision looks at.
struct Head {
    id: u32,
    ack: u32,
    ptype: PacketType,
}

fn head(t: &Transmit) -> Option<Head> {
    if t.ttl.is_some() || t.contents.len() < HEADER_LEN || !is_udx(&t.contents) {
        return None;
    }
    let p = Packet::new_unchecked(&t.contents[..]);
    Some(Head {
        id: p.id(),
        ack: p.ack(),
        ptype: p.packet_type(),
    })
}

/// A pure ACK: type 0, header only.
fn is_pure_ack(t: &Transmit, h: &Head) -> bool {
    h.ptype.is_empty() && t.contents.len() == HEADER_LEN
}

/// A packet whose ack field the receiver processes as it does a pure ACK's.
fn carries_ack(h: &Head) -> bool {
    h.ptype
        .intersects(PacketType::DATA | PacketType::END | PacketType::MESSAGE)
        && !h
            .ptype
            .intersects(PacketType::DESTROY | PacketType::HEARTBEAT)
}

/// Removes from `out` every pure ACK that a later packet to the same destination and
/// stream id repeats (same or newer ack); the order of the rest is kept. `later` is
/// scratch space.
///
/// The caller must not use this while a stream relays: a relayed packet keeps its
/// original seq/ack numbering, so its ack says nothing about a local stream's.
pub(super) fn elide_acks(out: &mut Vec<Transmit>, later: &mut Vec<(SocketAddr, u32, u32)>) {
    if out.len() < 2 {
        return;
    }
    later.clear();
    let mut keep = vec![true; out.len()];
    let mut any = false;
    for (i, t) in out.iter().enumerate().rev() {
        let Some(h) = head(t) else {
            continue;
        };
        let same = |&&(d, id, _): &&(SocketAddr, u32, u32)| d == t.destination && id == h.id;
        if is_pure_ack(t, &h) {
            if later
                .iter()
                .find(same)
                .is_some_and(|&(_, _, a)| seq_ge(a, h.ack))
            {
                keep[i] = false;
                any = true;
            }
        } else if carries_ack(&h) {
            match later
                .iter_mut()
                .find(|(d, id, _)| *d == t.destination && *id == h.id)
            {
                Some(entry) => {
                    if seq_ge(h.ack, entry.2) {
                        entry.2 = h.ack;
                    }
                }
                None => later.push((t.destination, h.id, h.ack)),
            }
        }
    }
    if any {
        let mut flags = keep.into_iter();
        out.retain(|_| flags.next().unwrap_or(true));
    }
}

/// Moves into `held` each pure ACK of `out` that is the last packet in `out` for its
/// destination and stream id, keeping the order of both. These are the ACKs a reply
/// written in the next tick could carry; every earlier ACK of a batch leaves at once, so a
/// bulk sender's ack clock is not held back, only the newest ACK of each stream is.
pub(super) fn hold_last_acks(out: &mut Vec<Transmit>, held: &mut Vec<Transmit>) {
    let mut seen: Vec<(SocketAddr, u32)> = Vec::new();
    let mut hold = vec![false; out.len()];
    let mut any = false;
    for (i, t) in out.iter().enumerate().rev() {
        let Some(h) = head(t) else {
            continue;
        };
        let key = (t.destination, h.id);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if is_pure_ack(t, &h) {
            hold[i] = true;
            any = true;
        }
    }
    if !any {
        return;
    }
    let mut flags = hold.into_iter();
    let mut kept = Vec::with_capacity(out.len());
    for t in out.drain(..) {
        if flags.next().unwrap_or(false) {
            held.push(t);
        } else {
            kept.push(t);
        }
    }
    *out = kept;
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};

    use super::{elide_acks, hold_last_acks};
    use crate::{SocketId, Transmit};

    const PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4000);
    const OTHER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 4001);

    /// A packet laid out by hand from the header table of spec §3: magic, version, type,
    /// data offset, then id, rwnd, seq, ack little-endian.
    fn packet(to: SocketAddr, ptype: u8, id: u32, seq: u32, ack: u32, rest: &[u8]) -> Transmit {
        let mut contents = vec![0xff, 0x01, ptype, 0];
        for field in [id, 4_194_304, seq, ack] {
            contents.extend_from_slice(&field.to_le_bytes());
        }
        contents.extend_from_slice(rest);
        Transmit {
            socket: SocketId(0),
            destination: to,
            contents,
            ttl: None,
        }
    }

    fn ack(id: u32, ack: u32) -> Transmit {
        packet(PEER, 0x00, id, 9, ack, &[])
    }

    fn data(id: u32, ack: u32) -> Transmit {
        packet(PEER, 0x01, id, 9, ack, b"echo")
    }

    /// The (type, ack) of what is left.
    fn run(mut out: Vec<Transmit>) -> Vec<(u8, u32, SocketAddr)> {
        elide_acks(&mut out, &mut Vec::new());
        out.iter()
            .map(|t| {
                let ack = u32::from_le_bytes([
                    t.contents[16],
                    t.contents[17],
                    t.contents[18],
                    t.contents[19],
                ]);
                (t.contents[2], ack, t.destination)
            })
            .collect()
    }

    #[test]
    fn a_reply_of_the_same_stream_carries_the_ack() {
        assert_eq!(run(vec![ack(5, 10), data(5, 10)]), [(0x01, 10, PEER)]);
        // A newer ack covers an older one; so do END and MESSAGE packets.
        assert_eq!(run(vec![ack(5, 10), data(5, 12)]), [(0x01, 12, PEER)]);
        let end = packet(PEER, 0x02, 5, 9, 10, &[]);
        assert_eq!(run(vec![ack(5, 10), end]), [(0x02, 10, PEER)]);
        let message = packet(PEER, 0x08, 5, 9, 10, b"m");
        assert_eq!(run(vec![ack(5, 10), message]), [(0x08, 10, PEER)]);
        // Several pure ACKs before the reply all go; other packets keep their order.
        let out = run(vec![ack(5, 10), data(6, 3), ack(5, 11), data(5, 11)]);
        assert_eq!(out, [(0x01, 3, PEER), (0x01, 11, PEER)]);
    }

    #[test]
    fn only_the_newest_ack_of_each_stream_is_held() {
        let other = packet(OTHER, 0x00, 5, 9, 4, &[]);
        let mut out = vec![ack(5, 10), ack(5, 11), data(6, 3), other, ack(5, 12)];
        let mut held = Vec::new();
        hold_last_acks(&mut out, &mut held);
        let acks = |v: &[Transmit]| -> Vec<(u8, u32, SocketAddr)> {
            v.iter()
                .map(|t| {
                    let a = u32::from_le_bytes([
                        t.contents[16],
                        t.contents[17],
                        t.contents[18],
                        t.contents[19],
                    ]);
                    (t.contents[2], a, t.destination)
                })
                .collect()
        };
        // Stream 5 at PEER: 10 and 11 leave, 12 waits; stream 6 sent DATA, nothing to
        // hold; stream 5 at OTHER is another stream: its only ACK waits too.
        assert_eq!(
            acks(&out),
            [(0x00, 10, PEER), (0x00, 11, PEER), (0x01, 3, PEER)]
        );
        assert_eq!(acks(&held), [(0x00, 4, OTHER), (0x00, 12, PEER)]);
        // An ACK followed by a packet of its stream is not the newest: nothing waits.
        let mut out = vec![ack(5, 10), data(5, 10)];
        held.clear();
        hold_last_acks(&mut out, &mut held);
        assert_eq!((out.len(), held.len()), (2, 0));
    }

    #[test]
    fn everything_else_leaves() {
        // Pure ACKs in a row (a bulk receiver's): none is dropped.
        assert_eq!(run(vec![ack(5, 10), ack(5, 11)]).len(), 2);
        // Another stream, another destination, an older ack, a reply sent first.
        assert_eq!(run(vec![ack(5, 10), data(6, 10)]).len(), 2);
        let elsewhere = packet(OTHER, 0x01, 5, 9, 10, b"x");
        assert_eq!(run(vec![ack(5, 10), elsewhere]).len(), 2);
        assert_eq!(run(vec![ack(5, 10), data(5, 9)]).len(), 2);
        assert_eq!(run(vec![data(5, 10), ack(5, 10)]).len(), 2);
        // A SACK carries blocks the reply does not.
        let sack = packet(PEER, 0x04, 5, 9, 10, &[12, 0, 0, 0, 13, 0, 0, 0]);
        assert_eq!(run(vec![sack, data(5, 10)]).len(), 2);
        // The receiver ignores the ack of DESTROY and HEARTBEAT packets (§6).
        let destroy = packet(PEER, 0x10, 5, 9, 10, &[]);
        assert_eq!(run(vec![ack(5, 10), destroy]).len(), 2);
        let heartbeat = packet(PEER, 0x20 | 0x01, 5, 9, 10, b"x");
        assert_eq!(run(vec![ack(5, 10), heartbeat]).len(), 2);
        // A raw datagram with a TTL of its own is not a stream packet.
        let mut probe = data(5, 10);
        probe.ttl = Some(5);
        assert_eq!(run(vec![ack(5, 10), probe]).len(), 2);
        // Across a sequence-number wrap a newer ack still counts.
        assert_eq!(run(vec![ack(5, u32::MAX), data(5, 1)]).len(), 1);
    }
}
