//! The `secret-stream` suite: `@hyperswarm/secret-stream` framing and
//! `sodium-secretstream`, replayed with `plures-secret-stream`.
//!
//! * `stream/*-frames`: a [`Session`] started from the recorded handshake keys with the
//!   recorded secretstream header must write every recorded frame byte for byte, and a
//!   peer session fed those frames must deliver exactly the recorded plaintexts.
//! * `udp-messages/*`: both send keys and every envelope from the recorded initial
//!   counter, and the peer opens each envelope.
//! * `secretstream/raw-sequence`: push with TAG_MESSAGE and a final TAG_FINAL, then pull.

use std::time::Instant;

use plures_secret_stream::crypto::send_key;
use plures_secret_stream::secretstream::{Pull, Push, Tag};
use plures_secret_stream::{Config, Event, Keys, Random, Session, Start, stream_id};
use serde_json::Value;

use crate::hexutil::{from_hex, to_hex};
use crate::model::Vector;
use crate::report::Outcome;

/// Runs one vector of the suite.
pub(crate) fn run(v: &Vector) -> Outcome {
    let result = if v.name.starts_with("stream/") {
        stream(v)
    } else if v.name.starts_with("udp-messages/") {
        udp(v)
    } else if v.name.starts_with("secretstream/") {
        raw(v)
    } else {
        return Outcome::Unsupported(format!("no secret-stream check for `{}`", v.name));
    };
    match result {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

fn field<'a>(v: &'a Value, key: &str) -> Result<&'a Value, String> {
    v.get(key).ok_or_else(|| format!("no field {key}"))
}

fn bytes(v: &Value, key: &str) -> Result<Vec<u8>, String> {
    field(v, key)?
        .as_str()
        .and_then(from_hex)
        .ok_or_else(|| format!("{key} is not hex"))
}

fn array<const N: usize>(v: &Value, key: &str) -> Result<[u8; N], String> {
    bytes(v, key)?
        .try_into()
        .map_err(|_| format!("{key} is not {N} bytes"))
}

fn list(v: &Value, key: &str) -> Result<Vec<Vec<u8>>, String> {
    field(v, key)?
        .as_array()
        .ok_or_else(|| format!("{key} is not a list"))?
        .iter()
        .map(|x| {
            x.as_str()
                .and_then(from_hex)
                .ok_or_else(|| format!("{key} has a non-hex entry"))
        })
        .collect()
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

fn keys(input: &Value, is_initiator: bool, swap: bool) -> Result<Keys, String> {
    let (tx, rx) = (array(input, "tx")?, array(input, "rx")?);
    let (tx, rx) = if swap { (rx, tx) } else { (tx, rx) };
    Ok(Keys {
        tx,
        rx,
        handshake_hash: array(input, "handshakeHash")?,
        is_initiator,
        public_key: [0; 32],
        remote_public_key: [0; 32],
    })
}

fn session(keys: Keys, random: Random, now: Instant) -> Result<Session, String> {
    Session::new(Start::Handshake(keys), random, Config::default(), now)
        .map_err(|e| format!("session: {e}"))
}

fn stream(v: &Vector) -> Result<(), String> {
    let is_initiator = v.name == "stream/initiator-frames";
    let out = output(v)?;
    let received_key = if is_initiator {
        "receivedByResponder"
    } else {
        "receivedByInitiator"
    };
    let frames = list(out, "frames")?;
    let now = Instant::now();
    let random = Random {
        header: array(&v.input, "header")?,
        send_counter: [0; 8],
    };
    let k = keys(&v.input, is_initiator, false)?;
    expect(
        "stream id",
        &stream_id(&k.handshake_hash, is_initiator),
        &bytes(out, "streamId")?,
    )?;
    let mut s = session(k, random, now)?;
    let mut got = Vec::new();
    got.extend(s.poll_transmit());
    for w in list(&v.input, "writes")? {
        s.send(now, &w).map_err(|e| format!("write: {e}"))?;
        got.extend(s.poll_transmit());
    }
    if got.len() != frames.len() {
        return Err(format!(
            "{} frames written, the reference wrote {}",
            got.len(),
            frames.len()
        ));
    }
    for (i, (g, f)) in got.iter().zip(&frames).enumerate() {
        expect(&format!("frame {i}"), g, f)?;
    }
    // The other side reads them all back (fed as one chunk).
    let peer_random = Random {
        header: [0x5a; 24],
        send_counter: [0; 8],
    };
    let mut peer = session(keys(&v.input, !is_initiator, true)?, peer_random, now)?;
    peer.handle_input(now, &frames.concat())
        .map_err(|e| format!("peer: {e}"))?;
    let data: Vec<Vec<u8>> = std::iter::from_fn(|| peer.poll_event())
        .filter_map(|e| match e {
            Event::Data(d) => Some(d),
            _ => None,
        })
        .collect();
    let want = list(out, received_key)?;
    if data != want {
        return Err(format!(
            "peer received {} messages, the reference {}",
            data.len(),
            want.len()
        ));
    }
    Ok(())
}

fn udp(v: &Vector) -> Result<(), String> {
    let out = output(v)?;
    let hash: [u8; 64] = array(&v.input, "handshakeHash")?;
    expect(
        "initiator send key",
        &send_key(&hash, true),
        &bytes(out, "initiatorSendKey")?,
    )?;
    expect(
        "responder send key",
        &send_key(&hash, false),
        &bytes(out, "responderSendKey")?,
    )?;
    let made_up = |init: bool| Keys {
        tx: [u8::from(init); 32],
        rx: [u8::from(!init); 32],
        handshake_hash: hash,
        is_initiator: init,
        public_key: [0; 32],
        remote_public_key: [0; 32],
    };
    let now = Instant::now();
    let random = Random {
        header: [0; 24],
        send_counter: array(&v.input, "initialCounter")?,
    };
    let mut a = session(made_up(true), random, now)?;
    let mut b = session(made_up(false), random, now)?;
    let envelopes = list(out, "envelopes")?;
    let messages = list(&v.input, "messages")?;
    if envelopes.len() != messages.len() {
        return Err("envelope and message counts differ".into());
    }
    for (i, (m, want)) in messages.iter().zip(&envelopes).enumerate() {
        let env = a.send_datagram(m).map_err(|e| format!("send: {e}"))?;
        expect(&format!("envelope {i}"), &env, want)?;
        if !b.handle_datagram(want) {
            return Err(format!("responder dropped envelope {i}"));
        }
    }
    let got: Vec<Vec<u8>> = std::iter::from_fn(|| b.poll_event())
        .filter_map(|e| match e {
            Event::Message(m) => Some(m),
            _ => None,
        })
        .collect();
    if got != list(out, "receivedByResponder")? {
        return Err("responder opened other messages".into());
    }
    Ok(())
}

fn raw(v: &Vector) -> Result<(), String> {
    let out = output(v)?;
    let key = array(&v.input, "key")?;
    let header = array(&v.input, "header")?;
    let mut push = Push::new(&key, header);
    let mut pull = Pull::new(&key, &header);
    let messages = list(&v.input, "messages")?;
    let ciphertexts = list(out, "ciphertexts")?;
    let fin = bytes(out, "finalCiphertext")?;
    if messages.len() != ciphertexts.len() {
        return Err("message and ciphertext counts differ".into());
    }
    let steps = messages
        .iter()
        .zip(&ciphertexts)
        .map(|(m, c)| (m.as_slice(), Tag::Message, c.as_slice()))
        .chain([(&[][..], Tag::Final, fin.as_slice())]);
    for (i, (m, tag, want)) in steps.enumerate() {
        let mut c = Vec::new();
        push.push(m, tag, &mut c);
        expect(&format!("ciphertext {i}"), &c, want)?;
        let mut p = Vec::new();
        let got = pull
            .pull(want, &mut p)
            .map_err(|e| format!("pull {i}: {e}"))?;
        if got != tag || p != m {
            return Err(format!("pull {i} returned another tag or plaintext"));
        }
    }
    Ok(())
}
