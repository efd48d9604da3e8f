//! Lowercase hex, as the vector files write bytes.

/// Lowercase hex of `bytes`.
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    hex::encode(bytes)
}

/// Bytes of a hex string, or `None` if it is not hex.
pub(crate) fn from_hex(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}
