//! The on-disk form of a [`Record`]: compact-encoding, versioned by a leading byte.
//!
//! ```text
//! 0x01                       format version
//! flags: u8                  bit 0: tombstone present
//! [stamp]                    tombstone, if flagged
//! uint                       number of fields
//! per field: string name, stamp, u8 kind (0 removed, 1 set), [json text if set]
//! ```

use crate::codec::{get_json, get_stamp, get_str, put_json, put_stamp};
use crate::crdt::{Action, Record};
use plures_compact::{DecodeError, Decoder, Encode, Sink};

const FORMAT: u8 = 1;

impl Encode for Record {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.u8(FORMAT);
        let tombstone = self.tombstone();
        s.u8(u8::from(tombstone.is_some()));
        if let Some(t) = tombstone {
            put_stamp(s, t);
        }
        s.uint_usize(self.registers().len());
        for (name, reg) in self.registers() {
            s.string(name);
            put_stamp(s, reg.stamp);
            match &reg.value {
                None => s.u8(0),
                Some(v) => {
                    s.u8(1);
                    put_json(s, v);
                }
            }
        }
    }
}

/// Decodes a stored record, rebuilding it by merging its winners.
pub(super) fn decode_record(bytes: &[u8]) -> Result<Record, DecodeError> {
    let mut d = Decoder::new(bytes);
    if d.u8()? != FORMAT {
        return Err(DecodeError::Invalid("record format version"));
    }
    let mut record = Record::new();
    match d.u8()? {
        0 => {}
        1 => {
            record.merge(get_stamp(&mut d)?, &Action::Delete);
        }
        _ => return Err(DecodeError::Invalid("record flags")),
    }
    let n = d.uint()?;
    for _ in 0..n {
        let field = get_str(&mut d)?.to_owned();
        let stamp = get_stamp(&mut d)?;
        let action = match d.u8()? {
            0 => Action::Remove { field },
            1 => Action::Set {
                field,
                value: get_json(&mut d)?,
            },
            _ => return Err(DecodeError::Invalid("field kind")),
        };
        record.merge(stamp, &action);
    }
    Ok(record)
}
