//! The client side of a connection (spec §10): find the server's announce relays with a
//! FIND_PEER query, send the one Noise message 1 through them (at most 2 at a time), take
//! the first valid reply and choose the path.
//!
//! Paths: the relay was the server (not relayed), the server is OPEN (or offers no
//! holepunch relays), we are OPEN (a set-up without `remote_addr`: the server dials us and
//! the stream binds to its first datagram, spec §10.4 step 4), the LAN shortcut (same public host: the server's best-matching
//! local address, used without the reference's confirming PING, and only when
//! [`HolepunchConfig::local_connection`](super::HolepunchConfig) is on; it does not race
//! the holepunch), else holepunching ([`super::holepunch`]).

use std::collections::{HashSet, VecDeque};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use plures_compact::{Decode, Encode};
use plures_dht_rpc::node::{QueryError, Reply};
use plures_dht_rpc::{Command, Socket};
use plures_secret_stream::{IkAwaitingResponse, IkInitiator, KeyPair, Keys};

use super::holepunch::PunchStart;
use super::{Event, HyperDht, Owner, StreamSetup};
use crate::constants::{command, firewall, mode};
use crate::crypto::{NS_PEER_HANDSHAKE, holepunch_secret, target as key_target};
use crate::wire::{Handshake, NoisePayload, Peer, SecretStreamInfo, UdxInfo};

/// Handshakes in flight at once while relays are found by the query.
pub const HANDSHAKE_CONCURRENCY: usize = 2;

/// Names one outgoing connection attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// Why a connection attempt failed (the reference's error codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No storage node knew the server.
    #[error("PEER_NOT_FOUND: peer not found")]
    PeerNotFound,
    /// The server was found, but no handshake completed.
    #[error("PEER_CONNECTION_FAILED: could not connect to peer")]
    PeerConnectionFailed,
    /// The server speaks another payload version.
    #[error("SERVER_INCOMPATIBLE: server is using an incompatible version")]
    ServerIncompatible,
    /// The server answered with an error or without UDX data.
    #[error("SERVER_ERROR: server returned an error")]
    ServerError,
    /// The server is neither OPEN nor holepunchable.
    #[error("CANNOT_HOLEPUNCH: cannot holepunch to the server")]
    CannotHolepunch,
    /// The holepunch gave up (strategy ran out, throttled, vetoed).
    #[error("HOLEPUNCH_ABORTED: holepunch aborted")]
    HolepunchAborted,
    /// A holepunch reply did not decrypt.
    #[error("HOLEPUNCH_INVALID: invalid holepunch payload")]
    HolepunchInvalid,
    /// A NAT class was still unknown after the probe rounds.
    #[error("HOLEPUNCH_PROBE_TIMEOUT: timed out while probing the NATs")]
    HolepunchProbeTimeout,
    /// Both sides are behind randomizing NATs.
    #[error("HOLEPUNCH_DOUBLE_RANDOMIZED_NATS: both peers are behind randomized NATs")]
    HolepunchDoubleRandomizedNats,
    /// The server answered a holepunch round with an error code. Kept for the API, not
    /// produced: the reference's client reports such an answer as HOLEPUNCH_ABORTED, and
    /// so does this one ([`Self::HolepunchAborted`]).
    #[error("REMOTE_ABORTED: remote aborted with error code {0}")]
    RemoteAborted(u64),
    /// The server did not start punching.
    #[error("REMOTE_NOT_HOLEPUNCHING: remote is not holepunching")]
    RemoteNotHolepunching,
    /// No punch strategy fits the two NATs.
    #[error("REMOTE_NOT_HOLEPUNCHABLE: remote is not holepunchable")]
    RemoteNotHolepunchable,
    /// A holepunch reply was malformed or came from another node.
    #[error("BAD_HOLEPUNCH_REPLY: bad holepunch reply")]
    BadHolepunchReply,
    /// A holepunch round got no answer.
    #[error("REQUEST_TIMEOUT: holepunch request timed out")]
    RequestTimeout,
    /// The remote public key is not a usable Ed25519 point (the Noise DH fails).
    #[error("invalid remote public key")]
    InvalidRemoteKey,
    /// The dht-rpc core refused the query.
    #[error("too many queries in flight")]
    Busy,
    /// The FIND_PEER query failed.
    #[error("query failed: {0}")]
    Query(QueryError),
}

pub(super) struct Connect {
    target: [u8; 32],
    m1: Vec<u8>,
    waiting: Option<IkAwaitingResponse>,
    local_stream_id: u32,
    remote_public_key: [u8; 32],
    queue: VecDeque<SocketAddrV4>,
    tried: HashSet<SocketAddrV4>,
    in_flight: usize,
    found_record: bool,
    query_done: bool,
    /// Our payload said `firewall: OPEN` (we knew our public address).
    open: bool,
}

impl core::fmt::Debug for Connect {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Connect")
            .field("local_stream_id", &self.local_stream_id)
            .field("in_flight", &self.in_flight)
            .field("found_record", &self.found_record)
            .field("query_done", &self.query_done)
            .finish_non_exhaustive()
    }
}

/// Private, loopback, link-local, shared, documentation, benchmarking (198.18.0.0/15),
/// IETF protocol assignments (192.0.0.0/24), multicast or otherwise not a public unicast
/// address: the classification the reference's `bogon` dependency gives (black-box
/// vectors in the tests below; `docs/protocol-notes.md`, "hyperdht in the NAT lab").
pub(super) fn is_bogon(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (18..20).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || a == 0
        || a >= 240
}

/// Unusable even on a LAN (private and loopback addresses are fine there).
fn is_reserved(ip: Ipv4Addr) -> bool {
    ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.octets()[0] >= 240
}

/// How many leading octets two addresses share (0–3, as `matchAddress` counts).
fn shared_prefix(a: Ipv4Addr, b: Ipv4Addr) -> usize {
    a.octets()
        .iter()
        .zip(b.octets().iter())
        .take(3)
        .take_while(|(x, y)| x == y)
        .count()
}

impl HyperDht {
    /// Connects to the server `remote_public_key` as `key_pair`: [`Event::Connected`] with
    /// the stream to set up, or [`Event::ConnectFailed`].
    pub fn connect(
        &mut self,
        now: Instant,
        remote_public_key: [u8; 32],
        key_pair: KeyPair,
    ) -> Result<ConnId, ConnectError> {
        let target = key_target(&remote_public_key);
        let local_stream_id = self.entropy.u32();
        let remote = self.remote_address();
        let payload = NoisePayload {
            firewall: if remote.is_some() {
                firewall::OPEN
            } else {
                firewall::UNKNOWN
            },
            // Local addresses only when the LAN shortcut is on (`lan ? local : []`).
            addresses4: if self.holepunch.local_connection {
                self.our_addresses()
            } else {
                remote.into_iter().collect()
            },
            udx: Some(UdxInfo {
                version: 1,
                reusable_socket: false,
                id: u64::from(local_stream_id),
                seq: 0,
            }),
            secret_stream: Some(SecretStreamInfo::default()),
            ..NoisePayload::default()
        };
        let payload = payload.to_bytes().map_err(|_| ConnectError::ServerError)?;
        let ephemeral = KeyPair::from_seed(self.entropy.bytes32());
        let (m1, waiting) = IkInitiator::start(
            key_pair,
            ephemeral,
            remote_public_key,
            &NS_PEER_HANDSHAKE,
            &payload,
        )
        .map_err(|_| ConnectError::InvalidRemoteKey)?;
        let query = self
            .dht
            .query(
                now,
                target.into(),
                Command::User(command::FIND_PEER),
                None,
                false,
            )
            .map_err(|_| ConnectError::Busy)?;
        self.next_conn += 1;
        let id = ConnId(self.next_conn);
        self.by_query.insert(query, Owner::Conn(id));
        self.conns.insert(
            id,
            Connect {
                target,
                m1,
                waiting: Some(waiting),
                local_stream_id,
                remote_public_key,
                queue: VecDeque::new(),
                tried: HashSet::new(),
                in_flight: 0,
                found_record: false,
                query_done: false,
                open: remote.is_some(),
            },
        );
        Ok(id)
    }

    pub(super) fn on_connect_query_reply(&mut self, now: Instant, id: ConnId, reply: &Reply) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let record = reply.value.as_deref().map(Peer::from_bytes);
        if reply.error == 0 && matches!(record, Some(Ok(_))) {
            c.found_record = true;
            if c.tried.insert(reply.from) {
                c.queue.push_back(reply.from);
            }
        }
        self.pump_handshakes(now, id);
    }

    pub(super) fn on_connect_query_done(
        &mut self,
        now: Instant,
        id: ConnId,
        error: Option<QueryError>,
    ) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.query_done = true;
        if let Some(e) = error {
            if !c.found_record {
                self.fail_connect(id, ConnectError::Query(e));
                return;
            }
        }
        self.pump_handshakes(now, id);
    }

    /// Sends message 1 through queued relays while fewer than 2 are in flight; fails the
    /// attempt once nothing is left to try.
    fn pump_handshakes(&mut self, now: Instant, id: ConnId) {
        while let Some(c) = self.conns.get_mut(&id) {
            if c.in_flight >= HANDSHAKE_CONCURRENCY {
                return;
            }
            let Some(relay) = c.queue.pop_front() else {
                break;
            };
            let value = Handshake {
                mode: mode::FROM_CLIENT,
                noise: c.m1.clone(),
                peer_address: None,
                relay_address: None,
            };
            let Ok(bytes) = value.to_bytes() else {
                continue;
            };
            let target = Some(c.target.into());
            let cmd = Command::User(command::PEER_HANDSHAKE);
            if let Ok(r) = self
                .dht
                .request(now, relay, cmd, target, Some(&bytes), None)
            {
                c.in_flight += 1;
                self.by_request.insert(r, Owner::Conn(id));
            }
        }
        if let Some(c) = self.conns.get(&id) {
            if c.query_done && c.in_flight == 0 && c.queue.is_empty() {
                let e = if c.found_record {
                    ConnectError::PeerConnectionFailed
                } else {
                    ConnectError::PeerNotFound
                };
                self.fail_connect(id, e);
            }
        }
    }

    fn fail_connect(&mut self, id: ConnId, error: ConnectError) {
        if self.conns.remove(&id).is_some() {
            self.events
                .push_back(Event::ConnectFailed { conn: id, error });
        }
    }

    /// A handshake request through a relay ended (`None`: no response).
    pub(super) fn on_handshake_reply(&mut self, now: Instant, id: ConnId, reply: Option<&Reply>) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        c.in_flight = c.in_flight.saturating_sub(1);
        let hs = reply
            .filter(|r| r.error == 0)
            .and_then(|r| Some((r, Handshake::from_bytes(r.value.as_deref()?).ok()?)));
        match hs {
            Some((r, hs)) if hs.mode == mode::REPLY && c.waiting.is_some() => {
                self.finish_handshake(id, r, &hs);
            }
            _ => self.pump_handshakes(now, id),
        }
    }

    fn finish_handshake(&mut self, id: ConnId, reply: &Reply, hs: &Handshake) {
        let Some(c) = self.conns.get_mut(&id) else {
            return;
        };
        let Some(waiting) = c.waiting.take() else {
            return;
        };
        let open = c.open;
        let Ok((finished, payload)) = waiting.handle(&hs.noise) else {
            // Undecryptable: a bad relay or a stale reply. The state is spent, so the
            // attempt cannot complete any more.
            self.fail_connect(id, ConnectError::PeerConnectionFailed);
            return;
        };
        let server = match NoisePayload::from_bytes(&payload) {
            Ok(p) if p.version != 1 => {
                return self.fail_connect(id, ConnectError::ServerIncompatible);
            }
            Ok(p) if p.error != 0 || p.udx.is_none() => {
                return self.fail_connect(id, ConnectError::ServerError);
            }
            Ok(p) => p,
            Err(_) => return self.fail_connect(id, ConnectError::ServerError),
        };
        let relayed = hs.peer_address.is_some();
        let server_address = hs.peer_address.unwrap_or(reply.from);
        let client_address = reply.to;
        let holepunchable = server
            .holepunch
            .as_ref()
            .is_some_and(|h| !h.relays.is_empty());
        let main = self.dht.main_socket();
        let lan = self.holepunch.local_connection && client_address.ip() == server_address.ip();
        let path = if !relayed {
            Some((Some(reply.from), main))
        } else if server.firewall == firewall::OPEN || !holepunchable {
            let public = server.addresses4.iter().find(|a| !is_bogon(*a.ip()));
            Some((Some(public.copied().unwrap_or(server_address)), main))
        } else if open {
            // Step 4: we are OPEN, so the server connects to us (it dials the address
            // the relay saw); the stream binds to its first datagram.
            Some((None, main))
        } else if lan {
            self.lan_address(&server.addresses4)
                .map(|a| (Some(a), Socket::Server))
        } else {
            None
        };
        let Some(c) = self.conns.remove(&id) else {
            return;
        };
        let remote_stream_id = server.udx.map_or(0, |u| u.id);
        let setup = StreamSetup {
            local_stream_id: c.local_stream_id,
            remote_stream_id: u32::try_from(remote_stream_id).unwrap_or(0),
            remote_addr: path.and_then(|p| p.0),
            holepunch_secret: holepunch_secret(finished.handshake_hash()),
            keys: Keys::from(&finished),
            remote_public_key: c.remote_public_key,
            socket: path.map_or(main, |p| p.1),
        };
        if path.is_some() {
            self.events.push_back(Event::Connected { conn: id, setup });
            return;
        }
        // Holepunch (spec §12): the slot and relays the server offered.
        let Some(hp) = server.holepunch else {
            self.events.push_back(Event::ConnectFailed {
                conn: id,
                error: ConnectError::CannotHolepunch,
            });
            return;
        };
        // Keep the attempt known while punching (its id stays valid).
        let start = PunchStart {
            setup,
            target: c.target,
            slot: hp.id,
            relays: hp.relays,
            relay: reply.from,
            server_address,
        };
        self.start_holepunch(self.last_now, id, start);
    }

    /// The local UDX stream id of a connection attempt still looking for its server, if
    /// our handshake said we are OPEN: such a client may be dialled by the server before
    /// the handshake reply arrives, so a driver may create the stream early (spec §10.1,
    /// §10.4 step 1) and keep it for whatever path is chosen.
    pub fn early_stream_id(&self, conn: ConnId) -> Option<u32> {
        self.conns
            .get(&conn)
            .filter(|c| c.open)
            .map(|c| c.local_stream_id)
    }

    /// The server address that best matches one of ours (`matchAddress`).
    fn lan_address(&self, theirs: &[SocketAddrV4]) -> Option<SocketAddrV4> {
        let usable: Vec<&SocketAddrV4> = theirs.iter().filter(|a| !is_reserved(*a.ip())).collect();
        let ours = &self.local_addresses;
        (1..=3)
            .rev()
            .find_map(|n| {
                usable
                    .iter()
                    .find(|a| ours.iter().any(|o| shared_prefix(*o, *a.ip()) >= n))
            })
            .or_else(|| usable.first())
            .map(|a| **a)
    }
}

#[cfg(test)]
mod tests {
    use super::is_bogon;

    /// `require('bogon')(ip)` of the pinned JS stack (testnet/node_modules, run on
    /// 2026-11-27): (address, bogon).
    const BOGON_VECTORS: &[(&str, bool)] = &[
        ("198.18.1.2", true),
        ("198.19.255.1", true),
        ("198.18.0.0", true),
        ("198.19.255.255", true),
        ("198.20.0.1", false),
        ("198.17.255.255", false),
        ("192.0.2.2", true),
        ("198.51.100.11", true),
        ("203.0.113.10", true),
        ("198.51.99.255", false),
        ("198.51.101.0", false),
        ("203.0.112.255", false),
        ("203.0.114.0", false),
        ("192.0.3.0", false),
        ("192.0.0.1", true),
        ("192.0.0.255", true),
        ("192.0.1.0", false),
        ("100.64.0.1", true),
        ("100.127.1.1", true),
        ("100.63.255.255", false),
        ("100.128.0.0", false),
        ("10.0.0.1", true),
        ("172.16.0.1", true),
        ("192.168.1.1", true),
        ("127.0.0.1", true),
        ("169.254.1.1", true),
        ("0.0.0.0", true),
        ("0.1.2.3", true),
        ("224.0.0.1", true),
        ("233.252.0.1", true),
        ("240.0.0.1", true),
        ("255.255.255.255", true),
        ("8.8.8.8", false),
        ("1.1.1.1", false),
        ("192.88.99.1", false),
        ("192.31.196.1", false),
    ];

    #[test]
    fn bogons_match_the_reference() {
        for (ip, bogon) in BOGON_VECTORS {
            let addr = ip.parse().expect("vector address");
            assert_eq!(is_bogon(addr), *bogon, "{ip}");
        }
    }
}
