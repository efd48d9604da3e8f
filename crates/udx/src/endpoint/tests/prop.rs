//! Arbitrary datagrams never panic an endpoint and never grow its memory without bound.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use proptest::prelude::*;

use crate::wire::{PacketType, Repr, SackBlock, SackList};
use crate::{Endpoint, Firewall, MAX_OOO_DISTANCE, SocketId, StreamConfig};

#[derive(Debug, Clone)]
enum Input {
    /// Raw bytes.
    Raw(Vec<u8>),
    /// A UDX packet with chosen fields.
    Udx {
        ptype: u8,
        id: u32,
        seq: u32,
        ack: u32,
        doff: u8,
        sacks: Vec<(u32, u32)>,
        payload: Vec<u8>,
    },
    /// Time passes.
    Wait(u16),
    /// The owner writes.
    Write(u16),
}

fn near() -> impl Strategy<Value = u32> {
    prop_oneof![
        0u32..64,
        any::<u32>(),
        (0u32..8).prop_map(|d| d.wrapping_neg())
    ]
}

fn input() -> impl Strategy<Value = Input> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64).prop_map(Input::Raw),
        (
            any::<u8>(),
            prop_oneof![Just(1u32), Just(2), Just(3), Just(4), any::<u32>()],
            near(),
            near(),
            prop_oneof![Just(0u8), any::<u8>()],
            prop::collection::vec((near(), near()), 0..6),
            prop::collection::vec(any::<u8>(), 0..40),
        )
            .prop_map(|(ptype, id, seq, ack, doff, sacks, payload)| Input::Udx {
                ptype,
                id,
                seq,
                ack,
                doff,
                sacks,
                payload,
            }),
        (0u16..3000).prop_map(Input::Wait),
        (0u16..4000).prop_map(Input::Write),
    ]
}

fn encode(
    ptype: u8,
    id: u32,
    seq: u32,
    ack: u32,
    doff: u8,
    sacks: &[(u32, u32)],
    payload: &[u8],
) -> Vec<u8> {
    let blocks: Vec<SackBlock> = sacks
        .iter()
        .map(|&(start, end)| SackBlock { start, end })
        .collect();
    let ptype = PacketType::from_bits_retain(ptype);
    let mut r = Repr::new(ptype, id, 4_194_304, seq, ack);
    if ptype.contains(PacketType::SACK) {
        r.sacks = SackList::from_blocks(&blocks);
    }
    r.payload = payload;
    let mut out = Vec::new();
    if r.emit_to_vec(&mut out).is_err() {
        out = r
            .header()
            .map(|h| h.to_bytes().to_vec())
            .unwrap_or_default();
    }
    if let Some(b) = out.get_mut(3) {
        *b = doff;
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]
    #[test]
    fn arbitrary_datagrams_never_panic(inputs in prop::collection::vec(input(), 1..120)) {
        let peer = SocketAddr::from(([10, 0, 0, 2], 4000));
        let other = SocketAddr::from(([10, 0, 0, 3], 4000));
        let mut now = Instant::now();
        let mut ep = Endpoint::new();
        ep.create_stream(1, StreamConfig::default()).unwrap();
        ep.connect(now, 1, SocketId(0), 7, peer, None).unwrap();
        ep.create_stream(2, StreamConfig::default().with_firewall(Firewall::AcceptAll)).unwrap();
        ep.create_stream(3, StreamConfig::default()).unwrap();
        ep.connect(now, 3, SocketId(0), 8, other, None).unwrap();
        ep.create_stream(4, StreamConfig::default()).unwrap();
        ep.relay_to(now, 4, 3).unwrap();
        for input in inputs {
            match input {
                Input::Raw(bytes) => {
                    let _ = ep.handle_datagram(now, SocketId(0), peer, &bytes);
                }
                Input::Udx { ptype, id, seq, ack, doff, sacks, payload } => {
                    let bytes = encode(ptype, id, seq, ack, doff, &sacks, &payload);
                    let socket = SocketId(usize::from(ptype & 0x80 != 0));
                    let _ = ep.handle_datagram(now, socket, peer, &bytes);
                }
                Input::Wait(ms) => {
                    now += Duration::from_millis(u64::from(ms));
                    if ep.poll_timeout().is_some_and(|t| t <= now) {
                        ep.handle_timeout(now);
                        // No timer is left overdue: a driver cannot spin.
                        prop_assert!(ep.poll_timeout().is_none_or(|t| t > now));
                    }
                }
                Input::Write(n) => {
                    let _ = ep.write(now, 1, &vec![0x5a; usize::from(n)]);
                }
            }
            while let Some(t) = ep.poll_transmit() {
                prop_assert!(t.contents.len() <= 1172);
            }
            while ep.poll_event().is_some() {}
            for s in ep.streams.values() {
                prop_assert!(s.buffered_packets() <= MAX_OOO_DISTANCE);
            }
        }
    }
}
