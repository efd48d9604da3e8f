//! Rust-only loopback tests of the driver (real sockets, real time, bounded by timeouts).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::time::timeout;

use super::{DhtNode, NodeConfig};
use crate::command::Command;
use crate::id::NodeId;

const LOCAL: Ipv4Addr = Ipv4Addr::LOCALHOST;
const LIMIT: Duration = Duration::from_secs(20);

async fn within<T>(f: impl Future<Output = T>) -> T {
    timeout(LIMIT, f).await.expect("timed out")
}

async fn network(n: usize) -> (DhtNode, Vec<DhtNode>) {
    let boot = DhtNode::bind(NodeConfig::bootstrapper(LOCAL, 0)).unwrap();
    within(boot.bootstrapped()).await.unwrap();
    let mut nodes = Vec::new();
    for _ in 0..n {
        let node =
            DhtNode::bind(NodeConfig::persistent(LOCAL, 0, vec![boot.server_addr()])).unwrap();
        nodes.push(node);
    }
    for node in &nodes {
        within(node.bootstrapped()).await.unwrap();
    }
    (boot, nodes)
}

#[tokio::test]
async fn bootstrapper_takes_its_address_id() {
    let boot = DhtNode::bind(NodeConfig::bootstrapper(LOCAL, 0)).unwrap();
    let s = within(boot.wait_status(|s| s.bootstrapped && s.persistent))
        .await
        .unwrap();
    assert_eq!(s.id, NodeId::from_addr(boot.server_addr()));
    assert!(!s.firewalled);
    assert_eq!(boot.local_addr(), boot.server_addr());
    boot.destroy().await;
}

#[tokio::test]
async fn nodes_join_ping_and_find_each_other() {
    let (boot, nodes) = network(4).await;
    for node in &nodes {
        let s = within(node.wait_status(|s| s.persistent)).await.unwrap();
        assert_eq!(s.id, NodeId::from_addr(node.server_addr()));
    }
    let reply = within(nodes[0].ping(boot.server_addr())).await.unwrap();
    assert_eq!(reply.id, Some(boot.id()));
    assert_eq!(reply.to.port(), nodes[0].local_addr().port());

    let target = nodes[3].id();
    let mut q = within(nodes[0].find_node(target)).await.unwrap();
    let mut replies = 0;
    while within(q.next()).await.is_some() {
        replies += 1;
    }
    let outcome = within(q.finish()).await.unwrap();
    assert!(replies >= 2, "{replies} replies");
    assert_eq!(outcome.closest[0].id, target);
    assert!(nodes[0].table_size() >= 2);
    let table = within(nodes[0].table()).await.unwrap();
    assert_eq!(table.len(), nodes[0].table_size());
    for node in nodes {
        node.destroy().await;
    }
    boot.destroy().await;
}

#[tokio::test]
async fn user_commands_reach_the_handler_and_commits_carry_tokens() {
    const CMD: u64 = 77;
    let (boot, nodes) = network(3).await;
    for node in &nodes {
        node.register(CMD).unwrap();
    }
    let asker = DhtNode::bind(NodeConfig::new(vec![boot.server_addr()])).unwrap();
    within(asker.bootstrapped()).await.unwrap();

    // Each responder answers everything; count commits (requests with a token).
    let mut servers = Vec::new();
    for node in nodes {
        servers.push(tokio::spawn(async move {
            let mut commits = 0;
            while let Some(req) = node.next_request().await {
                if req.request.token.is_some() {
                    commits += 1;
                }
                req.reply(Some(b"pong")).unwrap();
                if commits > 0 {
                    break;
                }
            }
            node.destroy().await;
            commits
        }));
    }
    let target = NodeId([7; 32]);
    let q = within(asker.query(target, Command::User(CMD), Some(b"hi"), true))
        .await
        .unwrap();
    let outcome = within(q.finish()).await.unwrap();
    assert!(outcome.stats.commits >= 1);
    // An unregistered command gets UNKNOWN_COMMAND from the bootstrapper.
    let r = within(asker.request(boot.server_addr(), Command::User(CMD), None, None, None))
        .await
        .unwrap();
    assert_eq!(r.error, crate::command::error_code::UNKNOWN_COMMAND);
    // A made-up token is refused before the handler sees it.
    let r = within(asker.request(boot.server_addr(), Command::Ping, None, None, Some([1; 32])))
        .await
        .unwrap();
    assert_eq!(r.error, crate::command::error_code::INVALID_TOKEN);
    for s in servers {
        assert_eq!(within(s).await.unwrap(), 1);
    }
    asker.destroy().await;
    boot.destroy().await;
}

/// PING and FIND_NODE to an address that never answers: 4 transmissions each, 1 s apart,
/// then `TimedOut`.
#[tokio::test]
async fn requests_to_a_dead_address_give_up_after_four_sends() {
    let sink = UdpSocket::bind((LOCAL, 0)).await.unwrap();
    let dead = match sink.local_addr().unwrap() {
        std::net::SocketAddr::V4(a) => a,
        a => panic!("{a}"),
    };
    let mut config = NodeConfig::new(Vec::new());
    config.host = LOCAL;
    let node = DhtNode::bind(config).unwrap();
    within(node.bootstrapped()).await.unwrap();

    let count = tokio::spawn(async move {
        let mut buf = [0u8; 2048];
        let mut seen = Vec::new();
        // The last send is at ~3 s; nothing may follow within 2 s more.
        while let Ok(r) = timeout(Duration::from_secs(2), sink.recv_from(&mut buf)).await {
            let (n, _) = r.unwrap();
            seen.push(buf[..n].to_vec());
        }
        seen
    });
    let started = Instant::now();
    let target = NodeId([9; 32]);
    let (ping, find) = tokio::join!(
        within(node.ping(dead)),
        within(node.request(dead, Command::FindNode, Some(target), None, None)),
    );
    let elapsed = started.elapsed();
    assert_eq!(ping.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert_eq!(find.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
    assert!(elapsed >= Duration::from_millis(3900), "{elapsed:?}");
    let seen = within(count).await.unwrap();
    // Byte 0 0x03 request; FIND_NODE requests carry the target.
    let pings = seen.iter().filter(|p| p.len() < 40).count();
    assert_eq!(seen.len(), 8, "{seen:?}");
    assert_eq!(pings, 4);
    node.destroy().await;
}

#[tokio::test]
async fn handles_fail_after_destroy() {
    let boot = DhtNode::bind(NodeConfig::bootstrapper(LOCAL, 0)).unwrap();
    let addr = SocketAddrV4::new(LOCAL, 1);
    let commands = boot.commands.clone();
    boot.destroy().await;
    assert!(commands.send(super::Cmd::AddNode(addr)).is_err());
}

mod bursts;
mod power;
mod relayed;
