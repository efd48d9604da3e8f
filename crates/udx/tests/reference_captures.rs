//! Decodes the datagrams recorded from udx-native 1.21.3 (`../shared/reference-vectors`):
//! every UDX datagram must yield exactly the recorded header fields and re-emit to the
//! same bytes, and every other datagram must classify as non-UDX. Skipped when the shared
//! directory is absent.

use std::path::PathBuf;

use plures_udx::wire::{Datagram, Header, Packet, Repr, classify, is_udx};
use serde_json::Value;

fn load(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference-vectors")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).unwrap()),
        Err(_) => {
            eprintln!("skipping: {} is not present", path.display());
            None
        }
    }
}

fn unhex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn uint(obj: &Value, key: &str) -> u64 {
    obj.get(key)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no {key} in {obj}"))
}

/// Checks the fields both captures record; returns the packet for further checks.
fn check_common<'a>(bytes: &'a [u8], want: &Value) -> Packet<&'a [u8]> {
    let Datagram::Udx(p) = classify(bytes) else {
        panic!("not UDX: {want}");
    };
    let h = Header::parse(&p).unwrap();
    assert_eq!(
        u64::from(h.packet_type.bits()),
        uint(want, "type"),
        "{want}"
    );
    assert_eq!(u64::from(h.data_offset), uint(want, "dataOffset"), "{want}");
    assert_eq!(u64::from(h.id), uint(want, "remoteId"), "{want}");
    assert_eq!(u64::from(h.rwnd), uint(want, "recvWindow"), "{want}");
    assert_eq!(u64::from(h.seq), uint(want, "seq"), "{want}");
    assert_eq!(u64::from(h.ack), uint(want, "ack"), "{want}");
    let payload = p.payload().unwrap();
    assert_eq!(payload.len() as u64, uint(want, "payloadLength"), "{want}");

    // Re-emission: the header alone, and the whole datagram from its parsed form.
    assert_eq!(h.to_bytes()[..], bytes[..20]);
    let repr = Repr::parse(&p).unwrap();
    let mut out = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut out), Ok(bytes.len()));
    assert_eq!(out, bytes);
    p
}

#[test]
fn udx_wire_capture() {
    let Some(file) = load("udx-wire.json") else {
        return;
    };
    let mut udx = 0;
    let mut other = 0;
    for v in file["vectors"].as_array().unwrap() {
        for d in v["output"]["datagrams"].as_array().unwrap() {
            let bytes = unhex(d["hex"].as_str().unwrap());
            let want = &d["header"];
            if want.is_null() {
                assert!(!is_udx(&bytes));
                assert_eq!(classify(&bytes), Datagram::Other(&bytes[..]));
                other += 1;
                continue;
            }
            let p = check_common(&bytes, want);
            assert_eq!(u64::from(p.magic()), uint(want, "magic"));
            assert_eq!(u64::from(p.version()), uint(want, "version"));
            let names: Vec<&str> = want["typeNames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            assert_eq!(p.packet_type().names().collect::<Vec<_>>(), names);
            let text = String::from_utf8_lossy(p.payload().unwrap());
            assert_eq!(text, want["payloadText"].as_str().unwrap());
            udx += 1;
        }
    }
    assert!(
        udx >= 10 && other >= 1,
        "{udx} UDX and {other} other datagrams"
    );
}

#[test]
fn hyperdht_connect_capture() {
    let Some(file) = load("capture-hyperdht-connect.json") else {
        return;
    };
    let mut udx = 0;
    let mut other = 0;
    for d in file["datagrams"].as_array().unwrap() {
        let bytes = unhex(d["payload"].as_str().unwrap());
        if d["kind"] == "udx" {
            check_common(&bytes, &d["udx"]);
            udx += 1;
        } else {
            assert!(!is_udx(&bytes), "{} classified as UDX", d["kind"]);
            other += 1;
        }
    }
    assert_eq!(udx, file["counts"]["udx"].as_u64().unwrap());
    assert!(
        udx >= 9 && other >= 80,
        "{udx} UDX and {other} other datagrams"
    );
}
