//! Flush bookkeeping (spec §5).

use std::time::Instant;

use super::{Core, Event, FlushId, FlushState};

impl Core {
    /// Starts a flush (spec §5); [`Event::Flushed`] reports its end.
    pub fn flush(&mut self, now: Instant) -> FlushId {
        self.now = now;
        let id = self.next_flush;
        self.next_flush += 1;
        if self.destroyed {
            self.events.push_back(Event::Flushed {
                flush: id,
                ok: false,
            });
            return id;
        }
        self.flushes.insert(id, FlushState::Discoveries);
        self.check_flushes();
        id
    }

    pub(super) fn check_flushes(&mut self) {
        if self.topics.values().any(|d| d.refreshing) {
            return;
        }
        let waiting: Vec<FlushId> = self
            .flushes
            .iter()
            .filter(|(_, s)| matches!(s, FlushState::Discoveries))
            .map(|(id, _)| *id)
            .collect();
        for id in waiting {
            if self.connecting == 0 && (self.at_capacity() || self.queue.is_empty()) {
                self.resolve(id, true);
            } else {
                let tick = self.flush_tick;
                self.flush_tick += 1;
                let missing = self.queue.len() + self.connecting;
                self.flushes.insert(id, FlushState::Dials { missing, tick });
            }
        }
    }

    /// One dequeued peer enqueued at `tick` was tried (opened, failed or skipped).
    pub(super) fn flush_done(&mut self, tick: Option<u64>) {
        let Some(tick) = tick else {
            return;
        };
        let mut done = Vec::new();
        for (id, s) in &mut self.flushes {
            if let FlushState::Dials { missing, tick: t } = s {
                if tick <= *t {
                    *missing = missing.saturating_sub(1);
                    if *missing == 0 {
                        done.push(*id);
                    }
                }
            }
        }
        for id in done {
            self.resolve(id, true);
        }
    }

    /// The last attempt ended while at capacity: every counting flush is done.
    pub(super) fn attempt_ended(&mut self) {
        if self.connecting == 0 && self.at_capacity() {
            let done: Vec<FlushId> = self
                .flushes
                .iter()
                .filter(|(_, s)| matches!(s, FlushState::Dials { .. }))
                .map(|(id, _)| *id)
                .collect();
            for id in done {
                self.resolve(id, true);
            }
        }
    }

    pub(super) fn resolve(&mut self, id: FlushId, ok: bool) {
        if self.flushes.remove(&id).is_some() {
            self.events.push_back(Event::Flushed { flush: id, ok });
        }
    }
}
