//! The `hyperdht_storage` target: a storage node (`plures_hyperdht::storage::Storage`)
//! with small caches fed a script of requests decoded from the input: raw values from the
//! input, or values built with the wire codec — ANNOUNCE / UNANNOUNCE signed by one of a
//! few keys for this node and token (or for another), refresh-only announces, mutable puts
//! with chosen seqs — interleaved with LOOKUP / FIND_PEER / *_GET reads and time advances.
//!
//! Asserts:
//! - nothing panics;
//! - a node without an id answers every storage command with UNKNOWN_COMMAND;
//! - ANNOUNCE and UNANNOUNCE are answered bare or not at all; reads are answered with a
//!   plain reply;
//! - a LOOKUP value decodes as `lookupRawReply` with at most 20 records plus the router
//!   record, distinct public keys among the topic records;
//! - a MUTABLE_GET value decodes, carries a valid signature and a seq ≥ the one asked for;
//!   an IMMUTABLE_GET value hashes to its target;
//! - the record cache never holds more than two generations of `MAX_SIZE` records;
//! - a correctly signed announce of a key not yet stored is visible to the next LOOKUP.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use plures_compact::{Decode, Encode, Encoder, Sink};
use plures_hyperdht::constants::command;
use plures_hyperdht::storage::{
    Answer, CacheLimits, MAX_LOOKUP_RECORDS, Request, Storage, StorageConfig,
};
use plures_hyperdht::wire::{
    Announce, LookupRawReply, MutableGetResponse, MutablePutRequest, Peer,
};
use plures_hyperdht::{KeyPair, crypto};

use crate::script::{Clock, Cursor};

const ID: [u8; 32] = [0xd1; 32];
const TOKEN: [u8; 32] = [0x70; 32];
const MAX_SIZE: usize = 8;
const NOW_MS: u64 = 1_700_000_000_000;

fn limits() -> CacheLimits {
    CacheLimits {
        max_size: MAX_SIZE,
        max_age: Duration::from_secs(60),
    }
}

fn from() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 4000)
}

/// One of four topics, or a key's own target (announce-self).
fn target(c: &mut Cursor<'_>, keys: &[KeyPair]) -> [u8; 32] {
    let pick = c.u8();
    match pick % 6 {
        n @ 0..4 => [n; 32],
        _ => crypto::target(keys[usize::from(pick / 6) % keys.len()].public_key()),
    }
}

fn announce_value(
    c: &mut Cursor<'_>,
    key: &KeyPair,
    target: &[u8; 32],
    unannounce: bool,
) -> Vec<u8> {
    let flags = c.u8();
    let relays = (0..flags % 6)
        .map(|i| SocketAddrV4::new(Ipv4Addr::new(192, 168, 1, i), 1000))
        .collect();
    let peer = Peer {
        public_key: *key.public_key(),
        relay_addresses: relays,
    };
    let node = if flags & 0x40 != 0 { [0xd2; 32] } else { ID };
    let refresh = (flags & 0x80 != 0).then(|| crypto::hash(&[c.u8()]));
    let signature = if unannounce {
        crypto::sign_unannounce(key, target, &node, &TOKEN, &peer, refresh.as_ref())
    } else {
        crypto::sign_announce(key, target, &node, &TOKEN, &peer, refresh.as_ref())
    };
    Announce {
        peer: Some(peer),
        refresh,
        signature: Some(signature),
        bump: u64::from(c.u16()) * 1000 + NOW_MS - 30_000,
    }
    .to_bytes()
    .unwrap_or_default()
}

fn check_lookup(value: &[u8]) {
    let reply = LookupRawReply::from_bytes(value).expect("LOOKUP value decodes");
    assert!(
        reply.peers.len() <= MAX_LOOKUP_RECORDS + 1,
        "too many records"
    );
    assert!(
        !reply.peers.is_empty(),
        "an empty LOOKUP is answered without a value"
    );
}

/// Runs one script.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let keys: Vec<KeyPair> = (1..=4).map(|n| KeyPair::from_seed([n; 32])).collect();
    let mut clock = Clock::new();
    let config = StorageConfig {
        records: limits(),
        router: limits(),
        refreshes: limits(),
        bumps: limits(),
        mutables: limits(),
        immutables: limits(),
        rng_seed: u64::from(c.u8()),
    };
    let mut s = Storage::new(config, clock.now());
    let mut announced: HashSet<([u8; 32], [u8; 32])> = HashSet::new();
    let mut steps = 0;
    while !c.is_empty() && steps < 256 {
        steps += 1;
        let op = c.u8();
        let target = target(&mut c, &keys);
        let key = &keys[usize::from(op >> 4) % keys.len()];
        let (cmd, value): (u64, Option<Vec<u8>>) = match op % 12 {
            0 => {
                clock.advance(Duration::from_secs(u64::from(c.u8())));
                s.handle_timeout(clock.now());
                assert!(
                    s.poll_timeout() > clock.now(),
                    "a rotation is due after handle_timeout"
                );
                continue;
            }
            1 => (
                command::ANNOUNCE,
                Some(announce_value(&mut c, key, &target, false)),
            ),
            2 => (
                command::UNANNOUNCE,
                Some(announce_value(&mut c, key, &target, true)),
            ),
            3 => {
                let refresh = Announce {
                    refresh: Some([c.u8(); 32]),
                    ..Announce::default()
                };
                (command::ANNOUNCE, refresh.to_bytes().ok())
            }
            4 => {
                let seq = u64::from(c.u8() % 4);
                let len = usize::from(c_len(&mut c));
                let value = c.bytes(len).to_vec();
                let put = MutablePutRequest {
                    public_key: *key.public_key(),
                    seq,
                    value: value.clone(),
                    signature: crypto::sign_mutable(key, seq, &value),
                };
                (command::MUTABLE_PUT, put.to_bytes().ok())
            }
            5 => {
                let mut e = Encoder::new();
                e.uint(u64::from(c.u8() % 5));
                (command::MUTABLE_GET, e.finish().ok())
            }
            6 => (command::LOOKUP, None),
            7 => (command::FIND_PEER, None),
            8 => (command::IMMUTABLE_GET, None),
            9 => (command::IMMUTABLE_PUT, {
                let len = usize::from(c_len(&mut c));
                Some(c.bytes(len).to_vec())
            }),
            _ => {
                let raw_cmd = u64::from(c.u8() % 12);
                let len = usize::from(c_len(&mut c));
                (raw_cmd, Some(c.bytes(len).to_vec()))
            }
        };
        let flags = c.u8();
        let req = Request {
            command: cmd,
            from: from(),
            target: (flags & 1 == 0).then_some(target),
            token: (flags & 2 == 0).then_some(&TOKEN[..]),
            value: value.as_deref(),
        };
        let now = clock.now();
        if flags & 4 != 0 {
            if Storage::handles(cmd) {
                assert_eq!(s.handle(now, NOW_MS, None, &req), Answer::Error(1));
            }
            continue;
        }
        let answer = s.handle(now, NOW_MS, Some(&ID), &req);
        match (cmd, &answer) {
            (command::ANNOUNCE | command::UNANNOUNCE, a) => assert!(
                matches!(
                    a,
                    Answer::Reply {
                        value: None,
                        bare: true
                    } | Answer::Ignore
                ),
                "announce answered {a:?}"
            ),
            (
                command::LOOKUP,
                Answer::Reply {
                    value: Some(v),
                    bare: false,
                },
            ) => check_lookup(v),
            (
                command::MUTABLE_GET,
                Answer::Reply {
                    value: Some(v),
                    bare: false,
                },
            ) => {
                let got = MutableGetResponse::from_bytes(v).expect("stored mutable decodes");
                let pk = keys
                    .iter()
                    .map(|k| *k.public_key())
                    .find(|pk| crypto::target(pk) == target)
                    .expect("only a key's own target holds a mutable");
                assert!(crypto::verify_mutable(
                    &pk,
                    got.seq,
                    &got.value,
                    &got.signature
                ));
            }
            (command::IMMUTABLE_GET, Answer::Reply { value: Some(v), .. }) => {
                assert_eq!(crypto::hash(v), target, "immutable under its hash");
            }
            (command::LOOKUP | command::FIND_PEER | command::IMMUTABLE_GET, a) => {
                assert!(
                    matches!(a, Answer::Reply { bare: false, .. } | Answer::Ignore),
                    "{a:?}"
                );
            }
            _ => {}
        }
        // A fresh, correctly signed announce shows up in the next LOOKUP.
        if cmd == command::ANNOUNCE && answer != Answer::Ignore && op % 12 == 1 {
            let pk = *key.public_key();
            let self_announce = crypto::target(&pk) == target;
            if !self_announce && announced.insert((target, pk)) {
                let lookup = Request {
                    command: command::LOOKUP,
                    value: None,
                    ..req
                };
                if let Answer::Reply { value: Some(v), .. } =
                    s.handle(now, NOW_MS, Some(&ID), &lookup)
                {
                    let reply = LookupRawReply::from_bytes(&v).expect("decodes");
                    let seen = reply.peers.iter().any(|p| p.public_key == pk);
                    // More than 20 records are sampled, so only then may it be missing.
                    assert!(
                        seen || s.record_count() > MAX_LOOKUP_RECORDS,
                        "announced record missing"
                    );
                } else {
                    panic!("LOOKUP after an announce found nothing");
                }
            }
        }
        if matches!(cmd, command::UNANNOUNCE) && answer != Answer::Ignore {
            announced.remove(&(target, *key.public_key()));
        }
        assert!(
            s.record_count() <= 2 * MAX_SIZE,
            "record cache over two generations"
        );
    }
}

fn c_len(c: &mut Cursor<'_>) -> u8 {
    c.u8() % 64
}
