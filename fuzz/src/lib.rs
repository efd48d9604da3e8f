//! Fuzz harnesses for the plures wire decoders.
//!
//! Each fuzz target is a plain `fn(&[u8])` in this library that panics when a property is
//! violated. The binaries in `fuzz_targets/` only hand libFuzzer's input to these functions
//! (when built by `cargo fuzz`, i.e. with `--cfg fuzzing`), and the same functions replay the
//! committed corpora in `tests/replay.rs` under a plain `cargo test`, without libFuzzer.
//!
//! See `docs/fuzzing.md` for what each target asserts and how to add one.

use std::path::{Path, PathBuf};

pub mod compact_ops;
pub mod compact_roundtrip;
pub mod dht_node;
pub mod dht_rpc_packet;
pub mod hyperdht_messages;
pub mod hyperdht_storage;
pub mod noise_handshake;
pub mod replicate_wire;
mod script;
pub mod secret_stream_session;
pub mod udx_endpoint;
pub mod udx_packet;

/// A fuzz target: panics when the input shows a violated property.
pub type Target = fn(&[u8]);

/// Every target, by the name of its binary and its corpus directory.
pub const TARGETS: &[(&str, Target)] = &[
    ("compact_ops", compact_ops::run),
    ("compact_roundtrip", compact_roundtrip::run),
    ("udx_packet", udx_packet::run),
    ("noise_handshake", noise_handshake::run),
    ("dht_rpc_packet", dht_rpc_packet::run),
    ("replicate_wire", replicate_wire::run),
    ("hyperdht_messages", hyperdht_messages::run),
    ("udx_endpoint", udx_endpoint::run),
    ("dht_node", dht_node::run),
    ("secret_stream_session", secret_stream_session::run),
    ("hyperdht_storage", hyperdht_storage::run),
];

/// The target called `name`.
pub fn target(name: &str) -> Option<Target> {
    TARGETS.iter().find(|(n, _)| *n == name).map(|&(_, t)| t)
}

/// The files under `path` (recursively, sorted), or `path` itself if it is a file.
pub fn input_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    if path.is_dir() {
        for entry in std::fs::read_dir(path)? {
            out.extend(input_files(&entry?.path())?);
        }
        out.sort();
    } else {
        out.push(path.to_path_buf());
    }
    Ok(out)
}

/// The `main` of a target binary built without `cargo fuzz`: runs the target over every file
/// named on the command line (directories are walked), so a crash artifact can be reproduced
/// with a plain `cargo run --bin <target> -- <file>`.
pub fn replay_main(name: &str) {
    let Some(run) = target(name) else {
        eprintln!("unknown fuzz target {name}");
        std::process::exit(2);
    };
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    if args.is_empty() {
        eprintln!("usage: {name} FILE_OR_DIR...  (built without cargo-fuzz: replays inputs)");
        std::process::exit(2);
    }
    let mut count = 0usize;
    for arg in &args {
        let files = match input_files(arg) {
            Ok(files) => files,
            Err(e) => {
                eprintln!("{}: {e}", arg.display());
                std::process::exit(2);
            }
        };
        for file in files {
            let data = match std::fs::read(&file) {
                Ok(data) => data,
                Err(e) => {
                    eprintln!("{}: {e}", file.display());
                    std::process::exit(2);
                }
            };
            eprintln!("{name}: {} ({} bytes)", file.display(), data.len());
            run(&data);
            count += 1;
        }
    }
    eprintln!("{name}: {count} inputs ok");
}

/// Lengths of strict prefixes worth trying for an encoding of `len` bytes: all of them for
/// short encodings, otherwise the edges plus an even spread (decoding every prefix of a long
/// input is quadratic and would slow the fuzzer down without finding more).
pub(crate) fn prefix_lengths(len: usize) -> Vec<usize> {
    const ALL_UP_TO: usize = 96;
    const SPREAD: usize = 48;
    if len <= ALL_UP_TO {
        return (0..len).collect();
    }
    let mut out: Vec<usize> = (0..16).chain(len - 16..len).collect();
    out.extend((1..SPREAD).map(|i| i * len / SPREAD));
    out.sort_unstable();
    out.dedup();
    out
}

/// The byte length of a compact `uint` announced by its first byte.
pub(crate) fn uint_form_len(first: u8) -> usize {
    match first {
        0..=0xfc => 1,
        0xfd => 3,
        0xfe => 5,
        0xff => 9,
    }
}

/// The zig-zag mapping of the `int` codecs, written independently of the crate under test.
pub(crate) fn zigzag(n: i64) -> u64 {
    if n >= 0 {
        (n as u64) << 1
    } else {
        ((!n as u64) << 1) | 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_lengths_are_strict_and_sorted() {
        for len in [0, 1, 2, 96, 97, 1000, 5000] {
            let p = prefix_lengths(len);
            assert!(p.iter().all(|&k| k < len));
            assert!(p.windows(2).all(|w| w[0] < w[1]));
            if len > 0 {
                assert_eq!(p[0], 0);
                assert_eq!(*p.last().unwrap(), len - 1);
            }
        }
    }

    #[test]
    fn zigzag_matches_the_spec() {
        let cases = [
            (0, 0),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (2, 4),
            (126, 252),
            (-127, 253),
        ];
        for (n, z) in cases {
            assert_eq!(zigzag(n), z);
        }
        assert_eq!(zigzag(i64::MIN), u64::MAX);
        assert_eq!(zigzag(i64::MAX), u64::MAX - 1);
    }
}
