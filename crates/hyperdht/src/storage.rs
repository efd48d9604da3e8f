//! The storage-node rules of spec §6 as a sans-IO state machine: what a persistent
//! hyperdht node answers to FIND_PEER, LOOKUP, ANNOUNCE, UNANNOUNCE, MUTABLE_PUT/GET and
//! IMMUTABLE_PUT/GET, with the router (forward) table, refresh tokens, bumps and the
//! two-generation caches of §6.3.
//!
//! The dht-rpc node in front of it has already checked the request's token (a stale
//! token never gets here: it is answered with error 2 and a fresh token) and the sender's
//! id. [`Storage::handle`] takes one request and says how to answer it ([`Answer`]); time
//! comes in as an `Instant` (cache ages) plus the wall clock in Unix milliseconds (only
//! for `bump`), randomness from the seed in [`StorageConfig`]. Nothing here reads a clock
//! or a socket, and no input can make it panic or grow past the caches' `max_size`.
//!
//! ```
//! use std::net::{Ipv4Addr, SocketAddrV4};
//! use std::time::Instant;
//! use plures_compact::{Decode, Encode};
//! use plures_hyperdht::storage::{Answer, Request, Storage, StorageConfig};
//! use plures_hyperdht::{Announce, KeyPair, LookupRawReply, Peer, constants::command, crypto};
//!
//! let now = Instant::now();
//! let mut node = Storage::new(StorageConfig::default(), now);
//! let (node_id, token) = ([9; 32], [5; 32]);
//! let kp = KeyPair::from_seed([1; 32]);
//! let topic = [7; 32];
//! let peer = Peer { public_key: *kp.public_key(), relay_addresses: vec![] };
//! let signature = crypto::sign_announce(&kp, &topic, &node_id, &token, &peer, None);
//! let value = Announce { peer: Some(peer.clone()), signature: Some(signature), ..Default::default() }
//!     .to_bytes()?;
//! let from = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 4000);
//! let ann = Request { command: command::ANNOUNCE, from, target: Some(topic), token: Some(&token), value: Some(&value) };
//! assert_eq!(node.handle(now, 0, Some(&node_id), &ann), Answer::Reply { value: None, bare: true });
//!
//! let lookup = Request { command: command::LOOKUP, from, target: Some(topic), token: None, value: None };
//! let Answer::Reply { value: Some(v), bare: false } = node.handle(now, 0, Some(&node_id), &lookup) else { panic!() };
//! assert_eq!(LookupRawReply::from_bytes(&v)?.peers, vec![peer]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod cache;
mod handlers;
#[cfg(test)]
mod tests;

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

pub use cache::{CacheLimits, RecordCache, Xache};

use crate::constants::command;

/// Records a LOOKUP reply carries at most.
pub const MAX_LOOKUP_RECORDS: usize = 20;
/// Relay addresses kept from an announced record.
pub const MAX_RELAY_ADDRESSES: usize = 3;
/// How far in the future a `bump` may lie and still be kept.
pub const MAX_BUMP_AHEAD_MS: u64 = 60_000;
/// dht-rpc's UNKNOWN_COMMAND, the answer of a node that is not persistent.
pub const UNKNOWN_COMMAND: u64 = 1;

const RECORDS: CacheLimits = CacheLimits {
    max_size: 65_536,
    max_age: Duration::from_secs(20 * 60),
};
const VALUES: CacheLimits = CacheLimits {
    max_size: 32_768,
    max_age: Duration::from_secs(48 * 60 * 60),
};

/// Limits of the stores (spec §6.3) and the seed of the LOOKUP sampling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageConfig {
    /// Announced topic records (all targets together).
    pub records: CacheLimits,
    /// Router records from announce-self.
    pub router: CacheLimits,
    /// Refresh tokens.
    pub refreshes: CacheLimits,
    /// Bumps per target.
    pub bumps: CacheLimits,
    /// Mutable values.
    pub mutables: CacheLimits,
    /// Immutable values.
    pub immutables: CacheLimits,
    /// Seed of the uniform choice of LOOKUP records.
    pub rng_seed: u64,
}

impl Default for StorageConfig {
    /// The reference's defaults: 65 536 items and 20 minutes for records, router records,
    /// refresh tokens and bumps; 32 768 items and 48 hours for mutable and immutable values.
    fn default() -> Self {
        Self {
            records: RECORDS,
            router: RECORDS,
            refreshes: RECORDS,
            bumps: RECORDS,
            mutables: VALUES,
            immutables: VALUES,
            rng_seed: 0x9e37_79b9_7f4a_7c15,
        }
    }
}

/// One request for a storage command, as the dht-rpc node delivers it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    /// The command (spec §2.1).
    pub command: u64,
    /// The requester's address (an announce-self records it as the relay).
    pub from: SocketAddrV4,
    /// The target.
    pub target: Option<[u8; 32]>,
    /// The round-trip token the request carried, already validated by dht-rpc.
    pub token: Option<&'a [u8]>,
    /// The value.
    pub value: Option<&'a [u8]>,
}

/// How to answer a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Reply with `value`. `bare`: without token and closer nodes (ANNOUNCE and
    /// UNANNOUNCE); otherwise with both, as a plain dht-rpc reply.
    Reply {
        /// The reply value.
        value: Option<Vec<u8>>,
        /// Leave out the token and the closer nodes.
        bare: bool,
    },
    /// Reply with this error code (closer nodes, no token).
    Error(u64),
    /// Send nothing: the requester times out (bad signature, missing fields).
    Ignore,
}

impl Answer {
    fn value(value: Option<Vec<u8>>) -> Self {
        Self::Reply { value, bare: false }
    }

    const BARE: Self = Self::Reply {
        value: None,
        bare: true,
    };
}

/// A router (forward) record: where the announcing server was seen, and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterRecord {
    /// The address the announce-self came from.
    pub relay: SocketAddrV4,
    /// `encode(peer)` of the server.
    pub record: Vec<u8>,
}

/// What a refresh token re-adds.
#[derive(Debug, Clone)]
struct Refresh {
    target: [u8; 32],
    public_key: [u8; 32],
    record: Vec<u8>,
    relay: SocketAddrV4,
    announce_self: bool,
}

/// Counters of what the storage did with its input.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StorageStats {
    /// Requests answered with a reply.
    pub replies: u64,
    /// Requests answered with an error code.
    pub errors: u64,
    /// Requests dropped (bad signatures, missing fields, undecodable values).
    pub ignored: u64,
}

/// The storage of one persistent hyperdht node.
#[derive(Debug, Clone)]
pub struct Storage {
    records: RecordCache,
    router: Xache<[u8; 32], RouterRecord>,
    refreshes: Xache<[u8; 32], Refresh>,
    bumps: Xache<[u8; 32], u64>,
    mutables: Xache<[u8; 32], Vec<u8>>,
    immutables: Xache<[u8; 32], Vec<u8>>,
    rng: u64,
    stats: StorageStats,
}

impl Storage {
    /// Empty stores; `now` starts every cache's first period.
    pub fn new(config: StorageConfig, now: Instant) -> Self {
        Self {
            records: RecordCache::new(config.records, now),
            router: Xache::new(config.router, now),
            refreshes: Xache::new(config.refreshes, now),
            bumps: Xache::new(config.bumps, now),
            mutables: Xache::new(config.mutables, now),
            immutables: Xache::new(config.immutables, now),
            rng: config.rng_seed | 1,
            stats: StorageStats::default(),
        }
    }

    /// Whether `command` is one of the storage commands this handles (2–10).
    pub fn handles(command: u64) -> bool {
        (command::FIND_PEER..=command::PLUGIN).contains(&command)
    }

    /// Answers one storage request. `own_id` is the node's id, `None` while it is not
    /// persistent (then every storage command gets UNKNOWN_COMMAND, as the reference
    /// does); `unix_ms` is the wall clock, used only to bound `bump`.
    pub fn handle(
        &mut self,
        now: Instant,
        unix_ms: u64,
        own_id: Option<&[u8; 32]>,
        req: &Request<'_>,
    ) -> Answer {
        let answer = match own_id {
            None => Answer::Error(UNKNOWN_COMMAND),
            Some(id) => self.dispatch(now, unix_ms, id, req),
        };
        match answer {
            Answer::Reply { .. } => self.stats.replies += 1,
            Answer::Error(_) => self.stats.errors += 1,
            Answer::Ignore => self.stats.ignored += 1,
        }
        answer
    }

    fn dispatch(&mut self, now: Instant, unix_ms: u64, id: &[u8; 32], req: &Request<'_>) -> Answer {
        let Some(target) = req.target else {
            return Answer::Ignore;
        };
        match req.command {
            command::FIND_PEER => Answer::value(self.find_peer(now, &target)),
            command::LOOKUP => Answer::value(self.lookup(now, &target)),
            command::ANNOUNCE => self.announce(now, unix_ms, id, target, req),
            command::UNANNOUNCE => self.unannounce(id, target, req),
            command::MUTABLE_PUT => self.mutable_put(now, target, req),
            command::MUTABLE_GET => self.mutable_get(now, target, req),
            command::IMMUTABLE_PUT => self.immutable_put(now, target, req),
            command::IMMUTABLE_GET => Answer::value(self.immutables.get(now, &target).cloned()),
            // No plugins are registered here; the reference answers an unknown plugin
            // with nothing.
            _ => Answer::Ignore,
        }
    }

    /// Rotates every cache whose period has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.records.handle_timeout(now);
        self.router.handle_timeout(now);
        self.refreshes.handle_timeout(now);
        self.bumps.handle_timeout(now);
        self.mutables.handle_timeout(now);
        self.immutables.handle_timeout(now);
    }

    /// The next cache rotation.
    pub fn poll_timeout(&self) -> Instant {
        [
            self.records.poll_timeout(),
            self.router.poll_timeout(),
            self.refreshes.poll_timeout(),
            self.bumps.poll_timeout(),
            self.mutables.poll_timeout(),
            self.immutables.poll_timeout(),
        ]
        .into_iter()
        .min()
        .unwrap_or_else(|| self.records.poll_timeout())
    }

    /// The router record of `target`, if an announce-self stored one.
    pub fn router_record(&mut self, now: Instant, target: &[u8; 32]) -> Option<&RouterRecord> {
        self.router.get(now, target)
    }

    /// Whether a topic record of `public_key` under `target` is held (either generation).
    pub fn has_record(&self, target: &[u8; 32], public_key: &[u8; 32]) -> bool {
        self.records.contains(target, public_key)
    }

    /// Topic records held (both generations).
    pub fn record_count(&self) -> usize {
        self.records.len()
    }

    /// Counters.
    pub fn stats(&self) -> StorageStats {
        self.stats
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*: only for the uniform choice of LOOKUP records.
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}
