//! The properties.

use plures_compact::{Decoder, Encoder, encode_bitfield};

use crate::prefix_lengths;

use super::encode::encode_steps;
use super::exec::{bit_length, bitfield_size, exec};
use super::op::Op;
use super::value::{Decoded, Hex, Value};

/// Every form of `uint` wide enough for `v` decodes to `v`.
fn check_uint_forms(v: u64) {
    let le = v.to_le_bytes();
    let mut forms = Vec::new();
    if v <= 0xfc {
        forms.push(vec![v as u8]);
    }
    if v <= 0xffff {
        forms.push([&[0xfd], &le[..2]].concat());
    }
    if v <= 0xffff_ffff {
        forms.push([&[0xfe], &le[..4]].concat());
    }
    forms.push([&[0xff], &le[..]].concat());
    for form in forms {
        let mut d = Decoder::new(&form);
        assert_eq!(d.uint(), Ok(v), "uint form {}", Hex(&form));
        assert!(d.is_empty());
    }
}

/// The declared length a decoded bitfield is re-encoded with: its own when the value fits
/// it, else the fewest bits that hold the value.
///
/// A bitfield decoder takes whatever the marker byte announces, so `bitfield(7)` reads `fc`
/// as 0xfc and `bitfield(12)` reads `fe ff ff 00 00` as 0xffff, while `encode_bitfield`
/// refuses bits at or past the declared length. Such a value cannot be written back under the
/// length it was read with (see [`check_bitfield`]); it is written under a length that holds
/// it instead, which decodes to the same value under the original length.
pub(super) fn bitfield_encode_length(length: u32, v: u64) -> u32 {
    length.max(bit_length(v))
}

/// A decoded `bitfield(length)` value `v`: it re-encodes under `length` exactly when it
/// fits, and it round-trips through every size class that holds it (decoded with that
/// class's length), while lengths too short for it are refused by the encoder.
fn check_bitfield(length: u32, v: u64) {
    let need = bit_length(v);
    let mut e = Encoder::new();
    encode_bitfield(&mut e, v, length);
    assert_eq!(
        e.finish().is_ok(),
        need <= length,
        "bitfield({length}) encoding of {v:#x}"
    );
    for length in [need, 7, 8, 16, 17, 32, 33, 64] {
        if length < need {
            continue;
        }
        let mut e = Encoder::new();
        encode_bitfield(&mut e, v, length);
        let bytes = e.finish().expect("bitfield that fits");
        assert_eq!(
            bytes.len(),
            bitfield_size(length),
            "bitfield({length}) of {v}"
        );
        let mut d = Decoder::new(&bytes);
        assert_eq!(
            d.bitfield(length),
            Ok(v),
            "bitfield({length}) {}",
            Hex(&bytes)
        );
        assert!(d.is_empty());
    }
    if need > 0 {
        let mut e = Encoder::new();
        encode_bitfield(&mut e, v, need - 1);
        assert!(e.finish().is_err(), "bitfield({}) accepted {v}", need - 1);
    }
}

/// Whether `value` has a canonical encoding under `op`: everything does except a bitfield
/// holding bits past its declared length (see `bitfield_encode_length`), and what contains
/// one.
fn has_canonical_form(op: &Op, value: &Value<'_>) -> bool {
    match (op, value) {
        (Op::Bitfield(length), Value::Bits(v)) => bit_length(*v) <= *length,
        (Op::Array(elem), Value::List(items)) => items.iter().all(|v| has_canonical_form(elem, v)),
        (Op::Frame(ops), Value::Group(items)) => ops
            .iter()
            .zip(items)
            .all(|(op, v)| has_canonical_form(op, v)),
        _ => true,
    }
}

/// The checks on one successful top-level step: `bytes` is what it consumed.
pub(super) fn check_step(op: &Op, decoded: &Decoded<'_>, bytes: &[u8]) {
    // Local: the consumed bytes alone give the same result.
    let mut d = Decoder::new(bytes);
    let again = exec(op, &mut d)
        .unwrap_or_else(|e| panic!("{op:?} fails on its own bytes {}: {e:?}", Hex(bytes)));
    assert_eq!(&again, decoded, "{op:?} on its own bytes {}", Hex(bytes));
    assert!(d.is_empty(), "{op:?} left some of its own bytes");

    // Truncated: no strict prefix decodes.
    if op.closed() {
        for k in prefix_lengths(bytes.len()) {
            let prefix = &bytes[..k];
            if let Ok(v) = exec(op, &mut Decoder::new(prefix)) {
                panic!(
                    "{op:?} decodes the strict prefix {} of {}: {:?}",
                    Hex(prefix),
                    Hex(bytes),
                    v.value
                );
            }
        }
    }

    // Round trip through the encoder.
    let step = [(op, decoded.value.clone())];
    let encoded = encode_steps(&step)
        .unwrap_or_else(|e| panic!("{op:?}: decoded {:?} does not encode: {e}", decoded.value));
    let mut d = Decoder::new(&encoded);
    let back = exec(op, &mut d).unwrap_or_else(|e| {
        panic!(
            "{op:?}: re-encoding {} of {:?} does not decode: {e:?}",
            Hex(&encoded),
            decoded.value
        )
    });
    assert_eq!(
        back.value,
        decoded.value,
        "{op:?} re-encoded {}",
        Hex(&encoded)
    );
    assert!(
        d.is_empty(),
        "{op:?} re-encoded {} not consumed",
        Hex(&encoded)
    );
    let representable = has_canonical_form(op, &decoded.value);
    assert_eq!(
        back.canonical,
        representable,
        "{op:?}: the encoder wrote {}",
        Hex(&encoded)
    );
    if representable {
        assert_eq!(
            encoded == bytes,
            decoded.canonical,
            "{op:?}: input {} re-encodes as {} (input canonical: {})",
            Hex(bytes),
            Hex(&encoded),
            decoded.canonical
        );
    }

    match (op, &decoded.value) {
        (_, Value::Uint(v)) => check_uint_forms(*v),
        (Op::Bitfield(length), Value::Bits(v)) => check_bitfield(*length, *v),
        _ => {}
    }
}

/// The successful prefix of the script, re-encoded as a whole, decodes the same.
pub(super) fn check_script(steps: &[(&Op, Value<'_>)]) {
    let encoded = encode_steps(steps).expect("decoded values encode");
    let mut d = Decoder::new(&encoded);
    let mut again = Vec::with_capacity(steps.len());
    for (op, value) in steps {
        let back = exec(op, &mut d).unwrap_or_else(|e| {
            panic!(
                "{op:?} fails in the re-encoded script {}: {e:?}",
                Hex(&encoded)
            )
        });
        assert_eq!(&back.value, value, "{op:?} in the re-encoded script");
        assert_eq!(back.canonical, has_canonical_form(op, value));
        again.push((*op, back.value));
    }
    assert!(
        d.is_empty(),
        "re-encoded script {} not consumed",
        Hex(&encoded)
    );
    let twice = encode_steps(&again).expect("decoded values encode");
    assert_eq!(
        twice, encoded,
        "the canonical encoding is not a fixed point"
    );
}
