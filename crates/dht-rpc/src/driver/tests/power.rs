//! `DhtNode::suspend` / `resume` on loopback: the sockets stay bound, a request in flight
//! and one made while suspended fail with `NotConnected` wrapping `Error::Suspended`, the
//! suspended node answers nobody, and after `resume` it answers again on the same port.

use std::io;

use super::{LOCAL, network, within};
use crate::Error;
use crate::driver::{DhtNode, NodeConfig};

fn is_suspended(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotConnected
        && e.get_ref()
            .and_then(|i| i.downcast_ref::<Error>())
            .is_some_and(|i| *i == Error::Suspended)
}

#[tokio::test]
async fn suspend_fails_requests_and_resume_answers_on_the_same_port() {
    let (boot, nodes) = network(2).await;
    let (a, b) = (&nodes[0], &nodes[1]);
    let port = a.server_addr().port();
    // A request to an address nobody answers is in flight when the node suspends.
    let silent = DhtNode::bind(NodeConfig::persistent(LOCAL, 0, vec![])).unwrap();
    let silent_addr = silent.server_addr();
    silent.destroy().await;
    // `join!` polls the ping first, which queues its command before the suspend's: the
    // task handles them in that order.
    let (pending, suspended) =
        within(async { tokio::join!(a.ping(silent_addr), async { a.suspend() }) }).await;
    suspended.unwrap();
    let e = pending.unwrap_err();
    assert!(is_suspended(&e), "in flight: {e}");
    let s = within(a.wait_status(|s| s.suspended)).await.unwrap();
    assert!(s.suspended);
    let e = within(a.ping(boot.server_addr())).await.unwrap_err();
    assert!(is_suspended(&e), "{e}");
    // The suspended node answers nobody: b's ping times out.
    let e = within(b.ping(a.server_addr())).await.unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::TimedOut, "{e}");

    a.resume().unwrap();
    let s = within(a.wait_status(|s| !s.suspended)).await.unwrap();
    assert!(!s.suspended);
    assert_eq!(a.server_addr().port(), port, "sockets stayed bound");
    let reply = within(b.ping(a.server_addr())).await.unwrap();
    assert_eq!(reply.from, a.server_addr());
    within(a.ping(boot.server_addr())).await.unwrap();
    for n in nodes {
        n.destroy().await;
    }
    boot.destroy().await;
}
