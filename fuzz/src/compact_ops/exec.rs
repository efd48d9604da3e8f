//! Running operations.

use std::borrow::Cow;

use plures_compact::{DecodeError, Decoder, MAX_ARRAY_LEN, uint_len};

use crate::{uint_form_len, zigzag};

use super::model::{model, model_bitfield, model_bytes, model_uint};
use super::op::Op;
use super::value::{Decoded, Hex, Value};

/// The fewest bits that hold `v`.
pub(super) fn bit_length(v: u64) -> u32 {
    64 - v.leading_zeros()
}

/// The encoded size of a bitfield of declared length `length` (a marker byte plus the
/// value, except below 8 bits).
pub(super) fn bitfield_size(length: u32) -> usize {
    match length {
        0..=7 => 1,
        8..=16 => 3,
        17..=32 => 5,
        _ => 9,
    }
}

/// Whether the bytes a leaf took are the canonical encoding of its value; for arrays and
/// frames, whether their own prefix is (their contents are judged element by element).
fn form_is_canonical(op: &Op, value: &Value<'_>, bytes: &[u8]) -> bool {
    // For a length-prefixed value: whether the prefix is the minimal `uint` of the rest.
    let minimal_prefix = || {
        let prefix = uint_form_len(bytes[0]);
        prefix == uint_len((bytes.len() - prefix) as u64)
    };
    match (op, value) {
        (Op::Uint, Value::Uint(v)) => bytes.len() == uint_len(*v),
        (Op::UintUsize | Op::ArrayLen, Value::Len(n)) => bytes.len() == uint_len(*n as u64),
        (Op::Int, Value::Int(n)) => bytes.len() == uint_len(zigzag(*n)),
        (Op::Bool, _) => bytes[0] <= 1,
        (Op::Buffer | Op::OptionalBuffer | Op::Frame(_), _) => minimal_prefix(),
        (Op::String, Value::Text(text)) => matches!(text, Cow::Borrowed(_)) && minimal_prefix(),
        (Op::Ip | Op::IpAddress, _) => bytes[0] == 4 || bytes[0] == 6,
        (Op::Bitfield(length), Value::Bits(v)) => {
            // The size class of the declared length, no bit dropped, none past the length.
            bytes.len() == bitfield_size(*length)
                && model_bitfield(bytes).map(|(raw, _)| raw) == Ok(*v)
                && bit_length(*v) <= *length
        }
        (Op::Array(_), Value::List(items)) => {
            uint_form_len(bytes[0]) == uint_len(items.len() as u64)
        }
        _ => true,
    }
}

fn exec_inner<'a>(op: &Op, d: &mut Decoder<'a>) -> Result<Decoded<'a>, DecodeError> {
    let value = match op {
        Op::Uint => Value::Uint(d.uint()?),
        Op::UintUsize => Value::Len(d.uint_usize()?),
        Op::Int => Value::Int(d.int()?),
        Op::U8 => Value::U8(d.u8()?),
        Op::U16 => Value::U16(d.u16()?),
        Op::U24 => Value::U32(d.u24()?),
        Op::U32 => Value::U32(d.u32()?),
        Op::U64 => Value::Uint(d.u64()?),
        Op::UintLe(w) => Value::Uint(d.uint_le(*w)?),
        Op::UintBe(w) => Value::Uint(d.uint_be(*w)?),
        Op::IntLe(w) => Value::Int(d.int_le(*w)?),
        Op::F32 => Value::F32(d.f32()?.to_bits()),
        Op::F64 => Value::F64(d.f64()?.to_bits()),
        Op::Bool => Value::Bool(d.bool()?),
        Op::Buffer => Value::Bytes(d.buffer()?),
        Op::OptionalBuffer => Value::Optional(d.optional_buffer()?),
        Op::String => Value::Text(d.string()?),
        Op::Fixed0 => fixed::<0>(d)?,
        Op::Fixed1 => fixed::<1>(d)?,
        Op::Fixed2 => fixed::<2>(d)?,
        Op::Fixed16 => fixed::<16>(d)?,
        Op::Fixed32 => fixed::<32>(d)?,
        Op::Fixed64 => fixed::<64>(d)?,
        Op::Raw => Value::Bytes(d.raw()),
        Op::Take(n) => Value::Bytes(d.take(*n, "take")?),
        Op::ArrayLen => Value::Len(d.array_len()?),
        Op::Array(elem) => {
            let mut canonical = true;
            let items = d.array(|d| {
                let item = exec(elem, d)?;
                canonical &= item.canonical;
                Ok(item.value)
            })?;
            return Ok(Decoded {
                value: Value::List(items),
                canonical,
            });
        }
        Op::Frame(ops) => {
            return d.frame(|region| {
                let mut items = Vec::with_capacity(ops.len());
                let mut canonical = true;
                for op in ops {
                    let item = exec(op, region)?;
                    canonical &= item.canonical;
                    items.push(item.value);
                }
                Ok(Decoded {
                    value: Value::Group(items),
                    canonical: canonical && region.is_empty(),
                })
            });
        }
        Op::Ipv4 => Value::Ipv4(d.ipv4()?),
        Op::Ipv4Address => Value::Ipv4Address(d.ipv4_address()?),
        Op::Ipv6 => Value::Ipv6(d.ipv6()?),
        Op::Ipv6Address => Value::Ipv6Address(d.ipv6_address()?),
        Op::Ip => Value::Ip(d.ip()?),
        Op::IpAddress => Value::IpAddress(d.ip_address()?),
        Op::Bitfield(length) => Value::Bits(d.bitfield(*length)?),
    };
    Ok(Decoded {
        value,
        canonical: true,
    })
}

/// `fixed::<N>`, described by the input bytes it returned a copy of.
pub(super) fn fixed<'a, const N: usize>(d: &mut Decoder<'a>) -> Result<Value<'a>, DecodeError> {
    let input = d.rest();
    let array = d.fixed::<N>()?;
    assert_eq!(array[..], input[..N], "fixed::<{N}> copied other bytes");
    Ok(Value::Bytes(&input[..N]))
}

/// Runs `op` at the cursor and checks what can be checked of that one step.
pub(super) fn exec<'a>(op: &Op, d: &mut Decoder<'a>) -> Result<Decoded<'a>, DecodeError> {
    let input = d.rest();
    let start = d.position();
    let mut result = exec_inner(op, d);
    let consumed = d
        .position()
        .checked_sub(start)
        .unwrap_or_else(|| panic!("{op:?} moved the cursor backwards"));
    assert!(
        consumed <= input.len(),
        "{op:?} moved the cursor past the end"
    );
    assert_eq!(d.remaining(), input.len() - consumed, "{op:?}: remaining");
    assert_eq!(d.rest(), &input[consumed..], "{op:?}: rest");
    let bytes = &input[..consumed];

    if let Ok(decoded) = &mut result {
        match op {
            Op::Raw => assert_eq!(consumed, input.len(), "raw left bytes"),
            Op::Fixed0 | Op::Take(0) => assert_eq!(consumed, 0),
            _ => assert!(consumed > 0, "{op:?} succeeded on no bytes"),
        }
        match op {
            Op::Array(_) => {
                let (count, n) = model_uint(input).expect("array count");
                let Value::List(items) = &decoded.value else {
                    unreachable!()
                };
                assert_eq!(items.len() as u64, count, "array count");
                assert!(consumed >= n);
            }
            Op::Frame(_) => {
                let (_, n) = model_bytes(input).expect("frame prefix");
                assert_eq!(consumed, n, "a frame takes its prefix and its region");
            }
            _ => {}
        }
        decoded.canonical &= form_is_canonical(op, &decoded.value, bytes);
    }

    match (&result, model(op, input)) {
        (_, None) => {}
        (Ok(decoded), Some(Ok((value, n)))) => {
            assert_eq!(decoded.value, value, "{op:?} on {}", Hex(input));
            assert_eq!(consumed, n, "{op:?} on {}: bytes taken", Hex(input));
        }
        (Err(e), Some(Err(expect))) => {
            assert!(
                expect.matches(e),
                "{op:?} on {}: error {e:?}, model expects {expect:?}",
                Hex(input)
            );
        }
        (got, Some(expected)) => panic!(
            "{op:?} on {}: decoder gave {got:?}, model expects {expected:?}",
            Hex(input)
        ),
    }
    if let (Op::Array(_), Err(e)) = (op, &result) {
        // A bad count is reported as such, before any element is read.
        match model_uint(input) {
            Err(expect) => assert!(expect.matches(e), "array count: {e:?} vs {expect:?}"),
            Ok((count, _)) if count > MAX_ARRAY_LEN => {
                assert_eq!(*e, DecodeError::ArrayTooBig(count))
            }
            Ok(_) => {}
        }
    }
    result
}
