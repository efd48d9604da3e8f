//! One function per storage command (spec §6 table).

use std::time::Instant;

use plures_compact::{Decode, Decoder, Encode, Encoder, Sink};

use super::{
    Answer, MAX_BUMP_AHEAD_MS, MAX_LOOKUP_RECORDS, MAX_RELAY_ADDRESSES, Refresh, Request,
    RouterRecord, Storage,
};
use crate::constants::error_code;
use crate::crypto::{
    announce_signable, hash, target as key_target, unannounce_signable, verify, verify_mutable,
};
use crate::wire::{Announce, MutableGetResponse, MutablePutRequest, Peer};

/// [`announce_signable`] or [`unannounce_signable`].
type Signable = fn(&[u8; 32], &[u8; 32], &[u8], &Peer, Option<&[u8; 32]>) -> [u8; 64];

/// The announce value, its signature checked against this node's id and the token.
struct Signed {
    peer: Peer,
    announce_self: bool,
}

fn decode_announce(req: &Request<'_>) -> Option<Announce> {
    Announce::from_bytes(req.value?).ok()
}

fn signed(
    ann: &Announce,
    target: &[u8; 32],
    id: &[u8; 32],
    token: &[u8],
    signable: Signable,
) -> Option<Signed> {
    let (peer, signature) = (ann.peer.as_ref()?, ann.signature.as_ref()?);
    let message = signable(target, id, token, peer, ann.refresh.as_ref());
    verify(&peer.public_key, &message, signature).then(|| Signed {
        peer: peer.clone(),
        announce_self: key_target(&peer.public_key) == *target,
    })
}

impl Storage {
    pub(super) fn find_peer(&mut self, now: Instant, target: &[u8; 32]) -> Option<Vec<u8>> {
        self.router.get(now, target).map(|r| r.record.clone())
    }

    /// Up to 20 records chosen uniformly at random, the router record appended when
    /// fewer were found, as a `lookupRawReply` (records copied as stored).
    pub(super) fn lookup(&mut self, now: Instant, target: &[u8; 32]) -> Option<Vec<u8>> {
        let mut records: Vec<Vec<u8>> = self
            .records
            .get(now, target)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        if records.len() > MAX_LOOKUP_RECORDS {
            // A partial Fisher-Yates shuffle: the first 20 are a uniform sample.
            for i in 0..MAX_LOOKUP_RECORDS {
                let left = (records.len() - i) as u64;
                let j = i + (self.next_random() % left) as usize;
                records.swap(i, j);
            }
            records.truncate(MAX_LOOKUP_RECORDS);
        } else if let Some(router) = self.router.get(now, target) {
            records.push(router.record.clone());
        }
        if records.is_empty() {
            return None;
        }
        let bump = self.bumps.get(now, target).copied().unwrap_or(0);
        let mut e = Encoder::new();
        e.uint_usize(records.len());
        for r in &records {
            e.put(r);
        }
        e.uint(bump);
        e.finish().ok()
    }

    pub(super) fn announce(
        &mut self,
        now: Instant,
        unix_ms: u64,
        id: &[u8; 32],
        target: [u8; 32],
        req: &Request<'_>,
    ) -> Answer {
        let (Some(token), Some(ann)) = (req.token, decode_announce(req)) else {
            return Answer::Ignore;
        };
        if ann.peer.is_none() && ann.signature.is_none() {
            return match ann.refresh {
                Some(next) => self.refresh(now, next),
                None => Answer::Ignore,
            };
        }
        let Some(signed) = signed(&ann, &target, id, token, announce_signable) else {
            return Answer::Ignore;
        };
        let mut peer = signed.peer;
        peer.relay_addresses.truncate(MAX_RELAY_ADDRESSES);
        let Ok(record) = peer.to_bytes() else {
            return Answer::Ignore;
        };
        self.store(
            now,
            target,
            peer.public_key,
            record.clone(),
            req,
            signed.announce_self,
        );
        if let Some(refresh) = ann.refresh {
            let remembered = Refresh {
                target,
                public_key: peer.public_key,
                record,
                relay: req.from,
                announce_self: signed.announce_self,
            };
            self.refreshes.set(now, refresh, remembered);
        }
        let stored = self.bumps.get(now, &target).copied().unwrap_or(0);
        if ann.bump > stored && ann.bump <= unix_ms.saturating_add(MAX_BUMP_AHEAD_MS) {
            self.bumps.set(now, target, ann.bump);
        }
        Answer::BARE
    }

    fn store(
        &mut self,
        now: Instant,
        target: [u8; 32],
        public_key: [u8; 32],
        record: Vec<u8>,
        req: &Request<'_>,
        announce_self: bool,
    ) {
        if announce_self {
            let relay = req.from;
            self.router.set(now, target, RouterRecord { relay, record });
            self.records.remove(&target, &public_key);
        } else {
            self.records.add(now, target, public_key, record);
        }
    }

    /// An ANNOUNCE that carries only `refresh = R'`: re-adds what was remembered under
    /// `hash(R')` and re-keys it under `R'` (spec §6.2).
    fn refresh(&mut self, now: Instant, next: [u8; 32]) -> Answer {
        let Some(entry) = self.refreshes.remove(&hash(&next)) else {
            return Answer::Ignore;
        };
        if entry.announce_self {
            let router = RouterRecord {
                relay: entry.relay,
                record: entry.record.clone(),
            };
            self.router.set(now, entry.target, router);
        } else {
            self.records
                .add(now, entry.target, entry.public_key, entry.record.clone());
        }
        self.refreshes.set(now, next, entry);
        Answer::BARE
    }

    pub(super) fn unannounce(
        &mut self,
        id: &[u8; 32],
        target: [u8; 32],
        req: &Request<'_>,
    ) -> Answer {
        let (Some(token), Some(ann)) = (req.token, decode_announce(req)) else {
            return Answer::Ignore;
        };
        let Some(signed) = signed(&ann, &target, id, token, unannounce_signable) else {
            return Answer::Ignore;
        };
        if signed.announce_self {
            self.router.remove(&target);
        }
        self.records.remove(&target, &signed.peer.public_key);
        Answer::BARE
    }

    pub(super) fn mutable_put(
        &mut self,
        now: Instant,
        target: [u8; 32],
        req: &Request<'_>,
    ) -> Answer {
        let (Some(_), Some(value)) = (req.token, req.value) else {
            return Answer::Ignore;
        };
        let Ok(put) = MutablePutRequest::from_bytes(value) else {
            return Answer::Ignore;
        };
        if key_target(&put.public_key) != target
            || !verify_mutable(&put.public_key, put.seq, &put.value, &put.signature)
        {
            return Answer::Ignore;
        }
        if let Some(stored) = self.mutables.get(now, &target) {
            if let Ok(old) = MutableGetResponse::from_bytes(stored) {
                if old.seq == put.seq && old.value != put.value {
                    return Answer::Error(error_code::SEQ_REUSED);
                }
                if put.seq < old.seq {
                    return Answer::Error(error_code::SEQ_TOO_LOW);
                }
            }
        }
        let response = MutableGetResponse {
            seq: put.seq,
            value: put.value,
            signature: put.signature,
        };
        let Ok(bytes) = response.to_bytes() else {
            return Answer::Ignore;
        };
        self.mutables.set(now, target, bytes);
        Answer::value(None)
    }

    pub(super) fn mutable_get(
        &mut self,
        now: Instant,
        target: [u8; 32],
        req: &Request<'_>,
    ) -> Answer {
        let Some(Ok(seq)) = req.value.map(|v| Decoder::new(v).uint()) else {
            return Answer::Ignore;
        };
        let stored = self
            .mutables
            .get(now, &target)
            .filter(|bytes| MutableGetResponse::from_bytes(bytes).is_ok_and(|r| r.seq >= seq));
        Answer::value(stored.cloned())
    }

    pub(super) fn immutable_put(
        &mut self,
        now: Instant,
        target: [u8; 32],
        req: &Request<'_>,
    ) -> Answer {
        let (Some(_), Some(value)) = (req.token, req.value) else {
            return Answer::Ignore;
        };
        if hash(value) != target {
            return Answer::Ignore;
        }
        self.immutables.set(now, target, value.to_vec());
        Answer::value(None)
    }
}
