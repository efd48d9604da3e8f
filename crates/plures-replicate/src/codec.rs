//! Shared compact-encoding helpers for stamps, strict UTF-8 strings and JSON values.
//!
//! Decoding is total: bad bytes give a [`DecodeError`], never a panic.

use crate::clock::{Hlc, ReplicaId, Stamp};
use plures_compact::{DecodeError, Decoder, Sink};
use serde_json::Value;

/// Writes an HLC as 8 raw little-endian bytes (compact's `uint64` stops at 2^53 - 1, and
/// real HLCs are near 2^57).
pub(crate) fn put_hlc<S: Sink>(s: &mut S, hlc: Hlc) {
    s.raw(&hlc.as_u64().to_le_bytes());
}

/// Reads what [`put_hlc`] wrote.
pub(crate) fn get_hlc(d: &mut Decoder<'_>) -> Result<Hlc, DecodeError> {
    Ok(Hlc::from_u64(u64::from_le_bytes(d.fixed()?)))
}

/// Writes a stamp as its HLC and the 16 replica bytes.
pub(crate) fn put_stamp<S: Sink>(s: &mut S, stamp: Stamp) {
    put_hlc(s, stamp.hlc);
    s.raw(stamp.replica.as_bytes());
}

/// Reads what [`put_stamp`] wrote.
pub(crate) fn get_stamp(d: &mut Decoder<'_>) -> Result<Stamp, DecodeError> {
    let hlc = get_hlc(d)?;
    let replica = ReplicaId(d.fixed()?);
    Ok(Stamp::new(hlc, replica))
}

/// Reads a length-prefixed string, rejecting invalid UTF-8 (unlike the lossy
/// `Decoder::string`, since ids and field names must round-trip exactly).
pub(crate) fn get_str<'a>(d: &mut Decoder<'a>) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(d.buffer()?).map_err(|_| DecodeError::Invalid("utf-8 string"))
}

/// Writes a JSON value as its compact text.
pub(crate) fn put_json<S: Sink>(s: &mut S, value: &Value) {
    s.string(&value.to_string());
}

/// Reads a JSON value; serde_json's recursion limit bounds nesting.
pub(crate) fn get_json(d: &mut Decoder<'_>) -> Result<Value, DecodeError> {
    serde_json::from_slice(d.buffer()?).map_err(|_| DecodeError::Invalid("json value"))
}
