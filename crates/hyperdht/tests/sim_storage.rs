//! The hyperdht core ([`HyperDht`]) in a simulated network of 40 nodes: storage
//! operations from an ephemeral client land on, and only on, the storage nodes closest to
//! the target (checked by brute force over the node ids), lookups from another client
//! find what was announced, unannounce removes it, mutable and immutable values round
//! trip — on clean links and with 5 % random loss.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddrV4};

use plures_hyperdht::node::{Event, OpResult};
use plures_hyperdht::{KeyPair, Peer, crypto};

mod simnet;

use simnet::network;

fn done(events: &[Event]) -> &OpResult {
    match events.last() {
        Some(Event::Done { result: Ok(r), .. }) => r,
        other => panic!("operation failed: {other:?}"),
    }
}

fn looked_up(events: &[Event]) -> BTreeSet<[u8; 32]> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Lookup { peers, .. } => Some(peers.iter().map(|p| p.public_key)),
            _ => None,
        })
        .flatten()
        .collect()
}

fn storage_round_trip(seed: u64, loss: f64) {
    let mut net = network(seed, loss);
    let (a, b) = (net.clients[0], net.clients[1]);
    let topic = crypto::hash(b"plures sim topic");
    let alice = KeyPair::from_seed([1; 32]);
    let relay = SocketAddrV4::new(Ipv4Addr::new(10, 9, 9, 9), 1234);

    let ev = net.run(a, |n, now| {
        n.announce(now, topic, alice.clone(), vec![relay])
            .expect("start")
    });
    let OpResult::Committed { nodes } = done(&ev) else {
        panic!("{ev:?}")
    };
    let closest = net.closest(&topic);
    let holders = net.holders(&topic, alice.public_key());
    assert!(holders.len() >= 15, "stored on {} nodes", holders.len());
    assert!(holders.is_subset(&closest), "only the closest store it");
    assert!(nodes.iter().all(|n| closest.contains(n)));

    let ev = net.run(b, |n, now| n.lookup(now, topic).expect("start"));
    assert_eq!(looked_up(&ev), BTreeSet::from([*alice.public_key()]));
    let record = ev.iter().find_map(|e| match e {
        Event::Lookup { peers, .. } => peers.first().cloned(),
        _ => None,
    });
    assert_eq!(
        record,
        Some(Peer {
            public_key: *alice.public_key(),
            relay_addresses: vec![relay]
        })
    );

    let ev = net.run(a, |n, now| {
        n.unannounce(now, topic, alice.clone()).expect("start")
    });
    let OpResult::Committed { nodes: removed } = done(&ev) else {
        panic!("{ev:?}")
    };
    // Every storage node whose LOOKUP reply listed the key got an UNANNOUNCE that took
    // effect; on clean links that is every holder. (Under loss a holder the query never
    // heard from keeps its record until it expires, as with the reference.)
    let listed: BTreeSet<SocketAddrV4> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Lookup { from, peers, .. }
                if peers.iter().any(|p| &p.public_key == alice.public_key()) =>
            {
                Some(*from)
            }
            _ => None,
        })
        .collect();
    let removed: BTreeSet<SocketAddrV4> = removed.iter().copied().collect();
    let left = net.holders(&topic, alice.public_key());
    assert!(listed.is_subset(&removed), "{listed:?} vs {removed:?}");
    assert!(left.is_disjoint(&listed), "{left:?}");
    assert!(
        removed.len() >= 15,
        "unannounced at {} nodes",
        removed.len()
    );
    if loss == 0.0 {
        assert!(left.is_empty(), "{left:?}");
    }
    if left.is_empty() {
        let ev = net.run(b, |n, now| n.lookup(now, topic).expect("start"));
        assert!(looked_up(&ev).is_empty());
    }

    // Mutable: seq 1, then 2; a reader asking for seq ≥ 0 gets the latest.
    let bob = KeyPair::from_seed([2; 32]);
    for (seq, value) in [(1, b"first".to_vec()), (2, b"second".to_vec())] {
        let ev = net.run(a, |n, now| {
            n.mutable_put(now, &bob, value, seq).expect("start")
        });
        assert!(matches!(done(&ev), OpResult::Committed { .. }));
    }
    let ev = net.run(b, |n, now| {
        n.mutable_get(now, bob.public_key(), 0).expect("start")
    });
    let OpResult::Mutable(Some(got)) = done(&ev) else {
        panic!("{ev:?}")
    };
    assert_eq!((got.seq, got.value.as_slice()), (2, &b"second"[..]));
    let ev = net.run(b, |n, now| {
        n.mutable_get(now, bob.public_key(), 3).expect("start")
    });
    assert_eq!(done(&ev), &OpResult::Mutable(None));

    let value = b"immutable bytes".to_vec();
    let ev = net.run(a, |n, now| {
        n.immutable_put(now, value.clone()).expect("start")
    });
    assert!(matches!(done(&ev), OpResult::Committed { .. }));
    let ev = net.run(b, |n, now| {
        n.immutable_get(now, crypto::hash(&value)).expect("start")
    });
    assert_eq!(done(&ev), &OpResult::Immutable(Some(value)));
}

#[test]
fn storage_operations_on_clean_links() {
    storage_round_trip(1, 0.0);
}

#[test]
fn storage_operations_with_five_percent_loss() {
    storage_round_trip(2, 0.05);
}
