//! Replays the JS-recorded vectors of `shared/reference-vectors` (noise.json and the
//! keyPair vectors of hashes-and-signatures.json) against both roles.

use std::path::PathBuf;

use plures_secret_stream::crypto::{blake2b_256_keyed, hkdf_blake2b, hmac_blake2b, namespace};
use plures_secret_stream::{
    IK_PROTOCOL_NAME, IkInitiator, IkResponder, KeyPair, XX_PROTOCOL_NAME, XxInitiator,
    XxResponder, stream_id,
};
use serde_json::Value;

fn load(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference-vectors")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => Some(serde_json::from_str(&s).expect("vector file is JSON")),
        Err(_) => {
            println!("skipping: {} not found", path.display());
            None
        }
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

fn arr<const N: usize>(v: &Value) -> [u8; N] {
    bytes(v).try_into().expect("length")
}

fn key_pair(v: &Value) -> KeyPair {
    let kp = match v.get("seed").filter(|s| !s.is_null()) {
        Some(seed) => KeyPair::from_seed(arr(seed)),
        None => KeyPair::from_secret_key(&arr(&v["secretKey"])).expect("consistent secret key"),
    };
    assert_eq!(kp.public_key()[..], bytes(&v["publicKey"])[..]);
    assert_eq!(kp.secret_key()[..], bytes(&v["secretKey"])[..]);
    kp
}

fn vectors(file: &Value) -> &Vec<Value> {
    file["vectors"].as_array().expect("vectors")
}

#[test]
fn key_pairs_from_seed() {
    let Some(file) = load("hashes-and-signatures.json") else {
        return;
    };
    let mut n = 0;
    for v in vectors(&file).iter().filter(|v| {
        v["name"]
            .as_str()
            .is_some_and(|s| s.starts_with("keyPair/"))
    }) {
        let kp = KeyPair::from_seed(arr(&v["input"]["seed"]));
        assert_eq!(kp.public_key()[..], bytes(&v["output"]["publicKey"])[..]);
        assert_eq!(kp.secret_key()[..], bytes(&v["output"]["secretKey"])[..]);
        n += 1;
    }
    assert!(n >= 2, "keyPair vectors found: {n}");
}

#[test]
fn handshakes_replay_both_roles() {
    let Some(file) = load("noise.json") else {
        return;
    };
    let mut n = 0;
    for v in vectors(&file).iter().filter(|v| {
        v["fn"]
            .as_str()
            .is_some_and(|f| f.starts_with("noise-handshake new Noise"))
    }) {
        let name = v["name"].as_str().expect("name");
        let input = &v["input"];
        let prologue = bytes(&input["prologue"]);
        let out = &v["output"];
        let msgs: Vec<_> = v["messages"].as_array().expect("messages").iter().collect();
        let pattern = input["pattern"].as_str().expect("pattern");
        let is = || key_pair(&input["initiatorStatic"]);
        let rs = || key_pair(&input["responderStatic"]);
        let ie = || key_pair(&input["initiatorEphemeral"]);
        let re = || key_pair(&input["responderEphemeral"]);
        let (i_done, r_done) = match pattern {
            "IK" => {
                assert_eq!(out["protocolName"], IK_PROTOCOL_NAME);
                let rs_pub = *rs().public_key();
                // Our initiator, against the recorded responder message.
                let (m1, wait) =
                    IkInitiator::start(is(), ie(), rs_pub, &prologue, &bytes(&msgs[0]["payload"]))
                        .expect("start");
                assert_eq!(m1, bytes(&msgs[0]["message"]), "{name}: msg1");
                let (i_done, p2) = wait.handle(&bytes(&msgs[1]["message"])).expect("msg2");
                assert_eq!(p2, bytes(&msgs[1]["decryptedPayload"]), "{name}");
                // Our responder, against the recorded initiator message.
                let got = IkResponder::new(rs(), &prologue)
                    .handle(&bytes(&msgs[0]["message"]))
                    .expect("msg1");
                assert_eq!(got.payload(), bytes(&msgs[0]["decryptedPayload"]), "{name}");
                assert_eq!(got.remote_static_key(), is().public_key());
                let (m2, r_done) = got
                    .respond(re(), &bytes(&msgs[1]["payload"]))
                    .expect("respond");
                assert_eq!(m2, bytes(&msgs[1]["message"]), "{name}: msg2");
                (i_done, r_done)
            }
            "XX" => {
                assert_eq!(out["protocolName"], XX_PROTOCOL_NAME);
                let (m1, wait) =
                    XxInitiator::start(is(), ie(), &prologue, &bytes(&msgs[0]["payload"]))
                        .expect("start");
                assert_eq!(m1, bytes(&msgs[0]["message"]), "{name}: msg1");
                let got = wait.handle(&bytes(&msgs[1]["message"])).expect("msg2");
                assert_eq!(got.payload(), bytes(&msgs[1]["decryptedPayload"]));
                assert_eq!(got.remote_static_key(), rs().public_key());
                let (m3, i_done) = got.finish(&bytes(&msgs[2]["payload"])).expect("finish");
                assert_eq!(m3, bytes(&msgs[2]["message"]), "{name}: msg3");

                let got = XxResponder::new(rs(), &prologue)
                    .handle(&bytes(&msgs[0]["message"]))
                    .expect("msg1");
                assert_eq!(got.payload(), bytes(&msgs[0]["decryptedPayload"]));
                let (m2, wait) = got
                    .respond(re(), &bytes(&msgs[1]["payload"]))
                    .expect("respond");
                assert_eq!(m2, bytes(&msgs[1]["message"]), "{name}: msg2");
                let (r_done, p3) = wait.handle(&bytes(&msgs[2]["message"])).expect("msg3");
                assert_eq!(p3, bytes(&msgs[2]["decryptedPayload"]));
                (i_done, r_done)
            }
            other => panic!("unexpected pattern {other}"),
        };
        let hash = bytes(&out["handshakeHash"]);
        assert_eq!(i_done.handshake_hash()[..], hash[..], "{name}: hash");
        assert_eq!(r_done.handshake_hash()[..], hash[..], "{name}: hash");
        assert_eq!(
            i_done.tx()[..],
            bytes(&out["initiator"]["tx"])[..],
            "{name}"
        );
        assert_eq!(
            i_done.rx()[..],
            bytes(&out["initiator"]["rx"])[..],
            "{name}"
        );
        assert_eq!(
            r_done.tx()[..],
            bytes(&out["responder"]["tx"])[..],
            "{name}"
        );
        assert_eq!(
            r_done.rx()[..],
            bytes(&out["responder"]["rx"])[..],
            "{name}"
        );
        assert_eq!(
            r_done.remote_static_key()[..],
            bytes(&out["responder"]["remoteStatic"])[..]
        );
        assert_eq!(i_done.remote_static_key(), rs().public_key());
        n += 1;
    }
    assert_eq!(n, 3);
}

#[test]
fn noise_wrap_replay() {
    let Some(file) = load("noise.json") else {
        return;
    };
    let v = vectors(&file)
        .iter()
        .find(|v| v["name"] == "hyperdht-NoiseWrap/IK")
        .expect("NoiseWrap vector");
    let input = &v["input"];
    let prologue = namespace("hyperswarm/dht", 0);
    let ns_holepunch = namespace("hyperswarm/dht", 1);
    let client = || key_pair(&input["clientStatic"]);
    let server = || key_pair(&input["serverStatic"]);
    let cp = bytes(&input["clientPayloadEncoded"]);
    let sp = bytes(&input["serverPayloadEncoded"]);
    let m1 = bytes(&v["messages"][0]["message"]);
    let m2 = bytes(&v["messages"][1]["message"]);

    let (got1, wait) = IkInitiator::start(
        client(),
        KeyPair::from_seed(arr(&input["clientEphemeralSeed"])),
        *server().public_key(),
        &prologue,
        &cp,
    )
    .expect("start");
    assert_eq!(got1, m1);
    let (c, p) = wait.handle(&m2).expect("msg2");
    assert_eq!(p, sp);
    let rx = IkResponder::new(server(), &prologue)
        .handle(&m1)
        .expect("msg1");
    assert_eq!(rx.payload(), cp);
    let (got2, s) = rx
        .respond(KeyPair::from_seed(arr(&input["serverEphemeralSeed"])), &sp)
        .expect("respond");
    assert_eq!(got2, m2);
    for (side, done) in [("client", &c), ("server", &s)] {
        let o = &v["output"][side];
        assert_eq!(done.handshake_hash()[..], bytes(&o["hash"])[..]);
        assert_eq!(done.tx()[..], bytes(&o["tx"])[..]);
        assert_eq!(done.rx()[..], bytes(&o["rx"])[..]);
        assert_eq!(
            blake2b_256_keyed(done.handshake_hash(), &ns_holepunch)[..],
            bytes(&o["holepunchSecret"])[..]
        );
        assert_eq!(
            stream_id(done.handshake_hash(), !done.is_initiator())[..],
            bytes(&o["remoteId"])[..]
        );
    }
}

#[test]
fn hmac_and_hkdf() {
    let Some(file) = load("noise.json") else {
        return;
    };
    let vs = vectors(&file);
    let h = vs
        .iter()
        .find(|v| v["name"] == "hmac-blake2b")
        .expect("hmac vector");
    let mac = hmac_blake2b(&bytes(&h["input"]["key"]), &[&bytes(&h["input"]["data"])]);
    assert_eq!(mac[..], bytes(&h["output"]["mac"])[..]);
    let k = vs
        .iter()
        .find(|v| v["name"] == "hkdf-blake2b")
        .expect("hkdf vector");
    let (o1, o2) = hkdf_blake2b(&bytes(&k["input"]["salt"]), &bytes(&k["input"]["ikm"]));
    assert_eq!(o1[..], bytes(&k["output"]["out1"])[..]);
    assert_eq!(o2[..], bytes(&k["output"]["out2"])[..]);
}
