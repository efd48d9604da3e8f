//! The client storage operations of spec §7: each is a dht-rpc query toward the target
//! whose replies are collected (with each storage node's id and token), and, for the
//! writes, a commit phase that sends the write — signed for that node where the protocol
//! signs — to the closest nodes that replied.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddrV4;
use std::time::Instant;

use plures_compact::{Decode, Encode, Encoder, Sink};
use plures_dht_rpc::node::{Peer as DhtPeer, QueryError, Reply};
use plures_dht_rpc::{Command, Token};

use super::{Event, HyperDht};
use crate::KeyPair;
use crate::constants::command;
use crate::crypto;
use crate::storage::MAX_LOOKUP_RECORDS;
use crate::wire::{Announce, LookupRawReply, MutableGetResponse, MutablePutRequest, Peer};

/// Names one operation in events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// How an operation ended well.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OpResult {
    /// A lookup or find_peer query ended; `closest` storage nodes replied.
    Queried {
        /// The closest nodes that replied (at most 20).
        closest: usize,
    },
    /// A write reached these storage nodes (announce, unannounce, puts).
    Committed {
        /// The nodes whose commit request was answered.
        nodes: Vec<SocketAddrV4>,
    },
    /// `mutable_get`: the valid reply with the highest seq, if any.
    Mutable(Option<MutableGetResponse>),
    /// `immutable_get`: the first value that hashed to the target, if any.
    Immutable(Option<Vec<u8>>),
}

/// Why an operation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpError {
    /// The dht-rpc core is at its query limit.
    #[error("too many queries in flight")]
    Busy,
    /// The query failed.
    #[error("query failed: {0}")]
    Query(QueryError),
    /// No storage node replied with a token, so there was nowhere to commit.
    #[error("too few nodes responded")]
    TooFewNodes,
    /// Every commit request failed.
    #[error("all commits failed")]
    AllCommitsFailed,
    /// The node is suspended ([`HyperDht::suspend`](super::HyperDht::suspend)).
    #[error("SUSPENDED: the node is suspended")]
    Suspended,
}

/// What an operation does with its replies.
#[derive(Debug)]
enum Kind {
    Lookup,
    FindPeer,
    Announce {
        key_pair: KeyPair,
        peer: Peer,
    },
    /// A server's announce of itself: FIND_PEER, then ANNOUNCE to the 3 closest.
    AnnounceSelf {
        key_pair: KeyPair,
        peer: Peer,
    },
    Unannounce {
        key_pair: KeyPair,
    },
    MutablePut {
        put: MutablePutRequest,
    },
    MutableGet {
        public_key: [u8; 32],
        seq: u64,
        best: Option<MutableGetResponse>,
    },
    ImmutablePut {
        value: Vec<u8>,
    },
    ImmutableGet {
        found: Option<Vec<u8>>,
    },
}

/// One running operation.
#[derive(Debug)]
pub(super) struct Op {
    pub(super) target: [u8; 32],
    kind: Kind,
    /// Storage nodes that replied with a valid id and a token.
    tokens: HashMap<SocketAddrV4, ([u8; 32], Token)>,
    /// Commit requests in flight.
    pending: HashSet<plures_dht_rpc::node::RequestId>,
    committed: Vec<SocketAddrV4>,
    failed: usize,
    query_done: bool,
}

fn uint(n: u64) -> Vec<u8> {
    let mut e = Encoder::new();
    e.uint(n);
    e.finish().unwrap_or_default()
}

impl Op {
    fn new(target: [u8; 32], kind: Kind) -> Self {
        Self {
            target,
            kind,
            tokens: HashMap::new(),
            pending: HashSet::new(),
            committed: Vec::new(),
            failed: 0,
            query_done: false,
        }
    }

    pub(super) fn query_command(&self) -> u64 {
        match self.kind {
            Kind::Lookup | Kind::Announce { .. } | Kind::Unannounce { .. } => command::LOOKUP,
            Kind::FindPeer | Kind::AnnounceSelf { .. } => command::FIND_PEER,
            Kind::MutablePut { .. } | Kind::MutableGet { .. } => command::MUTABLE_GET,
            Kind::ImmutablePut { .. } | Kind::ImmutableGet { .. } => command::IMMUTABLE_GET,
        }
    }

    pub(super) fn query_value(&self) -> Option<Vec<u8>> {
        match &self.kind {
            Kind::MutablePut { .. } => Some(uint(0)),
            Kind::MutableGet { seq, .. } => Some(uint(*seq)),
            _ => None,
        }
    }

    pub(super) fn mutable_best(&self) -> Option<&MutableGetResponse> {
        match &self.kind {
            Kind::MutableGet { best, .. } => best.as_ref(),
            _ => None,
        }
    }

    /// The commit request for the storage node `id` that handed out `token`.
    fn commit_for(&self, id: &[u8; 32], token: &Token) -> Option<(u64, Vec<u8>)> {
        let target = &self.target;
        match &self.kind {
            Kind::Announce { key_pair, peer } | Kind::AnnounceSelf { key_pair, peer } => {
                let signature = crypto::sign_announce(key_pair, target, id, token, peer, None);
                let ann = Announce {
                    peer: Some(peer.clone()),
                    signature: Some(signature),
                    ..Announce::default()
                };
                Some((command::ANNOUNCE, ann.to_bytes().ok()?))
            }
            Kind::Unannounce { key_pair } => {
                let peer = Peer {
                    public_key: *key_pair.public_key(),
                    relay_addresses: Vec::new(),
                };
                let signature = crypto::sign_unannounce(key_pair, target, id, token, &peer, None);
                let ann = Announce {
                    peer: Some(peer),
                    signature: Some(signature),
                    ..Announce::default()
                };
                Some((command::UNANNOUNCE, ann.to_bytes().ok()?))
            }
            Kind::MutablePut { put } => Some((command::MUTABLE_PUT, put.to_bytes().ok()?)),
            Kind::ImmutablePut { value } => Some((command::IMMUTABLE_PUT, value.clone())),
            _ => None,
        }
    }

    fn done(&self) -> bool {
        self.query_done && self.pending.is_empty()
    }

    /// The outcome once the query and every commit have ended.
    fn result(&mut self, closest: usize) -> Result<OpResult, OpError> {
        match &mut self.kind {
            Kind::Lookup | Kind::FindPeer => Ok(OpResult::Queried { closest }),
            Kind::MutableGet { best, .. } => Ok(OpResult::Mutable(best.take())),
            Kind::ImmutableGet { found } => Ok(OpResult::Immutable(found.take())),
            Kind::Unannounce { .. } => Ok(OpResult::Committed {
                nodes: std::mem::take(&mut self.committed),
            }),
            _ if self.committed.is_empty() && self.failed == 0 => Err(OpError::TooFewNodes),
            _ if self.committed.is_empty() => Err(OpError::AllCommitsFailed),
            _ => Ok(OpResult::Committed {
                nodes: std::mem::take(&mut self.committed),
            }),
        }
    }
}

impl HyperDht {
    /// Looks up the records announced under `topic`; each storage node's answer arrives as
    /// [`Event::Lookup`], the end as [`Event::Done`].
    pub fn lookup(&mut self, now: Instant, topic: [u8; 32]) -> Result<OpId, OpError> {
        self.start(now, Op::new(topic, Kind::Lookup))
    }

    /// Looks for the router record of the server `public_key` ([`Event::PeerFound`]).
    pub fn find_peer(&mut self, now: Instant, public_key: &[u8; 32]) -> Result<OpId, OpError> {
        self.start(now, Op::new(crypto::target(public_key), Kind::FindPeer))
    }

    /// Announces `key_pair` under `topic` with up to 3 relay addresses: a LOOKUP query,
    /// then to each of the closest storage nodes an ANNOUNCE signed for that node's id and
    /// token.
    pub fn announce(
        &mut self,
        now: Instant,
        topic: [u8; 32],
        key_pair: KeyPair,
        relay_addresses: Vec<SocketAddrV4>,
    ) -> Result<OpId, OpError> {
        let peer = Peer {
            public_key: *key_pair.public_key(),
            relay_addresses,
        };
        self.start(now, Op::new(topic, Kind::Announce { key_pair, peer }))
    }

    /// A server's announce of itself (spec §8 step 2): the record never lists relays.
    pub(super) fn announce_self(
        &mut self,
        now: Instant,
        key_pair: KeyPair,
    ) -> Result<OpId, OpError> {
        let peer = Peer {
            public_key: *key_pair.public_key(),
            relay_addresses: Vec::new(),
        };
        let target = crypto::target(key_pair.public_key());
        self.start(now, Op::new(target, Kind::AnnounceSelf { key_pair, peer }))
    }

    /// Removes `key_pair`'s record under `topic`: a LOOKUP query that sends UNANNOUNCE to
    /// every storage node whose reply lists the key or is full (20 records).
    pub fn unannounce(
        &mut self,
        now: Instant,
        topic: [u8; 32],
        key_pair: KeyPair,
    ) -> Result<OpId, OpError> {
        self.start(now, Op::new(topic, Kind::Unannounce { key_pair }))
    }

    /// Stores `value` signed by `key_pair` under seq `seq` at `hash(public key)`.
    pub fn mutable_put(
        &mut self,
        now: Instant,
        key_pair: &KeyPair,
        value: Vec<u8>,
        seq: u64,
    ) -> Result<OpId, OpError> {
        let signature = crypto::sign_mutable(key_pair, seq, &value);
        let put = MutablePutRequest {
            public_key: *key_pair.public_key(),
            seq,
            value,
            signature,
        };
        let target = crypto::target(key_pair.public_key());
        self.start(now, Op::new(target, Kind::MutablePut { put }))
    }

    /// Reads the mutable value of `public_key` with seq ≥ `seq`; the result is the valid
    /// reply with the highest seq (`latest`).
    pub fn mutable_get(
        &mut self,
        now: Instant,
        public_key: &[u8; 32],
        seq: u64,
    ) -> Result<OpId, OpError> {
        let kind = Kind::MutableGet {
            public_key: *public_key,
            seq,
            best: None,
        };
        self.start(now, Op::new(crypto::target(public_key), kind))
    }

    /// Stores `value` under `hash(value)`.
    pub fn immutable_put(&mut self, now: Instant, value: Vec<u8>) -> Result<OpId, OpError> {
        let target = crypto::hash(&value);
        self.start(now, Op::new(target, Kind::ImmutablePut { value }))
    }

    /// Reads the immutable value stored under `hash`.
    pub fn immutable_get(&mut self, now: Instant, hash: [u8; 32]) -> Result<OpId, OpError> {
        self.start(now, Op::new(hash, Kind::ImmutableGet { found: None }))
    }

    pub(super) fn on_query_reply(&mut self, now: Instant, id: OpId, reply: Reply) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        if reply.error != 0 {
            return;
        }
        if let (Some(node), Some(token)) = (reply.id, reply.token) {
            op.tokens.insert(reply.from, (*node.as_bytes(), token));
        }
        let value = reply.value.as_deref();
        match &mut op.kind {
            Kind::Lookup | Kind::Announce { .. } | Kind::Unannounce { .. } => {
                let Some(Ok(found)) = value.map(LookupRawReply::from_bytes) else {
                    return;
                };
                let unannounce = match &op.kind {
                    Kind::Unannounce { key_pair } => {
                        found.peers.len() >= MAX_LOOKUP_RECORDS
                            || found
                                .peers
                                .iter()
                                .any(|p| &p.public_key == key_pair.public_key())
                    }
                    _ => false,
                };
                self.events.push_back(Event::Lookup {
                    op: id,
                    from: reply.from,
                    peers: found.peers,
                    bump: found.bump,
                });
                if unannounce {
                    self.commit_to(now, id, reply.from);
                }
            }
            Kind::FindPeer => {
                if let Some(Ok(peer)) = value.map(Peer::from_bytes) {
                    self.events.push_back(Event::PeerFound {
                        op: id,
                        from: reply.from,
                        peer,
                    });
                }
            }
            Kind::MutableGet {
                public_key,
                seq,
                best,
            } => {
                let Some(Ok(got)) = value.map(MutableGetResponse::from_bytes) else {
                    return;
                };
                let valid = got.seq >= *seq
                    && crypto::verify_mutable(public_key, got.seq, &got.value, &got.signature);
                if valid && best.as_ref().is_none_or(|b| got.seq > b.seq) {
                    *best = Some(got);
                }
            }
            Kind::ImmutableGet { found } => {
                if found.is_none() {
                    if let Some(v) = value.filter(|v| crypto::hash(v) == op.target) {
                        *found = Some(v.to_vec());
                    }
                }
            }
            Kind::MutablePut { .. } | Kind::ImmutablePut { .. } | Kind::AnnounceSelf { .. } => {}
        }
    }

    /// Sends the operation's commit to the storage node at `to` (if it gave a token).
    fn commit_to(&mut self, now: Instant, id: OpId, to: SocketAddrV4) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        let Some((node, token)) = op.tokens.get(&to).copied() else {
            return;
        };
        let Some((command, value)) = op.commit_for(&node, &token) else {
            return;
        };
        let target = Some(op.target.into());
        let sent = self.dht.request(
            now,
            to,
            Command::User(command),
            target,
            Some(&value),
            Some(token),
        );
        match sent {
            Ok(request) => {
                op.pending.insert(request);
                self.by_request.insert(request, super::Owner::Op(id));
            }
            Err(_) => op.failed += 1,
        }
    }

    pub(super) fn on_query_done(
        &mut self,
        now: Instant,
        id: OpId,
        closest: &[DhtPeer],
        error: Option<QueryError>,
    ) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        op.query_done = true;
        let commits = matches!(
            op.kind,
            Kind::Announce { .. }
                | Kind::AnnounceSelf { .. }
                | Kind::MutablePut { .. }
                | Kind::ImmutablePut { .. }
        );
        let limit = match op.kind {
            Kind::AnnounceSelf { .. } => super::SERVER_RELAYS,
            _ => usize::MAX,
        };
        if let Some(e) = error {
            if !commits || closest.is_empty() {
                self.finish(id, Err(e.into()));
                return;
            }
        }
        if commits {
            for peer in closest.iter().take(limit) {
                self.commit_to(now, id, peer.addr);
            }
        }
        self.maybe_finish(id, closest.len());
    }

    pub(super) fn on_commit(&mut self, id: OpId, reply: Option<&Reply>) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        op.pending
            .retain(|r| self.by_request.get(r) == Some(&super::Owner::Op(id)));
        if let (Some(r), true) = (reply, self.announce_ops.contains_key(&id)) {
            // How the relay saw us: the address it will forward holepunches to.
            let seen = self.announce_seen.entry(id).or_default();
            seen.retain(|(relay, _)| *relay != r.from);
            seen.push((r.from, r.to));
        }
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        match reply {
            Some(r) => op.committed.push(r.from),
            None => op.failed += 1,
        }
        self.maybe_finish(id, 0);
    }

    /// Cancels an operation started by the caller: no [`Event::Done`] follows and its
    /// write requests still in flight are cancelled, so nothing it sent is retransmitted
    /// after, say, an UNANNOUNCE of the same record. False if it is not running (or is
    /// not the caller's: a server's own announces are refreshed, not cancelled).
    pub fn cancel(&mut self, op: OpId) -> bool {
        if !self.ops.contains_key(&op) || self.announce_ops.contains_key(&op) {
            return false;
        }
        self.cancel_op(op);
        true
    }

    /// Drops a running operation without reporting it: its commit requests still in
    /// flight are cancelled, so no retransmission of an ANNOUNCE can land after a later
    /// UNANNOUNCE. (Its query, if still running, only reads.)
    pub(super) fn cancel_op(&mut self, id: OpId) {
        let Some(op) = self.ops.remove(&id) else {
            return;
        };
        for request in op.pending {
            self.dht.cancel(request);
        }
    }

    fn maybe_finish(&mut self, id: OpId, closest: usize) {
        let Some(op) = self.ops.get_mut(&id) else {
            return;
        };
        if op.done() {
            let result = op.result(closest);
            self.finish(id, result);
        }
    }
}
