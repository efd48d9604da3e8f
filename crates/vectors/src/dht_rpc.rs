//! The `dht-rpc` suite: node ids, tokens, and request/response packets recorded from the
//! reference's `IO` class, checked with `plures-dht-rpc`.
//!
//! Requests are checked by encoding the input and decoding the bytes back to it; responses
//! by decoding the bytes, comparing every field the input determines (tid, destination,
//! server id, the token derived from the secret, the closer nodes of the server's table),
//! the reply value against the reference's own decoding (`decoded.value`, since a value
//! comes from the application handler, not the input), and re-encoding to the same bytes.
//! The crate's own tests (`crates/dht-rpc/tests/reference_vectors.rs`) compare the full
//! `decoded` objects.

use std::net::{Ipv4Addr, SocketAddrV4};

use plures_compact::Encode;
use plures_dht_rpc::wire::{Packet, Request, Response};
use plures_dht_rpc::{NodeId, error_code, token, validate_id};
use serde_json::Value;

use crate::hexutil::{from_hex, to_hex};
use crate::model::Vector;
use crate::report::Outcome;

const NODE_ID: &str = "dht-rpc lib/peer.js id(host, port)";
const TOKEN: &str = "dht-rpc IO.token(addr, i)";
const REQUEST: &str = "dht-rpc IO.createRequest + Request._encodeRequest";
const RESPONSE: &str =
    "dht-rpc Request.reply / Request.error / Request.sendReply -> Request._sendReply";
const AUTO_INVALID_TOKEN: &str =
    "dht-rpc IO.onmessage -> req.error(INVALID_TOKEN, { token: true })";
const VALIDATE_ID: &str = "dht-rpc Request.decode + validateId";

type Check = Result<(), String>;

/// Runs one vector of the suite.
pub(crate) fn run(v: &Vector) -> Outcome {
    let result = match v.func.as_str() {
        NODE_ID => node_id(v),
        TOKEN => token_vector(v),
        REQUEST => request(v),
        RESPONSE | AUTO_INVALID_TOKEN => match response(v, v.func == AUTO_INVALID_TOKEN) {
            // A reply value comes from the application handler, so only the reference's
            // own decoding (`decoded.value`) says what it must be.
            Ok(Some(value)) => match v.decoded.as_ref().and_then(|d| d.get("value")) {
                Some(Value::String(want)) => expect_eq("value", to_hex(&value), want.clone()),
                Some(other) => Err(format!(
                    "decoded {} but the reference says {other}",
                    to_hex(&value)
                )),
                None => {
                    return Outcome::Unsupported(
                        "the reply carries a value but the vector records no `decoded.value`"
                            .into(),
                    );
                }
            },
            Ok(None) => match v.decoded.as_ref().and_then(|d| d.get("value")) {
                None | Some(Value::Null) => Ok(()),
                Some(want) => Err(format!("no value decoded but the reference says {want}")),
            },
            Err(why) => Err(why),
        },
        VALIDATE_ID => id_mismatch(v),
        other => return Outcome::Unsupported(format!("no dht-rpc check for `{other}`")),
    };
    match result {
        Ok(()) => Outcome::Pass,
        Err(why) => Outcome::Fail(why),
    }
}

fn addr(v: &Value) -> Result<SocketAddrV4, String> {
    let host: Ipv4Addr = v
        .get("host")
        .and_then(Value::as_str)
        .ok_or("address has no host")?
        .parse()
        .map_err(|_| "host is not IPv4")?;
    let port = v
        .get("port")
        .and_then(Value::as_u64)
        .and_then(|p| u16::try_from(p).ok())
        .ok_or("address has no port")?;
    Ok(SocketAddrV4::new(host, port))
}

fn bytes32(v: &Value, what: &str) -> Result<Option<[u8; 32]>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let b = v
        .as_str()
        .and_then(from_hex)
        .ok_or(format!("{what} is not hex"))?;
    b.try_into()
        .map(Some)
        .map_err(|_| format!("{what} is not 32 bytes"))
}

fn required32(v: &Value, what: &str) -> Result<[u8; 32], String> {
    bytes32(v, what)?.ok_or(format!("no {what}"))
}

fn opt_bytes(v: &Value, what: &str) -> Result<Option<Vec<u8>>, String> {
    if v.is_null() {
        return Ok(None);
    }
    v.as_str()
        .and_then(from_hex)
        .map(Some)
        .ok_or(format!("{what} is not hex"))
}

fn vector_bytes(v: &Vector) -> Result<Vec<u8>, String> {
    v.hex
        .as_deref()
        .and_then(from_hex)
        .ok_or_else(|| "vector has no hex".into())
}

fn num(v: &Value, what: &str) -> Result<u64, String> {
    v.as_u64().ok_or(format!("{what} is not a number"))
}

fn expect_eq<T: PartialEq + std::fmt::Debug>(what: &str, got: T, want: T) -> Check {
    if got == want {
        Ok(())
    } else {
        Err(format!("{what} is {got:?}, the reference says {want:?}"))
    }
}

fn node_id(v: &Vector) -> Check {
    let a = addr(&v.input)?;
    let want = v
        .output
        .as_ref()
        .and_then(|o| o.get("id"))
        .and_then(Value::as_str)
        .ok_or("no output.id")?;
    expect_eq("id", NodeId::from_addr(a).to_string().as_str(), want)
}

fn token_vector(v: &Vector) -> Check {
    let host: Ipv4Addr = v
        .input
        .get("host")
        .and_then(Value::as_str)
        .ok_or("no input.host")?
        .parse()
        .map_err(|_| "input.host is not IPv4")?;
    let secret = required32(&v.input["secret"], "input.secret")?;
    let want = v
        .output
        .as_ref()
        .and_then(|o| o.get("token"))
        .and_then(Value::as_str)
        .ok_or("no output.token")?;
    expect_eq("token", to_hex(&token(host, &secret)).as_str(), want)
}

fn request(v: &Vector) -> Check {
    let i = &v.input;
    let value = opt_bytes(&i["value"], "input.value")?;
    let built = Request {
        tid: u16::try_from(num(&i["tid"], "input.tid")?).map_err(|_| "tid above 65535")?,
        to: addr(&i["to"])?,
        id: bytes32(&i["id"], "input.id")?.map(NodeId),
        token: bytes32(&i["token"], "input.token")?,
        internal: i["internal"]
            .as_bool()
            .ok_or("input.internal is not a bool")?,
        command: num(&i["command"], "input.command")?,
        target: bytes32(&i["target"], "input.target")?.map(NodeId),
        value: value.as_deref(),
    };
    let wire = vector_bytes(v)?;
    let encoded = built.to_bytes().map_err(|e| e.to_string())?;
    expect_eq("encoding", to_hex(&encoded), to_hex(&wire))?;
    match Packet::decode(&wire).map_err(|e| e.to_string())? {
        Packet::Request(decoded) => expect_eq("decoded request", decoded, built),
        Packet::Response(_) => Err("decodes as a response".into()),
    }
}

/// Checks a response; `Ok(true)` means it carries a value the input does not determine.
fn response(v: &Vector, invalid_token: bool) -> Result<Option<Vec<u8>>, String> {
    let i = &v.input;
    let wire = vector_bytes(v)?;
    let r: Response<'_> = match Packet::decode(&wire).map_err(|e| e.to_string())? {
        Packet::Response(r) => r,
        Packet::Request(_) => return Err("decodes as a request".into()),
    };
    if let Some(tid) = i.get("tid") {
        expect_eq("tid", u64::from(r.tid), num(tid, "input.tid")?)?;
    }
    if let Some(to) = i.get("to") {
        expect_eq("to", r.to, addr(to)?)?;
    }
    let server = required32(&i["serverId"], "input.serverId")?;
    expect_eq("id", r.id.map(|id| id.0), Some(server))?;
    let secret1 = required32(&i["secret1"], "input.secret1")?;
    if let Some(t) = r.token {
        expect_eq("token", to_hex(&t), to_hex(&token(*r.to.ip(), &secret1)))?;
    }
    if let Some(nodes) = &r.closer_nodes {
        let table: Vec<SocketAddrV4> = i["closerNodes"]
            .as_array()
            .ok_or("no input.closerNodes")?
            .iter()
            .map(addr)
            .collect::<Result<_, _>>()?;
        expect_eq("closerNodes", nodes, &table)?;
    }
    if invalid_token {
        expect_eq("error", r.error, error_code::INVALID_TOKEN)?;
        if r.token.is_none() {
            return Err("INVALID_TOKEN reply carries no fresh token".into());
        }
    }
    let encoded = r.to_bytes().map_err(|e| e.to_string())?;
    expect_eq("re-encoding", to_hex(&encoded), to_hex(&wire))?;
    Ok(r.value.map(<[u8]>::to_vec))
}

/// The recorded expectation (`fromId: null`, tid, command) is in `decoded`, which the model
/// drops; the check applies the spec's rule to the input and refuses any other claim.
fn id_mismatch(v: &Vector) -> Check {
    if v.output.as_ref().is_some_and(|o| !o.is_null()) {
        return Err("an `output` claim is not understood for this function".into());
    }
    let wire = v
        .input
        .get("hex")
        .and_then(Value::as_str)
        .and_then(from_hex)
        .ok_or("no input.hex")?;
    let from = addr(&v.input["from"])?;
    let packet = Packet::decode(&wire).map_err(|e| e.to_string())?;
    let carried = packet.id().ok_or("the packet carries no id")?;
    if carried == NodeId::from_addr(from) {
        return Err("the carried id is the source's own; not a mismatch".into());
    }
    expect_eq("validated id", validate_id(Some(carried), from), None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vector(value: Value) -> Vector {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn passes_and_fails() {
        let id = json!({
            "name": "t", "fn": NODE_ID,
            "input": { "host": "127.0.0.1", "port": 49737 },
            "output": { "id": "d1dcf835b0d62b9230c41393cb96a34f5f8b9f814f421ca3382dfc1678022e0e" }
        });
        assert_eq!(run(&vector(id.clone())), Outcome::Pass);
        let mut wrong = id;
        wrong["input"]["port"] = json!(49738);
        assert!(matches!(run(&vector(wrong)), Outcome::Fail(_)));

        let ping = json!({
            "name": "p", "fn": REQUEST,
            "input": { "tid": 0, "to": { "host": "127.0.0.1", "port": 49737 }, "id": null,
                       "token": null, "internal": true, "command": 0, "target": null,
                       "value": null },
            "hex": "030400007f00000149c200"
        });
        assert_eq!(run(&vector(ping.clone())), Outcome::Pass);
        let mut wrong = ping;
        wrong["input"]["internal"] = json!(false);
        assert!(matches!(run(&vector(wrong)), Outcome::Fail(_)));

        let other = json!({ "name": "x", "fn": "dht-rpc something else" });
        assert!(matches!(run(&vector(other)), Outcome::Unsupported(_)));
    }
}
