//! Result values and the encode/decode helpers shared by every section.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------

/// The outcome of one check for one implementation.
pub(super) enum V {
    Pass,
    Fail(String),
    /// The implementation has no codec for this.
    Na(String),
}

impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass => write!(f, "pass"),
            Self::Fail(why) => write!(f, "FAIL: {why}"),
            Self::Na(why) => write!(f, "can't express: {why}"),
        }
    }
}

pub(super) fn na(why: &str) -> V {
    V::Na(why.to_owned())
}

pub(super) fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

/// Encodes with datrs, compares with `want_hex`, then decodes `want_hex` and compares with
/// `want` (all bytes must be consumed).
pub(super) fn datrs_rt<T, D>(value: &T, want_hex: &str, want: &D) -> V
where
    T: CompactEncoding<D> + ?Sized,
    D: PartialEq + Debug,
{
    let enc = match value.to_encoded_bytes() {
        Ok(b) => hex::encode(&*b),
        Err(e) => return V::Fail(format!("encode error: {e}")),
    };
    if enc != want_hex {
        return V::Fail(format!("encodes {enc}"));
    }
    let bytes = unhex(want_hex);
    match T::decode(&bytes) {
        Ok((d, rest)) if &d == want && rest.is_empty() => V::Pass,
        Ok((d, rest)) => V::Fail(format!("decodes {d:?} leaving {} bytes", rest.len())),
        Err(e) => V::Fail(format!("decode error: {e}")),
    }
}

/// The same with plures-compact: `enc` writes the value, `dec` reads it back.
pub(super) fn ours_rt<T: PartialEq + Debug>(
    enc: impl FnOnce(&mut Encoder),
    want_hex: &str,
    dec: impl FnOnce(&mut Decoder<'_>) -> Result<T, plures_compact::DecodeError>,
    want: &T,
) -> V {
    let mut e = Encoder::new();
    enc(&mut e);
    let enc = match e.finish() {
        Ok(b) => hex::encode(b),
        Err(err) => return V::Fail(format!("encode error: {err}")),
    };
    if enc != want_hex {
        return V::Fail(format!("encodes {enc}"));
    }
    let bytes = unhex(want_hex);
    let mut d = Decoder::new(&bytes);
    match dec(&mut d) {
        Ok(v) if &v == want && d.is_empty() => V::Pass,
        Ok(v) => V::Fail(format!("decodes {v:?} leaving {} bytes", d.remaining())),
        Err(err) => V::Fail(format!("decode error: {err}")),
    }
}

/// Compares a decode result `(value, bytes consumed)` with the expectation: `Some(value)` or
/// `None` for "must fail". `consumed` additionally pins the number of bytes read.
pub(super) fn expect_dec<T: PartialEq + Debug>(
    got: Result<(T, usize), String>,
    want: Option<&T>,
    consumed: Option<usize>,
) -> V {
    match (got, want) {
        (Ok((v, n)), Some(w)) if &v == w && consumed.is_none_or(|c| c == n) => V::Pass,
        (Ok((v, n)), Some(_)) => V::Fail(format!("decodes {v:?} consuming {n} bytes")),
        (Ok((v, n)), None) => V::Fail(format!("accepts: decodes {v:?} consuming {n} bytes")),
        (Err(_), None) => V::Pass,
        (Err(e), Some(_)) => V::Fail(format!("rejects: {e}")),
    }
}

pub(super) fn datrs_dec<T: CompactEncoding<D> + ?Sized, D>(b: &[u8]) -> Result<(D, usize), String> {
    T::decode(b)
        .map(|(v, rest)| (v, b.len() - rest.len()))
        .map_err(|e| e.to_string())
}

pub(super) fn ours_dec<'a, T>(
    b: &'a [u8],
    f: impl FnOnce(&mut Decoder<'a>) -> Result<T, plures_compact::DecodeError>,
) -> Result<(T, usize), String> {
    let mut d = Decoder::new(b);
    f(&mut d)
        .map(|v| (v, d.position()))
        .map_err(|e| e.to_string())
}

pub(super) fn ours_enc(f: impl FnOnce(&mut Encoder)) -> Result<String, String> {
    let mut e = Encoder::new();
    f(&mut e);
    e.finish().map(hex::encode).map_err(|e| e.to_string())
}

pub(super) fn expect_enc(got: Result<String, String>, want: Option<&str>) -> V {
    match (got, want) {
        (Ok(h), Some(w)) if h == w => V::Pass,
        (Ok(h), Some(_)) => V::Fail(format!("encodes {h}")),
        (Ok(h), None) => V::Fail(format!("accepts: encodes {h}")),
        (Err(_), None) => V::Pass,
        (Err(e), Some(_)) => V::Fail(format!("rejects: {e}")),
    }
}

pub(super) fn datrs_enc<T: CompactEncoding<D> + ?Sized, D>(v: &T) -> Result<String, String> {
    v.to_encoded_bytes()
        .map(|b| hex::encode(&*b))
        .map_err(|e| e.to_string())
}
