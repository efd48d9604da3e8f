//! Compaction of `log` by generation: the live entries move into fresh, full chunks of the
//! next generation's table, per (collection, replica) in HLC order.

use super::chunk::{Builder, Chunks, Entry, ReplicaChunks, View};
use super::layout::{self, Coll, LAYOUT, State, corrupt};
use crate::error::StoreError;
use redb::{ReadableTable, Table, WriteTransaction};

/// Copies the live entries of `log` into full chunks of the next generation's table,
/// deletes the old table and records the new generation, all inside the caller's
/// transaction (so a crash leaves one generation whole). Chunks that are still entirely
/// live are copied as well: copying bytes is cheap next to the B-tree work, and the new
/// table then holds each replica's winners in HLC order without overlap. (Copying into a
/// fixed name and `rename_table` would keep one name, but redb 2.6.4 failed to reopen a
/// file after a crash that followed a commit renaming a table.)
pub(super) fn compact(
    txn: &WriteTransaction,
    state: &mut State,
    row: &mut Vec<u8>,
) -> Result<(), StoreError> {
    let generation = state.log_generation + 1;
    let name = layout::log_name(generation);
    let mut chunks = Chunks {
        next: state.chunks.next,
        ..Chunks::default()
    };
    {
        let old = txn.open_table(layout::log_table(&state.log_name))?;
        let mut new = txn.open_table(layout::log_table(&name))?;
        let mut live = Vec::new();
        let mut arena = Vec::new();
        for (c, coll) in (0u32..).zip(state.colls.iter_mut()) {
            let index = std::mem::take(&mut coll.chunks);
            for (rno, rc) in (0u32..).zip(&index) {
                live.clear();
                arena.clear();
                gather(&old, coll, rc, &mut live, &mut arena)?;
                live.sort_unstable_by_key(|e: &Live| (e.entry.hlc, e.entry.rec, e.entry.slot));
                let mut to = Copy {
                    table: &mut new,
                    chunks: &mut chunks,
                    row,
                    coll,
                    open: None,
                };
                for e in &live {
                    to.push(c, rno, e, &arena[e.start..e.end])?;
                }
                to.close()?;
            }
            for rc in &mut coll.chunks {
                rc.check_sorted();
            }
        }
    }
    txn.delete_table(layout::log_table(&state.log_name))?;
    txn.open_table(LAYOUT)?.insert("log", generation)?;
    state.log_generation = generation;
    state.log_name = name;
    state.chunks = chunks;
    Ok(())
}

/// A live entry during a compaction, its value at `start..end` of the arena.
struct Live {
    entry: Entry,
    start: usize,
    end: usize,
}

/// Collects the live entries of the chunks `rc` of `coll`, copying their values into
/// `arena`.
fn gather(
    old: &Table<'_, u64, &'static [u8]>,
    coll: &Coll,
    rc: &ReplicaChunks,
    live: &mut Vec<Live>,
    arena: &mut Vec<u8>,
) -> Result<(), StoreError> {
    for &(_, chunk) in rc.by_max.keys() {
        let guard = old.get(chunk)?.ok_or(StoreError::Inconsistent(
            "indexed chunk missing from the log",
        ))?;
        let view = View::parse(guard.value())?;
        for (i, e) in (0u32..).zip(view.entries()) {
            if coll.is_live(e.rec, e.slot, chunk, i) {
                let start = arena.len();
                arena.extend_from_slice(view.value(i as usize)?);
                live.push(Live {
                    entry: e,
                    start,
                    end: arena.len(),
                });
            }
        }
    }
    Ok(())
}

/// Writes live entries into new chunks of one (collection, replica).
struct Copy<'a, 't> {
    table: &'a mut Table<'t, u64, &'static [u8]>,
    chunks: &'a mut Chunks,
    row: &'a mut Vec<u8>,
    coll: &'a mut Coll,
    open: Option<Builder>,
}

impl Copy<'_, '_> {
    fn push(&mut self, c: u32, rno: u32, e: &Live, value: &[u8]) -> Result<(), StoreError> {
        if self.open.as_ref().is_none_or(Builder::is_full) {
            self.close()?;
            self.open = Some(Builder::new(c, rno, self.chunks.open(c, rno)));
        }
        let Some(b) = self.open.as_mut() else {
            return Err(StoreError::Inconsistent("no open chunk"));
        };
        let idx = b.push(e.entry, value)?;
        self.chunks.add(b.chunk, e.entry.hlc)?;
        let w = self
            .coll
            .recs
            .get_mut(e.entry.rec as usize)
            .and_then(|r| r.at_mut(e.entry.slot))
            .ok_or_else(|| corrupt("live entry without a winner"))?;
        w.chunk = b.chunk;
        w.idx = idx;
        Ok(())
    }

    fn close(&mut self) -> Result<(), StoreError> {
        let Some(b) = self.open.take() else {
            return Ok(());
        };
        let m = self
            .chunks
            .meta
            .get(&b.chunk)
            .ok_or(StoreError::Inconsistent("open chunk without metadata"))?;
        b.encode(self.row);
        self.table.insert(b.chunk, self.row.as_slice())?;
        self.coll.replica_chunks(b.rno).add(b.chunk, m.min, m.max);
        Ok(())
    }
}
