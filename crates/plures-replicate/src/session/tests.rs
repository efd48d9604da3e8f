//! Script tests of the session: two sessions over an in-memory byte pipe.

use super::*;
use crate::clock::{Clock, Hlc, Stamp};
use crate::crdt::{Action, Op};
use crate::store::MemoryStore;
use crate::wire::{MAX_FRAME, Message};
use serde_json::json;

const NOW: u64 = 1_000_000;
const A: ReplicaId = ReplicaId([0xa; 16]);
const B: ReplicaId = ReplicaId([0xb; 16]);

fn key(n: u8) -> SyncKey {
    SyncKey::from_bytes([n; 32])
}

/// A tiny deterministic generator (xorshift64*), seeded per test.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n.max(1)
    }
}

fn writes(replica: ReplicaId, collection: &str, n: usize, start_ms: u64) -> Vec<Op> {
    let mut clock = Clock::new(replica);
    (0..n)
        .map(|i| {
            let stamp = clock.now(start_ms + i as u64 / 3).unwrap();
            Op {
                collection: collection.to_owned(),
                id: format!("r{}", i % 17),
                stamp,
                action: Action::Set {
                    field: format!("f{}", i % 3),
                    value: json!(i),
                },
            }
        })
        .collect()
}

struct Side {
    s: Session,
    store: MemoryStore,
    events: Vec<Event>,
    error: Option<Error>,
    /// Operations this side put on the wire.
    sent_ops: usize,
    /// Kinds of the messages this side sent.
    sent_kinds: Vec<u64>,
}

impl Side {
    fn new(cfg: Config, hash: &[u8], role: Role, store: MemoryStore) -> Self {
        Self {
            s: Session::new(cfg, hash, role, NOW),
            store,
            events: Vec::new(),
            error: None,
            sent_ops: 0,
            sent_kinds: Vec::new(),
        }
    }

    fn pair(a: Config, b: Config, sa: MemoryStore, sb: MemoryStore) -> (Self, Self) {
        let hash = [7u8; 64];
        (
            Self::new(a, &hash, Role::Initiator, sa),
            Self::new(b, &hash, Role::Responder, sb),
        )
    }

    /// Drains frames into `wire`; returns whether any were produced.
    fn transmit(&mut self, wire: &mut Vec<u8>) -> bool {
        let mut any = false;
        loop {
            match self.s.poll_transmit(&self.store) {
                Ok(Some(frame)) => {
                    let (body, _) = split_frame(&frame).unwrap().unwrap();
                    let msg = decode_message(body).unwrap();
                    self.sent_kinds.push(msg.kind());
                    if let Message::Ops(b) | Message::Snapshot { batch: b, .. } = &msg {
                        self.sent_ops += b.ops.len();
                    }
                    wire.extend_from_slice(&frame);
                    any = true;
                }
                Ok(None) => return any,
                Err(e) => {
                    self.error.get_or_insert(e);
                }
            }
        }
    }

    fn receive(&mut self, bytes: &[u8]) {
        if let Err(e) = self.s.handle_input(NOW, bytes) {
            self.error.get_or_insert(e);
        }
        while let Some(batch) = self.s.poll_apply() {
            self.store.apply(&batch.ops).unwrap();
            self.s.handle_applied(batch.seq);
        }
        while let Some(e) = self.s.poll_event() {
            self.events.push(e);
        }
    }

    fn completed(&self) -> Option<&Vec<String>> {
        self.events.iter().find_map(|e| match e {
            Event::SyncComplete { collections } => Some(collections),
            _ => None,
        })
    }
}

/// Runs both sides until quiet, delivering bytes in random chunks. With `budget`, the pipe
/// is cut after that many bytes in total: returns `false` if it was cut.
fn run(a: &mut Side, b: &mut Side, rng: &mut Rng, mut budget: Option<usize>) -> bool {
    let (mut ab, mut ba) = (Vec::new(), Vec::new());
    loop {
        let pa = a.transmit(&mut ab);
        let pb = b.transmit(&mut ba);
        if !pa && !pb && ab.is_empty() && ba.is_empty() {
            return true;
        }
        for (wire, to) in [(&mut ab, &mut *b), (&mut ba, &mut *a)] {
            while !wire.is_empty() {
                let mut n = 1 + rng.below(wire.len().min(300));
                if let Some(left) = budget.as_mut() {
                    if *left == 0 {
                        return false;
                    }
                    n = n.min(*left);
                    *left -= n;
                }
                let chunk: Vec<u8> = wire.drain(..n).collect();
                to.receive(&chunk);
            }
        }
    }
}

fn all_ops(store: &MemoryStore) -> Vec<Op> {
    let mut out = Vec::new();
    for c in store.collections().unwrap() {
        out.extend(
            store
                .ops_since(&c, &VersionVector::new(), usize::MAX)
                .unwrap(),
        );
    }
    out
}

fn cfg(replica: ReplicaId, k: u8) -> Config {
    let mut c = Config::new(replica, key(k));
    c.batch_ops = 16;
    c.window_ops = 16;
    c
}

fn store_with(ops: &[Op]) -> MemoryStore {
    let mut s = MemoryStore::new();
    s.apply(ops).unwrap();
    s
}

#[test]
fn two_sessions_converge_and_report_sync_complete() {
    let sa = store_with(&[writes(A, "notes", 100, 1000), writes(A, "tasks", 5, 1000)].concat());
    let sb = store_with(&writes(B, "notes", 40, 1000));
    let (na, nb) = (all_ops(&sa).len(), all_ops(&sb).len());
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), sa, sb);
    assert!(run(&mut a, &mut b, &mut Rng(1), None));
    assert!(
        a.error.is_none() && b.error.is_none(),
        "{:?} {:?}",
        a.error,
        b.error
    );
    assert_eq!(all_ops(&a.store), all_ops(&b.store));
    assert_eq!(b.completed().unwrap(), &["notes", "tasks"]);
    assert_eq!(a.completed().unwrap(), &["notes"]);
    assert!(matches!(a.events[0], Event::Connected { peer } if peer == B));
    // B had nothing of `tasks`: it came as a snapshot; nothing was sent twice.
    assert!(a.sent_kinds.contains(&5));
    assert_eq!((a.sent_ops, b.sent_ops), (na, nb));
}

#[test]
fn live_tail_pushes_later_writes() {
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), MemoryStore::new(), MemoryStore::new());
    let mut rng = Rng(2);
    assert!(run(&mut a, &mut b, &mut rng, None));
    assert!(b.completed().unwrap().is_empty());
    let later = writes(A, "notes", 40, 5000);
    a.store.apply(&later).unwrap();
    a.s.handle_local_write("notes");
    assert!(run(&mut a, &mut b, &mut rng, None));
    assert_eq!(all_ops(&b.store).len(), all_ops(&a.store).len());
    assert_eq!(
        b.store.version_vector("notes").unwrap(),
        a.store.version_vector("notes").unwrap()
    );
    // B does not echo A's operations back.
    b.s.handle_local_write("notes");
    assert!(run(&mut a, &mut b, &mut rng, None));
    assert_eq!(b.sent_ops, 0);
}

#[test]
fn credit_bounds_outstanding_operations() {
    let sa = store_with(&writes(A, "notes", 300, 1000));
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), sa, MemoryStore::new());
    let (mut ab, mut ba) = (Vec::new(), Vec::new());
    a.transmit(&mut ab);
    b.receive(&std::mem::take(&mut ab));
    b.transmit(&mut ba);
    a.receive(&std::mem::take(&mut ba));
    // A keeps transmitting while B never acknowledges: A stops after one window.
    for _ in 0..5 {
        a.transmit(&mut ab);
    }
    assert_eq!(a.sent_ops, 16);
    b.receive(&ab);
    assert_eq!(all_ops(&b.store).len(), 16);
}

#[test]
fn resume_after_cuts_resends_at_most_one_batch() {
    let source = writes(A, "notes", 400, 1000);
    for seed in 1..=12u64 {
        let mut rng = Rng(seed * 0x9e37_79b9);
        let (mut sa, mut sb) = (store_with(&source), MemoryStore::new());
        let mut sent = 0;
        let mut connections = 0;
        loop {
            connections += 1;
            assert!(connections < 100, "seed {seed}: no progress");
            let before = all_ops(&sb).len();
            let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), sa, sb);
            let budget = 1 + rng.below(3000);
            let done = run(&mut a, &mut b, &mut rng, Some(budget));
            sent += a.sent_ops;
            (sa, sb) = (a.store, b.store);
            if done {
                break;
            }
            // What this cut connection sent but B did not apply is at most its one
            // unacknowledged batch (A sends only its winners, from B's version vector on, so
            // each op B applies adds one winner there).
            let applied = all_ops(&sb).len() - before;
            assert!(
                a.sent_ops - applied <= 16,
                "seed {seed}: {} ops unacknowledged",
                a.sent_ops - applied
            );
        }
        assert_eq!(all_ops(&sb), all_ops(&sa), "seed {seed}");
        // Each cut resends at most one batch.
        assert!(
            sent <= 400 + 16 * (connections - 1),
            "seed {seed}: sent {sent}"
        );
    }
}

#[test]
fn wrong_key_fails_the_capability_check_and_gets_no_record() {
    let sa = store_with(&writes(A, "notes", 20, 1000));
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 2), sa, MemoryStore::new());
    run(&mut a, &mut b, &mut Rng(3), None);
    assert!(matches!(a.error, Some(Error::Capability)));
    assert!(matches!(b.error, Some(Error::Capability)));
    // A sent HELLO and BYE only: no vector, no operation.
    assert_eq!(a.sent_kinds, [0, 7]);
    assert!(b.store.collections().unwrap().is_empty());
}

#[test]
fn proof_recorded_on_one_connection_fails_on_another() {
    let mut a = Session::new(cfg(A, 1), &[1; 64], Role::Initiator, NOW);
    let hello = a.poll_transmit(&MemoryStore::new()).unwrap().unwrap();
    let mut other = Session::new(cfg(B, 1), &[2; 64], Role::Responder, NOW);
    assert!(matches!(
        other.handle_input(NOW, &hello),
        Err(Error::Capability)
    ));
    // Reflecting the responder's own proof back does not work either (roles differ).
    let mut c = Session::new(cfg(B, 1), &[1; 64], Role::Responder, NOW);
    let own = c.poll_transmit(&MemoryStore::new()).unwrap().unwrap();
    let mut d = Session::new(cfg(A, 1), &[1; 64], Role::Responder, NOW);
    assert!(matches!(d.handle_input(NOW, &own), Err(Error::Capability)));
}

/// A connected pair after the handshake, with B holding `ops`.
fn connected(ops: &[Op]) -> (Side, Side) {
    connected_with(cfg(A, 1), ops)
}

fn connected_with(ca: Config, ops: &[Op]) -> (Side, Side) {
    let (mut a, mut b) = Side::pair(ca, cfg(B, 1), MemoryStore::new(), store_with(ops));
    let (mut ab, mut ba) = (Vec::new(), Vec::new());
    a.transmit(&mut ab);
    b.receive(&std::mem::take(&mut ab));
    b.transmit(&mut ba);
    a.receive(&std::mem::take(&mut ba));
    a.transmit(&mut ab);
    assert!(a.s.is_connected() && b.s.is_connected());
    (a, b)
}

fn frame(m: &Message) -> Vec<u8> {
    m.to_frame().unwrap()
}

#[test]
fn malformed_truncated_and_oversized_input_changes_nothing() {
    let good = Batch {
        seq: 1,
        collection: "notes".into(),
        ops: writes(B, "notes", 3, 1000),
    };
    let good_frame = frame(&Message::Ops(good.clone()));
    let mut bad_json = good_frame.clone();
    let at = bad_json.len() - 2;
    bad_json[at] = b'{';
    let mut oversized = Vec::new();
    let mut e = plures_compact::Encoder::with_capacity(9);
    plures_compact::Sink::uint(&mut e, MAX_FRAME as u64 + 1);
    oversized.extend(e.finish().unwrap());
    let truncated_body = {
        let (body, _) = split_frame(&good_frame).unwrap().unwrap();
        let cut = &body[..body.len() / 2];
        let mut f = vec![cut.len() as u8];
        f.extend_from_slice(cut);
        f
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("bad json", bad_json),
        ("oversized", oversized),
        ("truncated body", truncated_body),
        (
            "good then garbage",
            [good_frame.clone(), vec![3, 2, 0xff, 0xff]].concat(),
        ),
        (
            "out of sequence",
            frame(&Message::Ops(Batch {
                seq: 2,
                ..good.clone()
            })),
        ),
        (
            "empty",
            frame(&Message::Ops(Batch {
                ops: vec![],
                ..good.clone()
            })),
        ),
        ("second hello", {
            let mut s = Session::new(cfg(B, 1), &[7; 64], Role::Responder, NOW);
            s.poll_transmit(&MemoryStore::new()).unwrap().unwrap()
        }),
        ("ack of nothing", frame(&Message::Ack { seq: 9, credit: 1 })),
        ("future stamp", {
            let ops = writes(B, "notes", 1, NOW + 3_600_000);
            frame(&Message::Ops(Batch {
                ops,
                ..good.clone()
            }))
        }),
        ("too much", {
            let ops = writes(B, "notes", 17, 1000);
            let first = frame(&Message::Ops(Batch {
                ops,
                ..good.clone()
            }));
            [
                first,
                frame(&Message::Ops(Batch {
                    seq: 2,
                    ..good.clone()
                })),
            ]
            .concat()
        }),
    ];
    for (name, bytes) in cases {
        let (mut a, _b) = connected(&[]);
        // Everything in the failing input is dropped, even the good batch before the error.
        let r = a.s.handle_input(NOW, &bytes);
        assert!(r.is_err(), "{name}: accepted");
        assert!(a.s.poll_apply().is_none(), "{name}: something to apply");
        assert!(a.s.is_closed(), "{name}: still open");
        let mut out = Vec::new();
        a.transmit(&mut out);
        assert_eq!(a.sent_kinds.last(), Some(&7), "{name}: no BYE");
    }
}

#[test]
fn messages_before_hello_and_unknown_types() {
    let mut s = Session::new(cfg(A, 1), &[7; 64], Role::Initiator, NOW);
    let unknown = frame(&Message::Unknown { kind: 99 });
    // An unknown type is skipped, even before HELLO.
    s.handle_input(NOW, &unknown).unwrap();
    let ack = frame(&Message::Ack { seq: 0, credit: 5 });
    assert!(matches!(
        s.handle_input(NOW, &ack),
        Err(Error::Violation(_))
    ));
    // Skipped after the handshake too.
    let (mut a, _b) = connected(&[]);
    a.s.handle_input(NOW, &unknown).unwrap();
    assert!(!a.s.is_closed());
}

#[test]
fn handshake_timeout() {
    let mut s = Session::new(cfg(A, 1), &[7; 64], Role::Initiator, NOW);
    assert_eq!(s.poll_timeout(), Some(NOW + 10_000));
    s.handle_timeout(NOW + 9_999).unwrap();
    assert!(matches!(
        s.handle_timeout(NOW + 10_000),
        Err(Error::Timeout)
    ));
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn selective_sync_never_sends_excluded_collections() {
    let ops = [writes(A, "notes", 10, 1000), writes(A, "secret", 10, 1000)].concat();
    let mut ca = cfg(A, 1);
    ca.collections = Collections::all().excluding("secret");
    let (mut a, mut b) = Side::pair(
        ca,
        cfg(B, 1),
        store_with(&ops),
        store_with(&writes(B, "secret", 5, 1000)),
    );
    assert!(run(&mut a, &mut b, &mut Rng(4), None));
    assert!(a.error.is_none() && b.error.is_none());
    assert_eq!(b.store.version_vector("secret").unwrap().len(), 1);
    assert_eq!(a.store.version_vector("secret").unwrap().len(), 1);
    assert_eq!(b.store.version_vector("notes").unwrap().len(), 1);
    assert!(!b.sent_kinds.is_empty() && !b.events.is_empty());
    // A peer that sends an excluded collection anyway is cut off.
    let mut ca = cfg(A, 1);
    ca.collections = Collections::all().excluding("secret");
    let (mut a, _b) = connected_with(ca, &[]);
    let batch = Batch {
        seq: 1,
        collection: "secret".into(),
        ops: writes(B, "secret", 1, 1000),
    };
    let r = a.s.handle_input(NOW, &frame(&Message::Ops(batch)));
    assert!(matches!(r, Err(Error::Violation(_))));
    assert!(a.s.poll_apply().is_none());
}

#[test]
fn key_rotation_is_announced_in_band_and_grace_keys_verify() {
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), MemoryStore::new(), MemoryStore::new());
    let mut rng = Rng(5);
    assert!(run(&mut a, &mut b, &mut rng, None));
    a.s.rotate_key(1, &key(2));
    assert!(run(&mut a, &mut b, &mut rng, None));
    let rotated = b.events.iter().find_map(|e| match e {
        Event::KeyRotated { epoch, key } => Some((*epoch, key.clone())),
        _ => None,
    });
    let (epoch, k) = rotated.unwrap();
    assert_eq!((epoch, k.as_bytes()), (1, key(2).as_bytes()));

    // During grace: a replica on the new key (old one in grace) and one still on the old key.
    let mut new = cfg(A, 2);
    new.keys.grace.push(key(1));
    let (mut a, mut b) = Side::pair(
        new.clone(),
        cfg(B, 1),
        MemoryStore::new(),
        MemoryStore::new(),
    );
    assert!(run(&mut a, &mut b, &mut rng, None));
    assert!(
        a.error.is_none() && b.error.is_none(),
        "{:?} {:?}",
        a.error,
        b.error
    );
    // After grace, the old key is refused.
    new.keys.grace.clear();
    let (mut a, mut b) = Side::pair(new, cfg(B, 1), MemoryStore::new(), MemoryStore::new());
    run(&mut a, &mut b, &mut rng, None);
    assert!(matches!(a.error, Some(Error::Capability)));
}

#[test]
fn same_stamp_writes_are_not_split() {
    // One multi-field write: 20 ops with one stamp; a batch overshoots but is accepted.
    let stamp = Stamp::new(Hlc::new(1000, 0).unwrap(), A);
    let ops: Vec<Op> = (0..20)
        .map(|i| Op {
            collection: "notes".into(),
            id: "x".into(),
            stamp,
            action: Action::Set {
                field: format!("f{i}"),
                value: json!(i),
            },
        })
        .collect();
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), store_with(&ops), MemoryStore::new());
    assert!(run(&mut a, &mut b, &mut Rng(6), None));
    assert!(b.error.is_none(), "{:?}", b.error);
    assert_eq!(
        b.store.get("notes", "x").unwrap(),
        a.store.get("notes", "x").unwrap()
    );
    assert_eq!(all_ops(&b.store).len(), 20);
}

#[test]
fn overshoot_of_a_multi_field_write_is_owed_against_later_credit() {
    // Ten 3-field writes then fifty 1-field writes, window and batch of 16: the first batch
    // overshoots to 18 operations, the second ends exactly on its limit, so the sender must
    // count the overshoot against the credit the first ACK returns (16 + 18 - 18 - 16 = 0,
    // not 2) and wait, or the receiver sees a batch beyond its credit.
    let mut clock = Clock::new(A);
    let mut ops = Vec::new();
    for i in 0..60u64 {
        let stamp = clock.now(1000 + i).unwrap();
        let fields = if i < 10 { 3 } else { 1 };
        for f in 0..fields {
            ops.push(Op {
                collection: "notes".into(),
                id: format!("r{i}"),
                stamp,
                action: Action::Set {
                    field: format!("f{f}"),
                    value: json!(i),
                },
            });
        }
    }
    let (mut a, mut b) = Side::pair(cfg(A, 1), cfg(B, 1), store_with(&ops), MemoryStore::new());
    // Whole flights at once, so a batch sent early arrives before the previous one's ACK.
    loop {
        let (mut ab, mut ba) = (Vec::new(), Vec::new());
        let sent = a.transmit(&mut ab) | b.transmit(&mut ba);
        if !sent {
            break;
        }
        b.receive(&ab);
        a.receive(&ba);
    }
    assert!(b.error.is_none(), "{:?}", b.error);
    assert!(a.error.is_none(), "{:?}", a.error);
    assert_eq!(all_ops(&b.store), all_ops(&a.store));
    assert!(b.completed().is_some());
}
