//! Chunks, the rows of `log`: every operation one transaction wrote for one (collection,
//! replica), and the in-memory metadata of each chunk.
//!
//! ```text
//! header   collection: u32, replica: u32, entries n: u32
//! entries  n × (record: u32, slot: u32, hlc: u64, end: u32)      20 bytes each
//! values   the entries' values back to back; entry i spans end(i-1)..end(i)
//! ```
//!
//! All integers little-endian. The entry table has a fixed width, so entry `i` and its value
//! are found without reading the others. A value is empty for the tombstone (slot 0), else
//! one kind byte (0 removed, 1 set) and, if set, the compact JSON text.

use super::layout::corrupt;
use crate::error::StoreError;
use crate::store::hashing::Map;
use std::collections::BTreeMap;

const HEADER: usize = 12;
const ENTRY: usize = 20;

/// A chunk holds at most this many entries (few in unit tests, so that the model tests
/// cross the cap): a transaction that writes more for one (collection, replica) starts
/// another chunk.
pub(crate) const CHUNK_CAP: usize = if cfg!(test) { 8 } else { 4_096 };

/// A chunk whose values reach this many bytes is closed as well, so a chunk stays a few
/// hundred kilobytes at most (one large value still gets a chunk of its own).
const CHUNK_VALUE_BYTES: usize = if cfg!(test) { 64 } else { 256 << 10 };

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

/// One entry of a chunk: the operation's record, slot and HLC (its replica is the chunk's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) rec: u32,
    pub(super) slot: u32,
    pub(super) hlc: u64,
}

/// A chunk row, checked for size on [`View::parse`].
pub(super) struct View<'a> {
    pub(super) c: u32,
    pub(super) rno: u32,
    n: usize,
    table: &'a [u8],
    values: &'a [u8],
}

impl<'a> View<'a> {
    pub(super) fn parse(bytes: &'a [u8]) -> Result<Self, StoreError> {
        if bytes.len() < HEADER {
            return Err(corrupt("chunk header"));
        }
        let n = u32_at(bytes, 8) as usize;
        let end = n
            .checked_mul(ENTRY)
            .and_then(|t| t.checked_add(HEADER))
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| corrupt("chunk entry table"))?;
        Ok(Self {
            c: u32_at(bytes, 0),
            rno: u32_at(bytes, 4),
            n,
            table: &bytes[HEADER..end],
            values: &bytes[end..],
        })
    }

    pub(super) fn len(&self) -> usize {
        self.n
    }

    /// The value of entry `i`.
    pub(super) fn value(&self, i: usize) -> Result<&'a [u8], StoreError> {
        if i >= self.n {
            return Err(corrupt("chunk entry index"));
        }
        let end = |i: usize| u32_at(self.table, i * ENTRY + 16) as usize;
        let start = if i == 0 { 0 } else { end(i - 1) };
        self.values
            .get(start..end(i))
            .ok_or_else(|| corrupt("chunk value offsets"))
    }

    /// The entries in order.
    pub(super) fn entries(&self) -> impl Iterator<Item = Entry> + '_ {
        (0..self.n).map(|i| {
            let at = i * ENTRY;
            Entry {
                rec: u32_at(self.table, at),
                slot: u32_at(self.table, at + 4),
                hlc: u64_at(self.table, at + 8),
            }
        })
    }
}

/// A chunk being written by the current transaction.
#[derive(Debug)]
pub(super) struct Builder {
    pub(super) c: u32,
    pub(super) rno: u32,
    pub(super) chunk: u64,
    table: Vec<u8>,
    values: Vec<u8>,
    n: u32,
}

impl Builder {
    pub(super) fn new(c: u32, rno: u32, chunk: u64) -> Self {
        Self {
            c,
            rno,
            chunk,
            table: Vec::new(),
            values: Vec::new(),
            n: 0,
        }
    }

    pub(super) fn is_full(&self) -> bool {
        self.n as usize >= CHUNK_CAP || self.values.len() >= CHUNK_VALUE_BYTES
    }

    /// Appends an entry; returns its index.
    pub(super) fn push(&mut self, e: Entry, value: &[u8]) -> Result<u32, StoreError> {
        self.values.extend_from_slice(value);
        let end = u32::try_from(self.values.len())
            .map_err(|_| StoreError::Inconsistent("a value of more than 4 GiB"))?;
        self.table.extend_from_slice(&e.rec.to_le_bytes());
        self.table.extend_from_slice(&e.slot.to_le_bytes());
        self.table.extend_from_slice(&e.hlc.to_le_bytes());
        self.table.extend_from_slice(&end.to_le_bytes());
        self.n += 1;
        Ok(self.n - 1)
    }

    /// The value of entry `i`.
    pub(super) fn value(&self, i: u32) -> Result<&[u8], StoreError> {
        let i = i as usize;
        let end = |i: usize| {
            self.table
                .get(i * ENTRY + 16..i * ENTRY + 20)
                .map(|b| u32_at(b, 0))
        };
        let start = if i == 0 { Some(0) } else { end(i - 1) };
        start
            .zip(end(i))
            .and_then(|(s, e)| self.values.get(s as usize..e as usize))
            .ok_or(StoreError::Inconsistent("pending chunk entry index"))
    }

    /// The row: header, entry table, values (into `out`, cleared first).
    pub(super) fn encode(&self, out: &mut Vec<u8>) {
        out.clear();
        out.reserve(HEADER + self.table.len() + self.values.len());
        out.extend_from_slice(&self.c.to_le_bytes());
        out.extend_from_slice(&self.rno.to_le_bytes());
        out.extend_from_slice(&self.n.to_le_bytes());
        out.extend_from_slice(&self.table);
        out.extend_from_slice(&self.values);
    }
}

/// What memory knows of one chunk.
#[derive(Clone, Copy, Debug)]
pub(super) struct Meta {
    pub(super) c: u32,
    pub(super) rno: u32,
    /// Least and greatest HLC of its entries.
    pub(super) min: u64,
    pub(super) max: u64,
    /// Entries that are winners.
    pub(super) live: u32,
    /// All entries.
    pub(super) total: u32,
}

/// The chunks of one (collection, replica), for `ops_since`: `(max hlc, chunk) -> min hlc`.
#[derive(Debug, Default)]
pub(super) struct ReplicaChunks {
    pub(super) by_max: BTreeMap<(u64, u64), u64>,
    /// Whether each chunk's least HLC is at least the greatest HLC of every chunk before it
    /// (in `by_max` order): then least HLCs ascend too, and a scan can stop at the first
    /// chunk whose least HLC is past its cut. Chunks written in stamp order (local writes,
    /// a peer's batches in order, compaction) keep it; removing chunks keeps it; a chunk
    /// that overlaps the others clears it until the next compaction or open.
    pub(super) sorted: bool,
}

impl ReplicaChunks {
    pub(super) fn add(&mut self, chunk: u64, min: u64, max: u64) {
        let after = self
            .by_max
            .last_key_value()
            .is_none_or(|(&(m, _), _)| min >= m);
        let is_last = self
            .by_max
            .last_key_value()
            .is_none_or(|(&k, _)| (max, chunk) > k);
        if self.by_max.is_empty() {
            self.sorted = true;
        } else if !(after && is_last) {
            self.sorted = false;
        }
        self.by_max.insert((max, chunk), min);
    }

    pub(super) fn remove(&mut self, chunk: u64, max: u64) {
        self.by_max.remove(&(max, chunk));
    }

    /// Recomputes [`Self::sorted`].
    pub(super) fn check_sorted(&mut self) {
        let mut prev = 0;
        self.sorted = self.by_max.iter().all(|(&(max, _), &min)| {
            let ok = min >= prev;
            prev = max;
            ok
        });
    }
}

/// All chunks: metadata, the next chunk number, and entry counts (for compaction).
#[derive(Debug, Default)]
pub(super) struct Chunks {
    pub(super) meta: Map<u64, Meta>,
    pub(super) next: u64,
    /// Entries of all chunks, live or stale.
    pub(super) entries: usize,
    /// Live entries (winners).
    pub(super) live: usize,
}

impl Chunks {
    /// Entry `idx` of `chunk` is no longer a winner; a chunk left without winners is added
    /// to `dead`.
    pub(super) fn release(&mut self, chunk: u64, dead: &mut Vec<u64>) -> Result<(), StoreError> {
        let m = self
            .meta
            .get_mut(&chunk)
            .ok_or_else(|| StoreError::Inconsistent("winner in an unknown chunk"))?;
        m.live = m
            .live
            .checked_sub(1)
            .ok_or_else(|| StoreError::Inconsistent("chunk live count"))?;
        self.live -= 1;
        if m.live == 0 {
            dead.push(chunk);
        }
        Ok(())
    }

    /// Starts chunk number `next` for `(c, rno)`, empty; returns its number.
    pub(super) fn open(&mut self, c: u32, rno: u32) -> u64 {
        let chunk = self.next;
        self.next += 1;
        let meta = Meta {
            c,
            rno,
            min: u64::MAX,
            max: 0,
            live: 0,
            total: 0,
        };
        self.meta.insert(chunk, meta);
        chunk
    }

    /// A winner with HLC `hlc` was added to `chunk`.
    pub(super) fn add(&mut self, chunk: u64, hlc: u64) -> Result<(), StoreError> {
        let m = self
            .meta
            .get_mut(&chunk)
            .ok_or_else(|| StoreError::Inconsistent("entry of an unknown chunk"))?;
        m.live += 1;
        m.total += 1;
        m.min = m.min.min(hlc);
        m.max = m.max.max(hlc);
        self.entries += 1;
        self.live += 1;
        Ok(())
    }

    /// Forgets `chunk` (gone from the file); returns what was known of it.
    pub(super) fn forget(&mut self, chunk: u64) -> Option<Meta> {
        let m = self.meta.remove(&chunk)?;
        self.entries -= m.total as usize;
        self.live -= m.live as usize;
        Some(m)
    }

    /// Stale entries: entries of chunks that still hold a winner, minus the winners.
    pub(super) fn stale(&self) -> usize {
        self.entries - self.live
    }
}
