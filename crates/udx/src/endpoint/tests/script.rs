//! Script tests: typed inputs at set times, outputs compared byte for byte with the
//! vectors recorded from udx-native 1.21.3 (`shared/spec/udx.md` §15).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::wire::{Packet, PacketType, Repr, SackBlock, SackList};
use crate::{CloseReason, Endpoint, Event, MAX_OOO_DISTANCE, Received, SocketId, StreamConfig};

const S0: SocketId = SocketId(0);

fn a_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5001))
}

fn b_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5002))
}

fn unhex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// A (stream 1) and B (stream 2), connected to each other, seq 0 / ack 0.
fn setup(t0: Instant) -> (Endpoint, Endpoint) {
    let mut a = Endpoint::new();
    let mut b = Endpoint::new();
    a.create_stream(1, StreamConfig::default()).unwrap();
    a.connect(t0, 1, S0, 2, b_addr(), None).unwrap();
    b.create_stream(2, StreamConfig::default()).unwrap();
    b.connect(t0, 2, S0, 1, a_addr(), None).unwrap();
    (a, b)
}

fn take(ep: &mut Endpoint) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| ep.poll_transmit().map(|t| t.contents)).collect()
}

fn one(ep: &mut Endpoint) -> Vec<u8> {
    let mut all = take(ep);
    assert_eq!(all.len(), 1, "{all:02x?}");
    all.remove(0)
}

fn events(ep: &mut Endpoint) -> Vec<Event> {
    std::iter::from_fn(|| ep.poll_event()).collect()
}

fn feed(ep: &mut Endpoint, now: Instant, from: SocketAddr, bytes: &[u8]) {
    assert_eq!(ep.handle_datagram(now, S0, from, bytes), Received::Consumed);
}

#[test]
fn vectors_u1_u2_u2b_u4_close_sequence() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    // U1: DATA "hello".
    a.write(t0, 1, b"hello").unwrap();
    let u1 = one(&mut a);
    assert_eq!(
        u1,
        unhex("ff 01 01 00 02000000 00004000 00000000 00000000 68656c6c6f")
    );
    // U2: B's ACK.
    feed(&mut b, t0, a_addr(), &u1);
    let u2 = one(&mut b);
    assert_eq!(u2, unhex("ff01000001000000000040000000000001000000"));
    assert_eq!(
        events(&mut b),
        [Event::Data {
            id: 2,
            data: b"hello".to_vec()
        }]
    );
    feed(&mut a, t0, b_addr(), &u2);
    // U2b: MESSAGE "msg" carries the next unsent seq.
    a.send_message(t0, 1, b"msg").unwrap();
    let u2b = one(&mut a);
    assert_eq!(u2b, unhex("ff010800020000000000400001000000000000006d7367"));
    feed(&mut b, t0, a_addr(), &u2b);
    assert_eq!(
        events(&mut b),
        [Event::Message {
            id: 2,
            data: b"msg".to_vec()
        }]
    );
    assert!(take(&mut b).is_empty(), "a MESSAGE is not acked");
    // Seqs 1..=3, each acked.
    for s in 1..=3u8 {
        a.write(t0, 1, &[s]).unwrap();
        let d = one(&mut a);
        feed(&mut b, t0, a_addr(), &d);
        let ack = one(&mut b);
        feed(&mut a, t0, b_addr(), &ack);
    }
    // U4: END seq 4, ACK ack 5, final-state ACK, B's END, last ACK; both close.
    a.end(t0, 1).unwrap();
    let end = one(&mut a);
    assert_eq!(end, unhex("ff01020002000000000040000400000000000000"));
    feed(&mut b, t0, a_addr(), &end);
    let ack5 = one(&mut b);
    assert_eq!(ack5, unhex("ff01000001000000000040000000000005000000"));
    assert!(events(&mut b).ends_with(&[Event::End { id: 2 }]));
    feed(&mut a, t0, b_addr(), &ack5);
    let fin = one(&mut a);
    assert_eq!(fin, unhex("ff01000002000000000040000500000000000000"));
    feed(&mut b, t0, a_addr(), &fin);
    assert!(take(&mut b).is_empty());
    b.end(t0, 2).unwrap();
    let b_end = one(&mut b);
    assert_eq!(b_end, unhex("ff01020001000000000040000000000005000000"));
    feed(&mut a, t0, b_addr(), &b_end);
    let last = one(&mut a);
    assert_eq!(last, unhex("ff01000002000000000040000500000001000000"));
    assert_eq!(
        events(&mut a),
        [
            Event::End { id: 1 },
            Event::Closed {
                id: 1,
                reason: CloseReason::Ended
            }
        ]
    );
    feed(&mut b, t0, a_addr(), &last);
    assert_eq!(
        events(&mut b),
        [Event::Closed {
            id: 2,
            reason: CloseReason::Ended
        }]
    );
    assert!(!a.has_stream(1) && !b.has_stream(2));
    assert_eq!((a.poll_timeout(), b.poll_timeout()), (None, None));
    // The ids are free: later packets for them are handed back.
    assert_eq!(b.handle_datagram(t0, S0, a_addr(), &last), Received::NotUdx);
}

#[test]
fn vector_u3_sack_after_two_drops() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    a.write(t0, 1, &vec![7; 8 * 1152]).unwrap();
    let packets = take(&mut a);
    assert_eq!(packets.len(), 8);
    assert!(packets.iter().all(|p| p.len() == 1172));
    let mut last = Vec::new();
    for (i, p) in packets.iter().enumerate() {
        if i == 3 || i == 4 {
            continue;
        }
        feed(&mut b, t0, a_addr(), p);
        last = one(&mut b);
    }
    assert_eq!(
        last,
        unhex("ff010400010000000000400000000000030000000500000008000000")
    );
    // A processes the SACKs: once the reorder window passes, seqs 3 and 4 are resent.
    let t1 = t0 + Duration::from_millis(40);
    feed(&mut a, t1, b_addr(), &last);
    let resent = take(&mut a);
    let mut t = t1;
    let mut resent = resent;
    while resent.is_empty() {
        t = a.poll_timeout().unwrap();
        a.handle_timeout(t);
        resent = take(&mut a);
    }
    let seqs: Vec<u32> = resent
        .iter()
        .map(|p| Packet::new_unchecked(&p[..]).seq())
        .collect();
    assert_eq!(seqs, [3, 4]);
    assert!(
        t < t0 + Duration::from_millis(1000),
        "fast retransmit, not RTO"
    );
}

#[test]
fn vector_u5_heartbeat_gets_exactly_one_ack() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    a.set_keepalive(t0, 1, Some(Duration::from_millis(300)))
        .unwrap();
    a.write(t0, 1, b"hello").unwrap();
    let d = one(&mut a);
    feed(&mut b, t0, a_addr(), &d);
    let ack = one(&mut b);
    let t1 = t0 + Duration::from_millis(1);
    feed(&mut a, t1, b_addr(), &ack);
    let _ = events(&mut b);
    // The keepalive fires 300 ms after the last send.
    assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_millis(300)));
    a.handle_timeout(t0 + Duration::from_millis(300));
    let hb = one(&mut a);
    assert_eq!(hb, unhex("ff01200002000000000040000100000000000000"));
    feed(&mut b, t1, a_addr(), &hb);
    assert_eq!(
        one(&mut b),
        unhex("ff01000001000000000040000000000001000000")
    );
    assert!(events(&mut b).is_empty());
    // A heartbeat with an absurd ack is still answered once and its ack ignored.
    let mut odd = hb.clone();
    odd[16..20].copy_from_slice(&1000u32.to_le_bytes());
    feed(&mut b, t1, a_addr(), &odd);
    assert_eq!(take(&mut b).len(), 1);
}

#[test]
fn vector_destroy() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    a.write(t0, 1, b"hello").unwrap();
    let d = one(&mut a);
    feed(&mut b, t0, a_addr(), &d);
    feed(&mut a, t0, b_addr(), &one(&mut b));
    a.destroy(t0, 1).unwrap();
    let destroy = one(&mut a);
    assert_eq!(destroy, unhex("ff01100002000000000040000100000000000000"));
    assert_eq!(
        events(&mut a),
        [Event::Closed {
            id: 1,
            reason: CloseReason::Destroyed
        }]
    );
    let _ = events(&mut b);
    feed(&mut b, t0, a_addr(), &destroy);
    assert_eq!(
        events(&mut b),
        [Event::Closed {
            id: 2,
            reason: CloseReason::Reset
        }]
    );
    assert!(take(&mut b).is_empty());
}

#[test]
fn stale_destroy_is_ignored() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    a.write(t0, 1, b"x").unwrap();
    feed(&mut b, t0, a_addr(), &one(&mut a));
    // DESTROY with seq 0 < B's ack 1.
    let stale = Repr::new(PacketType::DESTROY, 2, 0, 0, 0);
    let mut buf = Vec::new();
    stale.emit_to_vec(&mut buf).unwrap();
    feed(&mut b, t0, a_addr(), &buf);
    assert!(b.has_stream(2));
}

#[test]
fn u7_rto_schedule_and_give_up_at_13s() {
    let t0 = Instant::now();
    let mut a = Endpoint::new();
    a.create_stream(1, StreamConfig::default()).unwrap();
    a.connect(t0, 1, S0, 2, b_addr(), None).unwrap();
    a.write(t0, 1, b"into the void").unwrap();
    let mut sends = vec![(Duration::ZERO, one(&mut a))];
    let closed_at = loop {
        let t = a.poll_timeout().expect("a timer while data is outstanding");
        a.handle_timeout(t);
        for p in take(&mut a) {
            sends.push((t - t0, p));
        }
        if let Some(Event::Closed { reason, .. }) = a.poll_event() {
            assert_eq!(reason, CloseReason::TimedOut);
            break t - t0;
        }
        assert!(sends.len() < 20);
    };
    let times: Vec<u64> = sends.iter().map(|(t, _)| t.as_millis() as u64).collect();
    assert_eq!(times, [0, 1000, 3000, 5000, 7000, 9000, 11_000]);
    assert!(
        sends.iter().all(|(_, p)| *p == sends[0].1),
        "identical retransmissions"
    );
    assert_eq!(closed_at, Duration::from_secs(13));
}

#[test]
fn duplicate_data_is_reacked_not_redelivered() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    a.write(t0, 1, b"once").unwrap();
    let d = one(&mut a);
    feed(&mut b, t0, a_addr(), &d);
    let first_ack = one(&mut b);
    feed(&mut b, t0, a_addr(), &d);
    assert_eq!(one(&mut b), first_ack);
    assert_eq!(
        events(&mut b),
        [Event::Data {
            id: 2,
            data: b"once".to_vec()
        }]
    );
    assert_eq!(b.stream_stats(2).unwrap().duplicates, 1);
}

#[test]
fn padded_and_combined_packets_are_accepted() {
    let t0 = Instant::now();
    let (_, mut b) = setup(t0);
    // An MTU-probe style DATA with 32 bytes of padding, then DATA|END.
    let mut probe = Repr::new(PacketType::DATA, 2, 0, 0, 0);
    probe.padding = 32;
    probe.payload = b"abc";
    let mut buf = Vec::new();
    probe.emit_to_vec(&mut buf).unwrap();
    feed(&mut b, t0, a_addr(), &buf);
    let mut last = Repr::new(PacketType::DATA | PacketType::END, 2, 0, 1, 0);
    last.payload = b"def";
    let mut buf = Vec::new();
    last.emit_to_vec(&mut buf).unwrap();
    feed(&mut b, t0, a_addr(), &buf);
    assert_eq!(
        events(&mut b),
        [
            Event::Data {
                id: 2,
                data: b"abc".to_vec()
            },
            Event::Data {
                id: 2,
                data: b"def".to_vec()
            },
            Event::End { id: 2 },
        ]
    );
    // A data offset past the end: consumed and dropped.
    let mut bad = buf.clone();
    bad[3] = 200;
    feed(&mut b, t0, a_addr(), &bad);
    assert_eq!(b.stream_stats(2).unwrap().dropped_bad_offset, 1);
}

#[test]
fn sack_is_capped_at_50_blocks_and_far_packets_dropped() {
    let t0 = Instant::now();
    let (_, mut b) = setup(t0);
    let send = |b: &mut Endpoint, seq: u32| {
        let mut r = Repr::new(PacketType::DATA, 2, 0, seq, 0);
        r.payload = b"z";
        let mut buf = Vec::new();
        r.emit_to_vec(&mut buf).unwrap();
        feed(b, t0, a_addr(), &buf);
        take(b)
    };
    let mut last = Vec::new();
    for k in 0..60 {
        last = send(&mut b, 1 + 2 * k);
    }
    let p = Packet::new_unchecked(&last[0][..]);
    assert_eq!(p.packet_type(), PacketType::SACK);
    assert_eq!(p.sack_blocks().len(), 50);
    assert_eq!(
        p.sack_blocks().iter().next(),
        Some(SackBlock { start: 1, end: 2 })
    );
    // Beyond the out-of-order window: dropped and counted, still acked.
    let far = send(&mut b, MAX_OOO_DISTANCE as u32 + 5);
    assert_eq!(far.len(), 1);
    assert_eq!(b.stream_stats(2).unwrap().dropped_out_of_window, 1);
}

#[test]
fn absurd_sack_and_ack_are_ignored() {
    let t0 = Instant::now();
    let (mut a, mut b) = setup(t0);
    a.write(t0, 1, &vec![1; 3 * 1152]).unwrap();
    let sent = take(&mut a);
    assert_eq!(sent.len(), 3);
    // SACK blocks beyond what was sent, reversed, before the ack: all invalid.
    let blocks = [
        SackBlock { start: 2, end: 100 },
        SackBlock { start: 2, end: 1 },
        SackBlock {
            start: u32::MAX,
            end: 1,
        },
    ];
    let mut r = Repr::new(PacketType::SACK, 1, 0, 0, 0);
    r.sacks = SackList::from_blocks(&blocks);
    let mut buf = Vec::new();
    r.emit_to_vec(&mut buf).unwrap();
    feed(&mut a, t0, b_addr(), &buf);
    assert_eq!(a.stream_stats(1).unwrap().invalid_sack_blocks, 3);
    // An ack of unsent data skips ack processing.
    let r = Repr::new(PacketType::ACK, 1, 0, 0, 50);
    let mut buf = Vec::new();
    r.emit_to_vec(&mut buf).unwrap();
    feed(&mut a, t0, b_addr(), &buf);
    assert_eq!(a.stream_stats(1).unwrap().acks_beyond_sent, 1);
    assert!(take(&mut a).is_empty());
    let _ = &mut b;
}

#[test]
fn change_remote_keeps_old_destination_for_retransmissions() {
    let t0 = Instant::now();
    let (mut a, _) = setup(t0);
    a.write(t0, 1, b"old").unwrap();
    let lost = one(&mut a);
    let new_addr = SocketAddr::from(([127, 0, 0, 1], 6000));
    a.change_remote(t0, 1, SocketId(1), 9, new_addr).unwrap();
    a.write(t0, 1, b"new").unwrap();
    let t = a.poll_transmit().unwrap();
    assert_eq!((t.socket, t.destination), (SocketId(1), new_addr));
    assert_eq!(Packet::new_unchecked(&t.contents[..]).id(), 9);
    // The RTO resends "old" to the old destination with the old id (window 1 now).
    let t1 = t0 + Duration::from_secs(1);
    a.handle_timeout(t1);
    let resent: Vec<_> = std::iter::from_fn(|| a.poll_transmit()).collect();
    assert_eq!(resent.len(), 1);
    assert_eq!((resent[0].socket, resent[0].destination), (S0, b_addr()));
    assert_eq!(resent[0].contents, lost);
    let ack = |n: u32| {
        let mut buf = Vec::new();
        Repr::new(PacketType::ACK, 1, 4_194_304, 0, n)
            .emit_to_vec(&mut buf)
            .unwrap();
        buf
    };
    // Once "old" (everything sent before the change) is acked, the change completes
    // and "new" is resent to the new destination.
    assert_eq!(
        a.handle_datagram(t1, S0, b_addr(), &ack(1)),
        Received::Consumed
    );
    let resent = a.poll_transmit().unwrap();
    assert_eq!((resent.socket, resent.destination), (SocketId(1), new_addr));
    assert_eq!(events(&mut a), [Event::RemoteChanged { id: 1 }]);
}
