//! Re-encoding.

use plures_compact::{Counter, EncodeError, Encoder, Sink, encode_bitfield};

use super::checks::bitfield_encode_length;
use super::op::Op;
use super::value::Value;

/// Writes `value` (decoded by `op`) with the matching [`Sink`] method.
pub(super) fn encode<S: Sink>(op: &Op, value: &Value<'_>, s: &mut S) {
    match (op, value) {
        (Op::Uint, Value::Uint(n)) => s.uint(*n),
        (Op::UintUsize, Value::Len(n)) => s.uint_usize(*n),
        (Op::ArrayLen, Value::Len(n)) => s.array_len(*n),
        (Op::Int, Value::Int(n)) => s.int(*n),
        (Op::U8, Value::U8(n)) => s.u8(*n),
        (Op::U16, Value::U16(n)) => s.u16(*n),
        (Op::U24, Value::U32(n)) => s.u24(*n),
        (Op::U32, Value::U32(n)) => s.u32(*n),
        (Op::U64, Value::Uint(n)) => s.u64(*n),
        (Op::UintLe(w), Value::Uint(n)) => s.uint_le(*n, *w),
        (Op::UintBe(w), Value::Uint(n)) => s.uint_be(*n, *w),
        (Op::IntLe(w), Value::Int(n)) => s.int_le(*n, *w),
        (Op::F32, Value::F32(bits)) => s.f32(f32::from_bits(*bits)),
        (Op::F64, Value::F64(bits)) => s.f64(f64::from_bits(*bits)),
        (Op::Bool, Value::Bool(b)) => s.bool(*b),
        (Op::Buffer, Value::Bytes(b)) => s.buffer(b),
        (Op::OptionalBuffer, Value::Optional(b)) => s.optional_buffer(*b),
        (Op::String, Value::Text(t)) => s.string(t),
        (Op::Raw, Value::Bytes(b)) => s.raw(b),
        (Op::Take(_), Value::Bytes(b)) => s.put(b),
        (_, Value::Bytes(b)) if op.fixed_len().is_some() => {
            s.fixed(b, op.fixed_len().unwrap_or_default())
        }
        (Op::Array(elem), Value::List(items)) => s.array(items, |s, item| encode(elem, item, s)),
        (Op::Frame(ops), Value::Group(items)) => {
            assert_eq!(ops.len(), items.len());
            let mut inner = Encoder::new();
            for (op, item) in ops.iter().zip(items) {
                encode(op, item, &mut inner);
            }
            match inner.finish() {
                Ok(bytes) => s.buffer(&bytes),
                Err(e) => s.fail(e),
            }
        }
        (Op::Ipv4, Value::Ipv4(ip)) => s.ipv4(*ip),
        (Op::Ipv4Address, Value::Ipv4Address(a)) => s.ipv4_address(*a),
        (Op::Ipv6, Value::Ipv6(ip)) => s.ipv6(*ip),
        (Op::Ipv6Address, Value::Ipv6Address(a)) => s.ipv6_address(*a),
        (Op::Ip, Value::Ip(ip)) => s.ip(*ip),
        (Op::IpAddress, Value::IpAddress(a)) => s.ip_address(*a),
        (Op::Bitfield(length), Value::Bits(v)) => {
            encode_bitfield(s, *v, bitfield_encode_length(*length, *v))
        }
        _ => unreachable!("{value:?} is not a value of {op:?}"),
    }
}

/// Encodes the values of `steps` one after another, with the [`Counter`] pass first as a
/// message codec would, and checks that both passes agree on the size.
pub(super) fn encode_steps(steps: &[(&Op, Value<'_>)]) -> Result<Vec<u8>, EncodeError> {
    let mut counter = Counter::new();
    for (op, value) in steps {
        encode(op, value, &mut counter);
    }
    let mut encoder = Encoder::with_capacity(counter.len());
    for (op, value) in steps {
        encode(op, value, &mut encoder);
    }
    let bytes = encoder.finish()?;
    assert_eq!(
        counter.len(),
        bytes.len(),
        "Counter and Encoder disagree on {steps:?}"
    );
    Ok(bytes)
}
