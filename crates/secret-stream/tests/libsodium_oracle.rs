//! Differential test of [`secretstream`](plures_secret_stream::secretstream) against
//! libsodium (through `sodium-native` in `testnet/node_modules`, driven by
//! `testnet/interop/secretstream-oracle.mjs`): every ciphertext byte-identical for all
//! padding classes and tags, including REKEY tags and the implicit rekey when the 32-bit
//! counter wraps (forced by setting the counter in both states).
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.
//! (`libsodium-sys-stable` would need `unsafe` FFI in a test, which the workspace's
//! `forbid(unsafe_code)` rules out.)

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use plures_secret_stream::secretstream::{Pull, Push, Tag};
use serde_json::{Value, json};

fn testnet() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testnet");
    if !dir.join("node_modules/sodium-native").is_dir() {
        println!(
            "skipping: {} has no node_modules (run npm install there)",
            dir.display()
        );
        return None;
    }
    if !Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        println!("skipping: `node` is not on PATH");
        return None;
    }
    Some(dir)
}

struct Case {
    header: [u8; 24],
    counter: Option<u32>,
    msgs: Vec<(Vec<u8>, u8)>,
}

fn cases() -> Vec<Case> {
    let lens = [0usize, 1, 15, 16, 17, 31, 47, 48, 63, 64, 65, 1000, 65539];
    let mut x: u32 = 0x1234_5678;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mut out = Vec::new();
    for (i, counter) in [None, Some(u32::MAX - 3), Some(u32::MAX), Some(0x8000_0000)]
        .into_iter()
        .enumerate()
    {
        let mut header = [0u8; 24];
        header.iter_mut().for_each(|b| *b = next() as u8);
        let msgs = lens
            .iter()
            .map(|&len| {
                let m: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                // Mostly MESSAGE, some PUSH/REKEY/FINAL and one odd tag byte.
                let tag = match next() % 8 {
                    0 => 1,
                    1 => 2,
                    2 => 3,
                    3 if i == 3 => 0x16,
                    _ => 0,
                };
                (m, tag)
            })
            .collect();
        out.push(Case {
            header,
            counter,
            msgs,
        });
    }
    out
}

#[test]
fn secretstream_matches_libsodium() {
    let Some(dir) = testnet() else { return };
    let key = [0x42u8; 32];
    let cases = cases();
    let input = json!({
        "key": hex::encode(key),
        "cases": cases.iter().map(|c| json!({
            "header": hex::encode(c.header),
            "counter": c.counter,
            "msgs": c.msgs.iter().map(|(m, t)| json!({"m": hex::encode(m), "tag": t})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    });
    let mut child = Command::new("node")
        .current_dir(&dir)
        .arg("interop/secretstream-oracle.mjs")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn node");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.to_string().as_bytes())
        .expect("write stdin");
    let output = child.wait_with_output().expect("node output");
    assert!(output.status.success(), "oracle failed");
    let got: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    for (i, (case, want)) in cases
        .iter()
        .zip(got["cases"].as_array().expect("cases"))
        .enumerate()
    {
        let mut push = Push::new(&key, case.header);
        let mut pull = Pull::new(&key, &case.header);
        if let Some(c) = case.counter {
            push.set_counter_for_test(c);
            pull.set_counter_for_test(c);
        }
        for (j, (m, tag)) in case.msgs.iter().enumerate() {
            let mut c = Vec::new();
            push.push(m, Tag::from_byte(*tag), &mut c);
            let lib = hex::decode(want["ciphertexts"][j].as_str().expect("hex")).expect("hex");
            assert_eq!(c, lib, "case {i} message {j} (len {}, tag {tag})", m.len());
            assert_eq!(want["pulled"][j]["tag"], *tag);
            let mut p = Vec::new();
            assert_eq!(pull.pull(&lib, &mut p), Ok(Tag::from_byte(*tag)));
            assert_eq!(&p, m);
        }
    }
}
