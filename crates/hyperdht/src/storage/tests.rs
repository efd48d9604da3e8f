//! Storage rules of spec §6 / §6.3, one behaviour per test. Signatures are made with
//! `crypto::sign_*`, which the recorded `hashes-and-signatures` vectors pin to the
//! reference's bytes.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_compact::{Decode, Encode, Encoder, Sink};

use super::*;
use crate::KeyPair;
use crate::constants::error_code;
use crate::crypto;
use crate::wire::{Announce, LookupRawReply, MutableGetResponse, MutablePutRequest, Peer};

const ID: [u8; 32] = [0xd1; 32];
const TOKEN: [u8; 32] = [0x70; 32];
const TOPIC: [u8; 32] = [0x11; 32];
const NOW_MS: u64 = 1_700_000_000_000;

fn from(port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 1, 2, 3), port)
}

fn relay(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, n), 1000 + u16::from(n))
}

struct Node {
    s: Storage,
    now: Instant,
}

impl Node {
    fn new() -> Self {
        Self::with(StorageConfig::default())
    }

    fn with(config: StorageConfig) -> Self {
        let now = Instant::now();
        Self {
            s: Storage::new(config, now),
            now,
        }
    }

    fn req(&mut self, command: u64, target: [u8; 32], value: Option<&[u8]>) -> Answer {
        let r = Request {
            command,
            from: from(4000),
            target: Some(target),
            token: Some(&TOKEN),
            value,
        };
        self.s.handle(self.now, NOW_MS, Some(&ID), &r)
    }

    fn announce_value(
        kp: &KeyPair,
        target: &[u8; 32],
        relays: Vec<SocketAddrV4>,
        bump: u64,
    ) -> Vec<u8> {
        let peer = Peer {
            public_key: *kp.public_key(),
            relay_addresses: relays,
        };
        let signature = crypto::sign_announce(kp, target, &ID, &TOKEN, &peer, None);
        let ann = Announce {
            peer: Some(peer),
            signature: Some(signature),
            bump,
            ..Announce::default()
        };
        ann.to_bytes().expect("encode")
    }

    fn announce(&mut self, kp: &KeyPair, target: [u8; 32], relays: Vec<SocketAddrV4>) -> Answer {
        let v = Self::announce_value(kp, &target, relays, 0);
        self.req(command::ANNOUNCE, target, Some(&v))
    }

    fn lookup(&mut self, target: [u8; 32]) -> Option<LookupRawReply> {
        match self.req(command::LOOKUP, target, None) {
            Answer::Reply { value, bare: false } => {
                value.map(|v| LookupRawReply::from_bytes(&v).expect("lookupRawReply"))
            }
            other => panic!("LOOKUP answered {other:?}"),
        }
    }

    fn later(&mut self, d: Duration) {
        self.now += d;
    }
}

fn kp(n: u8) -> KeyPair {
    KeyPair::from_seed([n; 32])
}

fn peer(kp: &KeyPair, relays: Vec<SocketAddrV4>) -> Peer {
    Peer {
        public_key: *kp.public_key(),
        relay_addresses: relays,
    }
}

#[test]
fn a_node_without_an_id_answers_unknown_command() {
    let mut n = Node::new();
    let r = Request {
        command: command::LOOKUP,
        from: from(1),
        target: Some(TOPIC),
        token: None,
        value: None,
    };
    assert_eq!(n.s.handle(n.now, NOW_MS, None, &r), Answer::Error(1));
}

#[test]
fn announce_then_lookup_returns_the_record_with_relays_cut_to_three() {
    let mut n = Node::new();
    let a = kp(1);
    let relays: Vec<_> = (1..=5).map(relay).collect();
    assert_eq!(n.announce(&a, TOPIC, relays.clone()), Answer::BARE);
    let got = n.lookup(TOPIC).expect("records");
    assert_eq!(got.peers, vec![peer(&a, relays[..3].to_vec())]);
    assert_eq!(got.bump, 0);
    assert_eq!(n.lookup([0x22; 32]), None);
}

#[test]
fn a_signature_for_another_node_token_or_target_is_ignored() {
    let mut n = Node::new();
    let a = kp(1);
    let p = peer(&a, vec![]);
    for (node, token, target) in [
        ([0xd2; 32], TOKEN, TOPIC),
        (ID, [0x71; 32], TOPIC),
        (ID, TOKEN, [0x12; 32]),
    ] {
        let signature = crypto::sign_announce(&a, &target, &node, &token, &p, None);
        let v = Announce {
            peer: Some(p.clone()),
            signature: Some(signature),
            ..Announce::default()
        }
        .to_bytes()
        .expect("encode");
        assert_eq!(n.req(command::ANNOUNCE, TOPIC, Some(&v)), Answer::Ignore);
    }
    // An unannounce signature does not announce either.
    let signature = crypto::sign_unannounce(&a, &TOPIC, &ID, &TOKEN, &p, None);
    let v = Announce {
        peer: Some(p),
        signature: Some(signature),
        ..Announce::default()
    }
    .to_bytes()
    .expect("encode");
    assert_eq!(n.req(command::ANNOUNCE, TOPIC, Some(&v)), Answer::Ignore);
    assert_eq!(n.lookup(TOPIC), None);
    assert_eq!(n.s.stats().ignored, 4);
}

#[test]
fn announce_without_token_or_with_garbage_is_ignored() {
    let mut n = Node::new();
    let v = Node::announce_value(&kp(1), &TOPIC, vec![], 0);
    let r = Request {
        command: command::ANNOUNCE,
        from: from(1),
        target: Some(TOPIC),
        token: None,
        value: Some(&v),
    };
    assert_eq!(n.s.handle(n.now, NOW_MS, Some(&ID), &r), Answer::Ignore);
    for garbage in [&[][..], &[0xff], &[0x05, 1, 2, 3]] {
        assert_eq!(
            n.req(command::ANNOUNCE, TOPIC, Some(garbage)),
            Answer::Ignore
        );
    }
    assert_eq!(n.s.record_count(), 0);
}

#[test]
fn announce_self_becomes_the_router_record_for_find_peer_and_lookup() {
    let mut n = Node::new();
    let a = kp(3);
    let own = crypto::target(a.public_key());
    assert_eq!(n.announce(&a, own, vec![relay(1)]), Answer::BARE);
    let expected = peer(&a, vec![relay(1)]).to_bytes().expect("encode");
    assert_eq!(
        n.req(command::FIND_PEER, own, None),
        Answer::Reply {
            value: Some(expected),
            bare: false
        }
    );
    let rr =
        n.s.router_record(n.now, &own)
            .expect("router record")
            .clone();
    assert_eq!(rr.relay, from(4000));
    // LOOKUP appends the router record when fewer than 20 records exist.
    assert_eq!(
        n.lookup(own).expect("reply").peers,
        vec![peer(&a, vec![relay(1)])]
    );
    assert_eq!(n.s.record_count(), 0);
}

#[test]
fn unannounce_removes_topic_and_router_records() {
    let mut n = Node::new();
    let (a, b) = (kp(1), kp(2));
    n.announce(&a, TOPIC, vec![]);
    n.announce(&b, TOPIC, vec![]);
    let unannounce = |k: &KeyPair, target: [u8; 32]| {
        let p = peer(k, vec![]);
        let signature = crypto::sign_unannounce(k, &target, &ID, &TOKEN, &p, None);
        Announce {
            peer: Some(p),
            signature: Some(signature),
            ..Announce::default()
        }
        .to_bytes()
        .expect("encode")
    };
    // A signature by another key does nothing.
    let mut forged = Announce::from_bytes(&unannounce(&b, TOPIC)).expect("decode");
    forged.peer = Some(peer(&a, vec![]));
    let forged = forged.to_bytes().expect("encode");
    assert_eq!(
        n.req(command::UNANNOUNCE, TOPIC, Some(&forged)),
        Answer::Ignore
    );
    assert_eq!(n.s.record_count(), 2);

    assert_eq!(
        n.req(command::UNANNOUNCE, TOPIC, Some(&unannounce(&a, TOPIC))),
        Answer::BARE
    );
    assert_eq!(
        n.lookup(TOPIC).expect("reply").peers,
        vec![peer(&b, vec![])]
    );

    let own = crypto::target(a.public_key());
    n.announce(&a, own, vec![]);
    assert!(n.s.router_record(n.now, &own).is_some());
    assert_eq!(
        n.req(command::UNANNOUNCE, own, Some(&unannounce(&a, own))),
        Answer::BARE
    );
    assert!(n.s.router_record(n.now, &own).is_none());
    assert_eq!(n.req(command::FIND_PEER, own, None), Answer::value(None));
}

#[test]
fn a_reannounce_does_not_replace_a_record_of_the_current_generation() {
    let mut n = Node::new();
    let a = kp(1);
    n.announce(&a, TOPIC, vec![relay(1)]);
    n.announce(&a, TOPIC, vec![relay(2)]);
    assert_eq!(
        n.lookup(TOPIC).expect("reply").peers,
        vec![peer(&a, vec![relay(1)])]
    );
    // Once the record has aged into the old generation, a re-announce replaces it.
    n.later(Duration::from_secs(800));
    n.announce(&a, TOPIC, vec![relay(2)]);
    assert_eq!(
        n.lookup(TOPIC).expect("reply").peers,
        vec![peer(&a, vec![relay(2)])]
    );
    assert_eq!(n.s.record_count(), 1);
}

#[test]
fn records_live_between_two_thirds_and_four_thirds_of_max_age() {
    let mut n = Node::new();
    n.announce(&kp(1), TOPIC, vec![]);
    n.later(Duration::from_secs(799));
    assert!(n.lookup(TOPIC).is_some());
    n.later(Duration::from_secs(1)); // 800 s: first rotation, now in the old generation
    assert!(n.lookup(TOPIC).is_some());
    n.later(Duration::from_secs(799));
    assert!(n.lookup(TOPIC).is_some());
    n.later(Duration::from_secs(1)); // 1600 s: second rotation drops it
    assert!(n.lookup(TOPIC).is_none());
}

#[test]
fn lookup_returns_at_most_twenty_distinct_records_and_samples_them_all() {
    let mut n = Node::new();
    let keys: Vec<_> = (1..=25).map(kp).collect();
    for k in &keys {
        n.announce(k, TOPIC, vec![]);
    }
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..40 {
        let got = n.lookup(TOPIC).expect("reply").peers;
        assert_eq!(got.len(), 20);
        let distinct: std::collections::BTreeSet<_> = got.iter().map(|p| p.public_key).collect();
        assert_eq!(distinct.len(), 20);
        seen.extend(distinct);
    }
    assert_eq!(seen.len(), 25, "every record is eventually sampled");
}

#[test]
fn bump_is_kept_when_newer_and_at_most_a_minute_ahead() {
    let mut n = Node::new();
    let a = kp(1);
    let v = Node::announce_value(&a, &TOPIC, vec![], NOW_MS + 1000);
    n.req(command::ANNOUNCE, TOPIC, Some(&v));
    assert_eq!(n.lookup(TOPIC).expect("reply").bump, NOW_MS + 1000);
    let older = Node::announce_value(&kp(2), &TOPIC, vec![], NOW_MS);
    n.req(command::ANNOUNCE, TOPIC, Some(&older));
    assert_eq!(n.lookup(TOPIC).expect("reply").bump, NOW_MS + 1000);
    let far = Node::announce_value(&kp(3), &TOPIC, vec![], NOW_MS + 60_001);
    n.req(command::ANNOUNCE, TOPIC, Some(&far));
    assert_eq!(n.lookup(TOPIC).expect("reply").bump, NOW_MS + 1000);
    let edge = Node::announce_value(&kp(4), &TOPIC, vec![], NOW_MS + 60_000);
    n.req(command::ANNOUNCE, TOPIC, Some(&edge));
    assert_eq!(n.lookup(TOPIC).expect("reply").bump, NOW_MS + 60_000);
}

#[test]
fn a_refresh_token_re_adds_the_record_without_a_signature() {
    let mut n = Node::new();
    let a = kp(1);
    let next = [0x42; 32];
    let refresh = crypto::hash(&next);
    let p = peer(&a, vec![]);
    let signature = crypto::sign_announce(&a, &TOPIC, &ID, &TOKEN, &p, Some(&refresh));
    let v = Announce {
        peer: Some(p.clone()),
        refresh: Some(refresh),
        signature: Some(signature),
        bump: 0,
    }
    .to_bytes()
    .expect("encode");
    assert_eq!(n.req(command::ANNOUNCE, TOPIC, Some(&v)), Answer::BARE);
    n.later(Duration::from_secs(1600));
    assert!(n.lookup(TOPIC).is_none(), "expired");
    let only = |r: [u8; 32]| {
        Announce {
            refresh: Some(r),
            ..Announce::default()
        }
        .to_bytes()
        .expect("encode")
    };
    // A value that does not hash to a remembered token does nothing.
    assert_eq!(
        n.req(command::ANNOUNCE, TOPIC, Some(&only([0x43; 32]))),
        Answer::Ignore
    );
    // The preimage does, once; then the memory is keyed by the preimage.
    assert_eq!(
        n.req(command::ANNOUNCE, TOPIC, Some(&only(next))),
        Answer::BARE
    );
    assert_eq!(n.lookup(TOPIC).expect("re-added").peers, vec![p]);
    assert_eq!(
        n.req(command::ANNOUNCE, TOPIC, Some(&only(next))),
        Answer::Ignore
    );
}

fn mutable_put(k: &KeyPair, seq: u64, value: &[u8]) -> Vec<u8> {
    MutablePutRequest {
        public_key: *k.public_key(),
        seq,
        value: value.to_vec(),
        signature: crypto::sign_mutable(k, seq, value),
    }
    .to_bytes()
    .expect("encode")
}

fn uint(n: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.uint(n);
    e.finish().expect("encode")
}

#[test]
fn mutable_put_and_get_follow_the_seq_rules() {
    let mut n = Node::new();
    let k = kp(9);
    let t = crypto::target(k.public_key());
    let put = |n: &mut Node, seq, v: &[u8]| {
        n.req(command::MUTABLE_PUT, t, Some(&mutable_put(&k, seq, v)))
    };
    assert_eq!(put(&mut n, 2, b"two"), Answer::value(None));
    assert_eq!(
        put(&mut n, 2, b"two"),
        Answer::value(None),
        "same seq, same value"
    );
    assert_eq!(
        put(&mut n, 2, b"TWO"),
        Answer::Error(error_code::SEQ_REUSED)
    );
    assert_eq!(
        put(&mut n, 1, b"one"),
        Answer::Error(error_code::SEQ_TOO_LOW)
    );
    let get = |n: &mut Node, seq| match n.req(command::MUTABLE_GET, t, Some(&uint(seq))) {
        Answer::Reply { value, bare: false } => {
            value.map(|v| MutableGetResponse::from_bytes(&v).expect("decode"))
        }
        other => panic!("{other:?}"),
    };
    let got = get(&mut n, 0).expect("stored");
    assert_eq!((got.seq, got.value.as_slice()), (2, &b"two"[..]));
    assert!(crypto::verify_mutable(
        k.public_key(),
        got.seq,
        &got.value,
        &got.signature
    ));
    assert!(get(&mut n, 2).is_some());
    assert!(get(&mut n, 3).is_none());
    assert_eq!(put(&mut n, 3, b"three"), Answer::value(None));
    assert_eq!(get(&mut n, 3).expect("stored").value, b"three");
}

#[test]
fn mutable_put_under_the_wrong_target_or_with_a_bad_signature_is_ignored() {
    let mut n = Node::new();
    let k = kp(9);
    let t = crypto::target(k.public_key());
    let v = mutable_put(&k, 1, b"x");
    assert_eq!(n.req(command::MUTABLE_PUT, TOPIC, Some(&v)), Answer::Ignore);
    let mut bad = MutablePutRequest::from_bytes(&v).expect("decode");
    bad.value = b"y".to_vec();
    let bad = bad.to_bytes().expect("encode");
    assert_eq!(n.req(command::MUTABLE_PUT, t, Some(&bad)), Answer::Ignore);
    assert_eq!(
        n.req(command::MUTABLE_GET, t, Some(&uint(0))),
        Answer::value(None)
    );
    assert_eq!(n.req(command::MUTABLE_GET, t, None), Answer::Ignore);
}

#[test]
fn immutable_values_are_stored_under_their_hash_only() {
    let mut n = Node::new();
    let v = b"hello immutable";
    let t = crypto::hash(v);
    assert_eq!(
        n.req(command::IMMUTABLE_PUT, TOPIC, Some(v)),
        Answer::Ignore
    );
    assert_eq!(
        n.req(command::IMMUTABLE_PUT, t, Some(v)),
        Answer::value(None)
    );
    assert_eq!(
        n.req(command::IMMUTABLE_GET, t, None),
        Answer::value(Some(v.to_vec()))
    );
    assert_eq!(
        n.req(command::IMMUTABLE_GET, TOPIC, None),
        Answer::value(None)
    );
}

#[test]
fn the_record_cache_rotates_when_full_and_never_holds_more_than_two_generations() {
    let limits = CacheLimits {
        max_size: 4,
        max_age: Duration::from_secs(1200),
    };
    let mut n = Node::with(StorageConfig {
        records: limits,
        ..StorageConfig::default()
    });
    for i in 0..20u8 {
        n.announce(&kp(i + 1), [i; 32], vec![]);
        assert!(n.s.record_count() <= 2 * limits.max_size);
    }
    // The last 4 announced are in the old generation (rotated on the 20th), none current.
    assert!(n.lookup([19; 32]).is_some());
    assert!(n.lookup([15; 32]).is_none());
}

#[test]
fn xache_reads_move_items_back_to_the_current_generation() {
    let limits = CacheLimits {
        max_size: 100,
        max_age: Duration::from_secs(30),
    };
    let t0 = Instant::now();
    let mut x = Xache::new(limits, t0);
    x.set(t0, 1u8, "a");
    x.set(t0, 2u8, "b");
    let t1 = t0 + Duration::from_secs(20); // rotation: both old
    assert_eq!(x.get(t1, &1), Some(&"a")); // moved back to current
    let t2 = t0 + Duration::from_secs(40); // rotation: 2 dropped, 1 old
    assert_eq!(x.get(t2, &2), None);
    assert_eq!(x.get(t2, &1), Some(&"a"));
    assert_eq!(limits.period(), Duration::from_secs(20));
    assert_eq!(
        CacheLimits {
            max_size: 1,
            max_age: Duration::from_millis(1000)
        }
        .period(),
        Duration::from_millis(667)
    );
}

#[test]
fn arbitrary_requests_never_panic() {
    let mut n = Node::new();
    let mut x: u64 = 7;
    let mut bytes = |len: usize| {
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect::<Vec<u8>>()
    };
    for i in 0..5_000u64 {
        let v = bytes((i % 200) as usize);
        let mut t = [0u8; 32];
        t.copy_from_slice(&bytes(32));
        let r = Request {
            command: i % 12,
            from: from(1),
            target: (i % 7 != 0).then_some(t),
            token: (i % 5 != 0).then_some(&TOKEN[..]),
            value: (i % 3 != 0).then_some(&v[..]),
        };
        let _ = n.s.handle(n.now, NOW_MS, Some(&ID), &r);
    }
    assert_eq!(n.s.record_count(), 0);
}
