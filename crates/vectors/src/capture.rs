//! Captured sessions (`capture-*.json`): every datagram of one real JS session, with the
//! reference's own decoding. Each datagram is classified the way a shared socket must (UDX
//! packet, dht-rpc request or response, 1-byte holepunch probe), decoded with the Rust
//! codecs, compared field by field with the recording, and re-encoded to the same bytes.

use std::net::SocketAddrV4;

use plures_compact::Encode;
use plures_dht_rpc::wire::{Packet as DhtPacket, Request, Response};
use plures_udx::wire::{Datagram, Repr, classify};
use serde_json::Value;

use crate::hexutil::{from_hex, to_hex};
use crate::report::Outcome;

type Check = Result<(), String>;

fn expect<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!(
            "{what}: decoded {got:?}, the reference says {want:?}"
        ))
    }
}

/// The recorded hex of an optional byte field (`null` when absent).
fn opt_hex(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn addr(v: &Value, what: &str) -> Result<SocketAddrV4, String> {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{what} is not host:port"))
}

/// Checks one captured datagram.
pub(crate) fn run(datagram: &Value) -> Outcome {
    let Some(bytes) = datagram["payload"].as_str().and_then(from_hex) else {
        return Outcome::Fail("datagram without hex payload".into());
    };
    let result = match datagram["kind"].as_str() {
        Some("udx") => udx(&bytes, &datagram["udx"]),
        Some("dht-request") => dht_request(&bytes, &datagram["request"]),
        Some("dht-response") => dht_response(&bytes, &datagram["response"]),
        Some("holepunch-probe") => probe(&bytes),
        other => return Outcome::Unsupported(format!("datagram kind {other:?}")),
    };
    match result {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

fn udx(bytes: &[u8], want: &Value) -> Check {
    let Datagram::Udx(packet) = classify(bytes) else {
        return Err("not classified as UDX".into());
    };
    let num = |k: &str| want[k].as_u64().ok_or_else(|| format!("udx.{k} missing"));
    expect("type", u64::from(packet.packet_type().bits()), num("type")?)?;
    expect(
        "dataOffset",
        u64::from(packet.data_offset()),
        num("dataOffset")?,
    )?;
    expect("remoteId", u64::from(packet.id()), num("remoteId")?)?;
    expect("recvWindow", u64::from(packet.rwnd()), num("recvWindow")?)?;
    expect("seq", u64::from(packet.seq()), num("seq")?)?;
    expect("ack", u64::from(packet.ack()), num("ack")?)?;
    let payload = packet.payload().map_err(|e| e.to_string())?;
    expect("payloadLength", payload.len() as u64, num("payloadLength")?)?;
    let repr = Repr::parse(&packet).map_err(|e| e.to_string())?;
    let mut out = vec![0u8; repr.buffer_len()];
    let n = repr.emit(&mut out).map_err(|e| e.to_string())?;
    expect("re-encoding", to_hex(&out[..n]), to_hex(bytes))
}

fn common(want: &Value, tid: u16, to: SocketAddrV4, id: Option<[u8; 32]>) -> Check {
    let tid_want = want["tid"].as_u64().ok_or("tid missing")?;
    expect("tid", u64::from(tid), tid_want)?;
    expect("to", to, addr(&want["to"], "to")?)?;
    expect("id", id.map(|i| to_hex(&i)), opt_hex(&want["id"]))
}

fn dht_request(bytes: &[u8], want: &Value) -> Check {
    let r: Request<'_> = match DhtPacket::decode(bytes).map_err(|e| e.to_string())? {
        DhtPacket::Request(r) => r,
        DhtPacket::Response(_) => return Err("decodes as a response".into()),
    };
    common(want, r.tid, r.to, r.id.map(|i| *i.as_bytes()))?;
    expect(
        "flags",
        r.flags(),
        want["flags"].as_u64().ok_or("flags missing")?,
    )?;
    expect(
        "token",
        r.token.map(|t| to_hex(&t)),
        opt_hex(&want["token"]),
    )?;
    expect("internal", Some(r.internal), want["internal"].as_bool())?;
    expect("command", Some(r.command), want["command"].as_u64())?;
    expect(
        "target",
        r.target.map(|t| to_hex(t.as_bytes())),
        opt_hex(&want["target"]),
    )?;
    expect("value", r.value.map(to_hex), opt_hex(&want["value"]))?;
    let again = r.to_bytes().map_err(|e| e.to_string())?;
    expect("re-encoding", to_hex(&again), to_hex(bytes))
}

fn dht_response(bytes: &[u8], want: &Value) -> Check {
    let r: Response<'_> = match DhtPacket::decode(bytes).map_err(|e| e.to_string())? {
        DhtPacket::Response(r) => r,
        DhtPacket::Request(_) => return Err("decodes as a request".into()),
    };
    common(want, r.tid, r.to, r.id.map(|i| *i.as_bytes()))?;
    expect(
        "flags",
        r.flags(),
        want["flags"].as_u64().ok_or("flags missing")?,
    )?;
    expect(
        "token",
        r.token.map(|t| to_hex(&t)),
        opt_hex(&want["token"]),
    )?;
    let closer = match want["closerNodes"].as_array() {
        None => None,
        Some(list) => Some(
            list.iter()
                .map(|a| addr(a, "closerNodes[]"))
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    expect("closerNodes", r.closer_nodes.clone(), closer)?;
    expect("error", Some(r.error), want["error"].as_u64())?;
    expect("value", r.value.map(to_hex), opt_hex(&want["value"]))?;
    let again = r.to_bytes().map_err(|e| e.to_string())?;
    expect("re-encoding", to_hex(&again), to_hex(bytes))
}

/// A holepunch probe is one byte: not UDX, and too short for dht-rpc, which ignores it.
fn probe(bytes: &[u8]) -> Check {
    expect("probe length", bytes.len(), 1)?;
    if matches!(classify(bytes), Datagram::Udx(_)) {
        return Err("a probe classified as UDX".into());
    }
    if DhtPacket::decode(bytes).is_ok() {
        return Err("a probe decoded as a dht-rpc packet".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Spec U1: A's first DATA "hello" to stream 2.
    fn u1() -> Value {
        json!({
            "kind": "udx",
            "payload": "ff0101000200000000004000000000000000000068656c6c6f",
            "udx": { "type": 1, "dataOffset": 0, "remoteId": 2, "recvWindow": 4194304,
                     "seq": 0, "ack": 0, "payloadLength": 5 }
        })
    }

    #[test]
    fn recorded_fields_must_all_match() {
        assert_eq!(run(&u1()), Outcome::Pass);
        for (field, value) in [
            ("seq", 1),
            ("remoteId", 3),
            ("payloadLength", 4),
            ("type", 0),
        ] {
            let mut bad = u1();
            bad["udx"][field] = json!(value);
            assert!(matches!(run(&bad), Outcome::Fail(_)), "{field} tampered");
        }
        let mut probe = json!({ "kind": "holepunch-probe", "payload": "00" });
        assert_eq!(run(&probe), Outcome::Pass);
        probe["payload"] = json!("0000");
        assert!(matches!(run(&probe), Outcome::Fail(_)));
        let mut as_dht = u1();
        as_dht["kind"] = json!("dht-request");
        assert!(matches!(run(&as_dht), Outcome::Fail(_)));
    }
}
