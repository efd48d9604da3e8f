//! Helpers shared by the integration tests.
#![allow(dead_code)]

/// The JSON conversions and per-vector checks are the vector checker's own
/// (`plures-vectors`), shared here by path so the two never drift apart.
#[path = "../../../vectors/src/hyperdht/js.rs"]
pub(crate) mod js;

use std::path::PathBuf;

use serde_json::Value;

/// The recorded vector file `name`, or `None` (with a message) when the shared vectors
/// are not checked out next to the workspace.
pub(crate) fn load(name: &str) -> Option<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/reference-vectors")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(serde_json::from_str(&text).expect("vector file is JSON")),
        Err(e) => {
            eprintln!("skipping: {} not readable ({e})", path.display());
            None
        }
    }
}
