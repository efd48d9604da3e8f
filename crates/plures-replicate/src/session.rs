//! The sans-IO sync session: one peer connection's protocol state machine.
//!
//! A [`Session`] owns no socket, task, clock or RNG. The caller feeds it
//! [`Session::handle_input`] (received bytes, in any chunking), [`Session::handle_local_write`]
//! (a write was committed to the store, locally or from another peer),
//! [`Session::handle_timeout`], and drains it after every input:
//!
//! 1. [`Session::poll_apply`]: batches to merge into the store; after merging one, call
//!    [`Session::handle_applied`] (which queues its ACK);
//! 2. [`Session::poll_transmit`]: frames to write, reading the store for OPS batches;
//! 3. [`Session::poll_timeout`], then [`Session::poll_event`].
//!
//! # Protocol
//!
//! - Both ends send HELLO first: version, replica id, collection filter (see
//!   [`Collections`]) and a capability proof over the secure channel's handshake hash and the
//!   sender's role (plus proofs under keys still in a rotation's grace period). Nothing else
//!   is sent until the peer's proof verifies; a bad proof closes the session.
//! - Each end then sends VERSION_VECTOR for every collection it holds that both filters
//!   allow, then `ACK { seq: 0, credit }`: "my vectors are complete, you may send `credit`
//!   operations".
//! - The sender streams each shared collection from the receiver's vector, in stamp order,
//!   as OPS batches of at most `batch_ops` operations (SNAPSHOT batches when the receiver
//!   has nothing of the collection), never with more operations outstanding than the credit
//!   granted (a batch may overshoot by one multi-field write that cannot be split). After a
//!   collection, SYNCED(collection); after all of them, SYNCED(`*`): the receiver reports
//!   [`Event::SyncComplete`] once everything before it is applied.
//! - The receiver ACKs each batch after applying it, granting its size back as credit. With
//!   the default window of one batch, at most one batch is ever unacknowledged, so a
//!   dropped connection resends at most one batch: the next session starts from the
//!   receiver's version vector, which covers everything applied.
//! - Then live tail: every committed write (local, or applied from another peer) is pushed
//!   to the peer under the same credit rule. Operations received from the peer advance what
//!   we know it has, so they are not echoed back.
//! - KEY_ROTATE carries the next sync key sealed under the key this session authenticated
//!   with; BYE closes. Unknown message types are skipped.
//!
//! # Relaying in a mesh (LINKS)
//!
//! Relaying every commit makes a full mesh send most operations twice (B relays A's write
//! to C while A sends it to C itself). So each side tells its peer, in LINKS, which other
//! replicas it has a verified session with, and with which collection patterns
//! ([`Session::set_links`]; the engine keeps it current). A session never sends its peer an
//! operation whose origin replica the peer declared as a direct link for that collection:
//! the origin sends it. The rules that keep convergence:
//!
//! - Our own operations are always sent; only relays are skipped, and only while the peer
//!   says the link to the origin is up. The origin holds every one of its operations that
//!   still matters (an operation that lost at the origin lost to a greater one, which the
//!   same rule delivers), so the greatest write of every field reaches the peer over the
//!   direct link or, when the origin is not linked to the peer, over any relay path.
//! - When a link goes away, the next LINKS carries the sender's version vectors; the
//!   receiver joins them into what it knows the peer has and re-scans every shared
//!   collection, so relaying resumes from what the peer really holds (no gap, few repeats).
//! - LINKS is sent after HELLO and before the first VERSION_VECTOR and ACK, so a peer
//!   knows what not to relay before it may send. A peer that does not know LINKS skips it
//!   and relays everything, as before.
//! - `SyncComplete` means "everything the peer had, except operations of replicas we are
//!   directly linked to, is applied": those come from their origin.
//!
//! # Violations
//!
//! A frame that does not decode, an oversized frame, a message out of order, a batch beyond
//! the credit, out of sequence, of a collection not shared, or stamped too far in the future
//! makes the handler return an [`Error`]: the session closes (queueing BYE) and drops every
//! batch not yet handed out by [`Session::poll_apply`], so nothing of that input is applied.

use crate::clock::{Hlc, ReplicaId, Stamp};
use crate::crdt::VersionVector;
use crate::error::StoreError;
use crate::key::{Role, SyncKey};
use crate::store::Store;
use crate::wire::{
    Batch, Hello, Link, Links, Message, PROTOCOL_VERSION, PackedBatch, WireError, decode_message,
    decode_packed, split_frame,
};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

mod batches;
mod filter;
mod links;

pub use filter::{Collections, valid_collection_name};

/// BYE reason: a normal close.
pub const BYE_NORMAL: u64 = 0;
/// BYE reason: the peer violated the protocol.
pub const BYE_VIOLATION: u64 = 1;
/// BYE reason: the peer's capability proof did not verify.
pub const BYE_CAPABILITY: u64 = 2;
/// BYE reason: the peer speaks another protocol version.
pub const BYE_VERSION: u64 = 3;
/// BYE reason: the handshake timed out or the local store failed.
pub const BYE_LOCAL: u64 = 4;

/// The SYNCED name that marks "everything sent".
const ALL_SYNCED: &str = "*";

/// The sync keys a replica accepts.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// The rotation epoch of `current` (0 for a key set by hand).
    pub epoch: u64,
    /// The key proofs are made with.
    pub current: SyncKey,
    /// Older keys still accepted during a rotation's grace period.
    pub grace: Vec<SyncKey>,
}

impl Keyring {
    /// A keyring of one key at epoch 0.
    pub fn new(key: SyncKey) -> Self {
        Self {
            epoch: 0,
            current: key,
            grace: Vec::new(),
        }
    }

    fn all(&self) -> impl Iterator<Item = &SyncKey> {
        std::iter::once(&self.current).chain(&self.grace)
    }
}

/// A session's settings.
#[derive(Clone, Debug)]
pub struct Config {
    /// This replica's id.
    pub replica: ReplicaId,
    /// The accepted sync keys.
    pub keys: Keyring,
    /// Which collections this side syncs.
    pub collections: Collections,
    /// Operations per OPS batch (default 256).
    pub batch_ops: usize,
    /// Operations the peer may have outstanding (default: one batch, which bounds a resume
    /// to one resent batch).
    pub window_ops: u64,
    /// How far in the future a received stamp may be, in milliseconds (default 60 000).
    pub max_drift_ms: u64,
    /// How long to wait for the peer's HELLO, in milliseconds (default 10 000).
    pub handshake_timeout_ms: u64,
}

impl Config {
    /// Defaults for `replica` holding `key`.
    pub fn new(replica: ReplicaId, key: SyncKey) -> Self {
        Self {
            replica,
            keys: Keyring::new(key),
            collections: Collections::all(),
            batch_ops: 256,
            window_ops: 256,
            max_drift_ms: 60_000,
            handshake_timeout_ms: 10_000,
        }
    }
}

/// What a session reports.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Event {
    /// The peer's HELLO verified.
    Connected {
        /// The peer's replica id.
        peer: ReplicaId,
    },
    /// Everything the peer had when the session started is applied.
    SyncComplete {
        /// The collections the peer sent.
        collections: Vec<String>,
    },
    /// The peer announced the next sync key.
    KeyRotated {
        /// Its epoch.
        epoch: u64,
        /// The key.
        key: SyncKey,
    },
    /// The peer said BYE.
    Closed {
        /// Its reason code (`BYE_*`).
        reason: u64,
    },
}

/// Why a session failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A frame did not decode or was too large.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer speaks another protocol version.
    #[error("peer speaks protocol version {0}")]
    Version(u64),
    /// The peer's capability proof did not verify under any accepted key.
    #[error("peer failed the capability check")]
    Capability,
    /// The peer broke a protocol rule.
    #[error("protocol violation: {0}")]
    Violation(&'static str),
    /// No HELLO within the handshake timeout.
    #[error("handshake timed out")]
    Timeout,
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Error {
    fn bye_reason(&self) -> u64 {
        match self {
            Self::Wire(_) | Self::Violation(_) => BYE_VIOLATION,
            Self::Capability => BYE_CAPABILITY,
            Self::Version(_) => BYE_VERSION,
            Self::Timeout | Self::Store(_) => BYE_LOCAL,
        }
    }
}

/// State that exists once the peer's HELLO verified.
#[derive(Debug)]
struct Peer {
    replica: ReplicaId,
    patterns: Vec<String>,
    filter: Collections,
    /// The key the peer proved; seals and opens KEY_ROTATE.
    key: SyncKey,
    // Receiving.
    started: bool,
    granted: i64,
    expect_seq: u64,
    applying: VecDeque<(u64, usize)>,
    synced: Vec<String>,
    complete: bool,
    complete_emitted: bool,
    // Sending.
    /// What the peer is known to have, per collection.
    has: BTreeMap<String, VersionVector>,
    ready: bool,
    /// Operations we may still send: the grants minus what we sent. Negative after a batch
    /// that overshot to keep a multi-field write whole; the peer counts the same way, so the
    /// debt is repaid out of the next grant instead of being forgotten.
    credit: i64,
    next_seq: u64,
    unacked: VecDeque<u64>,
    backlog: Option<VecDeque<String>>,
    snapshot: BTreeSet<String>,
    backlog_done: bool,
    dirty: BTreeSet<String>,
    /// The peer's live links (its last LINKS): we do not relay their operations to it.
    direct: BTreeMap<ReplicaId, Collections>,
    /// The links last announced to the peer (`None`: nothing announced yet).
    links_sent: Option<Vec<Link>>,
    /// The peer's links changed: every shared collection may have operations to relay.
    relist: bool,
}

/// One peer connection's sync protocol. See the module docs.
#[derive(Debug)]
pub struct Session {
    cfg: Config,
    handshake_hash: Vec<u8>,
    role: Role,
    inbuf: Vec<u8>,
    out: VecDeque<Message>,
    events: VecDeque<Event>,
    applies: VecDeque<PackedBatch>,
    peer: Option<Peer>,
    deadline: u64,
    closed: bool,
    /// This replica's live links, as last set by [`Session::set_links`].
    links: Vec<Link>,
}

fn violation(what: &'static str) -> Error {
    Error::Violation(what)
}

impl Session {
    /// A session on a secure channel with handshake hash `handshake_hash`, where this side
    /// was `role`; queues HELLO. `now` is in milliseconds.
    pub fn new(cfg: Config, handshake_hash: &[u8], role: Role, now: u64) -> Self {
        let hello = Hello {
            version: PROTOCOL_VERSION,
            replica: cfg.replica,
            collections: cfg.collections.to_patterns(),
            proof: cfg.keys.current.capability_proof(handshake_hash, role),
            grace_proofs: cfg
                .keys
                .grace
                .iter()
                .map(|k| k.capability_proof(handshake_hash, role))
                .collect(),
        };
        Self {
            deadline: now.saturating_add(cfg.handshake_timeout_ms),
            cfg,
            handshake_hash: handshake_hash.to_vec(),
            role,
            inbuf: Vec::new(),
            out: VecDeque::from([Message::Hello(hello)]),
            events: VecDeque::new(),
            applies: VecDeque::new(),
            peer: None,
            closed: false,
            links: Vec::new(),
        }
    }

    /// Whether the session has closed (after a BYE either way or an error).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Whether the peer's HELLO verified.
    pub fn is_connected(&self) -> bool {
        self.peer.is_some()
    }

    /// Closes with BYE `reason`.
    pub fn close(&mut self, reason: u64) {
        if !self.closed {
            self.closed = true;
            self.out.push_back(Message::Bye { reason });
        }
    }

    fn fail(&mut self, e: Error) -> Error {
        self.closed = true;
        self.applies.clear();
        self.out.clear();
        self.out.push_back(Message::Bye {
            reason: e.bye_reason(),
        });
        e
    }

    fn shares(&self, collection: &str) -> bool {
        self.cfg.collections.allows(collection)
            && self
                .peer
                .as_ref()
                .is_some_and(|p| p.filter.allows(collection))
    }

    /// Feeds received bytes at time `now` (ms). On error the session is closed.
    pub fn handle_input(&mut self, now: u64, bytes: &[u8]) -> Result<(), Error> {
        if self.closed {
            return Ok(());
        }
        self.inbuf.extend_from_slice(bytes);
        let mut used_total = 0;
        let result = loop {
            let rest = &self.inbuf[used_total..];
            let (body, used) = match split_frame(rest) {
                Ok(Some(frame)) => frame,
                Ok(None) => break Ok(()),
                Err(e) => break Err(e.into()),
            };
            // OPS and SNAPSHOT (most frames) decode straight into the packed form.
            let handled = match decode_packed(body) {
                Ok(Some(batch)) => self.on_batch(now, batch),
                Ok(None) => match decode_message(body) {
                    Ok(m) => self.on_message(now, m),
                    Err(e) => break Err(e.into()),
                },
                Err(e) => break Err(e.into()),
            };
            used_total += used;
            if let Err(e) = handled {
                break Err(e);
            }
            if self.closed {
                break Ok(());
            }
        };
        self.inbuf.drain(..used_total);
        result.map_err(|e| self.fail(e))
    }

    fn on_message(&mut self, now: u64, msg: Message) -> Result<(), Error> {
        let msg = match msg {
            Message::Hello(h) => return self.on_hello(h),
            Message::Ops(batch) | Message::Snapshot { batch, .. } => {
                return self.on_batch(now, PackedBatch::from_batch(&batch));
            }
            other => other,
        };
        if matches!(msg, Message::Unknown { .. }) {
            return Ok(());
        }
        let shares_msg = match &msg {
            Message::VersionVector { collection, .. } => self.shares(collection),
            Message::Synced { collection } => collection == ALL_SYNCED || self.shares(collection),
            _ => true,
        };
        let links_shared: Vec<bool> = match &msg {
            Message::Links(l) => l.vectors.iter().map(|(c, _)| self.shares(c)).collect(),
            _ => Vec::new(),
        };
        let Some(p) = self.peer.as_mut() else {
            return Err(violation("message before HELLO"));
        };
        match msg {
            Message::VersionVector { collection, vv } => {
                if p.ready || !shares_msg {
                    return Err(violation("unexpected version vector"));
                }
                p.has.entry(collection).or_default().join(&vv);
            }
            Message::Ack { seq: 0, credit } => {
                if p.ready {
                    return Err(violation("second start"));
                }
                p.ready = true;
                p.credit = i64::try_from(credit).unwrap_or(i64::MAX);
            }
            Message::Ack { seq, credit } => {
                if !p.ready || p.unacked.front() != Some(&seq) {
                    return Err(violation("ack of no outstanding batch"));
                }
                p.unacked.pop_front();
                p.credit = p
                    .credit
                    .saturating_add(i64::try_from(credit).unwrap_or(i64::MAX));
            }
            Message::Ops(_) | Message::Snapshot { .. } => {}
            Message::Synced { collection } => {
                if !shares_msg || p.complete {
                    return Err(violation("unexpected SYNCED"));
                }
                if collection == ALL_SYNCED {
                    p.complete = true;
                    self.maybe_complete();
                } else {
                    p.synced.push(collection);
                }
            }
            Message::KeyRotate { epoch, sealed_key } => {
                let key = p
                    .key
                    .open_next(epoch, &sealed_key)
                    .map_err(|_| violation("key rotation does not open"))?;
                p.key = key.clone();
                self.events.push_back(Event::KeyRotated { epoch, key });
            }
            Message::Bye { reason } => {
                self.closed = true;
                self.events.push_back(Event::Closed { reason });
            }
            Message::Links(Links { links, vectors }) => {
                p.direct = links
                    .into_iter()
                    .filter(|l| l.replica != self.cfg.replica)
                    .map(|l| (l.replica, Collections::from_patterns(&l.collections)))
                    .collect();
                p.relist = true;
                for ((collection, vv), shared) in vectors.into_iter().zip(links_shared) {
                    if shared {
                        p.has.entry(collection).or_default().join(&vv);
                    }
                }
            }
            Message::Hello(_) | Message::Unknown { .. } => {}
        }
        Ok(())
    }

    fn on_hello(&mut self, h: Hello) -> Result<(), Error> {
        if self.peer.is_some() {
            return Err(violation("second HELLO"));
        }
        if h.version != PROTOCOL_VERSION {
            return Err(Error::Version(h.version));
        }
        let peer_role = match self.role {
            Role::Initiator => Role::Responder,
            Role::Responder => Role::Initiator,
        };
        let hash = &self.handshake_hash;
        let proofs: Vec<&[u8; 32]> = std::iter::once(&h.proof).chain(&h.grace_proofs).collect();
        let key = self
            .cfg
            .keys
            .all()
            .find(|k| {
                proofs
                    .iter()
                    .any(|p| k.verify_capability(hash, peer_role, *p).is_ok())
            })
            .cloned()
            .ok_or(Error::Capability)?;
        if h.replica == self.cfg.replica {
            return Err(violation("peer uses our replica id"));
        }
        self.peer = Some(Peer {
            replica: h.replica,
            filter: Collections::from_patterns(&h.collections),
            patterns: h.collections,
            key,
            started: false,
            granted: 0,
            expect_seq: 1,
            applying: VecDeque::new(),
            synced: Vec::new(),
            complete: false,
            complete_emitted: false,
            has: BTreeMap::new(),
            ready: false,
            credit: 0,
            next_seq: 1,
            unacked: VecDeque::new(),
            backlog: None,
            snapshot: BTreeSet::new(),
            backlog_done: false,
            dirty: BTreeSet::new(),
            direct: BTreeMap::new(),
            links_sent: None,
            relist: false,
        });
        self.events.push_back(Event::Connected { peer: h.replica });
        Ok(())
    }

    fn maybe_complete(&mut self) {
        let Some(p) = self.peer.as_mut() else { return };
        if p.complete && !p.complete_emitted && p.applying.is_empty() && self.applies.is_empty() {
            p.complete_emitted = true;
            let collections = std::mem::take(&mut p.synced);
            self.events.push_back(Event::SyncComplete { collections });
        }
    }

    /// The next batch to merge into the store; call [`Session::handle_applied`] after.
    /// ([`Session::poll_apply_packed`] gives the same batches without building `Op`s.)
    pub fn poll_apply(&mut self) -> Option<Batch> {
        self.poll_apply_packed()?.to_batch().ok()
    }

    /// Batch `seq` (from [`Session::poll_apply`]) is merged: queue its ACK.
    pub fn handle_applied(&mut self, seq: u64) {
        let Some(p) = self.peer.as_mut() else { return };
        let Some(pos) = p.applying.iter().position(|(s, _)| *s == seq) else {
            return;
        };
        let (_, n) = p.applying.remove(pos).unwrap_or((seq, 0));
        p.granted = p
            .granted
            .saturating_add(i64::try_from(n).unwrap_or(i64::MAX));
        if !self.closed {
            self.out.push_back(Message::Ack {
                seq,
                credit: n as u64,
            });
        }
        self.maybe_complete();
    }

    /// A write to `collection` was committed (locally or from any peer): push it live.
    pub fn handle_local_write(&mut self, collection: &str) {
        if self.shares(collection) {
            if let Some(p) = self.peer.as_mut().filter(|p| !p.dirty.contains(collection)) {
                p.dirty.insert(collection.to_owned());
            }
        }
    }

    /// Announces the next sync key to the peer, sealed under the key this session
    /// authenticated with.
    pub fn rotate_key(&mut self, epoch: u64, next: &SyncKey) {
        if self.closed {
            return;
        }
        if let Some(p) = self.peer.as_mut() {
            let sealed_key = p.key.seal_next(epoch, next);
            p.key = next.clone();
            self.out.push_back(Message::KeyRotate { epoch, sealed_key });
        }
    }

    /// When [`Session::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<u64> {
        (self.peer.is_none() && !self.closed).then_some(self.deadline)
    }

    /// Time passed; fails the session if the handshake timed out.
    pub fn handle_timeout(&mut self, now: u64) -> Result<(), Error> {
        if self.peer.is_none() && !self.closed && now >= self.deadline {
            return Err(self.fail(Error::Timeout));
        }
        Ok(())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The next frame to send, reading OPS batches from `store`. A store error closes the
    /// session.
    pub fn poll_transmit<S: Store + ?Sized>(
        &mut self,
        store: &S,
    ) -> Result<Option<Vec<u8>>, Error> {
        match self.next_message(store) {
            Ok(Some(m)) => Ok(Some(m.to_frame().map_err(|e| self.fail(e.into()))?)),
            Ok(None) => Ok(None),
            Err(e) => Err(self.fail(e)),
        }
    }

    fn next_message<S: Store + ?Sized>(&mut self, store: &S) -> Result<Option<Message>, Error> {
        if let Some(m) = self.out.pop_front() {
            return Ok(Some(m));
        }
        if self.closed || self.peer.is_none() {
            return Ok(None);
        }
        if self.peer.as_ref().is_some_and(|p| p.started) {
            if let Some(m) = self.links_update(store)? {
                return Ok(Some(m));
            }
        }
        // The store's collection list is needed only to start and for the backlog.
        let needs_list = self
            .peer
            .as_ref()
            .is_some_and(|p| !p.started || (p.ready && (p.backlog.is_none() || p.relist)));
        let shared: Vec<String> = if needs_list {
            store
                .collections()?
                .into_iter()
                .filter(|c| self.shares(c))
                .collect()
        } else {
            Vec::new()
        };
        let window = self.cfg.window_ops;
        let batch_ops = self.cfg.batch_ops.max(1);
        let Some(p) = self.peer.as_mut() else {
            return Ok(None);
        };
        if !p.started {
            p.started = true;
            // Our links first, so the peer knows what not to relay before it may send.
            if let Some(m) = self.links_update(store)? {
                self.out.push_back(m);
            }
            let Some(p) = self.peer.as_mut() else {
                return Ok(None);
            };
            for collection in shared {
                let vv = store.version_vector(&collection)?;
                self.out
                    .push_back(Message::VersionVector { collection, vv });
            }
            self.out.push_back(Message::Ack {
                seq: 0,
                credit: window,
            });
            p.granted = i64::try_from(window).unwrap_or(i64::MAX);
            return Ok(self.out.pop_front());
        }
        if !p.ready {
            return Ok(None);
        }
        if p.relist && p.backlog.is_some() {
            p.relist = false;
            p.dirty.extend(shared.iter().cloned());
        }
        if p.backlog.is_none() {
            p.relist = false;
            p.snapshot = shared
                .iter()
                .filter(|c| p.has.get(*c).is_none_or(VersionVector::is_empty))
                .cloned()
                .collect();
            p.backlog = Some(shared.into());
        }
        loop {
            let from_backlog = p.backlog.as_ref().and_then(|b| b.front()).cloned();
            let collection = match from_backlog.clone() {
                Some(c) => c,
                None if !p.backlog_done => {
                    p.backlog_done = true;
                    return Ok(Some(Message::Synced {
                        collection: ALL_SYNCED.to_owned(),
                    }));
                }
                None => match p.dirty.first() {
                    Some(c) => c.clone(),
                    None => return Ok(None),
                },
            };
            if p.credit <= 0 {
                return Ok(None);
            }
            let limit = usize::try_from(p.credit)
                .unwrap_or(usize::MAX)
                .min(batch_ops);
            let has = p.has.entry(collection.clone()).or_default();
            // Operations whose origin is directly linked to the peer (for this collection)
            // come from the origin: do not relay them.
            let mut skip = p
                .direct
                .iter()
                .filter(|(_, f)| f.allows(&collection))
                .map(|(r, _)| *r)
                .peekable();
            let ops = if skip.peek().is_none() {
                store.ops_since(&collection, has, limit)?
            } else {
                let mut since = has.clone();
                for r in skip {
                    since.observe(Stamp::new(Hlc::MAX, r));
                }
                store.ops_since(&collection, &since, limit)?
            };
            if ops.is_empty() {
                if from_backlog.is_some() {
                    if let Some(b) = p.backlog.as_mut() {
                        b.pop_front();
                    }
                    return Ok(Some(Message::Synced { collection }));
                }
                p.dirty.remove(&collection);
                continue;
            }
            for op in &ops {
                has.observe(op.stamp);
            }
            p.credit = p
                .credit
                .saturating_sub(i64::try_from(ops.len()).unwrap_or(i64::MAX));
            let seq = p.next_seq;
            p.next_seq += 1;
            p.unacked.push_back(seq);
            let last = ops.len() < limit;
            let batch = Batch {
                seq,
                collection,
                ops,
            };
            let snapshot = from_backlog.is_some() && p.snapshot.contains(&batch.collection);
            return Ok(Some(if snapshot {
                Message::Snapshot { batch, last }
            } else {
                Message::Ops(batch)
            }));
        }
    }
}

#[cfg(test)]
mod mesh_tests;
#[cfg(test)]
mod tests;
