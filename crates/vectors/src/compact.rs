//! The `compact-encoding` suite: runs each vector's value through `plures-compact` and
//! compares bytes (encode) or the decoded value in the reference's JSON form (decode).

mod enc;
mod value;

use plures_compact::{DecodeError, Decoder, Encoder};
use serde_json::Value;

use crate::hexutil::{from_hex, to_hex};
use crate::model::Vector;
use crate::report::Outcome;
use enc::{Call, parse_call};

/// Runs one vector of the suite.
pub(crate) fn run(v: &Vector) -> Outcome {
    let Some(call) = parse_call(&v.func) else {
        return Outcome::Unsupported(format!("no codec for `{}`", v.func));
    };
    match call {
        Call::Encode(module, enc) => {
            let Some(input) = encode_input(v) else {
                return Outcome::Fail("vector has no input value".into());
            };
            let mut e = Encoder::new();
            let result = value::encode(&mut e, &enc, module, input)
                .map_err(|e| e.to_string())
                .and_then(|()| e.finish().map_err(|e| e.to_string()));
            if v.name.starts_with(QUIRK) {
                return compare_quirk(v, result);
            }
            compare_encode(v, result)
        }
        Call::Decode(_, enc) => {
            let Some(hex) = v.input.get("hex").and_then(Value::as_str) else {
                return Outcome::Fail("decode vector without input.hex".into());
            };
            let Some(bytes) = from_hex(hex) else {
                return Outcome::Fail("input.hex is not hex".into());
            };
            let result = value::decode(&mut Decoder::new(&bytes), &enc);
            compare_decode(v, result)
        }
    }
}

/// Vectors under this name prefix record JS encoders accepting a value that does not fit
/// (truncating, rounding or parsing leniently). The typed Rust API refuses such values on
/// purpose (see docs/decisions.md), so refusing is a pass; producing other bytes is not.
const QUIRK: &str = "js-quirk/";

fn compare_quirk(v: &Vector, got: Result<Vec<u8>, String>) -> Outcome {
    match got {
        Err(_) => Outcome::Pass,
        Ok(bytes) if v.hex.as_deref() == Some(to_hex(&bytes).as_str()) => Outcome::Pass,
        Ok(bytes) => Outcome::Fail(format!("quirk input encoded as {}", to_hex(&bytes))),
    }
}

/// The value to encode: `input.value`, or the input itself for address vectors that give
/// `host` and `port` directly.
fn encode_input(v: &Vector) -> Option<&Value> {
    match v.input.get("value") {
        Some(value) => Some(value),
        None if v.input.get("host").is_some() => Some(&v.input),
        None => None,
    }
}

fn compare_encode(v: &Vector, got: Result<Vec<u8>, String>) -> Outcome {
    match (got, v.hex.as_deref(), v.expected_error()) {
        (Ok(bytes), Some(want), _) if to_hex(&bytes) == want => Outcome::Pass,
        (Ok(bytes), Some(want), _) => {
            Outcome::Fail(format!("encoded {} want {want}", to_hex(&bytes)))
        }
        (Err(_), None, Some(_)) => Outcome::Pass,
        (Ok(bytes), None, Some(err)) => Outcome::Fail(format!(
            "encoded {} but the reference threw {err:?}",
            to_hex(&bytes)
        )),
        (Err(e), Some(want), _) => {
            Outcome::Fail(format!("failed ({e}) but the reference wrote {want}"))
        }
        (_, None, None) => Outcome::Fail("vector has neither hex nor error".into()),
    }
}

/// Whether our error is the kind the reference's message names.
fn same_kind(ours: &DecodeError, theirs: &str) -> bool {
    match ours {
        DecodeError::OutOfBounds(_) => theirs.contains("Out of bounds"),
        DecodeError::UintTooLarge(_) => theirs.contains("must be between"),
        DecodeError::ArrayTooBig(_) => theirs.contains("too big"),
        _ => true,
    }
}

fn compare_decode(v: &Vector, got: Result<Value, DecodeError>) -> Outcome {
    match (got, v.expected_value(), v.expected_error()) {
        (Ok(value), Some(want), _) if value::same(&value, want) => Outcome::Pass,
        (Ok(value), Some(want), _) => Outcome::Fail(format!("decoded {value} want {want}")),
        (Err(e), None, Some(err)) if same_kind(&e, err) => Outcome::Pass,
        (Err(e), None, Some(err)) => {
            Outcome::Fail(format!("failed with {e}, the reference with {err:?}"))
        }
        (Ok(value), None, Some(err)) => {
            Outcome::Fail(format!("decoded {value} but the reference threw {err:?}"))
        }
        (Err(e), Some(want), _) => {
            Outcome::Fail(format!("failed ({e}) but the reference decoded {want}"))
        }
        (_, None, None) => Outcome::Fail("vector has neither value nor error".into()),
    }
}
