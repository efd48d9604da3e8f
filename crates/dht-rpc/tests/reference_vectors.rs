//! The JS-recorded vectors: `dht-rpc.json` (ids, tokens, packets) and every dht-rpc datagram
//! of `capture-hyperdht-connect.json`. The files live outside the repository
//! (`../shared/reference-vectors`); the tests say so and pass vacuously when it is absent.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;

use plures_compact::Encode;
use plures_dht_rpc::wire::{Packet, Request, Response};
use plures_dht_rpc::{NodeId, TokenSecrets, token, validate_id};
use serde_json::Value;

fn load(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference-vectors")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("vector file is JSON")),
        Err(e) => {
            eprintln!("skipping: {} not readable ({e})", path.display());
            None
        }
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn opt32(v: &Value) -> Option<[u8; 32]> {
    (!v.is_null()).then(|| bytes(v).try_into().expect("32 bytes"))
}

fn opt_bytes(v: &Value) -> Option<Vec<u8>> {
    (!v.is_null()).then(|| bytes(v))
}

/// `{host, port}` or `"host:port"`.
fn addr(v: &Value) -> SocketAddrV4 {
    if let Some(s) = v.as_str() {
        return s.parse().expect("host:port");
    }
    let host: Ipv4Addr = v["host"].as_str().expect("host").parse().expect("ipv4");
    SocketAddrV4::new(host, v["port"].as_u64().expect("port") as u16)
}

fn addrs(v: &Value) -> Option<Vec<SocketAddrV4>> {
    v.as_array().map(|a| a.iter().map(addr).collect())
}

fn vectors(file: &Value) -> Vec<&Value> {
    file["vectors"]
        .as_array()
        .expect("vectors")
        .iter()
        .collect()
}

fn by_name<'a>(file: &'a Value, name: &str) -> &'a Value {
    vectors(file)
        .into_iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
}

/// Builds the request the reference encoded from the vector's input.
fn request_from_input<'a>(input: &Value, value: &'a Option<Vec<u8>>) -> Request<'a> {
    Request {
        tid: input["tid"].as_u64().unwrap() as u16,
        to: addr(&input["to"]),
        id: opt32(&input["id"]).map(NodeId),
        token: opt32(&input["token"]),
        internal: input["internal"].as_bool().unwrap(),
        command: input["command"].as_u64().unwrap(),
        target: opt32(&input["target"]).map(NodeId),
        value: value.as_deref(),
    }
}

fn check_request(v: &Value) {
    let name = v["name"].as_str().unwrap();
    let wire = bytes(&v["hex"]);
    let value = opt_bytes(&v["input"]["value"]);
    let built = request_from_input(&v["input"], &value);
    assert_eq!(
        hex::encode(built.to_bytes().unwrap()),
        hex::encode(&wire),
        "{name}: encode"
    );
    assert_eq!(built.encoded_len(), wire.len(), "{name}");
    let Packet::Request(decoded) = Packet::decode(&wire).unwrap() else {
        panic!("{name}: not a request")
    };
    assert_eq!(decoded, built, "{name}: decode");

    let want = &v["decoded"];
    if want.is_null() {
        return; // the request never reaches a handler; see `bad_token_is_rejected`
    }
    let from = addr(&want["from"]);
    assert_eq!(
        validate_id(decoded.id, from).map(|id| id.to_string()),
        want["from"]["id"].as_str().map(str::to_owned),
        "{name}: from.id"
    );
    assert_eq!(decoded.tid as u64, want["tid"].as_u64().unwrap());
    assert_eq!(decoded.to, addr(&want["to"]));
    assert_eq!(decoded.token, opt32(&want["token"]));
    assert_eq!(decoded.internal, want["internal"].as_bool().unwrap());
    assert_eq!(decoded.command, want["command"].as_u64().unwrap());
    assert_eq!(decoded.target.map(|t| t.0), opt32(&want["target"]));
    assert_eq!(decoded.value.map(<[u8]>::to_vec), opt_bytes(&want["value"]));
}

fn check_response(v: &Value, secret1: &[u8; 32]) {
    let name = v["name"].as_str().unwrap();
    let wire = bytes(&v["hex"]);
    let want = &v["decoded"];
    let Packet::Response(decoded) = Packet::decode(&wire).unwrap() else {
        panic!("{name}: not a response")
    };
    let from = addr(&want["from"]);
    assert_eq!(
        validate_id(decoded.id, from).map(|id| id.to_string()),
        want["from"]["id"].as_str().map(str::to_owned),
        "{name}: from.id"
    );
    assert_eq!(decoded.tid as u64, want["tid"].as_u64().unwrap(), "{name}");
    assert_eq!(decoded.to, addr(&want["to"]), "{name}");
    assert_eq!(decoded.token, opt32(&want["token"]), "{name}");
    assert_eq!(decoded.closer_nodes, addrs(&want["closerNodes"]), "{name}");
    assert_eq!(decoded.error, want["error"].as_u64().unwrap(), "{name}");
    assert_eq!(
        decoded.value.map(<[u8]>::to_vec),
        opt_bytes(&want["value"]),
        "{name}"
    );

    // The reference's inputs: the server id, its current secret and its table.
    let input = &v["input"];
    assert_eq!(decoded.id.map(|i| i.0), opt32(&input["serverId"]), "{name}");
    assert_eq!(
        NodeId::from_addr(from).0,
        bytes(&input["serverId"])[..],
        "{name}"
    );
    if let Some(t) = decoded.token {
        assert_eq!(t, token(*decoded.to.ip(), secret1), "{name}: token");
    }
    if let Some(nodes) = &decoded.closer_nodes {
        assert_eq!(Some(nodes.clone()), addrs(&input["closerNodes"]), "{name}");
    }
    if let Some(to) = input.get("to") {
        assert_eq!(decoded.to, addr(to), "{name}");
        assert_eq!(decoded.tid as u64, input["tid"].as_u64().unwrap(), "{name}");
    }

    // Re-encoding the decoded fields gives the same bytes.
    let value = opt_bytes(&want["value"]);
    let rebuilt = Response {
        tid: want["tid"].as_u64().unwrap() as u16,
        to: addr(&want["to"]),
        id: opt32(&want["from"]["id"]).map(NodeId),
        token: opt32(&want["token"]),
        closer_nodes: addrs(&want["closerNodes"]),
        error: want["error"].as_u64().unwrap(),
        value: value.as_deref(),
    };
    assert_eq!(
        hex::encode(rebuilt.to_bytes().unwrap()),
        hex::encode(&wire),
        "{name}: encode"
    );
}

#[test]
fn dht_rpc_json() {
    let Some(file) = load("dht-rpc.json") else {
        return;
    };
    let secret1: [u8; 32] = bytes(&by_name(&file, "io.token/127.0.0.1/secret1")["input"]["secret"])
        .try_into()
        .unwrap();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for v in vectors(&file) {
        let kind = v["kind"].as_str().unwrap();
        let name = v["name"].as_str().unwrap();
        *counts.entry(kind.to_owned()).or_default() += 1;
        match kind {
            "node-id" => {
                let a = addr(&v["input"]);
                assert_eq!(
                    NodeId::from_addr(a).to_string(),
                    v["output"]["id"].as_str().unwrap(),
                    "{name}"
                );
            }
            "token" => {
                let host: Ipv4Addr = v["input"]["host"].as_str().unwrap().parse().unwrap();
                let secret: [u8; 32] = bytes(&v["input"]["secret"]).try_into().unwrap();
                assert_eq!(
                    hex::encode(token(host, &secret)),
                    v["output"]["token"].as_str().unwrap(),
                    "{name}"
                );
            }
            "request" => check_request(v),
            "response" => {
                let s1: [u8; 32] = bytes(&v["input"]["secret1"]).try_into().unwrap();
                assert_eq!(s1, secret1, "{name}");
                check_response(v, &s1);
            }
            "decode" => {
                let wire = bytes(&v["input"]["hex"]);
                let from = addr(&v["input"]["from"]);
                let packet = Packet::decode(&wire).unwrap();
                let want = &v["decoded"];
                assert!(packet.id().is_some(), "{name}: carries an id");
                assert_eq!(
                    validate_id(packet.id(), from).map(|i| i.to_string()),
                    want["fromId"].as_str().map(str::to_owned),
                    "{name}"
                );
                assert_eq!(packet.tid() as u64, want["tid"].as_u64().unwrap());
                let Packet::Request(r) = packet else {
                    panic!("{name}: not a request")
                };
                assert_eq!(r.command, want["command"].as_u64().unwrap());
            }
            other => panic!("{name}: unknown kind {other}"),
        }
    }
    assert_eq!(counts.values().sum::<usize>(), 26, "{counts:?}");
}

#[test]
fn bad_token_is_rejected() {
    let Some(file) = load("dht-rpc.json") else {
        return;
    };
    let secret = |n: &str| -> [u8; 32] {
        bytes(&by_name(&file, n)["input"]["secret"])
            .try_into()
            .unwrap()
    };
    let secrets = TokenSecrets::new(
        secret("io.token/127.0.0.1/secret0"),
        secret("io.token/127.0.0.1/secret1"),
    );
    let host = Ipv4Addr::LOCALHOST;
    let good = opt32(&by_name(&file, "request/hyperdht/announce-with-token")["input"]["token"]);
    let bad = opt32(&by_name(&file, "request/hyperdht/announce-bad-token")["input"]["token"]);
    assert!(secrets.validate(host, &good.unwrap()));
    assert!(!secrets.validate(host, &bad.unwrap()));
    assert_eq!(secrets.token(host), good.unwrap());
    // The previous secret's token is accepted too.
    let old = token(host, secrets.previous());
    assert!(secrets.validate(host, &old));
}

#[test]
fn capture_datagrams() {
    let Some(file) = load("capture-hyperdht-connect.json") else {
        return;
    };
    let mut checked = 0;
    for (i, d) in file["datagrams"].as_array().unwrap().iter().enumerate() {
        let kind = d["kind"].as_str().unwrap();
        if kind != "dht-request" && kind != "dht-response" {
            assert!(
                Packet::decode(&bytes(&d["payload"])).is_err() || kind == "udx",
                "{i}"
            );
            continue;
        }
        let wire = bytes(&d["payload"]);
        let src = addr(&d["src"]);
        let packet = Packet::decode(&wire).unwrap_or_else(|e| panic!("datagram {i}: {e}"));
        let want = if kind == "dht-request" {
            &d["request"]
        } else {
            &d["response"]
        };
        assert_eq!(packet.tid() as u64, want["tid"].as_u64().unwrap(), "{i}");
        assert_eq!(packet.to(), addr(&want["to"]), "{i}");
        assert_eq!(packet.id().map(|x| x.0), opt32(&want["id"]), "{i}");
        // Every id in the capture is the sender's own.
        assert_eq!(validate_id(packet.id(), src), packet.id(), "{i}");
        match &packet {
            Packet::Request(r) => {
                assert_eq!(kind, "dht-request");
                assert_eq!(r.flags(), want["flags"].as_u64().unwrap(), "{i}");
                assert_eq!(r.token, opt32(&want["token"]), "{i}");
                assert_eq!(r.internal, want["internal"].as_bool().unwrap(), "{i}");
                assert_eq!(r.command, want["command"].as_u64().unwrap(), "{i}");
                assert_eq!(r.target.map(|t| t.0), opt32(&want["target"]), "{i}");
                assert_eq!(
                    r.value.map(<[u8]>::to_vec),
                    opt_bytes(&want["value"]),
                    "{i}"
                );
            }
            Packet::Response(r) => {
                assert_eq!(kind, "dht-response");
                assert_eq!(r.flags(), want["flags"].as_u64().unwrap(), "{i}");
                assert_eq!(r.token, opt32(&want["token"]), "{i}");
                assert_eq!(r.closer_nodes, addrs(&want["closerNodes"]), "{i}");
                assert_eq!(r.error, want["error"].as_u64().unwrap(), "{i}");
                assert_eq!(
                    r.value.map(<[u8]>::to_vec),
                    opt_bytes(&want["value"]),
                    "{i}"
                );
            }
        }
        assert_eq!(
            hex::encode(packet.to_bytes().unwrap()),
            hex::encode(&wire),
            "datagram {i}: re-encode"
        );
        checked += 1;
    }
    assert_eq!(checked, 84);
}
