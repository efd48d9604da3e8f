//! `checkIfFirewalled` counting (spec §13 step 3–4) with hand-fed replies: a reply counts
//! only if its sender's host was also seen arriving on the server socket, and 3 of 5
//! candidates must count.

use std::net::SocketAddrV4;
use std::time::Instant;

use super::super::*;
use crate::wire::Packet;

fn a(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

const BOOT: &str = "10.0.0.1:1000";
const PUBLIC_CLIENT: &str = "1.2.3.4:50000";
const PUBLIC_SERVER: &str = "1.2.3.4:49737";

fn peers() -> Vec<SocketAddrV4> {
    (2..=7).map(|i| a(&format!("10.0.0.{i}:1000"))).collect()
}

fn respond(node: &mut Dht, now: Instant, socket: Socket, from: SocketAddrV4, r: &Response<'_>) {
    let bytes = r.to_bytes().unwrap();
    node.handle_datagram(now, socket, from, &bytes).unwrap();
}

/// A forced-persistent, firewalled node bootstraps through `BOOT`, which lists six
/// persistent peers; returns the PING_NATs of the firewall check that follows, as
/// `(destination, tid)`.
fn bootstrap(now: Instant) -> (Dht, Vec<(SocketAddrV4, u16)>) {
    let mut config = Config::new(7);
    config.bootstrap = vec![a(BOOT)];
    config.ephemeral = Some(false);
    config.server_port = 49737;
    let mut node = Dht::new(config, now);
    let mut ping_nats = Vec::new();
    while let Some(t) = node.poll_transmit() {
        assert_eq!(
            t.socket,
            Socket::Client,
            "firewalled nodes send from the client"
        );
        let Ok(Packet::Request(req)) = Packet::decode(&t.contents) else {
            panic!("a request");
        };
        match req.command() {
            Command::FindNode => {
                let mut r = Response::new(req.tid, a(PUBLIC_CLIENT));
                if t.destination == a(BOOT) {
                    r.closer_nodes = Some(peers());
                } else {
                    r.id = Some(NodeId::from_addr(t.destination));
                }
                respond(&mut node, now, Socket::Client, t.destination, &r);
            }
            Command::PingNat => {
                let v = req.value.unwrap();
                assert_eq!(u16::from_le_bytes([v[0], v[1]]), 49737);
                ping_nats.push((t.destination, req.tid));
            }
            c => panic!("unexpected {c:?}"),
        }
    }
    assert!(!node.is_bootstrapped(), "waits for the firewall check");
    (node, ping_nats)
}

/// Answers every PING_NAT; the first `on_server` replies arrive on the server socket (as
/// they would through an open firewall), the rest on the client socket.
fn run(on_server: usize) -> Dht {
    let now = Instant::now();
    let (mut node, ping_nats) = bootstrap(now);
    assert_eq!(ping_nats.len(), FIREWALL_CANDIDATES);
    // The five most recently seen nodes, not the bootstrap node.
    assert!(ping_nats.iter().all(|(d, _)| peers().contains(d)));
    for (i, (from, tid)) in ping_nats.into_iter().enumerate() {
        let socket = if i < on_server {
            Socket::Server
        } else {
            Socket::Client
        };
        let r = Response {
            id: Some(NodeId::from_addr(from)),
            ..Response::new(tid, a(PUBLIC_SERVER))
        };
        respond(&mut node, now, socket, from, &r);
    }
    // The bootstrap resumes (second query on success); finish it.
    while let Some(t) = node.poll_transmit() {
        let Ok(Packet::Request(req)) = Packet::decode(&t.contents) else {
            panic!("a request");
        };
        let r = Response {
            id: Some(NodeId::from_addr(t.destination)),
            ..Response::new(req.tid, a(PUBLIC_SERVER))
        };
        respond(&mut node, now, Socket::Server, t.destination, &r);
    }
    assert!(node.is_bootstrapped());
    node
}

#[test]
fn two_of_five_is_firewalled() {
    let node = run(2);
    assert!(node.is_firewalled());
    assert!(!node.is_persistent());
    assert_eq!(node.nat().port(), 50000);
}

#[test]
fn three_of_five_is_reachable_and_persistent() {
    let node = run(3);
    assert!(!node.is_firewalled());
    assert!(node.is_persistent());
    assert_eq!(node.id(), NodeId::from_addr(a(PUBLIC_SERVER)));
    assert_eq!(node.nat().port(), 49737);
}
