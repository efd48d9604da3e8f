//! Bursts of requests from several peers: the driver takes a socket's waiting datagrams in
//! one go and sends the replies as one batch grouped by destination; every request must
//! still get exactly its own reply, at its own address.

use std::collections::HashSet;
use std::net::SocketAddrV4;

use super::{LOCAL, UdpSocket, within};
use crate::command::Command;
use crate::driver::{DhtNode, NodeConfig};
use plures_compact::Encode;

use crate::wire::{Packet, Request};

const PEERS: usize = 3;
const BURST: u16 = 100;

#[tokio::test]
async fn every_request_of_a_burst_gets_its_own_reply() {
    let boot = DhtNode::bind(NodeConfig::bootstrapper(LOCAL, 0)).unwrap();
    within(boot.bootstrapped()).await.unwrap();
    let server = boot.server_addr();
    let mut peers = Vec::new();
    for _ in 0..PEERS {
        let s = UdpSocket::bind(SocketAddrV4::new(LOCAL, 0)).await.unwrap();
        s.connect(server).await.unwrap();
        peers.push(s);
    }
    // All bursts go out before any reply is read, interleaved peer by peer.
    for tid in 0..BURST {
        for (p, s) in peers.iter().enumerate() {
            let tid = tid + 1000 * p as u16;
            let packet = Request::new(tid, server, Command::Ping).to_bytes().unwrap();
            s.send(&packet).await.unwrap();
        }
    }
    for (p, s) in peers.iter().enumerate() {
        let me = match s.local_addr().unwrap() {
            std::net::SocketAddr::V4(a) => a,
            other => panic!("{other}"),
        };
        let mut seen = HashSet::new();
        let mut buf = [0u8; 2048];
        while seen.len() < usize::from(BURST) {
            let n = within(s.recv(&mut buf)).await.unwrap();
            let Ok(Packet::Response(r)) = Packet::decode(&buf[..n]) else {
                panic!("not a response: {:?}", &buf[..n]);
            };
            let first = 1000 * p as u16;
            assert!(
                (first..first + BURST).contains(&r.tid),
                "peer {p} got tid {}",
                r.tid
            );
            assert!(seen.insert(r.tid), "tid {} answered twice", r.tid);
            assert_eq!(r.to, me, "the reply names the requester's address");
            assert_eq!(r.id, Some(boot.id()));
            assert_eq!(r.error, 0);
        }
    }
    boot.destroy().await;
}
