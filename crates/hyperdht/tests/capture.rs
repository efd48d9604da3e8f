//! The hyperdht values of a recorded loopback session (`capture-hyperdht-connect.json`):
//! request values decode to the reference's own `decodedValue` and re-encode to the same
//! bytes; response values (FIND_PEER records, handshake replies) decode and re-encode to
//! the same bytes.

mod common;

use std::collections::HashMap;

use common::js::{decode_to_json, encode_from_json};
use plures_compact::{Decode, Encode};
use plures_hyperdht::constants::mode;
use plures_hyperdht::{Handshake, Peer, crypto};

fn codec(command: &str) -> Option<&'static str> {
    Some(match command {
        "PEER_HANDSHAKE" => "handshake",
        "PEER_HOLEPUNCH" => "holepunch",
        "ANNOUNCE" | "UNANNOUNCE" => "announce",
        "LOOKUP" => "lookupRawReply",
        _ => return None,
    })
}

#[test]
fn capture_values() {
    let Some(doc) = common::load("capture-hyperdht-connect.json") else {
        return;
    };
    let server_key: [u8; 32] = hex::decode(
        doc["info"]["server"]["publicKey"]
            .as_str()
            .expect("server public key"),
    )
    .expect("hex")
    .try_into()
    .expect("32 bytes");
    let datagrams = doc["datagrams"].as_array().expect("datagrams");
    // (tid, node the request went to) → user command, to type the responses.
    let mut asked: HashMap<(u64, String), String> = HashMap::new();
    let (mut requests, mut responses) = (0, 0);
    for (i, g) in datagrams.iter().enumerate() {
        if let Some(req) = g.get("request") {
            let tid = req["tid"].as_u64().expect("tid");
            let name = req["commandName"].as_str().unwrap_or_default();
            if req["internal"] == false {
                asked.insert((tid, g["dst"].as_str().expect("dst").into()), name.into());
            }
            let (Some(value), false) = (req["value"].as_str(), req["internal"] == true) else {
                continue;
            };
            let Some(codec) = codec(name) else {
                continue;
            };
            let bytes = hex::decode(value).expect("hex");
            let decoded = decode_to_json(codec, &bytes).unwrap_or_else(|e| panic!("cap#{i}: {e}"));
            assert_eq!(decoded, req["decodedValue"], "cap#{i} {name}");
            let again = encode_from_json(codec, &decoded).expect("encode");
            assert_eq!(again, bytes, "cap#{i} {name} re-encoding");
            requests += 1;
        } else if let Some(res) = g.get("response") {
            let Some(value) = res["value"].as_str() else {
                continue;
            };
            let tid = res["tid"].as_u64().expect("tid");
            let from = g["src"].as_str().expect("src").to_string();
            let command = asked.get(&(tid, from)).map(String::as_str);
            let bytes = hex::decode(value).expect("hex");
            match command {
                Some("FIND_PEER") => {
                    let peer = Peer::from_bytes(&bytes).expect("peer record");
                    assert_eq!(peer.public_key, server_key, "cap#{i}");
                    assert_eq!(crypto::target(&peer.public_key).len(), 32);
                    assert_eq!(peer.to_bytes().expect("encode"), bytes, "cap#{i}");
                }
                Some("PEER_HANDSHAKE") => {
                    let hs = Handshake::from_bytes(&bytes).expect("handshake reply");
                    assert_eq!(hs.mode, mode::REPLY, "cap#{i}");
                    assert!(hs.peer_address.is_some(), "cap#{i}");
                    assert_eq!(hs.to_bytes().expect("encode"), bytes, "cap#{i}");
                }
                other => panic!("cap#{i}: a value in a reply to {other:?}"),
            }
            responses += 1;
        }
    }
    assert_eq!((requests, responses), (12, 6));
}

#[test]
fn capture_server_target() {
    let Some(doc) = common::load("capture-hyperdht-connect.json") else {
        return;
    };
    let key: [u8; 32] = hex::decode(doc["info"]["server"]["publicKey"].as_str().expect("key"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    // Every FIND_PEER / ANNOUNCE of the session targets hash(server key).
    let want = hex::encode(crypto::target(&key));
    for g in doc["datagrams"].as_array().expect("datagrams") {
        let req = &g["request"];
        if req["internal"] == false && req["target"].is_string() {
            assert_eq!(req["target"].as_str(), Some(want.as_str()));
        }
    }
}
