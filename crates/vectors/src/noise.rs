//! The `noise` suite: IK and XX handshakes (`noise-handshake` with `noise-curve-ed`),
//! hyperdht's `NoiseWrap`, HMAC-BLAKE2b and the Noise HKDF, replayed with
//! `plures-secret-stream` from the recorded keys and ephemeral seeds.
//!
//! Both roles are run against each other with the recorded keys and payloads; a vector
//! passes when every handshake message is byte-identical to the recorded one, each side
//! reads the other's payload, and tx, rx, the remote static key and the 64-byte handshake
//! hash all equal the reference's.

use plures_secret_stream::crypto::{blake2b_256_keyed, hkdf_blake2b, hmac_blake2b, namespace};
use plures_secret_stream::{
    Error, Finished, IK_PROTOCOL_NAME, IkInitiator, IkResponder, KeyPair, XX_PROTOCOL_NAME,
    XxInitiator, XxResponder, stream_id,
};
use serde_json::Value;

use crate::hexutil::{from_hex, to_hex};
use crate::model::Vector;
use crate::report::Outcome;

/// Runs one vector of the suite.
pub(crate) fn run(v: &Vector) -> Outcome {
    let result = if v.func.starts_with("noise-handshake new Noise(") {
        handshake(v)
    } else if v.func.starts_with("hyperdht lib/noise-wrap.js NoiseWrap") {
        noise_wrap(v)
    } else if v.func.starts_with("noise-handshake hmac.js") {
        hmac(v)
    } else if v.func.starts_with("noise-handshake hkdf.js") {
        hkdf(v)
    } else {
        return Outcome::Unsupported(format!("no noise check for `{}`", v.func));
    };
    match result {
        Ok(outcome) => outcome,
        Err(why) => Outcome::Fail(why),
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    path.iter().try_fold(v, |v, k| {
        v.get(k)
            .ok_or_else(|| format!("no field {}", path.join(".")))
    })
}

fn bytes(v: &Value, path: &[&str]) -> Result<Vec<u8>, String> {
    field(v, path)?
        .as_str()
        .and_then(from_hex)
        .ok_or_else(|| format!("{} is not hex", path.join(".")))
}

fn array<const N: usize>(v: &Value, path: &[&str]) -> Result<[u8; N], String> {
    bytes(v, path)?
        .try_into()
        .map_err(|_| format!("{} is not {N} bytes", path.join(".")))
}

fn output(v: &Vector) -> Result<&Value, String> {
    v.output
        .as_ref()
        .ok_or_else(|| "vector has no output".to_string())
}

fn expect(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what} is {}, the reference says {}",
            to_hex(got),
            to_hex(want)
        ))
    }
}

fn step<T>(what: &str, r: Result<T, Error>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// A key pair from `{seed}` or `{secretKey, publicKey}`, checked against its public key.
fn key_pair(v: &Value, path: &[&str]) -> Result<KeyPair, String> {
    let obj = field(v, path)?;
    let kp = match obj.get("seed").filter(|s| !s.is_null()) {
        Some(_) => KeyPair::from_seed(array(obj, &["seed"])?),
        None => step(
            "secretKey",
            KeyPair::from_secret_key(&array(obj, &["secretKey"])?),
        )?,
    };
    expect(
        &format!("{}.publicKey", path.join(".")),
        kp.public_key(),
        &bytes(obj, &["publicKey"])?,
    )?;
    Ok(kp)
}

fn check_done(side: &str, done: &Finished, want: &Value) -> Result<(), String> {
    expect(&format!("{side} tx"), done.tx(), &bytes(want, &["tx"])?)?;
    expect(&format!("{side} rx"), done.rx(), &bytes(want, &["rx"])?)
}

fn handshake(v: &Vector) -> Result<Outcome, String> {
    let input = &v.input;
    let out = output(v)?;
    let prologue = bytes(input, &["prologue"])?;
    let is = || key_pair(input, &["initiatorStatic"]);
    let rs = || key_pair(input, &["responderStatic"]);
    let ie = || key_pair(input, &["initiatorEphemeral"]);
    let re = || key_pair(input, &["responderEphemeral"]);
    let is_pub = *is()?.public_key();
    let rs_pub = *rs()?.public_key();
    let messages = &v.messages;
    let payload = |i: usize| -> Result<Vec<u8>, String> {
        let m = messages
            .get(i)
            .ok_or_else(|| format!("no recorded message {i}"))?;
        bytes(m, &["payload"])
    };
    let check = |i: usize, got: &[u8]| -> Result<(), String> {
        let m = messages
            .get(i)
            .ok_or_else(|| format!("no recorded message {i}"))?;
        expect(&format!("message {i}"), got, &bytes(m, &["message"])?)
    };
    let (name, i, r) = match field(input, &["pattern"])?.as_str() {
        Some("IK") => {
            let (m1, wait) = step(
                "IK message 1",
                IkInitiator::start(is()?, ie()?, rs_pub, &prologue, &payload(0)?),
            )?;
            check(0, &m1)?;
            let got = step(
                "IK responder",
                IkResponder::new(rs()?, &prologue).handle(&m1),
            )?;
            expect("payload 0 as read", got.payload(), &payload(0)?)?;
            let (m2, r) = step("IK message 2", got.respond(re()?, &payload(1)?))?;
            check(1, &m2)?;
            let (i, p) = step("IK initiator", wait.handle(&m2))?;
            expect("payload 1 as read", &p, &payload(1)?)?;
            (IK_PROTOCOL_NAME, i, r)
        }
        Some("XX") => {
            let (m1, wait_i) = step(
                "XX message 1",
                XxInitiator::start(is()?, ie()?, &prologue, &payload(0)?),
            )?;
            check(0, &m1)?;
            let got = step(
                "XX responder",
                XxResponder::new(rs()?, &prologue).handle(&m1),
            )?;
            let (m2, wait_r) = step("XX message 2", got.respond(re()?, &payload(1)?))?;
            check(1, &m2)?;
            let got = step("XX initiator", wait_i.handle(&m2))?;
            let (m3, i) = step("XX message 3", got.finish(&payload(2)?))?;
            check(2, &m3)?;
            let (r, _) = step("XX responder", wait_r.handle(&m3))?;
            (XX_PROTOCOL_NAME, i, r)
        }
        other => return Ok(Outcome::Unsupported(format!("pattern {other:?}"))),
    };
    if field(out, &["protocolName"])?.as_str() != Some(name) {
        return Err(format!(
            "protocol name is {name}, the reference says {}",
            out["protocolName"]
        ));
    }
    check_done("initiator", &i, field(out, &["initiator"])?)?;
    check_done("responder", &r, field(out, &["responder"])?)?;
    expect(
        "responder remoteStatic",
        r.remote_static_key(),
        &bytes(out, &["responder", "remoteStatic"])?,
    )?;
    expect("responder remoteStatic", r.remote_static_key(), &is_pub)?;
    expect("initiator remote static", i.remote_static_key(), &rs_pub)?;
    let want_hash = bytes(out, &["handshakeHash"])?;
    expect("initiator handshakeHash", i.handshake_hash(), &want_hash)?;
    expect("responder handshakeHash", r.handshake_hash(), &want_hash)?;
    Ok(Outcome::Pass)
}

fn noise_wrap(v: &Vector) -> Result<Outcome, String> {
    let input = &v.input;
    let out = output(v)?;
    let prologue = namespace("hyperswarm/dht", 0);
    let ns_holepunch = namespace("hyperswarm/dht", 1);
    let client = key_pair(input, &["clientStatic"])?;
    let server = key_pair(input, &["serverStatic"])?;
    let client_pub = *client.public_key();
    let server_pub = *server.public_key();
    let ce = KeyPair::from_seed(array(input, &["clientEphemeralSeed"])?);
    let se = KeyPair::from_seed(array(input, &["serverEphemeralSeed"])?);
    let cp = bytes(input, &["clientPayloadEncoded"])?;
    let sp = bytes(input, &["serverPayloadEncoded"])?;

    let (m1, wait) = step(
        "client message",
        IkInitiator::start(client, ce, server_pub, &prologue, &cp),
    )?;
    let got = step("server", IkResponder::new(server, &prologue).handle(&m1))?;
    expect("client payload seen by the server", got.payload(), &cp)?;
    expect(
        "client key seen by the server",
        got.remote_static_key(),
        &client_pub,
    )?;
    let (m2, s) = step("server message", got.respond(se, &sp))?;
    let (c, p) = step("client", wait.handle(&m2))?;
    expect("server payload seen by the client", &p, &sp)?;
    for (side, done) in [("client", &c), ("server", &s)] {
        let want = field(out, &[side])?;
        check_done(side, done, want)?;
        expect(
            &format!("{side} hash"),
            done.handshake_hash(),
            &bytes(want, &["hash"])?,
        )?;
        let holepunch = blake2b_256_keyed(done.handshake_hash(), &ns_holepunch);
        expect(
            &format!("{side} holepunchSecret"),
            &holepunch,
            &bytes(want, &["holepunchSecret"])?,
        )?;
        let remote_id = stream_id(done.handshake_hash(), !done.is_initiator());
        expect(
            &format!("{side} remoteId"),
            &remote_id,
            &bytes(want, &["remoteId"])?,
        )?;
    }
    Ok(Outcome::Pass)
}

fn hmac(v: &Vector) -> Result<Outcome, String> {
    let mac = hmac_blake2b(&bytes(&v.input, &["key"])?, &[&bytes(&v.input, &["data"])?]);
    expect("mac", &mac, &bytes(output(v)?, &["mac"])?)?;
    Ok(Outcome::Pass)
}

fn hkdf(v: &Vector) -> Result<Outcome, String> {
    let (o1, o2) = hkdf_blake2b(&bytes(&v.input, &["salt"])?, &bytes(&v.input, &["ikm"])?);
    let out = output(v)?;
    expect("out1", &o1, &bytes(out, &["out1"])?)?;
    expect("out2", &o2, &bytes(out, &["out2"])?)?;
    Ok(Outcome::Pass)
}
