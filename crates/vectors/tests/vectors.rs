//! The vector suites as tests: every vector recorded from the JS reference (ours in
//! `vectors/`, and the independent set in `../shared/reference-vectors` when present)
//! must pass, and suites whose layer is implemented must have no unsupported vector.

use std::path::{Path, PathBuf};

use plures_vectors::{Outcome, Report, check_paths, load, run_vector};

/// Suites whose layer is implemented: an unsupported vector there is a failure.
const COMPLETE_SUITES: &[&str] = &[
    "compact-encoding",
    "udx-wire",
    "noise",
    "secret-stream",
    "dht-rpc",
    "hyperdht-messages",
    "hashes-and-signatures",
    "hyperdht-secure-payload",
    "capture-hyperdht-connect",
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn shared_vectors() -> Option<PathBuf> {
    let dir = repo().join("../shared/reference-vectors");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is not present", dir.display());
        None
    }
}

fn assert_clean(report: &Report) {
    let failures: Vec<_> = report.failures().collect();
    assert!(failures.is_empty(), "failing vectors: {failures:#?}");
    for suite in COMPLETE_SUITES {
        if let Some(c) = report.suites.get(*suite) {
            assert_eq!(
                c.unsupported,
                0,
                "{suite} has unsupported vectors: {}",
                report.render(true)
            );
        }
    }
}

#[test]
fn own_vectors_pass() {
    let report = check_paths(&[repo().join("vectors")]).unwrap();
    println!("{}", report.render(false));
    let compact = report
        .suites
        .get("compact-encoding")
        .copied()
        .unwrap_or_default();
    assert!(
        compact.passed >= 200,
        "vectors/compact-encoding.json is missing or small: {compact}"
    );
    assert_clean(&report);
}

#[test]
fn shared_reference_vectors_pass() {
    let Some(dir) = shared_vectors() else { return };
    let report = check_paths(&[dir]).unwrap();
    println!("{}", report.render(false));
    assert!(report.suites["compact-encoding"].passed >= 76);
    assert_clean(&report);
}

/// The checker must be able to fail: altering any expected byte or value of a vector that
/// passes turns it into a failure.
#[test]
fn tampered_vectors_fail() {
    let dirs: Vec<PathBuf> = std::iter::once(repo().join("vectors"))
        .chain(shared_vectors())
        .collect();
    let mut checked = 0;
    for dir in dirs {
        for path in plures_vectors::expand(&dir).unwrap() {
            let file = load(&path).unwrap();
            let Some(suite) = file.suite.as_deref() else {
                continue;
            };
            for v in &file.vectors {
                // Quirk vectors pass when Rust refuses the input, whatever the bytes say.
                if v.name.starts_with("js-quirk/") || run_vector(suite, v) != Outcome::Pass {
                    continue;
                }
                let mut bad = v.clone();
                if let Some(hex) = &v.hex {
                    // Flip the last hex digit, or add a byte to an empty encoding.
                    let mut h = hex.clone();
                    bad.hex = Some(match h.pop() {
                        Some(c) => format!("{h}{}", if c == '0' { '1' } else { '0' }),
                        None => "00".into(),
                    });
                } else if let Some(value) = v.expected_value() {
                    bad.output = Some(serde_json::json!({ "value": [value, "tampered"] }));
                } else {
                    // An expected error: claim a value instead.
                    bad.output = Some(serde_json::json!({ "value": "tampered" }));
                }
                assert!(
                    matches!(run_vector(suite, &bad), Outcome::Fail(_)),
                    "tampered {}/{} still passes",
                    suite,
                    v.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 76, "only {checked} vectors tampered");
}
