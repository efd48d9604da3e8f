//! A hyperdht connection set-up without the DHT, live against the JS reference: the
//! Noise IK handshake of PEER_HANDSHAKE (prologue `NS_PEER_HANDSHAKE`, `noisePayload`
//! plaintexts) between this crate's pieces and hyperdht 6.34.0's own `NoiseWrap`, the
//! handshake messages carried over the JS script's stdin/stdout where the DHT relay would
//! carry them; then both sides connect a UDX stream to the stream id and address the other
//! put in its payload and start secret-stream from the finished handshake (no Noise bytes
//! on the stream), as hyperdht does after a holepunch. Both role assignments.
//!
//! Checked against the JS side: the decoded payloads both ways, the handshake hash, the
//! holepunch secret and the remote stream id (`noise.md` §5.2), the public keys seen by
//! both secret streams, and 4 MiB each way over the stream with SHA-256 checks and a
//! clean close. Skipped (with a printed reason) when `node` or `testnet/node_modules` is
//! missing.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

use plures_compact::{Decode, Encode};
use plures_hyperdht::crypto::{NS_PEER_HANDSHAKE, holepunch_secret};
use plures_hyperdht::wire::payload::{SecretStreamInfo, UdxInfo};
use plures_hyperdht::{KeyPair, NoisePayload};
use plures_secret_stream::{
    Config, Finished, IkInitiator, IkResponder, Keys, SecretStream, stream_id,
};
use plures_test_support::{JsPeer, pattern, testnet_dir, within};
use plures_udx::UdxSocket;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYTES: usize = 4 << 20;
const RUST_ID: u32 = 0x7275_0001;
const JS_ID: u32 = 0x6a73_0002;

/// What hyperdht's client or server puts in its payload for a loopback connection.
fn payload(port: u16, server: bool) -> NoisePayload {
    NoisePayload {
        firewall: 1,
        addresses4: vec![SocketAddrV4::new(Ipv4Addr::LOCALHOST, port)],
        udx: Some(UdxInfo {
            version: 1,
            reusable_socket: false,
            id: u64::from(RUST_ID),
            seq: 0,
        }),
        secret_stream: Some(SecretStreamInfo::default()),
        relay_addresses: server.then(Vec::new),
        ..NoisePayload::default()
    }
}

fn unhex<const N: usize>(v: &Value) -> [u8; N] {
    let bytes = hex::decode(v.as_str().expect("hex string")).expect("hex");
    bytes.try_into().expect("length")
}

/// The JS side's view of the payload it decoded from us.
fn assert_js_decoded(seen: &Value, port: u16, server: bool) {
    assert_eq!(seen["version"], 1);
    assert_eq!(seen["error"], 0);
    assert_eq!(seen["firewall"], 1);
    assert_eq!(
        seen["addresses4"],
        json!([{ "host": "127.0.0.1", "port": port }])
    );
    assert_eq!(
        seen["udx"],
        json!({ "version": 1, "reusableSocket": false, "id": RUST_ID, "seq": 0 })
    );
    assert_eq!(seen["secretStream"], json!({ "version": 1 }));
    if server {
        assert_eq!(seen["relayAddresses"], json!([]));
    } else {
        assert_eq!(seen["relayAddresses"], Value::Null);
    }
}

async fn run(rust_client: bool) {
    let Some(dir) = testnet_dir(&[
        "hyperdht",
        "@hyperswarm/secret-stream",
        "udx-native",
        "sodium-native",
    ]) else {
        return;
    };
    let (rust_seed, js_seed) = ([0x61; 32], [0x62; 32]);
    let rust_kp = KeyPair::from_seed(rust_seed);
    let rust_pk = *rust_kp.public_key();
    let js_pk = *KeyPair::from_seed(js_seed).public_key();

    let socket = UdxSocket::bind("127.0.0.1:0".parse().expect("addr")).expect("bind UDX");
    let port = socket.local_addr().port();
    let raw = within("create stream", socket.create_stream(RUST_ID))
        .await
        .expect("create stream");

    let mut args = vec![
        "--role".to_string(),
        if rust_client { "server" } else { "client" }.to_string(),
        "--seed".into(),
        hex::encode(js_seed),
        "--id".into(),
        JS_ID.to_string(),
        "--bytes".into(),
        BYTES.to_string(),
    ];
    if !rust_client {
        args.extend(["--remote".into(), hex::encode(rust_pk)]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let mut js = JsPeer::spawn(&dir, "interop/hyperdht-noise-udx-peer.mjs", &args);
    let listening = js.event("listening").await;
    assert_eq!(listening["publicKey"], hex::encode(js_pk));

    // The handshake, with our payload encoded by this crate and theirs decoded by it.
    let ephemeral = KeyPair::from_seed([0x63; 32]);
    let ours = payload(port, !rust_client)
        .to_bytes()
        .expect("encode payload");
    let (finished, theirs): (Finished, Vec<u8>) = if rust_client {
        let (m1, waiting) =
            IkInitiator::start(rust_kp, ephemeral, js_pk, &NS_PEER_HANDSHAKE, &ours)
                .expect("IK message 1");
        js.send(&json!({ "noise": hex::encode(m1) })).await;
        let m2 =
            hex::decode(js.event("noise").await["message"].as_str().expect("hex")).expect("hex");
        waiting.handle(&m2).expect("IK message 2")
    } else {
        let m1 =
            hex::decode(js.event("noise").await["message"].as_str().expect("hex")).expect("hex");
        let received = IkResponder::new(rust_kp, &NS_PEER_HANDSHAKE)
            .handle(&m1)
            .expect("IK message 1");
        assert_eq!(received.remote_static_key(), &js_pk);
        let theirs = received.payload().to_vec();
        let (m2, finished) = received.respond(ephemeral, &ours).expect("IK message 2");
        js.send(&json!({ "noise": hex::encode(m2) })).await;
        (finished, theirs)
    };
    assert_eq!(finished.remote_static_key(), &js_pk);
    assert_eq!(finished.is_initiator(), rust_client);

    // Both sides decoded the other's payload to the same thing.
    let theirs = NoisePayload::from_bytes(&theirs).expect("decode JS payload");
    let js_port = u16::try_from(listening["port"].as_u64().expect("port")).expect("u16");
    assert_eq!(theirs, {
        let mut p = payload(js_port, rust_client);
        p.udx.as_mut().expect("udx").id = u64::from(JS_ID);
        p
    });
    assert_js_decoded(&js.event("payload").await, port, !rust_client);

    // The finished handshake agrees with NoiseWrap's `final()`.
    let hs = js.event("handshake").await;
    let hash = *finished.handshake_hash();
    assert_eq!(unhex::<64>(&hs["hash"]), hash);
    assert_eq!(hs["isInitiator"], !rust_client);
    assert_eq!(hs["publicKey"], hex::encode(js_pk));
    assert_eq!(hs["remotePublicKey"], hex::encode(rust_pk));
    assert_eq!(unhex::<32>(&hs["holepunchSecret"]), holepunch_secret(&hash));
    // NoiseWrap's remoteId is the id *we* send in our secret-stream header.
    assert_eq!(unhex::<32>(&hs["remoteId"]), stream_id(&hash, rust_client));

    // Connect to the address and stream id from the JS payload; both sides connected
    // before either secret stream writes its header.
    let udx = theirs.udx.expect("JS sent UDX data");
    let to = SocketAddr::V4(theirs.addresses4[0]);
    let remote_id = u32::try_from(udx.id).expect("stream id fits");
    within("connect", raw.connect(remote_id, to))
        .await
        .expect("connect");
    js.event("connected").await;
    js.send(&json!({ "go": true })).await;

    let stream = within(
        "secret stream",
        SecretStream::from_handshake(raw, Keys::from(&finished), Config::default()),
    )
    .await
    .expect("secret stream start");
    assert_eq!(stream.remote_public_key(), Some(&js_pk));
    assert_eq!(stream.handshake_hash(), Some(&hash));
    let open = js.event("open").await;
    assert_eq!(open["remotePublicKey"], hex::encode(rust_pk));
    assert_eq!(unhex::<64>(&open["handshakeHash"]), hash);

    let out = pattern(BYTES);
    let out_hash = hex::encode(Sha256::digest(&out));
    let (mut rd, mut wr) = tokio::io::split(stream);
    let mut got = Vec::with_capacity(BYTES);
    within("transfer", async {
        let write = async {
            wr.write_all(&out).await.expect("write");
            wr.shutdown().await.expect("shutdown");
        };
        let read = async { rd.read_to_end(&mut got).await.expect("read") };
        tokio::join!(write, read)
    })
    .await;
    let sent = js.event("sent").await;
    assert_eq!(sent["bytes"], BYTES);
    assert_eq!(got.len(), BYTES);
    assert_eq!(sent["sha256"], hex::encode(Sha256::digest(&got)));
    let received = js.event("received").await;
    assert_eq!(received["bytes"], BYTES);
    assert_eq!(received["sha256"], out_hash);

    let stream = rd.unsplit(wr);
    within("UDX close", stream.get_ref().closed())
        .await
        .expect("UDX stream closed gracefully");
    js.event("close").await;
    js.event("raw-close").await;
    assert!(js.finish().await, "JS peer exited with an error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_client_js_server() {
    run(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_client_rust_server() {
    run(false).await;
}
