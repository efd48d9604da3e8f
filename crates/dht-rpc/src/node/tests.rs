//! Script tests: typed inputs at set times, exact bytes out (spec §18.2 vectors).

use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use super::*;
use crate::token::TokenSecrets;

fn a(s: &str) -> SocketAddrV4 {
    s.parse().unwrap()
}

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace(' ', "")).unwrap()
}

/// The §18.2 responder: bootstrapper 127.0.0.1:49999, secrets 11/22, two table nodes.
fn responder(now: Instant) -> Dht {
    let mut config = Config::bootstrapper(a("127.0.0.1:49999"), 1);
    config.secrets = TokenSecrets::new([0x11; 32], [0x22; 32]);
    config.commands = vec![42];
    let mut node = Dht::new(config, now);
    assert!(node.is_persistent());
    assert!(node.is_bootstrapped());
    assert_eq!(node.id(), NodeId::from_addr(a("127.0.0.1:49999")));
    node.add_node(a("10.0.0.1:1000"));
    node.add_node(a("10.0.0.2:2000"));
    let events: Vec<Event> = std::iter::from_fn(|| node.poll_event()).collect();
    assert!(events.contains(&Event::Ready));
    assert!(events.contains(&Event::Persistent { id: node.id() }));
    node
}

fn exchange(node: &mut Dht, now: Instant, request: &str) -> Option<Transmit> {
    let r = node.handle_datagram(now, Socket::Server, a("127.0.0.1:40000"), &h(request));
    assert!(r.is_ok() || node.poll_transmit().is_none(), "{r:?}");
    node.poll_transmit()
}

const ID: &str = "5e5723efac3d36c2223995450915b437a3a675bc3774eb6c527107d3069cac20";
const TOK: &str = "adbc55b1f8292697e70c852f66f2c9cc22a0acf90d8e0ea2b399cc0b1d88e922";
const CLOSER: &str = "02 0a000002d007 0a000001e803";

#[test]
fn spec_responses() {
    let t0 = Instant::now();
    let mut node = responder(t0);
    let aa = "aa".repeat(32);
    let cases = [
        (
            "03040b0a7f0000014fc300".to_string(),
            format!("13010b0a7f000001409c{ID}"),
        ),
        (
            format!("030c0c0a7f0000014fc302{aa}"),
            format!("13050c0a7f000001409c{ID}{CLOSER}"),
        ),
        (
            format!("03080d0a7f0000014fc363{aa}"),
            format!("130d0d0a7f000001409c{ID}{CLOSER}01"),
        ),
        (
            "03040e0a7f0000014fc309".to_string(),
            format!("13090e0a7f000001409c{ID}01"),
        ),
        (
            format!("03060f0a7f0000014fc3{}00", "cc".repeat(32)),
            format!("130b0f0a7f000001409c{ID}{TOK}02"),
        ),
        (
            "0314120a7f0000014fc3 03 06 0a000001e803".to_string(),
            format!("1301120a7f000001409c{ID}"),
        ),
    ];
    for (req, want) in cases {
        let t = exchange(&mut node, t0, &req).expect("a reply");
        assert_eq!(
            hex::encode(&t.contents),
            want.replace(' ', ""),
            "request {req}"
        );
        assert_eq!(t.destination, a("127.0.0.1:40000"));
        assert_eq!(t.socket, Socket::Server);
    }
    // DOWN_HINT about a table node: reply, then a liveness PING to that node.
    let t = exchange(&mut node, t0, "0314120a7f0000014fc3 03 06 0a000001e803").unwrap();
    assert_eq!(
        hex::encode(&t.contents),
        format!("1301120a7f000001409c{ID}")
    );
    let check = node.poll_transmit().unwrap();
    assert_eq!(check.destination, a("10.0.0.1:1000"));
    assert!(
        matches!(Packet::decode(&check.contents), Ok(Packet::Request(r)) if r.command() == Command::Ping)
    );
    // User command 42 with target: surfaces as an event; the app replies "ok".
    assert!(exchange(&mut node, t0, &format!("0308100a7f0000014fc32a{aa}")).is_none());
    let Some(Event::Request(req)) = node.poll_event() else {
        panic!("no request event")
    };
    assert_eq!(req.command, 42);
    node.reply(&req.handle, Some(b"ok")).unwrap();
    let t = node.poll_transmit().unwrap();
    assert_eq!(
        hex::encode(&t.contents),
        format!(
            "1317100a7f000001409c{ID}{TOK}{}026f6b",
            CLOSER.replace(' ', "")
        )
    );
    // PING_NAT: the reply goes to the given port.
    let t = exchange(&mut node, t0, "0314110a7f0000014fc3 01 02 409c").unwrap();
    assert_eq!(
        hex::encode(&t.contents),
        format!("1301110a7f000001409c{ID}")
    );
    // DELAYED_PING 200 ms: nothing now, the reply at +200 ms.
    assert!(exchange(&mut node, t0, "0314130a7f0000014fc3 04 04 c8000000").is_none());
    assert!(node.poll_timeout().unwrap() <= t0 + Duration::from_millis(200));
    node.handle_timeout(t0 + Duration::from_millis(199));
    assert!(node.poll_transmit().is_none());
    node.handle_timeout(t0 + Duration::from_millis(200));
    let t = node.poll_transmit().unwrap();
    assert_eq!(
        hex::encode(&t.contents),
        format!("1301130a7f000001409c{ID}")
    );
    // Over 10 s, missing values, port 0, FIND_NODE without target: no reply.
    for bad in [
        "0314140a7f0000014fc3 04 04 11270000",
        "0304150a7f0000014fc3 04",
        "0314160a7f0000014fc3 01 02 0000",
        "0304170a7f0000014fc302",
    ] {
        assert!(exchange(&mut node, t0, bad).is_none(), "{bad}");
    }
    assert_eq!(node.stats().bad_internal, 4);
}

#[test]
fn request_to_dead_node_times_out_after_four_sends() {
    let t0 = Instant::now();
    let mut node = responder(t0);
    let dead = a("10.9.9.9:9999");
    let id = node
        .request(t0, dead, Command::Ping, None, None, None)
        .unwrap();
    let mut sends = Vec::new();
    let mut now = t0;
    let failed_at = loop {
        while let Some(t) = node.poll_transmit() {
            if t.destination == dead {
                sends.push((now - t0).as_millis());
            }
        }
        if let Some(e) = node.poll_event() {
            assert_eq!(
                e,
                Event::RequestFailed {
                    request: id,
                    error: RequestError::Timeout
                }
            );
            break now - t0;
        }
        now = node.poll_timeout().unwrap();
        node.handle_timeout(now);
    };
    assert_eq!(sends, [0, 1000, 2000, 3000]);
    assert_eq!(failed_at, Duration::from_millis(4000));
}

#[test]
fn request_response_and_relay() {
    let t0 = Instant::now();
    let mut client = Dht::new(
        Config {
            firewalled: false,
            ..Config::new(7)
        },
        t0,
    );
    assert_eq!(client.poll_event(), Some(Event::Ready));
    let server_addr = a("127.0.0.1:49999");
    let mut server = responder(t0);
    let rid = client
        .request(t0, server_addr, Command::User(42), None, Some(b"x"), None)
        .unwrap();
    let t = client.poll_transmit().unwrap();
    server
        .handle_datagram(t0, Socket::Server, a("127.0.0.1:40000"), &t.contents)
        .unwrap();
    let Some(Event::Request(req)) = server.poll_event() else {
        panic!()
    };
    // Relay to a third node, which answers the originator directly.
    server
        .relay(&req.handle, a("10.0.0.1:1000"), Some(b"y"))
        .unwrap();
    let relayed = server.poll_transmit().unwrap();
    let Packet::Request(r) = Packet::decode(&relayed.contents).unwrap() else {
        panic!()
    };
    assert_eq!(
        (r.tid, r.command, r.value, r.token),
        (req.handle.tid, 42, Some(&b"y"[..]), None)
    );
    server.reply(&req.handle, Some(b"z")).unwrap();
    let t = server.poll_transmit().unwrap();
    client
        .handle_datagram(t0, Socket::Server, server_addr, &t.contents)
        .unwrap();
    let e = client.poll_event();
    assert!(
        matches!(
            e,
            Some(Event::NatUpdate {
                host: Some(_),
                port: 40000
            })
        ),
        "{e:?}"
    );
    let Some(Event::Response { request, reply }) = client.poll_event() else {
        panic!()
    };
    assert_eq!(request, rid);
    assert_eq!(reply.value.as_deref(), Some(&b"z"[..]));
    assert_eq!(reply.id, Some(server.id()));
    assert!(reply.token.is_some());
    // A second copy is unmatched and counted.
    assert_eq!(
        client.handle_datagram(t0, Socket::Server, server_addr, &t.contents),
        Err(Dropped::Unmatched)
    );
    // The token works once, and is rejected after two rotations.
    let token = reply.token;
    client
        .request(t0, server_addr, Command::User(42), None, None, token)
        .unwrap();
    let t = client.poll_transmit().unwrap();
    server
        .handle_datagram(t0, Socket::Server, a("127.0.0.1:40000"), &t.contents)
        .unwrap();
    assert!(matches!(server.poll_event(), Some(Event::Request(r)) if r.token == token));
    let later = t0 + Duration::from_millis(15_000);
    server.handle_timeout(t0 + Duration::from_millis(7_500));
    server.handle_timeout(later);
    while server.poll_transmit().is_some() {}
    server
        .handle_datagram(later, Socket::Server, a("127.0.0.1:40000"), &t.contents)
        .unwrap();
    let t = server.poll_transmit().unwrap();
    let Packet::Response(r) = Packet::decode(&t.contents).unwrap() else {
        panic!()
    };
    assert_eq!(r.error, error_code::INVALID_TOKEN);
}
