use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use proptest::prelude::*;

use super::*;

fn addr(i: u32) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(i), 1000)
}

fn node(id: NodeId, tick: u64) -> Node {
    Node::new(
        id,
        addr(u32::from_be_bytes([id.0[0], id.0[1], id.0[2], id.0[3]])),
        tick,
    )
}

/// An id in row `row` of `own`: equal up to bit `row`, which is flipped, then `rest`.
fn id_in_row(own: &NodeId, row: usize, rest: &[u8; 32]) -> NodeId {
    let mut id = own.0;
    let (byte, bit) = (row / 8, 7 - row % 8);
    id[byte] ^= 1 << bit;
    let keep_mask = !((1u16 << bit) as u8).wrapping_sub(1);
    id[byte] = (id[byte] & keep_mask) | (rest[byte] & !keep_mask);
    id[byte + 1..].copy_from_slice(&rest[byte + 1..]);
    NodeId(id)
}

#[test]
fn spec_closer_nodes_order() {
    // §18.2: the bootstrapper 127.0.0.1:49999 holds 10.0.0.1:1000 and 10.0.0.2:2000 and
    // answers FIND_NODE(aa×32) with 10.0.0.2 first (both in row 1, in id order) although
    // 10.0.0.1 is nearer to the target by XOR.
    let own = NodeId::from_addr("127.0.0.1:49999".parse().unwrap());
    let a: SocketAddrV4 = "10.0.0.1:1000".parse().unwrap();
    let b: SocketAddrV4 = "10.0.0.2:2000".parse().unwrap();
    let mut t = RoutingTable::new(own);
    assert_eq!(
        t.insert(Node::new(NodeId::from_addr(a), a, 0)),
        Insert::Added
    );
    assert_eq!(
        t.insert(Node::new(NodeId::from_addr(b), b, 0)),
        Insert::Added
    );
    assert_eq!(t.row_of(&NodeId::from_addr(a)), 1);
    assert_eq!(t.row_of(&NodeId::from_addr(b)), 1);
    let target = NodeId([0xaa; 32]);
    let got: Vec<SocketAddrV4> = t.closest(&target, K).iter().map(|n| n.addr).collect();
    assert_eq!(got, [b, a]);
    let by_distance: Vec<SocketAddrV4> = t
        .closest_by_distance(&target, K)
        .iter()
        .map(|n| n.addr)
        .collect();
    assert_eq!(by_distance, [a, b]);
}

#[test]
fn rows_and_replacement() {
    let own = NodeId([0; 32]);
    let mut t = RoutingTable::new(own);
    assert_eq!(t.row_of(&own), 255);
    assert_eq!(t.insert(node(own, 0)), Insert::OwnId);
    for i in 0..K {
        let id = id_in_row(&own, 3, &[i as u8; 32]);
        assert_eq!(t.row_of(&id), 3);
        assert_eq!(t.insert(node(id, i as u64)), Insert::Added);
    }
    let extra = node(id_in_row(&own, 3, &[0xee; 32]), 100);
    assert_eq!(t.insert(extra), Insert::RowFull { row: 3 });
    let first = t.row(3)[0];
    let mut again = first;
    again.seen = 50;
    assert_eq!(t.insert(again), Insert::Replaced);
    assert_eq!(t.len(), K);

    // The node pinged longest ago (tick 0) is probed; it is skipped once pinged this tick.
    let probe = t.ping_before_evict(extra, 100).unwrap();
    assert_eq!(probe.old.id, first.id);
    assert_eq!(t.get(&first.id).unwrap().pinged, 100);
    let second = t.ping_before_evict(extra, 100).unwrap();
    assert_ne!(second.old.id, first.id);
    assert_eq!(t.resolve_eviction(second, true), None);
    assert!(t.contains(&second.old.id));
    assert_eq!(t.resolve_eviction(probe, false), Some(Insert::Added));
    assert!(!t.contains(&first.id));
    assert!(t.contains(&extra.id));
    assert_eq!(t.len(), K);
}

#[test]
fn old_recently_pinged_nodes_are_kept() {
    let own = NodeId([0x80; 32]);
    let mut t = RoutingTable::new(own);
    for i in 0..K {
        let mut n = node(id_in_row(&own, 0, &[i as u8; 32]), 0);
        n.pinged = 400 + i as u64;
        t.insert(n);
    }
    let candidate = node(id_in_row(&own, 0, &[0xff; 32]), 405);
    // Oldest ping at 400, 5 ticks ago, and added 405 > 360 ticks ago: keep.
    assert_eq!(t.ping_before_evict(candidate, 405), None);
    // At 500 the last ping is 100 ticks old: probe.
    assert!(t.ping_before_evict(candidate, 500).is_some());
    // Not full: nothing to do.
    let mut small = RoutingTable::new(own);
    assert_eq!(small.ping_before_evict(candidate, 500), None);
}

#[test]
fn rebuild_moves_rows() {
    let own = NodeId([0; 32]);
    let mut t = RoutingTable::new(own);
    let ids: Vec<NodeId> = (0..30u8)
        .map(|i| NodeId([i.wrapping_mul(37); 32]))
        .collect();
    for &id in &ids {
        t.insert(node(id, 0));
    }
    let before = t.len();
    let new_id = ids[5];
    let dropped = t.rebuild(new_id);
    assert_eq!(t.id(), new_id);
    assert!(!t.contains(&new_id));
    assert_eq!(t.len() + dropped.len(), before);
}

/// Brute-force model of the spec's `closest` order: group by row, sort each row by id,
/// walk rows d, d-1, …, 0, d+1, …, 255.
fn model_closest(own: &NodeId, nodes: &[NodeId], target: &NodeId, n: usize) -> Vec<NodeId> {
    let row = |id: &NodeId| own.distance(id).leading_zeros().unwrap_or(255);
    let d = row(target);
    let mut keyed: Vec<(usize, NodeId)> = nodes
        .iter()
        .map(|id| {
            let r = row(id);
            let rank = if r <= d { d - r } else { r };
            (rank, *id)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().take(n).map(|(_, id)| id).collect()
}

fn arb_id() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn closest_matches_models(
        own in arb_id(),
        entries in prop::collection::vec((0usize..24, arb_id()), 0..200),
        removals in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        target_row in 0usize..30,
        target_rest in arb_id(),
        n in 0usize..40,
    ) {
        let own = NodeId(own);
        let mut t = RoutingTable::new(own);
        // Model: id -> node for every live node, with the row-capacity rule applied.
        let mut live: BTreeMap<NodeId, Node> = BTreeMap::new();
        for (i, (row, rest)) in entries.iter().enumerate() {
            let id = id_in_row(&own, *row, rest);
            let nd = node(id, i as u64);
            let in_row = live.keys().filter(|k| t.row_of(k) == *row).count();
            let expect = if live.contains_key(&id) {
                Insert::Replaced
            } else if in_row >= K {
                Insert::RowFull { row: *row }
            } else {
                Insert::Added
            };
            prop_assert_eq!(t.insert(nd), expect);
            if expect != (Insert::RowFull { row: *row }) {
                live.insert(id, nd);
            }
        }
        let keys: Vec<NodeId> = live.keys().copied().collect();
        for r in &removals {
            if keys.is_empty() { break; }
            let id = keys[r.index(keys.len())];
            let removed = t.remove(&id);
            prop_assert_eq!(removed, live.remove(&id));
        }
        prop_assert_eq!(t.len(), live.len());
        prop_assert!(t.iter().all(|nd| live.get(&nd.id) == Some(nd)));

        let target = id_in_row(&own, target_row, &target_rest);
        let ids: Vec<NodeId> = live.keys().copied().collect();

        // XOR order: equals sorting every live node by distance.
        let mut brute = ids.clone();
        brute.sort_by_key(|id| target.distance(id));
        brute.truncate(n);
        let got: Vec<NodeId> = t.closest_by_distance(&target, n).iter().map(|nd| nd.id).collect();
        prop_assert_eq!(got, brute);

        // Wire order: equals the row-walk model of the spec.
        let got: Vec<NodeId> = t.closest(&target, n).iter().map(|nd| nd.id).collect();
        prop_assert_eq!(&got, &model_closest(&own, &ids, &target, n));
        prop_assert_eq!(got.len(), n.min(ids.len()));
        // Every node of the target's own row precedes the others, and is nearer by XOR
        // than any node outside that row.
        let d = t.row_of(&target);
        let in_d = ids.iter().filter(|id| t.row_of(id) == d).count();
        prop_assert!(got.iter().take(in_d).all(|id| t.row_of(id) == d));
        if let Some(far) = ids.iter().filter(|id| t.row_of(id) == d).map(|id| target.distance(id)).max() {
            prop_assert!(ids.iter().filter(|id| t.row_of(id) != d).all(|id| target.distance(id) > far));
        }
    }
}
