use super::*;
use crate::clock::Hlc;
use proptest::prelude::*;
use serde_json::{Value, json};

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z\u{e9}\u{1f600}]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            proptest::collection::btree_map("[a-c]{1,2}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn op(collection: String) -> impl Strategy<Value = Op> {
    let action = prop_oneof![
        ("[a-d]{0,3}", json_value()).prop_map(|(field, value)| Action::Set { field, value }),
        "[a-d]{0,3}".prop_map(|field| Action::Remove { field }),
        Just(Action::Delete),
    ];
    (
        "[a-z0-9:]{0,8}",
        0..=Hlc::MAX_MS,
        any::<u16>(),
        0u8..4,
        action,
    )
        .prop_map(move |(id, ms, c, r, action)| Op {
            collection: collection.clone(),
            id,
            stamp: Stamp::new(Hlc::new(ms, c).unwrap_or(Hlc::MAX), ReplicaId([r; 16])),
            action,
        })
}

fn batch() -> impl Strategy<Value = Batch> {
    ("[a-z]{0,5}", any::<u64>()).prop_flat_map(|(collection, seq)| {
        proptest::collection::vec(op(collection.clone()), 0..20).prop_map(move |ops| Batch {
            seq: seq & plures_compact::MAX_SAFE_INTEGER,
            collection: collection.clone(),
            ops,
        })
    })
}

fn message() -> impl Strategy<Value = Message> {
    let safe = 0..=plures_compact::MAX_SAFE_INTEGER;
    prop_oneof![
        (
            safe.clone(),
            any::<[u8; 16]>(),
            proptest::collection::vec("[a-z]{0,6}", 0..4),
            any::<[u8; 32]>(),
            proptest::collection::vec(any::<[u8; 32]>(), 0..3)
        )
            .prop_map(
                |(version, r, collections, proof, grace_proofs)| Message::Hello(Hello {
                    version,
                    replica: ReplicaId(r),
                    collections,
                    proof,
                    grace_proofs,
                })
            ),
        (
            "[a-z]{0,5}",
            proptest::collection::vec((any::<[u8; 16]>(), any::<u64>()), 0..5)
        )
            .prop_map(|(collection, entries)| Message::VersionVector {
                collection,
                vv: entries
                    .into_iter()
                    .map(|(r, h)| (ReplicaId(r), Hlc::from_u64(h)))
                    .collect(),
            }),
        batch().prop_map(Message::Ops),
        (safe.clone(), safe.clone()).prop_map(|(seq, credit)| Message::Ack { seq, credit }),
        "[a-z]{0,5}".prop_map(|collection| Message::Synced { collection }),
        (batch(), any::<bool>()).prop_map(|(batch, last)| Message::Snapshot { batch, last }),
        (safe.clone(), proptest::collection::vec(any::<u8>(), 0..40))
            .prop_map(|(epoch, sealed_key)| Message::KeyRotate { epoch, sealed_key }),
        safe.clone().prop_map(|reason| Message::Bye { reason }),
        (
            proptest::collection::vec(
                (
                    any::<[u8; 16]>(),
                    proptest::collection::vec("!?[a-z]{0,4}", 0..3)
                ),
                0..4
            ),
            proptest::collection::vec(
                (
                    "[a-z]{0,5}",
                    proptest::collection::vec((any::<[u8; 16]>(), any::<u64>()), 0..3)
                ),
                0..3
            )
        )
            .prop_map(|(links, vectors)| Message::Links(Links {
                links: links
                    .into_iter()
                    .map(|(r, collections)| Link {
                        replica: ReplicaId(r),
                        collections,
                    })
                    .collect(),
                vectors: vectors
                    .into_iter()
                    .map(|(c, entries)| (
                        c,
                        entries
                            .into_iter()
                            .map(|(r, h)| (ReplicaId(r), Hlc::from_u64(h)))
                            .collect()
                    ))
                    .collect(),
            })),
        (9..=plures_compact::MAX_SAFE_INTEGER).prop_map(|kind| Message::Unknown { kind }),
    ]
}

/// The packed decoder accepts exactly the OPS/SNAPSHOT bodies the message decoder does and
/// gives the same batch; other bodies it leaves alone.
fn packed_agrees(body: &[u8]) -> Result<(), TestCaseError> {
    match (decode_packed(body), decode_message(body)) {
        (Ok(Some(p)), Ok(Message::Ops(b) | Message::Snapshot { batch: b, .. })) => {
            prop_assert_eq!(p.to_batch().unwrap(), b.clone());
            prop_assert_eq!(PackedBatch::from_batch(&b).to_batch().unwrap(), b);
        }
        (Ok(None), Ok(m)) => {
            let batch = matches!(m, Message::Ops(_) | Message::Snapshot { .. });
            prop_assert!(!batch);
        }
        (Err(_), Err(_)) | (Ok(None), Err(_)) => {}
        (p, m) => prop_assert!(false, "packed {:?} but message {:?}", p, m),
    }
    Ok(())
}

proptest! {
    #[test]
    fn messages_round_trip(m in message()) {
        let frame = m.to_frame().unwrap();
        let (body, used) = split_frame(&frame).unwrap().unwrap();
        prop_assert_eq!(used, frame.len());
        prop_assert_eq!(body.len(), m.encoded_len());
        prop_assert_eq!(decode_message(body).unwrap(), m.clone());
        // Every strict prefix of a frame asks for more bytes.
        for cut in 0..frame.len() {
            prop_assert_eq!(split_frame(&frame[..cut]).unwrap(), None);
        }
        // Trailing bytes after a message are ignored.
        let mut longer = body.to_vec();
        longer.extend_from_slice(&[1, 2, 3]);
        prop_assert_eq!(decode_message(&longer).unwrap(), m);
        packed_agrees(body)?;
        packed_agrees(&longer)?;
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        packed_agrees(&bytes)?;
        let _ = split_frame(&bytes);
    }

    #[test]
    fn mutated_messages_never_panic(m in message(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let mut body = Encode::to_bytes(&m).unwrap();
        for (i, b) in flips {
            if !body.is_empty() {
                let n = body.len();
                body[i % n] = b;
            }
        }
        packed_agrees(&body)?;
        for cut in 0..body.len() {
            packed_agrees(&body[..cut])?;
        }
    }
}

#[test]
fn huge_counts_are_rejected_before_allocating() {
    // OPS with 2^40 replicas in a few bytes.
    let mut e = Encoder::new();
    e.uint(2);
    e.uint(0);
    e.string("c");
    e.uint(1 << 40);
    let body = e.finish().unwrap();
    assert_eq!(
        decode_message(&body),
        Err(WireError::Decode(DecodeError::OutOfBounds("element count")))
    );
    // A frame announcing more than MAX_FRAME bytes.
    let mut e = Encoder::new();
    e.uint(MAX_FRAME as u64 + 1);
    assert_eq!(
        split_frame(&e.finish().unwrap()),
        Err(WireError::FrameTooLarge(MAX_FRAME as u64 + 1))
    );
}

#[test]
fn unknown_types_and_bad_indices() {
    // An unknown type with a payload decodes as Unknown (to be skipped).
    assert_eq!(
        decode_message(&[42, 9, 9, 9]),
        Ok(Message::Unknown { kind: 42 })
    );
    // An op whose record id index is out of the table is a violation.
    let mut e = Encoder::new();
    e.uint(2); // OPS
    e.uint(0); // seq
    e.string("c");
    e.uint(1);
    e.raw(&[1; 16]);
    e.uint(0); // no fields
    e.uint(1); // one op
    e.u8(OP_DELETE | OP_NEW_REPLICA);
    e.uint(0); // replica 0
    e.uint(0); // id 0, not introduced by an earlier op
    e.int(1);
    e.uint(0);
    assert_eq!(
        decode_message(&e.finish().unwrap()),
        Err(WireError::Decode(DecodeError::Invalid("record id index")))
    );
}

fn small_updates(ids: usize) -> Batch {
    let replica = ReplicaId([7; 16]);
    let mut clock = crate::Clock::new(replica);
    let ops = (0..1_000u64)
        .map(|i| Op {
            collection: "todos".into(),
            id: format!("todo:{}", i as usize % ids),
            // Ten writes per millisecond.
            stamp: clock.now(1_700_000_000_000 + i / 10).unwrap(),
            action: Action::Set {
                field: "done".into(),
                value: json!(i % 2 == 0),
            },
        })
        .collect();
    Batch {
        seq: 1,
        collection: "todos".into(),
        ops,
    }
}

/// Measures bytes per op of 1 000 single-field small updates in one OPS frame.
#[test]
fn bytes_per_small_update() {
    for ids in [10, 100, 1_000] {
        let m = Message::Ops(small_updates(ids));
        let frame = m.to_frame().unwrap();
        let per_op = frame.len() as f64 / 1_000.0;
        eprintln!(
            "1000 updates over {ids} records: {} bytes, {per_op:.2} bytes/op",
            frame.len()
        );
        // Record ids are written once per batch; with few records the ids amortise away.
        assert!(per_op <= if ids <= 100 { 6.0 } else { 14.0 });
        assert_eq!(
            decode_message(split_frame(&frame).unwrap().unwrap().0).unwrap(),
            m
        );
    }
}

#[test]
fn value_forms_counter_deltas_and_inline_ids_round_trip() {
    let r = |n: u8| ReplicaId([n; 16]);
    let at = |ms: u64, c: u16, n: u8| Stamp::new(Hlc::new(ms, c).unwrap(), r(n));
    let set = |v: Value| Action::Set {
        field: "f".into(),
        value: v,
    };
    let max_safe = plures_compact::MAX_SAFE_INTEGER;
    // Same millisecond with rising and falling counters, a replica switch, ids repeated
    // and new, and every value form (false, true, uint, and JSON for the rest).
    let steps = [
        ("a", at(5, 7, 1), set(json!(false))),
        ("b", at(5, 8, 1), set(json!(true))),
        ("a", at(5, 3, 2), set(json!(0))),
        ("c", at(5, 0xffff, 2), set(json!(max_safe))),
        ("b", at(4, 0, 2), set(json!(max_safe + 1))),
        ("a", at(4, 0, 1), set(json!(-1))),
        ("d", at(9, 2, 1), set(json!(1.5))),
        ("a", at(9, 1, 1), set(json!("x"))),
        ("d", at(9, 1, 1), Action::Remove { field: "g".into() }),
        ("e", at(0, 0, 1), Action::Delete),
    ];
    let ops: Vec<Op> = steps
        .into_iter()
        .map(|(id, stamp, action)| Op {
            collection: "c".into(),
            id: id.into(),
            stamp,
            action,
        })
        .collect();
    let m = Message::Ops(Batch {
        seq: 3,
        collection: "c".into(),
        ops,
    });
    let frame = m.to_frame().unwrap();
    let (body, _) = split_frame(&frame).unwrap().unwrap();
    assert_eq!(decode_message(body).unwrap(), m);
    // A value form on a remove is malformed.
    let mut e = Encoder::new();
    e.uint(2); // OPS
    e.uint(0); // seq
    e.string("c");
    e.uint(1);
    e.raw(&[1; 16]);
    e.uint(1); // one field
    e.string("f");
    e.uint(1); // one op
    e.u8(OP_REMOVE | OP_NEW_REPLICA | OP_NEW_ID | VALUE_TRUE);
    e.uint(0); // replica 0
    e.string("x"); // new id
    e.int(1);
    e.uint(0);
    e.uint(0); // field 0
    assert_eq!(
        decode_message(&e.finish().unwrap()),
        Err(WireError::Decode(DecodeError::Invalid("operation kind")))
    );
}
