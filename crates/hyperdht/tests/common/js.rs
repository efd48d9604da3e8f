//! Conversions between the JS-shaped JSON of the reference vectors and the message types,
//! and the per-vector checks of the three hyperdht suites.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use plures_compact::{Decode, Encode};
use plures_hyperdht::crypto;
use plures_hyperdht::wire::{
    Announce, Handshake, Holepunch, HolepunchInfo, HolepunchPayload, HolepunchRelay,
    LookupRawReply, MutableGetResponse, MutablePutRequest, MutableSignable, NoisePayload, Peer,
    PluginRequest, RelayThroughInfo, SecretStreamInfo, UdxInfo,
};
use plures_hyperdht::{KeyPair, SecurePayload};
use serde_json::{Map, Value, json};

type R<T> = Result<T, String>;

// ---- JSON → values ---------------------------------------------------------------------

fn field<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&Value::Null)
}

fn num(v: &Value, key: &str) -> R<u64> {
    match field(v, key) {
        Value::Null => Ok(0),
        n => n
            .as_u64()
            .ok_or(format!("`{key}` is not an unsigned integer")),
    }
}

fn flag(v: &Value, key: &str) -> bool {
    field(v, key).as_bool().unwrap_or(false)
}

fn hex_of(v: &Value, what: &str) -> R<Vec<u8>> {
    v.as_str()
        .and_then(|s| hex::decode(s).ok())
        .ok_or(format!("`{what}` is not hex"))
}

fn bytes(v: &Value, key: &str) -> R<Vec<u8>> {
    match field(v, key) {
        Value::Null => Ok(Vec::new()),
        b => hex_of(b, key),
    }
}

fn opt_bytes(v: &Value, key: &str) -> R<Option<Vec<u8>>> {
    match field(v, key) {
        Value::Null => Ok(None),
        b => hex_of(b, key).map(Some),
    }
}

fn opt_fixed<const N: usize>(v: &Value, key: &str) -> R<Option<[u8; N]>> {
    opt_bytes(v, key)?
        .map(|b| <[u8; N]>::try_from(b).map_err(|_| format!("`{key}` is not {N} bytes")))
        .transpose()
}

fn fixed<const N: usize>(v: &Value, key: &str) -> R<[u8; N]> {
    opt_fixed(v, key)?.ok_or(format!("no `{key}`"))
}

fn port(v: &Value) -> R<u16> {
    field(v, "port")
        .as_u64()
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("address has no port".into())
}

fn host(v: &Value) -> R<&str> {
    field(v, "host")
        .as_str()
        .ok_or("address has no host".into())
}

fn addr4(v: &Value) -> R<SocketAddrV4> {
    let ip: Ipv4Addr = host(v)?.parse().map_err(|_| "host is not IPv4")?;
    Ok(SocketAddrV4::new(ip, port(v)?))
}

fn opt_addr4(v: &Value, key: &str) -> R<Option<SocketAddrV4>> {
    match field(v, key) {
        Value::Null => Ok(None),
        a => addr4(a).map(Some),
    }
}

fn addr6(v: &Value) -> R<SocketAddrV6> {
    let ip: Ipv6Addr = host(v)?.parse().map_err(|_| "host is not IPv6")?;
    Ok(SocketAddrV6::new(ip, port(v)?, 0, 0))
}

fn list<T>(v: &Value, key: &str, item: impl Fn(&Value) -> R<T>) -> R<Vec<T>> {
    match field(v, key) {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.iter().map(item).collect(),
        _ => Err(format!("`{key}` is not a list")),
    }
}

fn opt_list<T>(v: &Value, key: &str, item: impl Fn(&Value) -> R<T>) -> R<Option<Vec<T>>> {
    match field(v, key) {
        Value::Null => Ok(None),
        _ => list(v, key, item).map(Some),
    }
}

fn peer(v: &Value) -> R<Peer> {
    // `lookupRawReply` inputs list the stored records as raw bytes.
    if v.is_string() {
        let raw = hex_of(v, "peer")?;
        return Peer::from_bytes(&raw).map_err(|e| e.to_string());
    }
    Ok(Peer {
        public_key: fixed(v, "publicKey")?,
        relay_addresses: list(v, "relayAddresses", addr4)?,
    })
}

fn opt_peer(v: &Value, key: &str) -> R<Option<Peer>> {
    match field(v, key) {
        Value::Null => Ok(None),
        p => peer(p).map(Some),
    }
}

fn version(v: &Value) -> R<u64> {
    match field(v, "version") {
        Value::Null => Ok(1),
        _ => num(v, "version"),
    }
}

fn noise_payload(v: &Value) -> R<NoisePayload> {
    let holepunch = match field(v, "holepunch") {
        Value::Null => None,
        h => Some(HolepunchInfo {
            id: num(h, "id")?,
            relays: list(h, "relays", |r| {
                Ok(HolepunchRelay {
                    relay_address: addr4(field(r, "relayAddress"))?,
                    peer_address: addr4(field(r, "peerAddress"))?,
                })
            })?,
        }),
    };
    let udx = match field(v, "udx") {
        Value::Null => None,
        u => Some(UdxInfo {
            version: version(u)?,
            reusable_socket: flag(u, "reusableSocket"),
            id: num(u, "id")?,
            seq: num(u, "seq")?,
        }),
    };
    let secret_stream = match field(v, "secretStream") {
        Value::Null => None,
        s => Some(SecretStreamInfo {
            version: version(s)?,
        }),
    };
    let relay_through = match field(v, "relayThrough") {
        Value::Null => None,
        r => Some(RelayThroughInfo {
            version: version(r)?,
            public_key: fixed(r, "publicKey")?,
            token: fixed(r, "token")?,
        }),
    };
    Ok(NoisePayload {
        version: version(v)?,
        error: num(v, "error")?,
        firewall: num(v, "firewall")?,
        holepunch,
        addresses4: list(v, "addresses4", addr4)?,
        addresses6: list(v, "addresses6", addr6)?,
        udx,
        secret_stream,
        relay_through,
        relay_addresses: opt_list(v, "relayAddresses", addr4)?,
    })
}

pub(crate) fn holepunch_payload(v: &Value) -> R<HolepunchPayload> {
    Ok(HolepunchPayload {
        error: num(v, "error")?,
        firewall: num(v, "firewall")?,
        round: num(v, "round")?,
        connected: flag(v, "connected"),
        punching: flag(v, "punching"),
        addresses: opt_list(v, "addresses", addr4)?,
        remote_address: opt_addr4(v, "remoteAddress")?,
        token: opt_fixed(v, "token")?,
        remote_token: opt_fixed(v, "remoteToken")?,
    })
}

// ---- values → JSON ---------------------------------------------------------------------

fn j4(a: &SocketAddrV4) -> Value {
    json!({ "host": a.ip().to_string(), "port": a.port() })
}

fn j4o(a: Option<&SocketAddrV4>) -> Value {
    a.map_or(Value::Null, j4)
}

fn j4s(list: &[SocketAddrV4]) -> Value {
    list.iter().map(j4).collect()
}

/// An IPv6 address as `compact-encoding-net` prints it: eight unpadded hex groups.
fn j6(a: &SocketAddrV6) -> Value {
    let host: Vec<String> = a.ip().segments().iter().map(|g| format!("{g:x}")).collect();
    json!({ "host": host.join(":"), "port": a.port() })
}

fn jhex(b: &[u8]) -> Value {
    Value::String(hex::encode(b))
}

fn jhexo<T: AsRef<[u8]>>(b: Option<&T>) -> Value {
    b.map_or(Value::Null, |b| jhex(b.as_ref()))
}

fn jpeer(p: &Peer) -> Value {
    json!({ "publicKey": jhex(&p.public_key), "relayAddresses": j4s(&p.relay_addresses) })
}

fn jnoise_payload(p: &NoisePayload) -> Value {
    json!({
        "version": p.version,
        "error": p.error,
        "firewall": p.firewall,
        "holepunch": p.holepunch.as_ref().map_or(Value::Null, |h| json!({
            "id": h.id,
            "relays": h.relays.iter().map(|r| json!({
                "relayAddress": j4(&r.relay_address),
                "peerAddress": j4(&r.peer_address),
            })).collect::<Value>(),
        })),
        "addresses4": j4s(&p.addresses4),
        "addresses6": p.addresses6.iter().map(j6).collect::<Value>(),
        "udx": p.udx.as_ref().map_or(Value::Null, |u| json!({
            "version": u.version,
            "reusableSocket": u.reusable_socket,
            "id": u.id,
            "seq": u.seq,
        })),
        "secretStream": p.secret_stream.as_ref().map_or(Value::Null, |s| json!({ "version": s.version })),
        "relayThrough": p.relay_through.as_ref().map_or(Value::Null, |r| json!({
            "version": r.version,
            "publicKey": jhex(&r.public_key),
            "token": jhex(&r.token),
        })),
        "relayAddresses": p.relay_addresses.as_deref().map_or(Value::Null, j4s),
    })
}

pub(crate) fn jholepunch_payload(p: &HolepunchPayload) -> Value {
    json!({
        "error": p.error,
        "firewall": p.firewall,
        "round": p.round,
        "connected": p.connected,
        "punching": p.punching,
        "addresses": p.addresses.as_deref().map_or(Value::Null, j4s),
        "remoteAddress": j4o(p.remote_address.as_ref()),
        "token": jhexo(p.token.as_ref()),
        "remoteToken": jhexo(p.remote_token.as_ref()),
    })
}

// ---- the codecs by their JS name -------------------------------------------------------

/// Decodes `bytes` as the `messages.<name>` codec and renders the JS-shaped value.
pub(crate) fn decode_to_json(name: &str, b: &[u8]) -> R<Value> {
    let e = |e: plures_compact::DecodeError| format!("{name} decode: {e}");
    Ok(match name {
        "handshake" => {
            let m = Handshake::from_bytes(b).map_err(e)?;
            json!({ "mode": m.mode, "noise": jhex(&m.noise),
                    "peerAddress": j4o(m.peer_address.as_ref()),
                    "relayAddress": j4o(m.relay_address.as_ref()) })
        }
        "holepunch" => {
            let m = Holepunch::from_bytes(b).map_err(e)?;
            json!({ "mode": m.mode, "id": m.id, "payload": jhex(&m.payload),
                    "peerAddress": j4o(m.peer_address.as_ref()) })
        }
        "noisePayload" => jnoise_payload(&NoisePayload::from_bytes(b).map_err(e)?),
        "holepunchPayload" => jholepunch_payload(&HolepunchPayload::from_bytes(b).map_err(e)?),
        "peer" => jpeer(&Peer::from_bytes(b).map_err(e)?),
        "lookupRawReply" => {
            let m = LookupRawReply::from_bytes(b).map_err(e)?;
            json!({ "peers": m.peers.iter().map(jpeer).collect::<Value>(), "bump": m.bump })
        }
        "announce" => {
            let m = Announce::from_bytes(b).map_err(e)?;
            json!({ "peer": m.peer.as_ref().map_or(Value::Null, jpeer),
                    "refresh": jhexo(m.refresh.as_ref()),
                    "signature": jhexo(m.signature.as_ref()), "bump": m.bump })
        }
        "mutableSignable" => {
            let m = MutableSignable::from_bytes(b).map_err(e)?;
            json!({ "seq": m.seq, "value": jhex(&m.value) })
        }
        "mutablePutRequest" => {
            let m = MutablePutRequest::from_bytes(b).map_err(e)?;
            json!({ "publicKey": jhex(&m.public_key), "seq": m.seq, "value": jhex(&m.value),
                    "signature": jhex(&m.signature) })
        }
        "mutableGetResponse" => {
            let m = MutableGetResponse::from_bytes(b).map_err(e)?;
            json!({ "seq": m.seq, "value": jhex(&m.value), "signature": jhex(&m.signature) })
        }
        "pluginRequest" => {
            let m = PluginRequest::from_bytes(b).map_err(e)?;
            json!({ "plugin": m.plugin, "version": m.version, "command": m.command,
                    "value": jhexo(m.value.as_ref()) })
        }
        other => return Err(format!("no codec `{other}`")),
    })
}

/// Encodes the JS-shaped `input` with the `messages.<name>` codec.
pub(crate) fn encode_from_json(name: &str, v: &Value) -> R<Vec<u8>> {
    let out = match name {
        "handshake" => Handshake {
            mode: num(v, "mode")?,
            noise: bytes(v, "noise")?,
            peer_address: opt_addr4(v, "peerAddress")?,
            relay_address: opt_addr4(v, "relayAddress")?,
        }
        .to_bytes(),
        "holepunch" => Holepunch {
            mode: num(v, "mode")?,
            id: num(v, "id")?,
            payload: bytes(v, "payload")?,
            peer_address: opt_addr4(v, "peerAddress")?,
        }
        .to_bytes(),
        "noisePayload" => noise_payload(v)?.to_bytes(),
        "holepunchPayload" => holepunch_payload(v)?.to_bytes(),
        "peer" => peer(v)?.to_bytes(),
        "lookupRawReply" => LookupRawReply {
            peers: list(v, "peers", peer)?,
            bump: num(v, "bump")?,
        }
        .to_bytes(),
        "announce" => Announce {
            peer: opt_peer(v, "peer")?,
            refresh: opt_fixed(v, "refresh")?,
            signature: opt_fixed(v, "signature")?,
            bump: num(v, "bump")?,
        }
        .to_bytes(),
        "mutableSignable" => MutableSignable {
            seq: num(v, "seq")?,
            value: bytes(v, "value")?,
        }
        .to_bytes(),
        "mutablePutRequest" => MutablePutRequest {
            public_key: fixed(v, "publicKey")?,
            seq: num(v, "seq")?,
            value: bytes(v, "value")?,
            signature: fixed(v, "signature")?,
        }
        .to_bytes(),
        "mutableGetResponse" => MutableGetResponse {
            seq: num(v, "seq")?,
            value: bytes(v, "value")?,
            signature: fixed(v, "signature")?,
        }
        .to_bytes(),
        "pluginRequest" => PluginRequest {
            plugin: field(v, "plugin").as_str().ok_or("no `plugin`")?.to_owned(),
            version: num(v, "version")?,
            command: num(v, "command")?,
            value: opt_bytes(v, "value")?,
        }
        .to_bytes(),
        other => return Err(format!("no codec `{other}`")),
    };
    out.map_err(|e| format!("{name} encode: {e}"))
}

// ---- the suites ------------------------------------------------------------------------

fn expect(what: &str, got: &Value, want: &Value) -> R<()> {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what}: got {got}, want {want}"))
    }
}

fn expect_hex(what: &str, got: &[u8], want: &Value) -> R<()> {
    expect(what, &jhex(got), want)
}

/// What a vector checks, from its fields.
pub(crate) struct Case<'a> {
    pub(crate) func: &'a str,
    pub(crate) input: &'a Value,
    pub(crate) hex: Option<&'a str>,
    pub(crate) output: Option<&'a Value>,
    pub(crate) decoded: Option<&'a Value>,
    /// Key pairs found elsewhere in the file, for vectors that record only a public key.
    pub(crate) known_keys: &'a [KeyPair],
}

/// `hyperdht-messages`: an encode vector must produce `hex`, and `hex` must decode to
/// `decoded` and re-encode to `hex`; a decode vector must decode `input.hex` to `decoded`.
pub(crate) fn check_message(c: &Case<'_>) -> R<()> {
    let rest = c
        .func
        .strip_prefix("hyperdht messages.")
        .ok_or(format!("unknown function `{}`", c.func))?;
    let decoded = c.decoded.ok_or("vector has no `decoded`")?;
    if let Some(name) = rest.strip_suffix(".encode") {
        let want = c.hex.ok_or("vector has no hex")?;
        let bytes = encode_from_json(name, c.input)?;
        expect("encoding", &jhex(&bytes), &Value::String(want.into()))?;
        expect("decoding", &decode_to_json(name, &bytes)?, decoded)?;
        Ok(())
    } else if let Some(name) = rest.strip_suffix(".decode") {
        let bytes = hex_of(field(c.input, "hex"), "input.hex")?;
        let value = decode_to_json(name, &bytes)?;
        expect("decoding", &value, decoded)?;
        // These vectors record their result in `decoded`; an `output` must agree with it.
        if let Some(out) = c.output {
            expect("output", &value, field(out, "value"))?;
        }
        // What decodes must re-encode to something that decodes the same.
        let again = encode_from_json(name, &value)?;
        expect("re-decoding", &decode_to_json(name, &again)?, decoded)
    } else {
        Err(format!("unknown function `{}`", c.func))
    }
}

fn ns_by_name(name: &str) -> Option<[u8; 32]> {
    Some(match name {
        "PEER_HANDSHAKE" => crypto::NS_PEER_HANDSHAKE,
        "PEER_HOLEPUNCH" => crypto::NS_PEER_HOLEPUNCH,
        "ANNOUNCE" => crypto::NS_ANNOUNCE,
        "UNANNOUNCE" => crypto::NS_UNANNOUNCE,
        "MUTABLE_PUT" => crypto::NS_MUTABLE_PUT,
        "PLUGIN" => crypto::NS_PLUGIN,
        "NS_INITIATOR" => plures_secret_stream::crypto::NS_INITIATOR,
        "NS_RESPONDER" => plures_secret_stream::crypto::NS_RESPONDER,
        "NS_SEND" => plures_secret_stream::crypto::NS_SEND,
        _ => return None,
    })
}

fn namespace(c: &Case<'_>, out: &Map<String, Value>) -> R<()> {
    let name = field(c.input, "name").as_str().ok_or("no `name`")?;
    let ids = list(c.input, "ids", |i| {
        i.as_u64()
            .and_then(|i| u8::try_from(i).ok())
            .ok_or("bad id".to_string())
    })?;
    let derived: Vec<Value> = ids
        .iter()
        .map(|&id| jhex(&plures_secret_stream::crypto::namespace(name, id)))
        .collect();
    if let Some(Value::Array(want)) = out.get("list") {
        return expect(
            "namespace list",
            &Value::Array(derived),
            &Value::Array(want.clone()),
        );
    }
    for (key, want) in out {
        let constant = ns_by_name(key).ok_or(format!("unknown namespace `{key}`"))?;
        expect(key, &jhex(&constant), want)?;
        if !derived.contains(want) {
            return Err(format!("{key} is not namespace({name}, {ids:?})"));
        }
    }
    Ok(())
}

fn key_pair(input: &Value) -> R<KeyPair> {
    let secret: [u8; 64] = fixed(input, "secretKey")?;
    KeyPair::from_secret_key(&secret).map_err(|e| format!("secret key: {e}"))
}

/// `hashes-and-signatures`.
pub(crate) fn check_hash(c: &Case<'_>) -> R<()> {
    let out = c
        .output
        .and_then(Value::as_object)
        .ok_or("vector has no output")?;
    let want = |k: &str| out.get(k).ok_or(format!("no output `{k}`"));
    let input = c.input;
    let f = c.func;
    if f.starts_with("hypercore-crypto namespace(") {
        namespace(c, out)
    } else if f.starts_with("hyperdht DHT.keyPair(seed)") {
        let kp = KeyPair::from_seed(fixed(input, "seed")?);
        expect_hex("publicKey", kp.public_key(), want("publicKey")?)?;
        expect_hex("secretKey", &kp.secret_key()[..], want("secretKey")?)
    } else if f.starts_with("hyperdht DHT.hash(publicKey)") {
        let got = crypto::target(&fixed(input, "publicKey")?);
        expect_hex("hash", &got, want("hash")?)
    } else if f.starts_with("hyperdht DHT.hash(buffer)") {
        expect_hex("hash", &crypto::hash(&bytes(input, "data")?), want("hash")?)
    } else if f.starts_with("hypercore-crypto discoveryKey") {
        let got = crypto::discovery_key(&fixed(input, "key")?);
        expect_hex("discoveryKey", &got, want("discoveryKey")?)
    } else if f.starts_with("hyperdht lib/persistent.js Persistent.signAnnounce")
        || f.starts_with("hyperdht Persistent.signUnannounce")
    {
        let unannounce = f.contains("signUnannounce");
        let target = fixed(input, "target")?;
        let node_id = fixed(input, "nodeId")?;
        let token = bytes(input, "token")?;
        let peer = peer(field(input, "peer"))?;
        let refresh: Option<[u8; 32]> = opt_fixed(input, "refresh")?;
        let args = (&target, &node_id, token.as_slice(), &peer, refresh.as_ref());
        let signable = if unannounce {
            crypto::unannounce_signable(args.0, args.1, args.2, args.3, args.4)
        } else {
            crypto::announce_signable(args.0, args.1, args.2, args.3, args.4)
        };
        if let Some(w) = out.get("signable") {
            expect_hex("signable", &signable, w)?;
        }
        let public: [u8; 32] = fixed(input, "publicKey")?;
        let kp = key_pair(input).ok().or_else(|| {
            c.known_keys
                .iter()
                .find(|k| k.public_key() == &public)
                .cloned()
        });
        let signature = match kp {
            Some(kp) => {
                expect_hex("publicKey", kp.public_key(), field(input, "publicKey"))?;
                let sig = if unannounce {
                    crypto::sign_unannounce(&kp, args.0, args.1, args.2, args.3, args.4)
                } else {
                    crypto::sign_announce(&kp, args.0, args.1, args.2, args.3, args.4)
                };
                expect_hex("signature", &sig, want("signature")?)?;
                sig
            }
            // No secret key known: the recorded signature must verify.
            None => fixed::<64>(c.output.unwrap_or(&Value::Null), "signature")?,
        };
        if !crypto::verify(&public, &signable, &signature) {
            return Err("the signature does not verify".into());
        }
        let mut wrong = signable;
        wrong[40] ^= 1;
        if crypto::verify(&public, &wrong, &signature) {
            return Err("the signature verifies for another node id".into());
        }
        if let Some(w) = out.get("announceValue") {
            let value = Announce {
                peer: Some(peer),
                refresh,
                signature: Some(signature),
                bump: 0,
            };
            expect_hex(
                "announceValue",
                &value.to_bytes().map_err(|e| e.to_string())?,
                w,
            )?;
        }
        Ok(())
    } else if f.starts_with("hyperdht Persistent.signMutable") {
        let seq = num(input, "seq")?;
        let value = bytes(input, "value")?;
        let kp = key_pair(input)?;
        expect_hex(
            "signable",
            &crypto::mutable_signable(seq, &value),
            want("signable")?,
        )?;
        let sig = crypto::sign_mutable(&kp, seq, &value);
        expect_hex("signature", &sig, want("signature")?)?;
        if !crypto::verify_mutable(kp.public_key(), seq, &value, &sig)
            || crypto::verify_mutable(kp.public_key(), seq + 1, &value, &sig)
        {
            return Err("mutable signature verification is wrong".into());
        }
        expect_hex("target", &crypto::target(kp.public_key()), want("target")?)
    } else if f.starts_with("hyperdht immutablePut target") {
        let got = crypto::immutable_target(&bytes(input, "value")?);
        expect_hex("target", &got, want("target")?)
    } else {
        Err(format!("unknown function `{f}`"))
    }
}

/// `hyperdht-secure-payload`.
pub(crate) fn check_secure_payload(c: &Case<'_>) -> R<()> {
    if !c.func.starts_with("SecurePayload(holepunchSecret).encrypt") {
        return Err(format!("unknown function `{}`", c.func));
    }
    let input = c.input;
    let out = c.output.ok_or("vector has no output")?;
    let secret: [u8; 32] = fixed(input, "holepunchSecret")?;
    let nonce: [u8; 24] = fixed(input, "nonce")?;
    let payload = holepunch_payload(field(input, "payload"))?;
    let encoded = payload.to_bytes().map_err(|e| e.to_string())?;
    expect_hex("payloadEncoded", &encoded, field(input, "payloadEncoded"))?;
    let sp = SecurePayload::new(&secret);
    let sealed = sp.encrypt(&payload, &nonce).map_err(|e| e.to_string())?;
    expect_hex("box", &sealed, field(out, "box"))?;
    let opened = sp
        .decrypt(&hex_of(field(out, "box"), "box")?)
        .map_err(|e| e.to_string())?;
    expect(
        "decrypted",
        &jholepunch_payload(&opened),
        field(out, "decrypted"),
    )?;
    let mut forged = sealed.clone();
    if let Some(last) = forged.last_mut() {
        *last ^= 1;
    }
    if sp.decrypt(&forged).is_ok() || sp.decrypt(&sealed[..40]).is_ok() {
        return Err("a tampered or short box was accepted".into());
    }
    // The token in the payload is `token(127.0.0.1)` under the local secret.
    if let Some(token) = payload.token {
        let local: [u8; 32] = fixed(input, "localSecret")?;
        let host = payload
            .addresses
            .as_ref()
            .and_then(|a| a.first())
            .map_or(Ipv4Addr::LOCALHOST, |a| *a.ip());
        if crypto::holepunch_token(&local, host) != token {
            return Err("the payload token is not token(host) under the local secret".into());
        }
    }
    Ok(())
}
