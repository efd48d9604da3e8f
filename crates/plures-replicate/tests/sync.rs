//! End-to-end sync through `SyncEngine` over in-memory duplex pairs and TCP loopback.
//! No sleeps: every wait is on an event or a commit tick, bounded by a timeout.
#![cfg(feature = "tokio")]

use plures_replicate::session::BYE_CAPABILITY;
use plures_replicate::sync::{
    Connection, DisconnectReason, MemoryDialer, SyncEngine, SyncEvent, SyncOptions, TcpDialSource,
    TcpListenerSource, connect_memory, memory_source,
};
use plures_replicate::wire::{Hello, Message, PROTOCOL_VERSION};
use plures_replicate::{
    Collections, MemoryStore, Op, RedbStore, ReplicaId, Role, Store, SyncKey, VersionVector,
};
use serde_json::json;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, DuplexStream, ReadBuf};
use tokio::sync::{broadcast, mpsc};

const LIMIT: Duration = Duration::from_secs(20);

/// xorshift64*, seeded per test; a failing test names its seed in the assertion.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) % n.max(1)
    }

    fn hash(&mut self) -> [u8; 32] {
        let mut h = [0u8; 32];
        for b in &mut h {
            *b = self.below(256) as u8;
        }
        h
    }
}

fn key(n: u8) -> SyncKey {
    SyncKey::from_bytes([n; 32])
}

fn options(k: u8, collections: Collections) -> SyncOptions {
    SyncOptions {
        key: Some(key(k)),
        collections,
        batch_ops: 16,
        window_ops: 16,
        ..Default::default()
    }
}

struct Node {
    db: SyncEngine<MemoryStore>,
    dialer: MemoryDialer,
    events: broadcast::Receiver<SyncEvent>,
}

impl Node {
    fn new(n: u8, k: u8, collections: Collections) -> Self {
        let db = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([n; 16])).unwrap();
        let (dialer, source) = memory_source(&[n]);
        let events = db.events();
        db.enable_sync(options(k, collections), source).unwrap();
        Self { db, dialer, events }
    }

    fn id(&self) -> ReplicaId {
        self.db.replica()
    }

    /// Waits for the first event that `pick` accepts.
    async fn wait<T>(&mut self, mut pick: impl FnMut(&SyncEvent) -> Option<T>) -> T {
        let fut = async {
            loop {
                match self.events.recv().await {
                    Ok(e) => {
                        if let Some(t) = pick(&e) {
                            return t;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(e) => panic!("event stream ended: {e}"),
                }
            }
        };
        tokio::time::timeout(LIMIT, fut)
            .await
            .expect("event in time")
    }

    async fn synced_from(&mut self, peer: ReplicaId) -> Vec<String> {
        self.wait(|e| match e {
            SyncEvent::SyncComplete {
                peer: p,
                collections,
            } if *p == peer => Some(collections.clone()),
            _ => None,
        })
        .await
    }

    fn ops(&self) -> Vec<Op> {
        self.db.with_store(all_ops)
    }
}

fn all_ops<S: Store>(store: &S) -> Vec<Op> {
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

/// Waits until every node holds the same operations (re-checking after each commit).
async fn converge(nodes: &[&Node]) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let forwarders: Vec<_> = nodes
        .iter()
        .map(|n| {
            let mut changes = n.db.changes();
            let tx = tx.clone();
            tokio::spawn(async move {
                while changes.changed().await.is_ok() {
                    if tx.send(()).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    let check = async {
        loop {
            let first = nodes[0].ops();
            if nodes[1..].iter().all(|n| n.ops() == first) {
                return;
            }
            rx.recv().await;
        }
    };
    tokio::time::timeout(LIMIT, check)
        .await
        .expect("replicas converge");
    for f in forwarders {
        f.abort();
    }
}

fn random_write(node: &Node, rng: &mut Rng) {
    let coll = ["notes", "tasks"][rng.below(2) as usize];
    let id = format!("r{}", rng.below(12));
    if rng.below(10) == 0 {
        node.db.delete(coll, &id).unwrap();
    } else {
        let field = format!("f{}", rng.below(4));
        node.db
            .set(coll, &id, &field, json!(rng.below(1000)))
            .unwrap();
    }
}

#[tokio::test]
async fn replicas_with_concurrent_random_writes_converge() {
    for seed in [1u64, 2, 3] {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let nodes: Vec<Node> = (1..=4)
            .map(|n| Node::new(n, 1, Collections::all()))
            .collect();
        for _ in 0..60 {
            random_write(&nodes[rng.below(4) as usize], &mut rng);
        }
        // A line 1-2-3-4: writes reach the ends only by being relayed.
        for w in nodes.windows(2) {
            assert!(connect_memory(&w[0].dialer, &w[1].dialer, rng.hash()));
        }
        for _ in 0..120 {
            random_write(&nodes[rng.below(4) as usize], &mut rng);
            if rng.below(4) == 0 {
                tokio::task::yield_now().await;
            }
        }
        let refs: Vec<&Node> = nodes.iter().collect();
        converge(&refs).await;
        let records = nodes[0].db.with_store(|s| s.get("notes", "r1").unwrap());
        for n in &nodes[1..] {
            assert_eq!(n.db.get("notes", "r1").unwrap(), records, "seed {seed}");
        }
    }
}

#[tokio::test]
async fn sync_complete_then_live_tail() {
    let mut a = Node::new(1, 1, Collections::all());
    let mut b = Node::new(2, 1, Collections::all());
    for i in 0..40 {
        a.db.set("notes", &format!("n{i}"), "v", json!(i)).unwrap();
    }
    assert!(connect_memory(&a.dialer, &b.dialer, [9; 32]));
    let peer = b.wait(|e| match e {
        SyncEvent::PeerConnected { peer } => Some(*peer),
        _ => None,
    });
    assert_eq!(peer.await, a.id());
    assert_eq!(b.synced_from(a.id()).await, ["notes"]);
    assert_eq!(b.ops().len(), 40);
    a.synced_from(b.id()).await;
    // A write after SyncComplete reaches the peer without a new connection.
    let mut changes = b.db.changes();
    a.db.set("notes", "late", "v", json!("tail")).unwrap();
    tokio::time::timeout(LIMIT, async {
        while b.db.get("notes", "late").unwrap().is_none() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    // disable_sync closes with BYE; the peer sees it.
    a.db.disable_sync();
    let reason = b
        .wait(|e| match e {
            SyncEvent::PeerDisconnected { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reason, DisconnectReason::PeerBye(0));
}

/// A stream that ends (reads EOF, writes fail) after `budget` bytes read.
struct Cut {
    inner: DuplexStream,
    budget: usize,
}

impl AsyncRead for Cut {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.budget == 0 {
            return Poll::Ready(Ok(()));
        }
        let want = buf.remaining().min(self.budget);
        let mut tmp = vec![0u8; want];
        let mut rb = ReadBuf::new(&mut tmp);
        let r = Pin::new(&mut self.inner).poll_read(cx, &mut rb);
        if let Poll::Ready(Ok(())) = r {
            let n = rb.filled().len();
            buf.put_slice(rb.filled());
            self.budget -= n;
        }
        r
    }
}

impl AsyncWrite for Cut {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        if self.budget == 0 {
            return Poll::Ready(Err(std::io::ErrorKind::BrokenPipe.into()));
        }
        Pin::new(&mut self.inner).poll_write(cx, data)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[tokio::test]
async fn resume_after_cut_streams_converges() {
    let mut rng = Rng(77);
    let a = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([1; 16])).unwrap();
    let b = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([2; 16])).unwrap();
    let (da, sa) = memory_source::<Cut>(&[1]);
    let (db_, sb) = memory_source::<Cut>(&[2]);
    let mut ea = a.events();
    a.enable_sync(options(1, Collections::all()), sa).unwrap();
    b.enable_sync(options(1, Collections::all()), sb).unwrap();
    for i in 0..300 {
        a.set(
            "notes",
            &format!("n{}", i % 50),
            &format!("f{}", i % 7),
            json!(i),
        )
        .unwrap();
        b.set("tasks", &format!("t{}", i % 30), "v", json!(i))
            .unwrap();
    }
    let total = a.with_store(all_ops).len() + b.with_store(all_ops).len();
    for round in 0..6 {
        let (x, y) = tokio::io::duplex(64 * 1024);
        let budget = if round == 5 {
            usize::MAX
        } else {
            200 + rng.below(4000) as usize
        };
        let hash = rng.hash().to_vec();
        let conn = |stream, role| Connection {
            stream: Cut {
                inner: stream,
                budget,
            },
            handshake_hash: hash.clone(),
            role,
            remote: Vec::new(),
        };
        da.offer(conn(x, Role::Initiator));
        db_.offer(conn(y, Role::Responder));
        if round < 5 {
            // Wait for A's side of this connection to be cut, or to finish catching up
            // (then the connection stays up for the live tail).
            // A connection that caught up may still be cut later; the last one is not.
            tokio::time::timeout(LIMIT, async {
                loop {
                    match ea.recv().await.unwrap() {
                        SyncEvent::PeerDisconnected { .. }
                        | SyncEvent::PeerRejected { .. }
                        | SyncEvent::SyncComplete { .. } => return,
                        _ => {}
                    }
                }
            })
            .await
            .expect("connection ends");
        }
    }
    let na = Node::wrap(a);
    let nb = Node::wrap(b);
    converge(&[&na, &nb]).await;
    assert_eq!(na.ops().len(), total);
}

impl Node {
    /// A node view of an engine created elsewhere (for `converge`).
    fn wrap(db: SyncEngine<MemoryStore>) -> Self {
        let (dialer, _) = memory_source(&[]);
        let events = db.events();
        Self { db, dialer, events }
    }
}

#[tokio::test]
async fn wrong_key_fails_capability_and_receives_nothing() {
    let mut a = Node::new(1, 1, Collections::all());
    let mut b = Node::new(2, 2, Collections::all());
    a.db.set("notes", "x", "secret", json!("s3cr3t")).unwrap();
    assert!(connect_memory(&a.dialer, &b.dialer, [3; 32]));
    for n in [&mut a, &mut b] {
        let reason = n
            .wait(|e| match e {
                SyncEvent::PeerRejected { reason } => Some(reason.clone()),
                SyncEvent::PeerConnected { .. } => panic!("a peer with the wrong key connected"),
                _ => None,
            })
            .await;
        assert!(
            matches!(
                reason,
                DisconnectReason::Capability
                    | DisconnectReason::PeerBye(BYE_CAPABILITY)
                    | DisconnectReason::Eof
            ),
            "{reason:?}"
        );
    }
    assert!(b.ops().is_empty());
}

/// Plays a raw peer against `node` over a duplex pair: returns our end after HELLO.
async fn raw_peer(node: &Node, k: &SyncKey, hash: [u8; 32]) -> DuplexStream {
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    node.dialer.offer(Connection {
        stream: theirs,
        handshake_hash: hash.to_vec(),
        role: Role::Responder,
        remote: Vec::new(),
    });
    let mut ours = ours;
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        replica: ReplicaId::from_bytes([0xee; 16]),
        collections: vec!["*".into()],
        proof: k.capability_proof(&hash, Role::Initiator),
        grace_proofs: Vec::new(),
    });
    ours.write_all(&hello.to_frame().unwrap()).await.unwrap();
    ours
}

#[tokio::test]
async fn replayed_proof_on_another_connection_is_rejected() {
    let mut a = Node::new(1, 1, Collections::all());
    a.db.set("notes", "x", "v", json!(1)).unwrap();
    // A proof made for handshake hash [1; 32], replayed on a connection whose hash is [2; 32].
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    a.dialer.offer(Connection {
        stream: theirs,
        handshake_hash: vec![2; 32],
        role: Role::Responder,
        remote: Vec::new(),
    });
    let mut ours = ours;
    let hello = Message::Hello(Hello {
        version: PROTOCOL_VERSION,
        replica: ReplicaId::from_bytes([0xee; 16]),
        collections: vec!["*".into()],
        proof: key(1).capability_proof(&[1; 32], Role::Initiator),
        grace_proofs: Vec::new(),
    });
    ours.write_all(&hello.to_frame().unwrap()).await.unwrap();
    let reason = a
        .wait(|e| match e {
            SyncEvent::PeerRejected { reason } => Some(reason.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reason, DisconnectReason::Capability);
    // We got A's HELLO and BYE, nothing else.
    let mut got = Vec::new();
    tokio::time::timeout(LIMIT, ours.read_to_end(&mut got))
        .await
        .unwrap()
        .unwrap();
    let kinds = frames(&got);
    assert_eq!(kinds, [0, 7]);
}

fn frames(mut bytes: &[u8]) -> Vec<u64> {
    let mut kinds = Vec::new();
    while let Ok(Some((body, used))) = plures_replicate::wire::split_frame(bytes) {
        kinds.push(plures_replicate::wire::decode_message(body).unwrap().kind());
        bytes = &bytes[used..];
    }
    kinds
}

#[tokio::test]
async fn malformed_and_oversized_frames_close_without_touching_the_store() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage type", vec![3, 2, 0xff, 0xff]),
        ("oversized", vec![0xfe, 0xff, 0xff, 0xff, 0x7f]),
        ("truncated ops", vec![4, 2, 1, 5, b'n']),
    ];
    for (name, bytes) in cases {
        let mut a = Node::new(1, 1, Collections::all());
        a.db.set("notes", "x", "v", json!(1)).unwrap();
        let before = a.ops();
        let mut peer = raw_peer(&a, &key(1), [5; 32]).await;
        a.wait(|e| matches!(e, SyncEvent::PeerConnected { .. }).then_some(()))
            .await;
        peer.write_all(&bytes).await.unwrap();
        let reason = a
            .wait(|e| match e {
                SyncEvent::PeerDisconnected { reason, .. } => Some(reason.clone()),
                _ => None,
            })
            .await;
        assert!(
            matches!(reason, DisconnectReason::Protocol(_)),
            "{name}: {reason:?}"
        );
        assert_eq!(a.ops(), before, "{name}");
    }
}

#[tokio::test]
async fn selective_sync_keeps_excluded_collections_home() {
    let mut a = Node::new(1, 1, Collections::all().excluding("secret"));
    let mut b = Node::new(2, 1, Collections::all());
    a.db.set("secret", "s", "pin", json!(1234)).unwrap();
    a.db.set("notes", "n", "t", json!("a")).unwrap();
    b.db.set("secret", "s2", "pin", json!(99)).unwrap();
    b.db.set("notes", "m", "t", json!("b")).unwrap();
    assert!(connect_memory(&a.dialer, &b.dialer, [4; 32]));
    assert_eq!(b.synced_from(a.id()).await, ["notes"]);
    assert_eq!(a.synced_from(b.id()).await, ["notes"]);
    // Live writes to the excluded collection stay home too.
    a.db.set("secret", "s", "pin", json!(4321)).unwrap();
    a.db.set("notes", "n2", "t", json!("c")).unwrap();
    let mut changes = b.db.changes();
    tokio::time::timeout(LIMIT, async {
        while b.db.get("notes", "n2").unwrap().is_none() {
            changes.changed().await.unwrap();
        }
    })
    .await
    .unwrap();
    assert!(b.db.get("secret", "s").unwrap().is_none());
    assert!(a.db.get("secret", "s2").unwrap().is_none());
    assert!(a.db.get("notes", "m").unwrap().is_some());
}

#[tokio::test]
async fn key_rotation_end_to_end() {
    let a = Node::new(1, 1, Collections::all());
    let mut b = Node::new(2, 1, Collections::all());
    let mut c = Node::new(3, 1, Collections::all());
    assert!(connect_memory(&a.dialer, &b.dialer, [6; 32]));
    b.synced_from(a.id()).await;
    let epoch = a.db.rotate_key(key(9)).unwrap();
    assert_eq!(epoch, 1);
    // Announced in band: B adopts the new key.
    b.wait(|e| matches!(e, SyncEvent::KeyRotated { epoch: 1 }).then_some(()))
        .await;
    assert_eq!(b.db.sync_key().unwrap().as_bytes(), key(9).as_bytes());
    // During grace, C (old key only, was offline) still syncs with A ...
    a.db.set("notes", "after", "v", json!(1)).unwrap();
    assert!(connect_memory(&c.dialer, &a.dialer, [7; 32]));
    c.synced_from(a.id()).await;
    assert!(c.db.get("notes", "after").unwrap().is_some());
    // ... and a replica given only the new key syncs with B.
    let mut d = Node::new(4, 9, Collections::all());
    assert!(connect_memory(&d.dialer, &b.dialer, [8; 32]));
    d.synced_from(b.id()).await;
    // After grace the old key is refused.
    a.db.end_key_grace().unwrap();
    let mut e = Node::new(5, 1, Collections::all());
    assert!(connect_memory(&e.dialer, &a.dialer, [10; 32]));
    let reason = e
        .wait(|ev| match ev {
            SyncEvent::PeerRejected { reason } => Some(reason.clone()),
            SyncEvent::PeerConnected { .. } => panic!("old key accepted after grace"),
            _ => None,
        })
        .await;
    assert_eq!(reason, DisconnectReason::Capability);
    assert!(e.ops().is_empty());
}

#[tokio::test]
async fn tcp_loopback() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let a = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([1; 16])).unwrap();
    let b = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([2; 16])).unwrap();
    for i in 0..100 {
        a.set("notes", &format!("a{i}"), "v", json!(i)).unwrap();
        b.set("notes", &format!("b{i}"), "v", json!(i)).unwrap();
    }
    let mut eb = b.events();
    a.enable_sync(
        options(1, Collections::all()),
        TcpListenerSource::new(listener),
    )
    .unwrap();
    b.enable_sync(
        options(1, Collections::all()),
        TcpDialSource::new(addr, Rng(5).hash()),
    )
    .unwrap();
    tokio::time::timeout(LIMIT, async {
        while !matches!(eb.recv().await.unwrap(), SyncEvent::SyncComplete { .. }) {}
    })
    .await
    .unwrap();
    let (na, nb) = (Node::wrap(a), Node::wrap(b));
    converge(&[&na, &nb]).await;
    assert_eq!(na.ops().len(), 200);
}

#[test]
fn sync_key_is_stored_in_metadata_and_never_shown() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let k = SyncKey::from_bytes([0xab; 32]);
    {
        let db = SyncEngine::new(RedbStore::open(&path).unwrap(), ReplicaId::default()).unwrap();
        assert!(db.sync_key().is_none());
        db.set_sync_key(k.clone()).unwrap();
        assert!(!format!("{db:?}").contains("abab"));
    }
    let db = SyncEngine::new(RedbStore::open(&path).unwrap(), ReplicaId::default()).unwrap();
    assert_eq!(db.sync_key().unwrap().as_bytes(), k.as_bytes());
    assert!(matches!(
        db.enable_sync(SyncOptions::default(), memory_source::<DuplexStream>(&[]).1),
        Err(plures_replicate::sync::SyncError::NoRuntime)
    ));
}

/// A stream that keeps written bytes until it is flushed, as a secret-stream may: the
/// driver has to flush, or the last frame waits in the buffer while the peer waits for it.
#[tokio::test]
async fn a_stream_that_holds_writes_until_flushed_still_syncs() {
    use tokio::io::BufWriter;
    let a = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([1; 16])).unwrap();
    let b = SyncEngine::new(MemoryStore::new(), ReplicaId::from_bytes([2; 16])).unwrap();
    for i in 0..20 {
        a.set("notes", &format!("a{i}"), "v", json!(i)).unwrap();
        b.set("notes", &format!("b{i}"), "v", json!(i)).unwrap();
    }
    let (da, sa) = memory_source::<BufWriter<DuplexStream>>(&[1]);
    let (db_, sb) = memory_source::<BufWriter<DuplexStream>>(&[2]);
    a.enable_sync(options(1, Collections::all()), sa).unwrap();
    b.enable_sync(options(1, Collections::all()), sb).unwrap();
    let (x, y) = tokio::io::duplex(64 * 1024);
    let hash = Rng(9).hash().to_vec();
    let conn = |stream, role| Connection {
        stream: BufWriter::new(stream),
        handshake_hash: hash.clone(),
        role,
        remote: Vec::new(),
    };
    da.offer(conn(x, Role::Initiator));
    db_.offer(conn(y, Role::Responder));
    let (na, nb) = (Node::wrap(a), Node::wrap(b));
    converge(&[&na, &nb]).await;
    assert_eq!(na.ops().len(), 40);
}
