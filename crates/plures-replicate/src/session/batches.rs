//! Receiving OPS and SNAPSHOT batches, in the packed form they are decoded into.

use super::{Error, Session, violation};
use crate::wire::PackedBatch;

impl Session {
    /// An OPS or SNAPSHOT batch arrived: check it against credit, sequence and clock drift,
    /// note its stamps as the peer's, and queue it for [`Session::poll_apply_packed`].
    pub(super) fn on_batch(&mut self, now: u64, batch: PackedBatch) -> Result<(), Error> {
        let shared = self.shares(&batch.collection);
        let max_ms = now.saturating_add(self.cfg.max_drift_ms);
        let Some(p) = self.peer.as_mut() else {
            return Err(violation("message before HELLO"));
        };
        if !shared {
            return Err(violation("batch of a collection not shared"));
        }
        if p.granted <= 0 {
            return Err(violation("batch beyond credit"));
        }
        if batch.seq != p.expect_seq {
            return Err(violation("batch out of sequence"));
        }
        if batch.ops.is_empty() {
            return Err(violation("empty batch"));
        }
        if batch.ops.iter().any(|op| op.stamp.hlc.ms() > max_ms) {
            return Err(violation("stamp too far in the future"));
        }
        p.granted -= i64::try_from(batch.ops.len()).unwrap_or(i64::MAX);
        p.expect_seq += 1;
        let has = p.has.entry(batch.collection.clone()).or_default();
        for op in &batch.ops {
            has.observe(op.stamp);
        }
        self.applies.push_back(batch);
        Ok(())
    }

    /// The next batch to merge into the store, packed (see
    /// [`Store::apply_packed`](crate::Store::apply_packed)); call
    /// [`Session::handle_applied`] after.
    pub fn poll_apply_packed(&mut self) -> Option<PackedBatch> {
        let batch = self.applies.pop_front()?;
        if let Some(p) = self.peer.as_mut() {
            p.applying.push_back((batch.seq, batch.ops.len()));
        }
        Some(batch)
    }
}
