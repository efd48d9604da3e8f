//! `compact_ops`: the input is a script of [`Decoder`] operations followed by the bytes they
//! run over.
//!
//! # Script format
//!
//! `[k] [k op bytes] [payload...]`: the first byte says how many of the following bytes
//! describe operations (capped at what is there); the rest is the payload. Op bytes are
//! parsed by [`Op::parse`]: one byte picks the operation (modulo the number of operations),
//! parameterised operations take the next byte (`uint_le`/`uint_be`/`int_le` width modulo
//! 10, so the invalid widths 0 and 9 occur too; `take` length), `array` takes the next
//! operation as its element, `frame` takes a count byte (modulo 5) and that many operations.
//! Nesting stops at depth [`MAX_DEPTH`]. [`script`] writes a script back.
//!
//! # Properties
//!
//! The top-level operations run in order over the payload until the first error. Then:
//!
//! - every leaf operation agrees with an independent model of the wire format written here
//!   (`model`): same success or same kind of error, same value, same number of bytes;
//! - the cursor never moves backwards nor past the end; a success consumes more than zero
//!   bytes, except `raw` (which consumes exactly what was left), `fixed::<0>` and `take(0)`;
//!   a frame consumes exactly its prefix plus its announced length;
//! - decoding is local: the same operation over just the bytes it consumed gives the same
//!   value and consumes them all; an error is reproduced on a fresh decoder;
//! - no strict prefix of the consumed bytes decodes, unless the operation ends in `raw`;
//! - the value re-encodes with the matching [`Sink`] method without an encode error, the
//!   [`Counter`] pass agrees with the [`Encoder`] on the size, the result decodes to the same
//!   value (floats compared by bit pattern, NaN included), and the re-encoding equals the
//!   input bytes exactly when the input used the canonical form (minimal `uint` prefixes,
//!   `bool` `00`/`01`, valid UTF-8, `ip` family `4`/`6`, a frame with no skipped bytes, a
//!   bitfield in the size class of its declared length). One exception: a bitfield holding
//!   bits past its declared length, which the decoder accepts but the encoder refuses under
//!   that length, is re-encoded under the smallest length that holds it (see
//!   `bitfield_encode_length`);
//! - `uint` values decode the same from every wider form, and `bitfield` values round-trip
//!   through every size class that holds them, while narrower declared lengths are refused;
//! - the values of the whole successful prefix of the script, re-encoded one after another,
//!   decode again by the same script to the same values and consume the buffer exactly, and
//!   encoding that decoding again gives the same bytes (the canonical form is a fixed point).
//!
//! [`Sink`]: plures_compact::Sink
//! [`Counter`]: plures_compact::Counter
//! [`Encoder`]: plures_compact::Encoder

mod checks;
mod encode;
mod exec;
mod model;
mod op;
mod value;

use plures_compact::Decoder;

pub use op::{MAX_DEPTH, MAX_FRAME_OPS, Op, parse_script, script};
pub use value::Value;

use checks::{check_script, check_step};
use exec::exec;
use value::Hex;

/// The `compact_ops` fuzz target.
pub fn run(data: &[u8]) {
    let (ops, payload) = parse_script(data);
    let mut d = Decoder::new(payload);
    let mut steps = Vec::with_capacity(ops.len());
    for op in &ops {
        let input = d.rest();
        let start = d.position();
        match exec(op, &mut d) {
            Ok(decoded) => {
                check_step(op, &decoded, &input[..d.position() - start]);
                steps.push((op, decoded.value));
            }
            Err(e) => {
                let again = exec(op, &mut Decoder::new(input)).err();
                assert_eq!(
                    again,
                    Some(e),
                    "{op:?} on {} is not deterministic",
                    Hex(input)
                );
                break;
            }
        }
    }
    check_script(&steps);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_parse_back() {
        let ops = vec![
            Op::Uint,
            Op::UintLe(9),
            Op::Take(200),
            Op::Array(Box::new(Op::Frame(vec![
                Op::Ip,
                Op::Array(Box::new(Op::Raw)),
            ]))),
            Op::Frame(vec![]),
            Op::Bitfield(33),
        ];
        let data = script(&ops, &[1, 2, 3]);
        let (parsed, payload) = parse_script(&data);
        assert_eq!(parsed, ops);
        assert_eq!(payload, &[1, 2, 3]);
    }

    #[test]
    fn every_code_parses() {
        for code in 0..=255u8 {
            let bytes = [code, 3, 26, 0];
            let mut b = &bytes[..];
            let op = Op::parse(&mut b, 0).expect("an op");
            let mut written = Vec::new();
            op.write(&mut written);
            let mut w = &written[..];
            assert_eq!(Op::parse(&mut w, 0), Some(op));
        }
    }

    #[test]
    fn samples() {
        let cases: &[(&[Op], &[u8])] = &[
            (&[Op::Uint, Op::Uint, Op::Uint], &[0xfd, 5, 0, 0xfc, 0xff]),
            (&[Op::Bool, Op::Bool, Op::Bool], &[0, 1, 2]),
            (&[Op::String], &[3, 0xff, b'a', 0xc3]),
            (&[Op::Ip, Op::IpAddress], &[5; 40]),
            (
                &[Op::Frame(vec![Op::U8]), Op::Raw, Op::Raw],
                &[3, 1, 2, 3, 4],
            ),
            (&[Op::Array(Box::new(Op::Raw))], &[3, 1, 2]),
            (&[Op::Array(Box::new(Op::Fixed0))], &[0xfe, 0, 0, 0x10, 0]),
            (
                &[Op::Bitfield(7), Op::Bitfield(7), Op::Bitfield(64)],
                &[
                    0xfd, 3, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                ],
            ),
            (
                &[Op::IntLe(8), Op::UintBe(0)],
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0],
            ),
            (
                &[Op::F64, Op::F32],
                &[1, 0, 0, 0, 0, 0, 0xf8, 0x7f, 1, 0, 0xc0, 0xff],
            ),
        ];
        for (ops, payload) in cases {
            run(&script(ops, payload));
        }
        for len in 0..64 {
            run(&(0..len).map(|i| (i * 37 + 11) as u8).collect::<Vec<_>>());
        }
    }
}
