//! `compact-encoding-bitfield`: a bit set of a declared length, written as a compact `uint`
//! forced into the size class of that length (blind-relay uses `bitfield(7)`).

use crate::decode::Decoder;
use crate::encode::Sink;
use crate::error::{DecodeError, EncodeError};

/// The number of value bytes (after the marker, if any) for a declared bit length:
/// 1 below 8 bits (no marker), then 2, 4 or 8 bytes behind `fd`/`fe`/`ff`.
/// `None` above 64 bits.
pub fn bitfield_width(length: u32) -> Option<usize> {
    match length {
        0..=7 => Some(1),
        8..=16 => Some(2),
        17..=32 => Some(4),
        33..=64 => Some(8),
        _ => None,
    }
}

/// Writes `bits` (bit `i` of the set is bit `i` of the integer) as `bitfield(length)`.
pub fn encode_bitfield<S: Sink + ?Sized>(sink: &mut S, bits: u64, length: u32) {
    let Some(width) = bitfield_width(length) else {
        sink.fail(EncodeError::Bitfield(length));
        return;
    };
    if length < 64 && bits >> length != 0 {
        sink.fail(EncodeError::Bitfield(length));
    }
    let le = bits.to_le_bytes();
    match width {
        1 => sink.put(&le[..1]),
        2 => {
            sink.put(&[0xfd]);
            sink.put(&le[..2]);
        }
        4 => {
            sink.put(&[0xfe]);
            sink.put(&le[..4]);
        }
        _ => {
            sink.put(&[0xff]);
            sink.put(&le);
        }
    }
}

impl Decoder<'_> {
    /// Reads a `bitfield(length)`. The marker byte chooses the size class whatever the
    /// declared length (a byte up to `fc` is the set itself); as in the reference, a
    /// declared length of 8 bits or fewer keeps only the lowest byte of what was read.
    /// Returns the set as an integer (bit `i` of the set is bit `i` of the integer).
    pub fn bitfield(&mut self, length: u32) -> Result<u64, DecodeError> {
        const WHAT: &str = "bitfield";
        let first = self.take(1, WHAT)?[0];
        let width = match first {
            0..=0xfc => return Ok(u64::from(first)),
            0xfd => 2,
            0xfe => 4,
            0xff => 8,
        };
        let bytes = self.take(width, WHAT)?;
        let bits = bytes
            .iter()
            .rev()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        Ok(if length <= 8 { bits & 0xff } else { bits })
    }
}
