//! The `dht_node` target: a sans-IO dht-rpc node (`Dht`) fed datagrams from arbitrary
//! sources, time advances and commands, from a script decoded from the input.
//!
//! Byte 0 picks the variant: a bootstrapper (persistent, not firewalled, id bound to its
//! address) or an ephemeral/adaptive node that bootstraps from one peer. The datagrams are
//! raw input bytes or packets built with the wire codec that answer the node's own
//! requests (with valid or forged ids, closer nodes and tokens) or ask it things (every
//! internal command plus a registered user command).
//!
//! Asserts:
//! - nothing panics;
//! - every transmit decodes as a dht-rpc packet and re-encodes to the same bytes (the node
//!   writes canonical packets), its `to` is its destination, and an id it carries is the
//!   node's own;
//! - a response goes only to an address that sent the node something, to that host at
//!   another port (PING_NAT), or where the fuzzer asked (`reply_to`, `relay`); a request
//!   goes only to a bootstrap address, an address the node heard from or learned from a
//!   closer-node list or a DOWN_HINT, or one the fuzzer named;
//! - caps: requests in flight ≤ `MAX_IN_FLIGHT`, queries ≤ `MAX_QUERIES`, one drain yields
//!   at most `MAX_REPLIES + MAX_IN_FLIGHT` transmits and `MAX_EVENTS` events;
//! - the routing table holds at most `K` nodes per row, none with the node's own id, and
//!   only ids that hash from their address (`NodeId::from_addr`), and its id is the node's;
//! - after `handle_timeout(now)`, `poll_timeout` is not before `now`.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use plures_compact::Encode;
use plures_dht_rpc::io::MAX_IN_FLIGHT;
use plures_dht_rpc::node::{MAX_EVENTS, MAX_QUERIES, MAX_REPLIES, RequestHandle};
use plures_dht_rpc::wire::{Packet, Request, Response};
use plures_dht_rpc::{Command, Config, Dht, Event, K, NodeId, ROWS, Socket, Token};

use crate::script::{Clock, Cursor};

/// The user command the node registers.
const USER_COMMAND: u64 = 42;

fn own_addr() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 49737)
}

fn bootstrap_addr() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 49737)
}

/// A source address: one of a few fixed peers, or one read from the input.
fn address(c: &mut Cursor<'_>) -> SocketAddrV4 {
    let pick = c.u8();
    match pick % 12 {
        0 => bootstrap_addr(),
        1..=8 => SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, pick % 12), 1000 + u16::from(pick)),
        9 => SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 1), c.u16()),
        _ => SocketAddrV4::new(Ipv4Addr::from(c.u32()), c.u16()),
    }
}

fn node_id(c: &mut Cursor<'_>) -> NodeId {
    let mut id = [0u8; 32];
    id[0] = c.u8();
    id[1] = c.u8();
    id[31] = c.u8();
    NodeId(id)
}

struct Harness {
    dht: Dht,
    clock: Clock,
    /// Addresses a request may go to.
    known: HashSet<SocketAddrV4>,
    /// Sources of datagrams (a response may go to them).
    sources: HashSet<SocketAddrV4>,
    /// Extra response destinations the fuzzer asked for.
    reply_targets: HashSet<SocketAddrV4>,
    /// Requests the node sent: (tid, destination), newest last.
    outgoing: Vec<(u16, SocketAddrV4)>,
    /// Tokens the node handed out, by requester host.
    tokens: Vec<(Ipv4Addr, Token)>,
    /// Requests for the user command waiting for an answer.
    pending: Vec<RequestHandle>,
}

impl Harness {
    fn drain(&mut self) {
        let mut sent = 0usize;
        while let Some(t) = self.dht.poll_transmit() {
            sent += 1;
            assert!(sent <= MAX_REPLIES + MAX_IN_FLIGHT, "unbounded transmits");
            let packet = Packet::decode(&t.contents).expect("a transmit decodes");
            let again = packet.to_bytes().expect("a decoded transmit encodes");
            assert_eq!(again, t.contents, "transmit is not canonical");
            assert_eq!(packet.to(), t.destination, "`to` is not the destination");
            if let Some(id) = packet.id() {
                assert_eq!(id, self.dht.id(), "foreign id on a transmit");
            }
            match &packet {
                Packet::Request(r) => {
                    assert!(
                        self.known.contains(&t.destination),
                        "request to an address never learned: {}",
                        t.destination
                    );
                    self.outgoing.push((r.tid, t.destination));
                    if self.outgoing.len() > 64 {
                        self.outgoing.remove(0);
                    }
                }
                Packet::Response(r) => {
                    let host_seen = self.sources.iter().any(|s| s.ip() == t.destination.ip());
                    assert!(
                        self.sources.contains(&t.destination)
                            || self.reply_targets.contains(&t.destination)
                            || host_seen,
                        "response to a stranger: {}",
                        t.destination
                    );
                    if let Some(token) = r.token {
                        self.tokens.push((*t.destination.ip(), token));
                        if self.tokens.len() > 16 {
                            self.tokens.remove(0);
                        }
                    }
                }
            }
        }
        assert!(self.dht.requests_in_flight() <= MAX_IN_FLIGHT);
        assert!(self.dht.queries() <= MAX_QUERIES);
        let mut events = 0usize;
        while let Some(e) = self.dht.poll_event() {
            events += 1;
            assert!(events <= MAX_EVENTS, "unbounded events");
            match e {
                Event::Request(req) => {
                    assert_eq!(req.command, USER_COMMAND, "unregistered command surfaced");
                    assert!(self.sources.contains(&req.from));
                    if self.pending.len() < 16 {
                        self.pending.push(req.handle);
                    }
                }
                Event::QueryDone { closest, .. } => {
                    for peer in closest {
                        assert!(self.known.contains(&peer.addr), "query found a stranger");
                    }
                }
                _ => {}
            }
        }
        self.check_table();
    }

    fn check_table(&self) {
        let table = self.dht.table();
        assert_eq!(table.id(), self.dht.id());
        let mut total = 0;
        for row in 0..ROWS {
            let nodes = table.row(row);
            assert!(nodes.len() <= K, "row {row} holds {} nodes", nodes.len());
            total += nodes.len();
            for n in nodes {
                assert_eq!(
                    n.id,
                    NodeId::from_addr(n.addr),
                    "table id not bound to address"
                );
                assert_ne!(n.id, self.dht.id(), "own id in the table");
                assert_eq!(table.row_of(&n.id), row, "node in the wrong row");
            }
        }
        assert_eq!(total, table.len());
    }

    /// Learns what a datagram tells the node (addresses it may then contact).
    fn learn(&mut self, from: SocketAddrV4, data: &[u8]) {
        self.sources.insert(from);
        self.known.insert(from);
        match Packet::decode(data) {
            Ok(Packet::Response(r)) => {
                self.known.extend(r.closer_nodes.iter().flatten().copied());
            }
            Ok(Packet::Request(r)) => {
                // A DOWN_HINT names a node to check; the value is an ipv4Address.
                if let Some(v) = r.value.filter(|v| v.len() >= 6) {
                    let ip = Ipv4Addr::new(v[0], v[1], v[2], v[3]);
                    self.known
                        .insert(SocketAddrV4::new(ip, u16::from_le_bytes([v[4], v[5]])));
                }
            }
            Err(_) => {}
        }
    }

    fn deliver(&mut self, socket: Socket, from: SocketAddrV4, data: &[u8]) {
        self.learn(from, data);
        let _ = self
            .dht
            .handle_datagram(self.clock.now(), socket, from, data);
        self.drain();
    }

    /// A response to one of the node's requests.
    fn respond(&mut self, c: &mut Cursor<'_>) {
        let Some(&(tid, dest)) = self
            .outgoing
            .iter()
            .rev()
            .nth(usize::from(c.u8() % 8))
            .or(self.outgoing.last())
        else {
            return;
        };
        let flags = c.u8();
        let from = if flags & 1 == 0 { dest } else { address(c) };
        let mut r = Response::new(tid, own_addr());
        r.id = match flags >> 1 & 3 {
            0 => None,
            1 | 2 => Some(NodeId::from_addr(from)),
            _ => Some(node_id(c)),
        };
        if flags & 8 != 0 {
            r.token = Some([c.u8(); 32]);
        }
        if flags & 0x10 != 0 {
            let n = usize::from(c.u8() % 24);
            r.closer_nodes = Some((0..n).map(|_| address(c)).collect());
        }
        if flags & 0x20 != 0 {
            r.error = u64::from(c.u8() % 4);
        }
        let value = c.bytes(usize::from(flags >> 6) * 8);
        if !value.is_empty() {
            r.value = Some(value);
        }
        if let Ok(bytes) = r.to_bytes() {
            self.deliver(Socket::Server, from, &bytes);
        }
    }

    /// A request to the node.
    fn ask(&mut self, c: &mut Cursor<'_>) {
        let from = address(c);
        let flags = c.u8();
        let mut value_buf = Vec::new();
        let (command, target) = match flags % 7 {
            0 => (Command::Ping, None),
            1 => {
                value_buf.extend_from_slice(&c.u16().to_le_bytes());
                (Command::PingNat, None)
            }
            2 => (Command::FindNode, Some(node_id(c))),
            3 => {
                let a = address(c);
                value_buf.extend_from_slice(&a.ip().octets());
                value_buf.extend_from_slice(&a.port().to_le_bytes());
                (Command::DownHint, None)
            }
            4 => {
                let ms = u32::from(c.u16());
                value_buf.extend_from_slice(&ms.to_le_bytes());
                (Command::DelayedPing, None)
            }
            5 => (Command::User(USER_COMMAND), Some(node_id(c))),
            _ => (Command::User(u64::from(c.u8())), None),
        };
        let mut r = Request::new(c.u16(), own_addr(), command);
        r.target = target;
        if !value_buf.is_empty() || flags & 0x10 != 0 {
            r.value = Some(&value_buf);
        }
        r.id = match flags >> 5 & 3 {
            0 | 1 => None,
            2 => Some(NodeId::from_addr(from)),
            _ => Some(node_id(c)),
        };
        if flags & 0x80 != 0 {
            // A token the node handed to this host, if any, else garbage.
            r.token = Some(
                self.tokens
                    .iter()
                    .rev()
                    .find(|(h, _)| h == from.ip())
                    .map_or([7; 32], |&(_, t)| t),
            );
        }
        let socket = if flags & 8 == 0 {
            Socket::Server
        } else {
            Socket::Client
        };
        if let Ok(bytes) = r.to_bytes() {
            self.deliver(socket, from, &bytes);
        }
    }

    fn command(&mut self, c: &mut Cursor<'_>) {
        let now = self.clock.now();
        match c.u8() % 6 {
            0 => {
                let to = address(c);
                self.known.insert(to);
                let _ = self.dht.request(now, to, Command::Ping, None, None, None);
            }
            1 => {
                let _ = self.dht.find_node(now, node_id(c));
            }
            2 => {
                let target = node_id(c);
                let _ = self
                    .dht
                    .query(now, target, Command::User(USER_COMMAND), Some(b"v"), true);
            }
            3..=5 => {
                if self.pending.is_empty() {
                    return;
                }
                let h = self.pending.remove(0);
                let to = address(c);
                match c.u8() % 4 {
                    0 => {
                        let _ = self.dht.reply(&h, Some(b"ok"));
                    }
                    1 => {
                        let _ = self.dht.error(&h, 5);
                    }
                    2 => {
                        self.reply_targets.insert(to);
                        let _ = self.dht.reply_to(&h, to, None);
                    }
                    _ => {
                        self.known.insert(to);
                        let _ = self.dht.relay(&h, to, Some(b"relayed"));
                    }
                }
            }
            _ => unreachable!(),
        }
        self.drain();
    }

    fn advance(&mut self, by: Duration) {
        let now = self.clock.advance(by);
        self.dht.handle_timeout(now);
        if let Some(t) = self.dht.poll_timeout() {
            assert!(t >= now, "poll_timeout in the past after handle_timeout");
        }
        self.drain();
    }
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let mut c = Cursor::new(data);
    let variant = c.u8();
    let seed = u64::from(c.u16());
    let mut config = if variant & 1 == 0 {
        Config::bootstrapper(own_addr(), seed)
    } else {
        let mut config = Config::new(seed);
        config.bootstrap = vec![bootstrap_addr()];
        config.ephemeral = [None, Some(true), Some(false), None][usize::from(variant >> 1 & 3)];
        config.firewalled = variant & 8 != 0;
        config
    };
    config.commands = vec![USER_COMMAND];
    config.sorted_closer_nodes = variant & 0x10 != 0;
    config.down_hints = variant & 0x20 == 0;
    let clock = Clock::new();
    let dht = Dht::new(config, clock.now());
    let mut h = Harness {
        dht,
        clock,
        known: [bootstrap_addr()].into_iter().collect(),
        sources: HashSet::new(),
        reply_targets: HashSet::new(),
        outgoing: Vec::new(),
        tokens: Vec::new(),
        pending: Vec::new(),
    };
    h.drain();

    let mut steps = 0;
    while !c.is_empty() && steps < 256 {
        steps += 1;
        match c.u8() % 6 {
            0 => {
                let from = address(&mut c);
                let len = usize::from(c.u8());
                let raw = c.bytes(len).to_vec();
                h.deliver(Socket::Server, from, &raw);
            }
            1 | 2 => h.respond(&mut c),
            3 => h.ask(&mut c),
            4 => {
                let ms = u64::from(c.u8()) * u64::from(c.u8() % 80 + 1);
                h.advance(Duration::from_millis(ms));
            }
            _ => h.command(&mut c),
        }
    }
}
