//! Runs test vectors recorded from the JavaScript reference stack through the Rust
//! implementation: the engine behind `plures-sync vectors check` and the vector tests.
//!
//! A vector file (see `docs/vectors-format.md`) names a suite and lists vectors, each a
//! call of a reference function (`fn`) with its input and the bytes, value or error the
//! reference produced. Every vector ends as [`Outcome::Pass`], [`Outcome::Fail`] or, when
//! the implementation does not cover its function yet, [`Outcome::Unsupported`] — never a
//! silent pass.
//!
//! ```no_run
//! let report = plures_vectors::check_paths(&["../shared/reference-vectors".into()]).unwrap();
//! println!("{}", report.render(false));
//! assert_eq!(report.total().failed, 0);
//! ```
#![forbid(unsafe_code)]

mod capture;
mod compact;
mod dht_rpc;
mod hexutil;
mod hyperdht;
mod model;
mod noise;
mod report;
mod secret_stream;
mod udx;

use std::path::{Path, PathBuf};

pub use model::{LoadError, Vector, VectorFile, expand, load};
pub use report::{Counts, Entry, Outcome, Report};

/// Runs one vector of `suite`.
pub fn run_vector(suite: &str, v: &Vector) -> Outcome {
    match suite {
        "compact-encoding" => compact::run(v),
        "udx-wire" => udx::run(v),
        "dht-rpc" => dht_rpc::run(v),
        "noise" => noise::run(v),
        "secret-stream" => secret_stream::run(v),
        "hyperdht-messages" => hyperdht::run_messages(v),
        "hashes-and-signatures" => hyperdht::run_hashes(v),
        "hyperdht-secure-payload" => hyperdht::run_secure_payload(v),
        _ => Outcome::Unsupported(format!("suite `{suite}` is not implemented yet")),
    }
}

/// Runs every vector of one file into `report`.
pub fn check_file(path: &Path, report: &mut Report) -> Result<(), LoadError> {
    let file = load(path)?;
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(suite) = &file.suite {
        for v in &file.vectors {
            report.record(suite, &v.name, run_vector(suite, v));
        }
    } else if !file.datagrams.is_empty() {
        for (i, datagram) in file.datagrams.iter().enumerate() {
            report.record(&stem, &format!("datagram/{i}"), capture::run(datagram));
        }
    } else {
        report
            .skipped
            .push(format!("{}: no suite and no vectors", path.display()));
    }
    Ok(())
}

/// Runs every vector file found under `paths` (files, or directories of `*.json`).
pub fn check_paths(paths: &[PathBuf]) -> Result<Report, LoadError> {
    let mut report = Report::default();
    for path in paths {
        for file in expand(path)? {
            check_file(&file, &mut report)?;
        }
    }
    Ok(report)
}
