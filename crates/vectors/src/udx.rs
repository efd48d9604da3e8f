//! The `udx-wire` suite: datagrams captured between two udx-native streams are decoded
//! with `plures-udx` and compared with the reference's decoded header, then re-emitted
//! and compared byte for byte. Datagrams recorded without a header (raw socket traffic)
//! must classify as non-UDX.

use plures_udx::wire::{Datagram, Header, Packet, Repr, classify};
use serde_json::Value;

use crate::hexutil::{from_hex, to_hex};
use crate::model::Vector;
use crate::report::Outcome;

/// The reference functions whose vectors record a capture in `output.datagrams`.
const CAPTURE_FNS: &[&str] =
    &["udx-native createStream(id).connect(socket, remoteId, port, host); write/send/end"];

/// Runs one vector of the suite.
pub(crate) fn run(v: &Vector) -> Outcome {
    if !CAPTURE_FNS.contains(&v.func.as_str()) {
        return Outcome::Unsupported(format!("no udx-wire check for `{}`", v.func));
    }
    let Some(datagrams) = v
        .output
        .as_ref()
        .and_then(|o| o.get("datagrams"))
        .and_then(Value::as_array)
    else {
        return Outcome::Fail("vector has no output.datagrams".into());
    };
    if datagrams.is_empty() {
        return Outcome::Fail("output.datagrams is empty".into());
    }
    for (i, d) in datagrams.iter().enumerate() {
        if let Err(why) = check_datagram(d) {
            return Outcome::Fail(format!("datagram {i}: {why}"));
        }
    }
    Outcome::Pass
}

fn check_datagram(d: &Value) -> Result<(), String> {
    let hex = d.get("hex").and_then(Value::as_str).ok_or("no hex field")?;
    let bytes = from_hex(hex).ok_or("hex field is not hex")?;
    let want = d.get("header").unwrap_or(&Value::Null);
    match (classify(&bytes), want.is_null()) {
        (Datagram::Other(_), true) => Ok(()),
        (Datagram::Udx(_), true) => Err("recorded as raw, decodes as UDX".into()),
        (Datagram::Other(_), false) => Err("recorded as UDX, classified as non-UDX".into()),
        (Datagram::Udx(p), false) => check_packet(&p, want),
    }
}

fn check_packet(p: &Packet<&[u8]>, want: &Value) -> Result<(), String> {
    let header = Header::parse(p).map_err(|e| e.to_string())?;
    let payload = p.payload().map_err(|e| e.to_string())?;
    let fields = [
        ("magic", u64::from(p.magic())),
        ("version", u64::from(p.version())),
        ("type", u64::from(header.packet_type.bits())),
        ("dataOffset", u64::from(header.data_offset)),
        ("remoteId", u64::from(header.id)),
        ("recvWindow", u64::from(header.rwnd)),
        ("seq", u64::from(header.seq)),
        ("ack", u64::from(header.ack)),
        ("payloadLength", payload.len() as u64),
    ];
    for (key, got) in fields {
        match want.get(key).and_then(Value::as_u64) {
            Some(w) if w == got => {}
            Some(w) => return Err(format!("{key} is {got}, the reference says {w}")),
            None => return Err(format!("header has no numeric {key}")),
        }
    }

    let names: Vec<&str> = header.packet_type.names().collect();
    let want_names: Option<Vec<&str>> = want
        .get("typeNames")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().map(Value::as_str).collect());
    match want_names {
        Some(w) if w == names => {}
        Some(w) => return Err(format!("typeNames are {names:?}, the reference says {w:?}")),
        None => return Err("header has no typeNames list".into()),
    }

    if let Some(w) = want.get("payloadText").and_then(Value::as_str) {
        let text = String::from_utf8_lossy(payload);
        if text != w {
            return Err(format!(
                "payload text is {text:?}, the reference says {w:?}"
            ));
        }
    }

    let bytes = p.as_bytes();
    let repr = Repr::parse(p).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(repr.buffer_len());
    repr.emit_to_vec(&mut out).map_err(|e| e.to_string())?;
    if out != bytes {
        return Err(format!(
            "re-emitted {} instead of {}",
            to_hex(&out),
            to_hex(bytes)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn vector(func: &str, datagrams: Value) -> Vector {
        serde_json::from_value(json!({
            "name": "t",
            "fn": func,
            "output": { "datagrams": datagrams },
        }))
        .unwrap()
    }

    fn message() -> Value {
        json!({
            "hex": "ff010800020000000000400001000000000000006d7367",
            "header": {
                "magic": 255, "version": 1, "type": 8, "typeNames": ["MESSAGE"],
                "dataOffset": 0, "remoteId": 2, "recvWindow": 4194304, "seq": 1, "ack": 0,
                "payloadLength": 3, "payloadText": "msg"
            }
        })
    }

    #[test]
    fn passes_and_fails() {
        let raw = json!({ "hex": "7261772d646174616772616d", "header": null });
        let good = vector(CAPTURE_FNS[0], json!([message(), raw]));
        assert_eq!(run(&good), Outcome::Pass);

        for (key, value) in [
            ("seq", json!(2)),
            ("typeNames", json!(["DATA"])),
            ("payloadText", json!("msh")),
            ("payloadLength", json!(4)),
        ] {
            let mut d = message();
            d["header"][key] = value;
            assert!(
                matches!(run(&vector(CAPTURE_FNS[0], json!([d]))), Outcome::Fail(_)),
                "{key}"
            );
        }
        let mut d = message();
        d["header"].as_object_mut().unwrap().remove("ack");
        assert!(matches!(
            run(&vector(CAPTURE_FNS[0], json!([d]))),
            Outcome::Fail(_)
        ));

        let claimed = json!({ "hex": "7261772d646174616772616d", "header": message()["header"] });
        assert!(matches!(
            run(&vector(CAPTURE_FNS[0], json!([claimed]))),
            Outcome::Fail(_)
        ));
        let unrecorded = json!({ "hex": message()["hex"], "header": null });
        assert!(matches!(
            run(&vector(CAPTURE_FNS[0], json!([unrecorded]))),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            run(&vector(CAPTURE_FNS[0], json!([]))),
            Outcome::Fail(_)
        ));
        assert!(matches!(
            run(&vector("udx-native something else", json!([message()]))),
            Outcome::Unsupported(_)
        ));
    }
}
