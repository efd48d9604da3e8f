//! The on-disk format of vector files (see `docs/vectors-format.md`).

use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

/// One vector file: a suite name and its vectors. Files that record a capture instead
/// (`datagrams`) are read as one vector per datagram.
#[derive(Debug, Clone, Deserialize)]
pub struct VectorFile {
    /// The suite, e.g. `compact-encoding`.
    #[serde(default)]
    pub suite: Option<String>,
    /// The vectors.
    #[serde(default)]
    pub vectors: Vec<Vector>,
    /// Datagrams of a recorded session, if this file is a capture.
    #[serde(default)]
    pub datagrams: Vec<Value>,
}

/// One recorded call of a reference function and what it returned.
#[derive(Debug, Clone, Deserialize)]
pub struct Vector {
    /// A name unique within the file.
    pub name: String,
    /// The reference function exercised, e.g. `c.uint.encode`.
    #[serde(rename = "fn")]
    pub func: String,
    /// The arguments.
    #[serde(default)]
    pub input: Value,
    /// The bytes produced, for successful encodes.
    #[serde(default)]
    pub hex: Option<String>,
    /// The value returned (`{"value": ..}`) or the error thrown (`{"error": ".."}`).
    #[serde(default)]
    pub output: Option<Value>,
    /// For protocol exchanges (handshakes): every message in order, with its sender, the
    /// payload it carried and its bytes.
    #[serde(default)]
    pub messages: Vec<Value>,
    /// The reference's own decoding of the produced bytes, where the recorder kept it.
    #[serde(default)]
    pub decoded: Option<Value>,
}

impl Vector {
    /// The error message the reference threw, if it threw.
    pub fn expected_error(&self) -> Option<&str> {
        self.output.as_ref()?.get("error")?.as_str()
    }

    /// The value the reference returned, if the vector records one.
    pub fn expected_value(&self) -> Option<&Value> {
        self.output.as_ref()?.get("value")
    }
}

/// Why a path could not be read as vectors.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file or directory could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("{path} is not a vector file: {source}")]
    Json {
        /// The path.
        path: PathBuf,
        /// The cause.
        source: serde_json::Error,
    },
}

/// Expands a path into vector files: a file stands for itself, a directory for every
/// `*.json` file directly inside it, in name order.
pub fn expand(path: &Path) -> Result<Vec<PathBuf>, LoadError> {
    let io = |source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let p = entry.map_err(io)?.path();
        if p.extension().is_some_and(|e| e == "json") {
            files.push(p);
        }
    }
    files.sort();
    Ok(files)
}

/// Reads one vector file.
pub fn load(path: &Path) -> Result<VectorFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| LoadError::Json {
        path: path.to_path_buf(),
        source,
    })
}
