//! A relayed request end to end (spec §6.3) over three real nodes: the originator asks
//! the relayer, the relayer relays the request to the last hop, and the last hop answers
//! the originator directly (`reply_to`). Only `request_relayed` takes that reply.

use super::within;
use super::{DhtNode, LOCAL, NodeConfig};
use crate::command::Command;

const CMD: u64 = 43;

#[tokio::test]
async fn the_last_hop_of_a_relay_answers_a_relayed_request() {
    let bind = || DhtNode::bind(NodeConfig::bootstrapper(LOCAL, 0)).unwrap();
    let (originator, relayer, last_hop) = (bind(), bind(), bind());
    for node in [&originator, &relayer, &last_hop] {
        within(node.bootstrapped()).await.unwrap();
    }
    relayer.register(CMD).unwrap();
    last_hop.register(CMD).unwrap();
    let me = originator.server_addr();
    let hop = last_hop.server_addr();
    let via = relayer.server_addr();

    // The relayer passes the request on, naming the originator in the value; the last
    // hop answers the originator, not the relayer it heard from.
    let relaying = tokio::spawn(async move {
        let req = relayer
            .next_request()
            .await
            .expect("request at the relayer");
        assert_eq!((req.request.command, req.request.from), (CMD, me));
        assert_eq!(req.request.value.as_deref(), Some(&b"hello"[..]));
        req.relay(hop, Some(me.to_string().as_bytes())).unwrap();
        relayer
    });
    let answering = tokio::spawn(async move {
        let req = last_hop
            .next_request()
            .await
            .expect("request at the last hop");
        let to: std::net::SocketAddrV4 = std::str::from_utf8(req.request.value.as_deref().unwrap())
            .unwrap()
            .parse()
            .unwrap();
        req.reply_to(to, Some(b"answered by the last hop")).unwrap();
        (last_hop, req.request.from)
    });

    let reply =
        within(originator.request_relayed(via, Command::User(CMD), None, Some(b"hello"), None))
            .await;
    let reply = reply.expect("the relayed reply completes the request");
    assert_eq!(reply.from, hop);
    assert_eq!(
        reply.value.as_deref(),
        Some(&b"answered by the last hop"[..])
    );
    assert_eq!(reply.error, 0);
    let relayer = within(relaying).await.unwrap();
    let (last_hop, heard_from) = within(answering).await.unwrap();
    // The last hop heard the request from the relayer, with the originator's tid.
    assert_eq!(heard_from, via);
    drop(relayer);
    drop(last_hop);
}
