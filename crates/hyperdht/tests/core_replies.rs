//! The shape of a storage node's replies on the wire (spec §6 and the conformance list
//! of §17): ANNOUNCE and UNANNOUNCE are answered without token and closer nodes, reads
//! with both, a bad signature with nothing, and a node that is not persistent answers
//! storage commands with UNKNOWN_COMMAND. Requests are built with the dht-rpc wire codec
//! and fed to one [`HyperDht`] core.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Instant;

use plures_compact::Encode;
use plures_dht_rpc::wire::{Packet, Request};
use plures_dht_rpc::{Command, Config as DhtConfig, NodeId, Socket};
use plures_hyperdht::constants::command;
use plures_hyperdht::node::{Config, HyperDht};
use plures_hyperdht::storage::StorageConfig;
use plures_hyperdht::{Announce, KeyPair, Peer, crypto};

const NODE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 49737);
const CLIENT: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 40000);

fn node(dht: DhtConfig) -> HyperDht {
    let config = Config {
        dht,
        storage: StorageConfig::default(),
        unix_ms: 1_700_000_000_000,
        entropy: [1; 32],
        local_addresses: Vec::new(),
        holepunch: Default::default(),
    };
    HyperDht::new(config, Instant::now())
}

/// A decoded response: token, closer-node count, error code, value.
type Answer = (Option<[u8; 32]>, usize, u64, Option<Vec<u8>>);

/// Sends one request and returns the decoded answer (`None`: nothing was sent).
fn ask(
    n: &mut HyperDht,
    cmd: u64,
    target: [u8; 32],
    token: Option<[u8; 32]>,
    value: Option<&[u8]>,
) -> Option<Answer> {
    let mut req = Request::new(7, NODE, Command::User(cmd));
    req.target = Some(NodeId::from(target));
    req.token = token;
    req.value = value;
    let bytes = req.to_bytes().expect("encode");
    n.handle_datagram(Instant::now(), Socket::Server, CLIENT, &bytes)
        .expect("accepted");
    let t = n.poll_transmit()?;
    assert_eq!(t.destination, CLIENT);
    match Packet::decode(&t.contents).expect("a dht-rpc packet") {
        Packet::Response(r) => Some((
            r.token,
            r.closer_nodes.map_or(0, |c| c.len()),
            r.error,
            r.value.map(<[u8]>::to_vec),
        )),
        Packet::Request(_) => panic!("expected a response"),
    }
}

#[test]
fn announce_replies_are_bare_and_reads_carry_a_token() {
    let config = DhtConfig::bootstrapper(NODE, 5);
    let token = config.secrets.token(*CLIENT.ip());
    let mut n = node(config);
    let id = *NodeId::from_addr(NODE).as_bytes();
    assert_eq!(n.dht().id().as_bytes(), &id);

    let kp = KeyPair::from_seed([3; 32]);
    let topic = [0x44; 32];
    let peer = Peer {
        public_key: *kp.public_key(),
        relay_addresses: vec![],
    };
    let announce = |sig_id: &[u8; 32]| {
        Announce {
            peer: Some(peer.clone()),
            signature: Some(crypto::sign_announce(
                &kp, &topic, sig_id, &token, &peer, None,
            )),
            ..Announce::default()
        }
        .to_bytes()
        .expect("encode")
    };

    // Signed for another node: silence.
    assert_eq!(
        ask(
            &mut n,
            command::ANNOUNCE,
            topic,
            Some(token),
            Some(&announce(&[9; 32]))
        ),
        None
    );
    // Signed for this node: an empty reply without token or closer nodes.
    let (tok, closer, error, value) = ask(
        &mut n,
        command::ANNOUNCE,
        topic,
        Some(token),
        Some(&announce(&id)),
    )
    .expect("reply");
    assert_eq!((tok, closer, error, value), (None, 0, 0, None));

    // LOOKUP: a token (for the requester's host) and the record.
    let (tok, _, error, value) = ask(&mut n, command::LOOKUP, topic, None, None).expect("reply");
    assert_eq!((tok, error), (Some(token), 0));
    assert!(value.expect("records").ends_with(&[0]), "bump 0 at the end");
}

#[test]
fn a_node_that_is_not_persistent_answers_unknown_command() {
    let mut config = DhtConfig::new(6);
    config.ephemeral = Some(true);
    let mut n = node(config);
    assert!(!n.dht().is_persistent());
    let (tok, _, error, value) = ask(&mut n, command::LOOKUP, [1; 32], None, None).expect("reply");
    assert_eq!((tok, error, value), (None, 1, None));
}
