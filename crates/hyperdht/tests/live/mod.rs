//! Helpers of the tests that run the tokio driver on 127.0.0.1.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use plures_hyperdht::driver::{HyperDhtNode, NodeConfig, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub(crate) const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;

/// A firewalled, ephemeral Rust node on loopback that does not take the LAN shortcut, so
/// a connection to another firewalled node can only come up by holepunching.
pub(crate) fn firewalled(bootstrap: SocketAddrV4, fast_open: bool) -> HyperDhtNode {
    let mut c = NodeConfig::new(vec![bootstrap]);
    c.host = LOCAL;
    c.dht.ephemeral = Some(true);
    c.dht.quick_firewall = false;
    c.holepunch.local_connection = false;
    c.holepunch.fast_open = fast_open;
    HyperDhtNode::bind(c).expect("bind")
}

/// Accepts one connection on `server`, echoes `len` bytes, then ends its side and waits
/// for the peer's end: dropping a live stream destroys it, which could cut off the echo
/// before the peer has read it. Returns the peer's key and the server (kept alive).
pub(crate) async fn echo_once(mut server: Server, len: usize) -> (Option<[u8; 32]>, Server) {
    let mut s = server.accept().await.expect("incoming");
    let mut buf = vec![0u8; len];
    s.read_exact(&mut buf).await.expect("read");
    s.write_all(&buf).await.expect("write");
    s.shutdown().await.expect("end");
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).await.expect("read to end");
    (s.remote_public_key().copied(), server)
}
