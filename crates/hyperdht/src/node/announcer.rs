//! A server's announcer between updates (spec §8 steps 2–4).
//!
//! After every update (FIND_PEER toward `hash(publicKey)`, ANNOUNCE to the 3 closest) the
//! server runs *ping rounds*: each round PINGs every current relay (a dht-rpc PING with
//! the request's 3 retries); if fewer than `min(#relays, 3)` answer, the server updates
//! again at once; otherwise the next round starts [`RELAY_PING_INTERVAL`] after the round
//! ended. After [`PING_ROUNDS`] rounds (≈ 5 minutes), or when [`HyperDht::refresh_server`]
//! (or a network change, a resume) asks for it, the server updates again. The first
//! round starts right after the announce (the reference pings its first relay at once,
//! `cap#39`/`cap#40`). No round and no update starts while the dht-rpc core reports the
//! node offline (dht-rpc §15) or while the node is suspended.
//!
//! An update whose relay set differs from the previous one withdraws the record at the
//! relays it dropped: a FIND_PEER request to that node (for its id and a fresh token)
//! followed by an UNANNOUNCE signed for it. Closing a server does the same at all of its
//! relays. The relay sets of the last three updates are kept: a holepunch relayed by any
//! of them is "through our relay" ([`HyperDht::is_relay`]), so a client that found the
//! server through a relay of the previous cycle still gets a verified punch.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use plures_compact::Encode;
use plures_dht_rpc::Command;
use plures_dht_rpc::node::{Reply, RequestId};

use super::{Event, HyperDht, Owner, ServerId};
use crate::KeyPair;
use crate::constants::command;
use crate::crypto;
use crate::wire::{Announce, Peer};

/// Pause between two relay-ping rounds.
pub const RELAY_PING_INTERVAL: Duration = Duration::from_millis(3000);
/// Ping rounds between two updates.
pub const PING_ROUNDS: u32 = 100;
/// Relay sets (one per successful update) that [`HyperDht::is_relay`] remembers, the
/// current one included.
pub const RELAY_GENERATIONS: usize = 3;

/// A request of the announcer in flight.
#[derive(Debug)]
enum Pending {
    /// A PING of a relay of `server` in ping cycle `cycle`.
    Ping { server: ServerId, cycle: u64 },
    /// Withdrawing a record, step 1: FIND_PEER for the node's id and a token
    /// (`closing`: the closed server waiting for its withdrawals).
    Find {
        key_pair: KeyPair,
        target: [u8; 32],
        closing: Option<ServerId>,
    },
    /// Withdrawing a record, step 2: the UNANNOUNCE.
    Unannounce { closing: Option<ServerId> },
}

/// The announcer's requests (node-wide: withdrawals outlive a closed server).
#[derive(Debug, Default)]
pub(super) struct Requests {
    pending: HashMap<RequestId, Pending>,
    /// UNANNOUNCE requests sent so far (withdrawals of dropped or closed relays).
    pub(super) unannounces: u64,
    /// Closed servers → withdrawals still running ([`Event::ServerClosed`] at 0).
    closing: HashMap<ServerId, usize>,
}

/// One server's ping loop.
#[derive(Debug, Default)]
pub(super) struct PingLoop {
    /// Counts updates, so that pings of an earlier cycle are ignored.
    cycle: u64,
    /// Rounds finished in this cycle.
    round: u32,
    /// When the next round starts; `None` while a round is out or before the first update.
    next: Option<Instant>,
    /// Pings of the running round still out, and how many were answered.
    out: usize,
    answered: usize,
    /// Relay sets of the two updates before the current one, newest first.
    older: VecDeque<Vec<SocketAddrV4>>,
    /// A refresh was asked for while an update ran: update again when it ends.
    again: bool,
}

impl HyperDht {
    /// Asks a server to update its announcement now (the reference's
    /// `server.refresh()`): a FIND_PEER toward its key and ANNOUNCE to the 3 closest
    /// nodes; relays it no longer uses get an UNANNOUNCE. If an update is running, another
    /// one follows it. Waits while the node is offline or suspended. False if there is no
    /// such server.
    pub fn refresh_server(&mut self, now: Instant, server: ServerId) -> bool {
        self.last_now = now;
        let Some(s) = self.servers.get_mut(&server) else {
            return false;
        };
        if s.announcing.is_some() {
            s.ping.again = true;
        } else {
            s.next_refresh = now;
            self.refresh_servers(now);
        }
        true
    }

    /// Whether `addr` is a relay of `server` in its current or one of its two previous
    /// relay sets (the reference's `announcer.isRelay`).
    pub fn is_relay(&self, server: ServerId, addr: SocketAddrV4) -> bool {
        self.servers.get(&server).is_some_and(|s| {
            s.relays.contains(&addr) || s.ping.older.iter().any(|g| g.contains(&addr))
        })
    }

    /// UNANNOUNCE requests sent to withdraw a server's record from a relay it dropped or
    /// closed at.
    pub fn relay_unannounces(&self) -> u64 {
        self.announcer.unannounces
    }

    /// Whether the announcer may act now (spec §8 step 3: it waits while the node is
    /// offline; the suspend cycle stops it separately).
    pub(super) fn announcer_online(&self) -> bool {
        self.dht.online() && !self.is_suspended()
    }

    /// Starts the ping rounds that are due.
    pub(super) fn relay_pings(&mut self, now: Instant) {
        if !self.announcer_online() {
            return;
        }
        let due: Vec<ServerId> = self
            .servers
            .iter()
            .filter(|(_, s)| s.announcing.is_none() && s.ping.next.is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            self.start_round(now, id);
        }
    }

    /// When the next ping round of any server is due (none while offline: the core's
    /// own ticks wake the node up to notice it is back).
    pub(super) fn relay_pings_timeout(&self) -> Option<Instant> {
        if !self.announcer_online() {
            return None;
        }
        self.servers
            .values()
            .filter(|s| s.announcing.is_none())
            .filter_map(|s| s.ping.next)
            .min()
    }

    fn start_round(&mut self, now: Instant, id: ServerId) {
        let Some(s) = self.servers.get_mut(&id) else {
            return;
        };
        s.ping.next = None;
        s.ping.out = 0;
        s.ping.answered = 0;
        let cycle = s.ping.cycle;
        let relays = s.relays.clone();
        for relay in relays {
            let Ok(request) = self
                .dht
                .request(now, relay, Command::Ping, None, None, None)
            else {
                continue;
            };
            self.announcer
                .pending
                .insert(request, Pending::Ping { server: id, cycle });
            self.by_request.insert(request, Owner::Announcer);
            if let Some(s) = self.servers.get_mut(&id) {
                s.ping.out += 1;
            }
        }
        if self.servers.get(&id).is_some_and(|s| s.ping.out == 0) {
            self.end_round(now, id);
        }
    }

    /// A ping round ended: update now if too few relays answered or the cycle is over,
    /// else schedule the next round.
    fn end_round(&mut self, now: Instant, id: ServerId) {
        let Some(s) = self.servers.get_mut(&id) else {
            return;
        };
        let wanted = s.relays.len().min(super::SERVER_RELAYS);
        s.ping.round += 1;
        if s.ping.answered < wanted || s.ping.round >= PING_ROUNDS {
            s.next_refresh = now;
            self.refresh_servers(now);
        } else {
            s.ping.next = Some(now + RELAY_PING_INTERVAL);
        }
    }

    /// An update of server `id` ended with the relays in `relays` (spec §8 step 2):
    /// rotates the relay generations, withdraws the record from the relays it dropped and
    /// starts a new ping cycle (its first round at once). Returns whether the relay set
    /// changed.
    pub(super) fn on_update(
        &mut self,
        now: Instant,
        id: ServerId,
        relays: Vec<SocketAddrV4>,
    ) -> bool {
        let Some(s) = self.servers.get_mut(&id) else {
            return false;
        };
        let changed = !relays.is_empty() && relays != s.relays;
        let mut dropped = Vec::new();
        if !relays.is_empty() {
            dropped = s
                .relays
                .iter()
                .filter(|r| !relays.contains(r))
                .copied()
                .collect();
            let previous = std::mem::replace(&mut s.relays, relays);
            // Every update is a generation (changed or not).
            if !previous.is_empty() {
                s.ping.older.push_front(previous);
                s.ping.older.truncate(RELAY_GENERATIONS - 1);
            }
        }
        s.ping.cycle += 1;
        s.ping.round = 0;
        s.ping.out = 0;
        s.ping.answered = 0;
        s.ping.next = Some(now);
        let again = std::mem::take(&mut s.ping.again);
        if again {
            s.next_refresh = now;
        }
        let (key_pair, target) = (s.key_pair.clone(), s.target);
        for node in dropped {
            self.withdraw_at(now, key_pair.clone(), target, node, None);
        }
        changed
    }

    /// A server closed: withdraws its record at each of `relays` (nothing if the node is
    /// suspended) and reports [`Event::ServerClosed`] once those are done.
    pub(super) fn withdraw_closed(
        &mut self,
        now: Instant,
        id: ServerId,
        key_pair: &KeyPair,
        target: [u8; 32],
        relays: &[SocketAddrV4],
    ) {
        if !self.frozen() {
            for relay in relays {
                self.withdraw_at(now, key_pair.clone(), target, *relay, Some(id));
            }
        }
        if !self.announcer.closing.contains_key(&id) {
            self.events.push_back(Event::ServerClosed { server: id });
        }
    }

    /// One withdrawal of a closing server ended.
    fn withdrawn(&mut self, closing: Option<ServerId>) {
        let Some(id) = closing else {
            return;
        };
        let Some(left) = self.announcer.closing.get_mut(&id) else {
            return;
        };
        *left = left.saturating_sub(1);
        if *left == 0 {
            self.announcer.closing.remove(&id);
            self.events.push_back(Event::ServerClosed { server: id });
        }
    }

    /// Withdraws `key_pair`'s router record at the storage node `node`: FIND_PEER for its
    /// id and a token, then a signed UNANNOUNCE (spec §8 step 4).
    pub(super) fn withdraw_at(
        &mut self,
        now: Instant,
        key_pair: KeyPair,
        target: [u8; 32],
        node: SocketAddrV4,
        closing: Option<ServerId>,
    ) {
        let find = self.dht.request(
            now,
            node,
            Command::User(command::FIND_PEER),
            Some(target.into()),
            None,
            None,
        );
        if let Ok(request) = find {
            let pending = Pending::Find {
                key_pair,
                target,
                closing,
            };
            self.announcer.pending.insert(request, pending);
            self.by_request.insert(request, Owner::Announcer);
            if let Some(id) = closing {
                *self.announcer.closing.entry(id).or_default() += 1;
            }
        }
    }

    /// The answer (or failure) of an announcer request.
    pub(super) fn on_announcer_reply(
        &mut self,
        now: Instant,
        request: RequestId,
        reply: Option<&Reply>,
    ) {
        let Some(pending) = self.announcer.pending.remove(&request) else {
            return;
        };
        match pending {
            Pending::Ping { server, cycle } => {
                let Some(s) = self.servers.get_mut(&server) else {
                    return;
                };
                if s.ping.cycle != cycle || s.ping.out == 0 {
                    return;
                }
                s.ping.out -= 1;
                if reply.is_some() {
                    s.ping.answered += 1;
                }
                if s.ping.out == 0 {
                    self.end_round(now, server);
                }
            }
            Pending::Find {
                key_pair,
                target,
                closing,
            } => {
                let Some(r) = reply else {
                    self.withdrawn(closing);
                    return;
                };
                let (Some(id), Some(token)) = (r.id, r.token) else {
                    self.withdrawn(closing);
                    return;
                };
                let peer = Peer {
                    public_key: *key_pair.public_key(),
                    relay_addresses: Vec::new(),
                };
                let signature =
                    crypto::sign_unannounce(&key_pair, &target, id.as_bytes(), &token, &peer, None);
                let ann = Announce {
                    peer: Some(peer),
                    signature: Some(signature),
                    ..Announce::default()
                };
                let Ok(value) = ann.to_bytes() else {
                    self.withdrawn(closing);
                    return;
                };
                let sent = self.dht.request(
                    now,
                    r.from,
                    Command::User(command::UNANNOUNCE),
                    Some(target.into()),
                    Some(&value),
                    Some(token),
                );
                match sent {
                    Ok(request) => {
                        self.announcer.unannounces += 1;
                        let pending = Pending::Unannounce { closing };
                        self.announcer.pending.insert(request, pending);
                        self.by_request.insert(request, Owner::Announcer);
                    }
                    Err(_) => self.withdrawn(closing),
                }
            }
            Pending::Unannounce { closing } => self.withdrawn(closing),
        }
    }

    /// Reports a relay set that changed after the first announce.
    pub(super) fn relays_changed(&mut self, id: ServerId) {
        if let Some(s) = self.servers.get(&id) {
            let relays = s.relays.clone();
            self.events
                .push_back(Event::RelaysChanged { server: id, relays });
        }
    }
}
