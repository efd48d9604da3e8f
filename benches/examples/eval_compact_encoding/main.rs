//! Evaluates the datrs `compact-encoding` crate (Rust registry, 2.x) against the reference vectors
//! recorded from the JS `compact-encoding` 3.5.2 and against `shared/spec/compact-encoding.md`,
//! side by side with `plures-compact`. Findings: `docs/decisions.md`.
//!
//! ```text
//! cargo run --release -p plures-benches --example eval_compact_encoding
//! ```
//!
//! `CE_VECTORS` overrides the vector file (default:
//! `<workspace>/../shared/reference-vectors/compact-encoding.json`).
//!
//! Sections:
//! 1. every reference vector the datrs crate can express, through datrs and through ours;
//! 2. spec-derived probes the vector file does not cover (range, array limit, UTF-8, ...);
//! 3. allocation behaviour of single decodes (borrowing, allocating errors);
//! 4. totality: adversarial and a few thousand seeded pseudo-random inputs fed to every
//!    decoder of both crates inside `catch_unwind`, with the bytes each decode allocated
//!    (counting global allocator). Each decoder runs in a child process (this binary with
//!    `--child`), because a failed allocation aborts the process, which `catch_unwind`
//!    cannot catch; the parent counts such aborts and resumes after the input that caused it.

use std::fmt::{self, Debug};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};

use compact_encoding::{CompactEncoding, FixedWidthEncoding, FixedWidthU32, FixedWidthU64};
use peak_alloc::PeakAlloc;
use plures_compact::{Decoder, Encoder, Sink, encode_bitfield};
use serde_json::Value;

mod alloc;
mod helpers;
mod probes;
mod totality;
mod vectors;

use alloc::*;
use helpers::*;
use probes::*;
use totality::*;
use vectors::*;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let idx = args[3].parse().expect("decoder index");
        let start = args[4].parse().expect("start");
        child(&args[2], idx, start);
        return;
    }
    println!("# datrs compact-encoding vs plures-compact\n");
    let (vd, vo) = section_vectors();
    let (pd, po) = section_probes();
    section_alloc();
    let (td, to) = section_totality();
    println!("## Summary\n");
    println!("- reference vectors: datrs {vd}; plures-compact {vo}");
    println!("- spec probes: datrs {pd}; plures-compact {po}");
    println!("- totality: datrs {td} decodes panicked or aborted the process; plures-compact {to}");
}
