//! Unit and convergence tests of the data model. The scenario generator and the naive
//! reference model are shared with the store tests.

use super::*;
use crate::clock::Clock;
use proptest::prelude::*;
use serde_json::json;

pub(crate) type Visible = BTreeMap<(String, String), Map<String, Value>>;

const A: ReplicaId = ReplicaId([0xaa; 16]);
const B: ReplicaId = ReplicaId([0xbb; 16]);

fn st(ms: u64, r: ReplicaId) -> Stamp {
    Stamp::new(Hlc::new(ms, 0).unwrap(), r)
}

fn set(field: &str, value: Value) -> Action {
    Action::Set {
        field: field.into(),
        value,
    }
}

fn obj(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn later_write_wins_per_field() {
    let mut r = Record::new();
    assert!(r.is_empty() && !r.is_live() && r.data().is_none());
    r.merge(st(2, A), &set("a", json!(1)));
    r.merge(st(1, B), &set("a", json!(2)));
    r.merge(st(1, B), &set("b", json!(3)));
    assert_eq!(r.data().unwrap(), obj(json!({"a": 1, "b": 3})));
    // Equal milliseconds: the replica id breaks the tie.
    r.merge(st(2, B), &set("a", json!(4)));
    assert_eq!(r.data().unwrap(), obj(json!({"a": 4, "b": 3})));
    r.merge(st(3, A), &Action::Remove { field: "b".into() });
    assert_eq!(r.data().unwrap(), obj(json!({"a": 4})));
    assert_eq!(r.max_stamp(), Some(st(3, A)));
}

#[test]
fn delete_hides_earlier_writes_and_write_after_delete_resurrects_only_that_field() {
    let mut r = Record::new();
    r.merge(st(1, A), &set("a", json!(1)));
    r.merge(st(2, A), &set("b", json!(2)));
    let e = r.merge(st(5, B), &Action::Delete);
    assert!(e.changed());
    assert_eq!(e.removed.len(), 2);
    assert!(!r.is_live());
    assert_eq!(r.tombstone(), Some(st(5, B)));
    // A write stamped before the delete, arriving late, is ignored.
    assert!(!r.merge(st(4, A), &set("c", json!(3))).changed());
    assert!(!r.is_live());
    // A write after the delete resurrects the record with that field only.
    r.merge(st(6, A), &set("a", json!(10)));
    assert_eq!(r.data().unwrap(), obj(json!({"a": 10})));
    // An older delete changes nothing; a newer one hides the resurrected field.
    assert!(!r.merge(st(3, A), &Action::Delete).changed());
    r.merge(st(7, B), &Action::Delete);
    assert!(r.data().is_none());
    // Removing a field after the delete also makes the record live, with no fields.
    r.merge(st(8, A), &Action::Remove { field: "x".into() });
    assert_eq!(r.data().unwrap(), Map::new());
}

#[test]
fn ties_are_deterministic() {
    // A delete and a write with the same stamp: the delete wins in either order.
    let mut x = Record::new();
    x.merge(st(1, A), &set("a", json!(1)));
    x.merge(st(1, A), &Action::Delete);
    let mut y = Record::new();
    y.merge(st(1, A), &Action::Delete);
    y.merge(st(1, A), &set("a", json!(1)));
    assert_eq!(x, y);
    assert!(!x.is_live());
    // Two values with the same stamp: the greater JSON text wins in either order.
    let mut x = Record::new();
    x.merge(st(1, A), &set("a", json!("p")));
    x.merge(st(1, A), &set("a", json!("q")));
    x.merge(st(1, A), &Action::Remove { field: "a".into() });
    let mut y = Record::new();
    y.merge(st(1, A), &Action::Remove { field: "a".into() });
    y.merge(st(1, A), &set("a", json!("q")));
    y.merge(st(1, A), &set("a", json!("p")));
    assert_eq!(x, y);
    assert_eq!(x.data().unwrap(), obj(json!({"a": "q"})));
}

#[test]
fn effects_track_the_winners() {
    let mut r = Record::new();
    let e = r.merge(st(1, A), &set("a", json!(1)));
    assert_eq!(e.added, Some((st(1, A), Slot::Field("a".into()))));
    let e = r.merge(st(2, B), &set("a", json!(2)));
    assert_eq!(e.removed, vec![(st(1, A), Slot::Field("a".into()))]);
    assert_eq!(
        r.action_at(st(2, B), &Slot::Field("a".into())),
        Some(set("a", json!(2)))
    );
    assert_eq!(r.action_at(st(1, A), &Slot::Field("a".into())), None);
    let e = r.merge(st(3, A), &Action::Delete);
    assert_eq!(
        r.action_at(st(3, A), &Slot::Tombstone),
        Some(Action::Delete)
    );
    let e2 = r.merge(st(4, A), &Action::Delete);
    assert_eq!(e.added, Some((st(3, A), Slot::Tombstone)));
    assert_eq!(e2.removed, vec![(st(3, A), Slot::Tombstone)]);
    // Idempotent: merging the winner again changes nothing.
    assert_eq!(r.merge(st(4, A), &Action::Delete), Effect::default());
}

#[test]
fn version_vector() {
    let mut vv = VersionVector::new();
    assert!(vv.is_empty());
    assert!(vv.observe(st(5, A)));
    assert!(!vv.observe(st(4, A)));
    assert!(vv.contains(st(5, A)) && !vv.contains(st(6, A)) && !vv.contains(st(1, B)));
    let other: VersionVector = [(B, Hlc::new(9, 0).unwrap()), (A, Hlc::new(2, 0).unwrap())]
        .into_iter()
        .collect();
    vv.join(&other);
    assert_eq!(vv.len(), 2);
    assert_eq!(vv.get(&A), Hlc::new(5, 0).unwrap());
    assert_eq!(vv.get(&B), Hlc::new(9, 0).unwrap());
    assert_eq!(vv.iter().count(), 2);
}

// ---------------------------------------------------------------------------------------
// Convergence

/// A generated history: the operations made by several replicas, and for each replica the
/// order (with duplicates) in which it receives all of them.
#[derive(Debug, Clone)]
pub(crate) struct Scenario {
    pub(crate) ops: Vec<Op>,
    pub(crate) deliveries: Vec<Vec<Op>>,
}

/// A small deterministic generator for shuffles (xorshift64*).
pub(crate) struct Mix(u64);

impl Mix {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed | 1)
    }
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every op, at least once, in a random order with random duplicates.
pub(crate) fn shuffled_with_duplicates(ops: &[Op], mix: &mut Mix) -> Vec<Op> {
    let mut out: Vec<Op> = ops.to_vec();
    for _ in 0..ops.len() / 3 {
        out.push(ops[mix.below(ops.len())].clone());
    }
    for i in (1..out.len()).rev() {
        out.swap(i, mix.below(i + 1));
    }
    out
}

/// Events: (replica, kind, collection, id, field, value, time step, peer).
type Event = (usize, u8, u8, u8, u8, u8, u8, usize);

fn build(replicas: usize, events: Vec<Event>, seed: u64) -> Scenario {
    let mut clocks: Vec<Clock> = (0..replicas)
        .map(|i| Clock::new(ReplicaId([i as u8 + 1; 16])))
        .collect();
    let mut now = 1_700_000_000_000u64;
    let mut ops = Vec::new();
    for (r, kind, coll, id, field, value, dt, peer) in events {
        let r = r % replicas;
        now += u64::from(dt % 4);
        // Each replica's physical clock is skewed by a few milliseconds.
        let pt = now + (r as u64 * 3) % 7;
        if kind >= 8 {
            // Replica r hears from its peer: causally orders later writes after its writes.
            let remote = clocks[peer % replicas].last();
            clocks[r].update(remote, pt).unwrap();
            continue;
        }
        let stamp = clocks[r].now(pt).unwrap();
        let field = format!("f{}", field % 3);
        let action = match kind {
            0..=4 => Action::Set {
                field,
                value: json!(value % 5),
            },
            5 => Action::Remove { field },
            _ => Action::Delete,
        };
        ops.push(Op {
            collection: format!("c{}", coll % 2),
            id: format!("r{}", id % 3),
            stamp,
            action,
        });
    }
    let mut mix = Mix::new(seed);
    let deliveries = (0..replicas)
        .map(|_| shuffled_with_duplicates(&ops, &mut mix))
        .collect();
    Scenario { ops, deliveries }
}

pub(crate) fn scenario() -> impl Strategy<Value = Scenario> {
    let event = (
        0usize..5,
        0u8..10,
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        any::<u8>(),
        0usize..5,
    );
    (
        3usize..=5,
        proptest::collection::vec(event, 1..60),
        any::<u64>(),
    )
        .prop_map(|(n, events, seed)| build(n, events, seed))
}

/// The naive reference: sort every operation by stamp and replay it sequentially.
pub(crate) fn reference(ops: &[Op]) -> Visible {
    let mut sorted: Vec<&Op> = ops.iter().collect();
    // Generated stamps are unique, so the sort needs no further tie-break.
    sorted.sort_by_key(|op| op.stamp);
    let mut db: Visible = BTreeMap::new();
    for op in sorted {
        let key = (op.collection.clone(), op.id.clone());
        match &op.action {
            Action::Set { field, value } => {
                db.entry(key)
                    .or_default()
                    .insert(field.clone(), value.clone());
            }
            Action::Remove { field } => {
                db.entry(key).or_default().remove(field);
            }
            Action::Delete => {
                db.remove(&key);
            }
        }
    }
    db
}

pub(crate) type State = BTreeMap<(String, String), Record>;

pub(crate) fn merge_all(ops: &[Op]) -> State {
    let mut state = State::new();
    for op in ops {
        state
            .entry((op.collection.clone(), op.id.clone()))
            .or_default()
            .merge(op.stamp, &op.action);
    }
    state
}

pub(crate) fn visible(state: &State) -> Visible {
    state
        .iter()
        .filter_map(|(k, r)| r.data().map(|d| (k.clone(), d)))
        .collect()
}

proptest! {
    #[test]
    fn replicas_converge_to_the_reference(s in scenario()) {
        let expected = reference(&s.ops);
        let first = merge_all(&s.deliveries[0]);
        for delivery in &s.deliveries {
            let state = merge_all(delivery);
            prop_assert_eq!(&state, &first);
            prop_assert_eq!(visible(&state), expected.clone());
        }
    }

    #[test]
    fn join_is_a_semilattice(s in scenario(), cut1 in 0usize..100, cut2 in 0usize..100) {
        // Split one delivery into three partial states and join them in different shapes.
        let d = &s.deliveries[0];
        let (i, j) = {
            let a = cut1 % (d.len() + 1);
            let b = cut2 % (d.len() + 1);
            (a.min(b), a.max(b))
        };
        let parts = [merge_all(&d[..i]), merge_all(&d[i..j]), merge_all(&d[j..])];
        let join = |x: &State, y: &State| {
            let mut out = x.clone();
            for (k, r) in y {
                out.entry(k.clone()).or_default().join(r);
            }
            out
        };
        let left = join(&join(&parts[0], &parts[1]), &parts[2]);
        let right = join(&parts[0], &join(&parts[1], &parts[2]));
        let swapped = join(&parts[2], &join(&parts[1], &parts[0]));
        let twice = join(&left, &left);
        prop_assert_eq!(&left, &right);
        prop_assert_eq!(&left, &swapped);
        prop_assert_eq!(&left, &twice);
        prop_assert_eq!(left, merge_all(d));
    }
}
