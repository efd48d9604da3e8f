//! The `replicate_wire` target: arbitrary bytes through the replication protocol's frame
//! splitter, message decoder and sync session.
//!
//! The input is a byte stream of frames. Asserts: `split_frame` and `decode_message` never
//! panic; a split frame lies inside the input and its body is at most `MAX_FRAME`; every
//! message that decodes re-encodes (`to_frame`) into a frame that splits back whole, whose
//! body has `encoded_len()` bytes and decodes to an equal message, and whose re-encoding is
//! the same bytes (a fixed point); no strict prefix of that frame splits. The packed decoder
//! (`decode_packed`, what a session uses for OPS and SNAPSHOT) accepts exactly the batch
//! bodies `decode_message` accepts, with the same batch. The whole input is
//! also decoded as one body, and fed to a `Session` that has completed its handshake (so
//! the frames reach the post-HELLO state machine): nothing panics, and whatever the session
//! hands out to apply merges into a store.

use crate::prefix_lengths;
use plures_replicate::session::{Config, Session};
use plures_replicate::wire::{
    Hello, MAX_FRAME, Message, PROTOCOL_VERSION, decode_message, decode_packed, split_frame,
};
use plures_replicate::{MemoryStore, ReplicaId, Role, Store, SyncKey};

const NOW: u64 = 1_700_000_000_000;

/// Runs one input.
pub fn run(data: &[u8]) {
    let _ = decode_message(data).map(|m| round_trip(&m));
    packed_agrees(data);
    let mut rest = data;
    while let Ok(Some((body, used))) = split_frame(rest) {
        assert!(used <= rest.len() && body.len() < used && body.len() <= MAX_FRAME);
        if let Ok(m) = decode_message(body) {
            round_trip(&m);
        }
        packed_agrees(body);
        rest = &rest[used..];
    }
    session(data);
}

/// The packed decoder and the message decoder agree on `body`: the same batch when it is
/// an OPS or SNAPSHOT message, nothing packed otherwise.
fn packed_agrees(body: &[u8]) {
    match (decode_packed(body), decode_message(body)) {
        (Ok(Some(p)), Ok(Message::Ops(b) | Message::Snapshot { batch: b, .. })) => {
            assert_eq!(p.to_batch().expect("decoded indices are in range"), b);
        }
        (Ok(None), Ok(m)) => assert!(
            !matches!(m, Message::Ops(_) | Message::Snapshot { .. }),
            "a batch the packed decoder passed over"
        ),
        (Err(_) | Ok(None), Err(_)) => {}
        (p, m) => panic!("packed decoder {p:?}, message decoder {m:?}"),
    }
}

fn round_trip(m: &Message) {
    let frame = m.to_frame().expect("a decoded message encodes");
    let (body, used) = split_frame(&frame)
        .expect("an encoded frame splits")
        .expect("an encoded frame is whole");
    assert_eq!(used, frame.len());
    assert_eq!(body.len(), plures_compact::Encode::encoded_len(m));
    let again = decode_message(body).expect("an encoded message decodes");
    assert_eq!(&again, m, "decode -> encode -> decode changed the message");
    assert_eq!(
        again.to_frame().expect("re-encodes"),
        frame,
        "not a fixed point"
    );
    for cut in prefix_lengths(frame.len()) {
        assert_eq!(
            split_frame(&frame[..cut]).ok(),
            Some(None),
            "prefix {cut} splits"
        );
    }
}

fn session(data: &[u8]) {
    let key = SyncKey::from_bytes([7; 32]);
    let hash = [1u8; 32];
    let mut s = Session::new(
        Config::new(ReplicaId::from_bytes([1; 16]), key.clone()),
        &hash,
        Role::Responder,
        NOW,
    );
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        replica: ReplicaId::from_bytes([2; 16]),
        collections: vec!["*".into()],
        proof: key.capability_proof(&hash, Role::Initiator),
        grace_proofs: Vec::new(),
    });
    let mut store = MemoryStore::new();
    s.handle_input(NOW, &hello.to_frame().expect("hello encodes"))
        .expect("a valid HELLO is accepted");
    while let Ok(Some(_)) = s.poll_transmit(&store) {}
    let _ = s.handle_input(NOW, data);
    while let Some(batch) = s.poll_apply() {
        store.apply(&batch.ops).expect("memory store applies");
        s.handle_applied(batch.seq);
    }
    while let Ok(Some(_)) = s.poll_transmit(&store) {}
    while s.poll_event().is_some() {}
    let _ = s.handle_timeout(NOW + 1);
}
