//! Differential test of [`secretstream`](plures_secret_stream::secretstream) against
//! libsodium (through `sodium-native` in `testnet/node_modules`, driven by
//! `testnet/interop/secretstream-oracle.mjs`): every ciphertext byte-identical for all
//! padding classes and tags, including REKEY tags and the implicit rekey when the 32-bit
//! counter wraps (forced by setting the counter in both states). Both backends are
//! checked: the active `secretstream::{Push, Pull}` (libsodium with the `libsodium`
//! feature) and the pure-Rust `secretstream::portable`.
//!
//! Skipped (with a printed reason) when `node` or `testnet/node_modules` is missing.
//! With the `libsodium` feature, `tests/backends.rs` also compares the two backends in
//! process (libsodium linked through `plures-sodium-backend`, the crate that holds the FFI).

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use plures_secret_stream::secretstream::{Pull, Push, SecretStreamError, Tag, portable};
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
    // 16383–16385: around the switch from the scalar to the AVX2 Poly1305.
    let lens = [
        0usize, 1, 15, 16, 17, 31, 47, 48, 63, 64, 65, 1000, 16383, 16384, 16385, 65539,
    ];
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
    // The active backend (libsodium with the `libsodium` feature) and the pure-Rust one.
    check::<Active>(&key, &cases, &got);
    check::<Portable>(&key, &cases, &got);
}

/// A push/pull pair of one backend.
trait Pair {
    fn new(key: &[u8; 32], header: [u8; 24]) -> Self;
    fn set_counter(&mut self, c: u32);
    fn push(&mut self, m: &[u8], tag: Tag, out: &mut Vec<u8>);
    fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError>;
}

struct Active(Push, Pull);
struct Portable(portable::Push, portable::Pull);

impl Pair for Active {
    fn new(key: &[u8; 32], header: [u8; 24]) -> Self {
        let pair = Self(Push::new(key, header), Pull::new(key, &header));
        let sodium = cfg!(feature = "libsodium");
        assert_eq!(
            (pair.0.uses_libsodium(), pair.1.uses_libsodium()),
            (sodium, sodium)
        );
        pair
    }
    fn set_counter(&mut self, c: u32) {
        self.0.set_counter_for_test(c);
        self.1.set_counter_for_test(c);
    }
    fn push(&mut self, m: &[u8], tag: Tag, out: &mut Vec<u8>) {
        self.0.push(m, tag, out);
    }
    fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError> {
        self.1.pull(c, out)
    }
}

impl Pair for Portable {
    fn new(key: &[u8; 32], header: [u8; 24]) -> Self {
        Self(
            portable::Push::new(key, header),
            portable::Pull::new(key, &header),
        )
    }
    fn set_counter(&mut self, c: u32) {
        self.0.set_counter_for_test(c);
        self.1.set_counter_for_test(c);
    }
    fn push(&mut self, m: &[u8], tag: Tag, out: &mut Vec<u8>) {
        self.0.push(m, tag, out);
    }
    fn pull(&mut self, c: &[u8], out: &mut Vec<u8>) -> Result<Tag, SecretStreamError> {
        self.1.pull(c, out)
    }
}

fn check<P: Pair>(key: &[u8; 32], cases: &[Case], got: &Value) {
    for (i, (case, want)) in cases
        .iter()
        .zip(got["cases"].as_array().expect("cases"))
        .enumerate()
    {
        let mut pair = P::new(key, case.header);
        if let Some(c) = case.counter {
            pair.set_counter(c);
        }
        for (j, (m, tag)) in case.msgs.iter().enumerate() {
            let mut c = Vec::new();
            pair.push(m, Tag::from_byte(*tag), &mut c);
            let lib = hex::decode(want["ciphertexts"][j].as_str().expect("hex")).expect("hex");
            assert_eq!(c, lib, "case {i} message {j} (len {}, tag {tag})", m.len());
            assert_eq!(want["pulled"][j]["tag"], *tag);
            let mut p = Vec::new();
            assert_eq!(pair.pull(&lib, &mut p), Ok(Tag::from_byte(*tag)));
            assert_eq!(&p, m);
        }
    }
}
