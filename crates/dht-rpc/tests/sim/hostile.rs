//! Garbage, truncated and spoofed datagrams and request floods: dropped, counted, bounded.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_compact::Encode;
use plures_dht_rpc::node::{MAX_DELAYED, MAX_EVENTS, MAX_QUERIES};
use plures_dht_rpc::wire::{Request, Response};
use plures_dht_rpc::{Command, Config, Dht, Dropped, NodeId, Socket, io::MAX_IN_FLIGHT};
use proptest::prelude::*;

fn me() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 49737)
}

fn src(i: u16) -> SocketAddrV4 {
    SocketAddrV4::new(
        Ipv4Addr::new(10, 1, (i >> 8) as u8, i as u8),
        1000 + (i % 7),
    )
}

fn node(now: Instant) -> Dht {
    let mut c = Config::bootstrapper(me(), 9);
    c.commands = vec![16];
    c.bootstrap = vec![src(1), src(2)];
    let mut d = Dht::new(c, now);
    while d.poll_transmit().is_some() {}
    while d.poll_event().is_some() {}
    d
}

/// One input: raw bytes, a request built from arbitrary fields (maybe truncated), or a
/// response with an arbitrary tid.
#[derive(Debug, Clone)]
enum Input {
    Raw(Vec<u8>),
    Request {
        internal: bool,
        command: u8,
        id: bool,
        spoof: bool,
        token: Option<[u8; 32]>,
        target: Option<[u8; 32]>,
        value: Option<Vec<u8>>,
        cut: usize,
    },
    Response {
        tid: u16,
        id: bool,
        closer: Vec<u16>,
        error: u8,
    },
}

fn input() -> impl Strategy<Value = (u16, Input, u16)> {
    let raw = proptest::collection::vec(any::<u8>(), 0..64).prop_map(Input::Raw);
    let req = (
        any::<bool>(),
        0u8..20,
        any::<bool>(),
        any::<bool>(),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(any::<[u8; 32]>()),
        proptest::option::of(proptest::collection::vec(any::<u8>(), 0..12)),
        0usize..8,
    )
        .prop_map(
            |(internal, command, id, spoof, token, target, value, cut)| Input::Request {
                internal,
                command,
                id,
                spoof,
                token,
                target,
                value,
                cut,
            },
        );
    let res = (
        any::<u16>(),
        any::<bool>(),
        proptest::collection::vec(any::<u16>(), 0..25),
        0u8..4,
    )
        .prop_map(|(tid, id, closer, error)| Input::Response {
            tid,
            id,
            closer,
            error,
        });
    (0u16..64, prop_oneof![raw, req, res], 0u16..3000)
}

fn encode(from: SocketAddrV4, input: &Input) -> Vec<u8> {
    match input {
        Input::Raw(b) => b.clone(),
        Input::Request {
            internal,
            command,
            id,
            spoof,
            token,
            target,
            value,
            cut,
        } => {
            let cmd = Command::from_wire(*internal, (*command).into());
            let mut r = Request::new(7, me(), cmd);
            let claimed = if *spoof { src(9999) } else { from };
            r.id = id.then(|| NodeId::from_addr(claimed));
            r.token = *token;
            r.target = target.map(NodeId);
            r.value = value.as_deref();
            let mut bytes = r.to_bytes().unwrap();
            if *cut > 0 {
                bytes.truncate(bytes.len().saturating_sub(*cut));
            }
            bytes
        }
        Input::Response {
            tid,
            id,
            closer,
            error,
        } => {
            let mut r = Response::new(*tid, me());
            r.id = id.then(|| NodeId::from_addr(from));
            r.closer_nodes = Some(closer.iter().map(|&i| src(i)).collect());
            r.error = (*error).into();
            r.to_bytes().unwrap()
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Arbitrary datagram sequences never panic, every datagram is processed or counted as
    /// dropped, and every piece of state stays under its cap.
    #[test]
    fn arbitrary_datagrams(inputs in proptest::collection::vec(input(), 1..200)) {
        let t0 = Instant::now();
        let mut now = t0;
        let mut d = node(t0);
        let mut n = 0u64;
        for (from, input, dt) in &inputs {
            now += Duration::from_millis((*dt).into());
            let from = src(*from);
            let _ = d.handle_datagram(now, Socket::Server, from, &encode(from, input));
            n += 1;
            if let Some(t) = d.poll_timeout() {
                if t <= now {
                    d.handle_timeout(now);
                }
            }
            while d.poll_transmit().is_some() {}
            while let Some(e) = d.poll_event() {
                if let plures_dht_rpc::Event::Request(r) = e {
                    d.reply(&r.handle, Some(b"ok")).unwrap();
                }
            }
            prop_assert!(d.requests_in_flight() <= MAX_IN_FLIGHT);
            prop_assert!(d.queries() <= MAX_QUERIES);
            prop_assert!(d.table().len() <= 256 * 20);
        }
        let s = d.stats();
        prop_assert_eq!(s.datagrams, n);
        let dropped = s.malformed + s.bad_source_port + s.unmatched + s.bad_internal + s.overload;
        prop_assert_eq!(s.requests + s.responses + s.malformed + s.unmatched + s.bad_source_port, n);
        prop_assert!(dropped <= n);
        // Spoofed ids never enter the table.
        prop_assert!(d.table().iter().all(|x| x.id == NodeId::from_addr(x.addr)));
    }
}

#[test]
fn garbage_and_spoofed_ids_are_counted() {
    let t0 = Instant::now();
    let mut d = node(t0);
    for i in 0..10_000u16 {
        let r = d.handle_datagram(t0, Socket::Server, src(i), &[0x03, 0xff, i as u8]);
        assert!(matches!(r, Err(Dropped::Decode(_))));
    }
    assert_eq!(
        d.handle_datagram(
            t0,
            Socket::Server,
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            b"\x03\x04"
        ),
        Err(Dropped::SourcePort)
    );
    // PINGs carrying somebody else's id: answered, but the id counts as absent.
    for i in 0..100u16 {
        let mut r = Request::new(i, me(), Command::Ping);
        r.id = Some(NodeId::from_addr(src(i + 1)));
        d.handle_datagram(t0, Socket::Server, src(i), &r.to_bytes().unwrap())
            .unwrap();
    }
    let s = d.stats();
    assert_eq!(
        (s.malformed, s.bad_source_port, s.invalid_ids),
        (10_000, 1, 100)
    );
    assert_eq!(d.table().len(), 0);
    let mut replies = 0;
    while d.poll_transmit().is_some() {
        replies += 1;
    }
    assert_eq!(replies, 100);
}

#[test]
fn floods_are_bounded() {
    let t0 = Instant::now();
    let mut d = node(t0);
    // DELAYED_PING flood: at most MAX_DELAYED replies are held.
    for i in 0..5_000u16 {
        let mut r = Request::new(i, me(), Command::DelayedPing);
        r.value = Some(&[0x10, 0x27, 0, 0]);
        let _ = d.handle_datagram(t0, Socket::Server, src(i), &r.to_bytes().unwrap());
    }
    assert_eq!(d.stats().overload, 5_000 - MAX_DELAYED as u64);
    d.handle_timeout(t0 + Duration::from_secs(10));
    let mut replies = 0;
    while let Some(t) = d.poll_transmit() {
        // Skip the bootstrap query's retransmissions.
        replies += usize::from(t.contents[0] == 0x13);
    }
    assert_eq!(replies, MAX_DELAYED);
    // A user-command flood nobody drains: the event queue stops at MAX_EVENTS.
    let mut r = Request::new(1, me(), Command::User(16));
    r.value = Some(b"x");
    let bytes = r.to_bytes().unwrap();
    for i in 0..(MAX_EVENTS as u32 + 1000) {
        d.handle_datagram(t0, Socket::Server, src(i as u16), &bytes)
            .unwrap();
    }
    assert_eq!(d.stats().events_dropped, 1000);
    // Unmatched responses are dropped and counted.
    let res = Response::new(4242, me()).to_bytes().unwrap();
    assert_eq!(
        d.handle_datagram(t0, Socket::Server, src(1), &res),
        Err(Dropped::Unmatched)
    );
}
