//! The hyperdht core's suspend state on the wire (dht-rpc §3.5 rule 1, §16; hyperdht
//! §10.1): a suspended node answers nothing, sends nothing and schedules no timer; it
//! refuses operations with `OpError::Suspended`; after `resume` it answers the same
//! request again and starts a table refresh. Requests are built with the dht-rpc wire
//! codec and fed to one [`HyperDht`] core.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use plures_compact::Encode;
use plures_dht_rpc::wire::{Packet, Request};
use plures_dht_rpc::{Command, Config as DhtConfig, NodeId, Socket};
use plures_hyperdht::constants::command;
use plures_hyperdht::node::{Config, Event, HyperDht, OpError};
use plures_hyperdht::storage::StorageConfig;

const NODE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 49737);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);

fn node(now: Instant) -> HyperDht {
    let config = Config {
        dht: DhtConfig::bootstrapper(NODE, 5),
        storage: StorageConfig::default(),
        unix_ms: 1_700_000_000_000,
        entropy: [1; 32],
        local_addresses: Vec::new(),
        holepunch: Default::default(),
    };
    HyperDht::new(config, now)
}

fn lookup_request(tid: u16) -> Vec<u8> {
    let mut req = Request::new(tid, NODE, Command::User(command::LOOKUP));
    req.target = Some(NodeId::from([0x44; 32]));
    req.to_bytes().expect("encode")
}

fn transmits(n: &mut HyperDht) -> Vec<plures_dht_rpc::Transmit> {
    std::iter::from_fn(|| n.poll_transmit()).collect()
}

fn events(n: &mut HyperDht) -> Vec<Event> {
    std::iter::from_fn(|| n.poll_event()).collect()
}

#[test]
fn a_suspended_node_is_silent_and_answers_again_after_resume() {
    let t0 = Instant::now();
    let mut n = node(t0);
    transmits(&mut n);
    events(&mut n);

    // Running: a LOOKUP is answered.
    n.handle_datagram(t0, Socket::Server, CLIENT, &lookup_request(1))
        .expect("accepted");
    let out = transmits(&mut n);
    assert_eq!(out.len(), 1);
    assert!(matches!(
        Packet::decode(&out[0].contents),
        Ok(Packet::Response(_))
    ));

    // No server announced: suspended at once.
    assert!(n.suspend(t0));
    assert!(events(&mut n).contains(&Event::Suspended));
    assert!(n.is_suspended());
    assert!(!n.suspend(t0), "already suspended");
    assert_eq!(n.poll_timeout(), None, "no timer runs");
    n.handle_datagram(t0, Socket::Server, CLIENT, &lookup_request(2))
        .expect("ignored, not an error");
    n.handle_timeout(t0 + Duration::from_secs(3600));
    assert!(transmits(&mut n).is_empty(), "nothing answered or sent");
    assert_eq!(n.lookup(t0, [1; 32]), Err(OpError::Suspended));

    let t1 = t0 + Duration::from_secs(7200);
    assert!(n.resume(t1));
    assert!(!n.resume(t1), "already running");
    assert!(events(&mut n).contains(&Event::Resumed));
    assert!(n.poll_timeout().is_some());
    n.handle_datagram(t1, Socket::Server, CLIENT, &lookup_request(3))
        .expect("accepted");
    let out = transmits(&mut n);
    assert!(
        out.iter().any(|t| t.destination == CLIENT
            && matches!(Packet::decode(&t.contents), Ok(Packet::Response(r)) if r.tid == 3)),
        "answered again"
    );
    assert!(n.lookup(t1, [1; 32]).is_ok());
}
