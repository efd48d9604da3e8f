//! A byte cursor for the stateful targets: reads script operands from the fuzz input and
//! yields zeros once the input runs out, so every input is a complete script.

use std::time::{Duration, Instant};

/// Reads operands from the front of a fuzz input.
pub(crate) struct Cursor<'a> {
    data: &'a [u8],
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub(crate) fn u8(&mut self) -> u8 {
        match self.data.split_first() {
            Some((&b, rest)) => {
                self.data = rest;
                b
            }
            None => 0,
        }
    }

    pub(crate) fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    pub(crate) fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }

    /// Up to `n` bytes (fewer when the input ends).
    pub(crate) fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.data.split_at(n.min(self.data.len()));
        self.data = rest;
        head
    }
}

/// Virtual time: a base captured once per run plus a monotonically growing offset.
pub(crate) struct Clock {
    base: Instant,
    offset: Duration,
}

impl Clock {
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
            offset: Duration::ZERO,
        }
    }

    pub(crate) fn now(&self) -> Instant {
        self.base + self.offset
    }

    /// Moves time forward by `by` (never backwards) and returns the new time.
    pub(crate) fn advance(&mut self, by: Duration) -> Instant {
        self.offset += by;
        self.now()
    }

    /// Moves time forward to `t` if it lies ahead; returns the (possibly unchanged) time.
    pub(crate) fn advance_to(&mut self, t: Instant) -> Instant {
        if let Some(d) = t.checked_duration_since(self.now()) {
            self.offset += d;
        }
        self.now()
    }
}
