//! Merging a batch inside a write transaction: winners go into the transaction's open
//! chunks (one per collection and replica), replaced winners are released from their
//! chunks, and chunks left without winners are removed.

use super::chunk::{Builder, Entry, View};
use super::layout::{self, Interner, State, VERSIONS, W, stamp_of};
use super::{COMPACT_MIN_STALE, COMPACT_RATIO, Part, RedbStore, compact};
use crate::error::StoreError;
use redb::{Table, WriteTransaction};
use std::cmp::Ordering;

type Log<'t> = Table<'t, u64, &'static [u8]>;

/// The chunks a transaction is writing, and the chunks it left without winners.
#[derive(Default)]
pub(super) struct Pending {
    builders: Vec<Builder>,
    dead: Vec<u64>,
}

impl Pending {
    /// Appends a winner to the open chunk of `(c, rno)` (closing and writing it first if it
    /// is full); returns the chunk number and entry index.
    fn push(
        &mut self,
        log: &mut Log<'_>,
        state: &mut State,
        row: &mut Vec<u8>,
        (c, rno): (u32, u32),
        e: Entry,
        value: &[u8],
    ) -> Result<(u64, u32), StoreError> {
        let at = match self.builders.iter().position(|b| b.c == c && b.rno == rno) {
            Some(at) => {
                if self.builders[at].is_full() {
                    let fresh = Builder::new(c, rno, state.chunks.open(c, rno));
                    let full = std::mem::replace(&mut self.builders[at], fresh);
                    close(log, state, row, &full)?;
                }
                at
            }
            None => {
                self.builders
                    .push(Builder::new(c, rno, state.chunks.open(c, rno)));
                self.builders.len() - 1
            }
        };
        let b = &mut self.builders[at];
        let idx = b.push(e, value)?;
        state.chunks.add(b.chunk, e.hlc)?;
        Ok((b.chunk, idx))
    }

    /// The value of winner `w` (for an equal-stamp tie).
    fn value_of(&self, log: &Log<'_>, w: W) -> Result<Vec<u8>, StoreError> {
        if let Some(b) = self.builders.iter().find(|b| b.chunk == w.chunk) {
            return Ok(b.value(w.idx)?.to_vec());
        }
        let row = redb::ReadableTable::get(log, w.chunk)?.ok_or(StoreError::Inconsistent(
            "winner's chunk missing from the log",
        ))?;
        Ok(View::parse(row.value())?.value(w.idx as usize)?.to_vec())
    }

    /// Writes the open chunks and removes the chunks left without winners.
    fn finish(
        self,
        log: &mut Log<'_>,
        state: &mut State,
        row: &mut Vec<u8>,
    ) -> Result<(), StoreError> {
        for b in &self.builders {
            close(log, state, row, b)?;
        }
        for chunk in self.dead {
            if state.chunks.meta.get(&chunk).is_none_or(|m| m.live > 0) {
                continue;
            }
            if let Some(m) = state.chunks.forget(chunk) {
                log.remove(chunk)?;
                if let Some(rc) = state.colls.get_mut(m.c as usize) {
                    rc.replica_chunks(m.rno).remove(chunk, m.max);
                }
            }
        }
        Ok(())
    }
}

/// Writes the chunk `b` to `log` and indexes it, unless it was left without winners.
fn close(
    log: &mut Log<'_>,
    state: &mut State,
    row: &mut Vec<u8>,
    b: &Builder,
) -> Result<(), StoreError> {
    let m = *state
        .chunks
        .meta
        .get(&b.chunk)
        .ok_or(StoreError::Inconsistent("open chunk without metadata"))?;
    if m.live == 0 {
        state.chunks.forget(b.chunk);
        return Ok(());
    }
    b.encode(row);
    log.insert(b.chunk, row.as_slice())?;
    state.colls[b.c as usize]
        .replica_chunks(b.rno)
        .add(b.chunk, m.min, m.max);
    Ok(())
}

impl RedbStore {
    /// Merges `ops` inside `txn`, updating the in-memory state.
    pub(in crate::store) fn apply_in<'a>(
        &mut self,
        txn: &WriteTransaction,
        ops: impl IntoIterator<Item = Result<Part<'a>, StoreError>>,
    ) -> Result<usize, StoreError> {
        let mut log = txn.open_table(layout::log_table(&self.state.log_name))?;
        let mut int = Interner::new(&mut self.state, txn)?;
        let (buf, row) = (&mut self.buf, &mut self.row);
        let mut pending = Pending::default();
        let mut gone: Vec<u64> = Vec::new();
        let mut dirty: Vec<(u32, u32)> = Vec::new();
        let mut changed = 0;
        let mut last: Option<(&str, u32)> = None;
        for op in ops {
            let op = op?;
            let c = match last {
                Some((name, c)) if name == op.collection => c,
                _ => {
                    let c = int.collection(op.collection)?;
                    last = Some((op.collection, c));
                    c
                }
            };
            let rec = int.record(c, op.id)?;
            let slot = int.slot(op.field)?;
            let rno = int.replica(op.stamp.replica)?;
            let state = &mut *int.state;
            let replicas = &state.replicas.names;
            let coll = &mut state.colls[c as usize];
            if coll.vv.observe(op.stamp) && !dirty.contains(&(c, rno)) {
                dirty.push((c, rno));
            }
            let r = &mut coll.recs[rec as usize];
            if let Some(t) = r.tomb
                && stamp_of(replicas, t)? >= op.stamp
            {
                continue;
            }
            // The winners this operation replaces.
            gone.clear();
            let mut at = None;
            match op.field {
                None => {
                    gone.extend(r.tomb.map(|t| t.chunk));
                    let mut err = None;
                    r.fields.retain(|f| match stamp_of(replicas, f.1) {
                        Ok(s) if s > op.stamp => true,
                        Ok(_) => {
                            gone.push(f.1.chunk);
                            false
                        }
                        Err(e) => {
                            err = Some(e);
                            true
                        }
                    });
                    if let Some(e) = err {
                        return Err(e);
                    }
                    buf.clear();
                }
                Some(_) => {
                    layout::encode_value(buf, op.value)?;
                    at = r.fields.iter().position(|f| f.0 == slot);
                    if let Some(at) = at {
                        let old = r.fields[at].1;
                        let wins = match op.stamp.cmp(&stamp_of(replicas, old)?) {
                            Ordering::Greater => true,
                            Ordering::Less => false,
                            Ordering::Equal => {
                                // Same stamp, same slot: the greater JSON text wins.
                                let held = pending.value_of(&log, old)?;
                                layout::value_text(buf)? > layout::value_text(&held)?
                            }
                        };
                        if !wins {
                            continue;
                        }
                        gone.push(old.chunk);
                    }
                }
            }
            for &chunk in &gone {
                state.chunks.release(chunk, &mut pending.dead)?;
            }
            let hlc = op.stamp.hlc.as_u64();
            let entry = Entry { rec, slot, hlc };
            let (chunk, idx) = pending.push(&mut log, state, row, (c, rno), entry, buf)?;
            let w = W {
                hlc,
                chunk,
                rno,
                idx,
            };
            let r = &mut state.colls[c as usize].recs[rec as usize];
            match (op.field, at) {
                (None, _) => r.tomb = Some(w),
                (Some(_), Some(at)) => r.fields[at].1 = w,
                (Some(_), None) => r.fields.push((slot, w)),
            }
            changed += 1;
        }
        int.finish()?;
        pending.finish(&mut log, &mut self.state, row)?;
        drop(log);
        let chunks = &self.state.chunks;
        let stale = chunks.stale();
        if changed > 0
            && stale > COMPACT_MIN_STALE
            && stale > chunks.live.saturating_mul(COMPACT_RATIO)
        {
            compact::compact(txn, &mut self.state, &mut self.row)?;
            #[cfg(test)]
            {
                self.compactions += 1;
            }
        }
        let mut versions = txn.open_table(VERSIONS)?;
        for (c, rno) in dirty {
            let replica = self.state.replica(rno)?;
            let hlc = self.state.colls[c as usize].vv.get(&replica);
            versions.insert((c, rno), hlc.as_u64())?;
        }
        Ok(changed)
    }
}
