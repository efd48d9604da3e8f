//! Selective-acknowledgement blocks.

use std::fmt;
use std::iter::FusedIterator;
use std::slice::{ChunksExact, Iter};

/// Bytes per SACK block on the wire: `start` and `end`, each a little-endian `u32`.
pub const SACK_BLOCK_LEN: usize = 8;

/// The most SACK blocks libudx puts in one packet (`UDX_MAX_SACKS`). Receivers accept
/// any number that fits the datagram.
pub const MAX_SACK_BLOCKS: usize = 50;

/// One SACK block: the half-open range `[start, end)` of sequence numbers the sender of
/// the packet received out of order. Values are as received; whether a block is
/// plausible (`start < end`, within the window) is for the stream to judge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SackBlock {
    /// First sequence number received.
    pub start: u32,
    /// One past the last sequence number received.
    pub end: u32,
}

impl SackBlock {
    /// The wire form of the block.
    #[must_use]
    pub const fn to_bytes(self) -> [u8; SACK_BLOCK_LEN] {
        let s = self.start.to_le_bytes();
        let e = self.end.to_le_bytes();
        [s[0], s[1], s[2], s[3], e[0], e[1], e[2], e[3]]
    }

    /// Reads a block from its wire form.
    #[must_use]
    pub const fn from_bytes(b: [u8; SACK_BLOCK_LEN]) -> Self {
        Self {
            start: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            end: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// A list of SACK blocks: either borrowed from a received packet or given by the caller
/// for sending. Two lists are equal when they hold the same blocks in the same order,
/// whichever form they take.
#[derive(Clone, Copy)]
pub struct SackList<'a>(Source<'a>);

#[derive(Clone, Copy)]
enum Source<'a> {
    /// Wire bytes; a length that is a multiple of [`SACK_BLOCK_LEN`].
    Wire(&'a [u8]),
    Blocks(&'a [SackBlock]),
}

impl<'a> SackList<'a> {
    /// The empty list.
    pub const EMPTY: Self = Self(Source::Blocks(&[]));

    /// A list of the caller's blocks.
    #[must_use]
    pub const fn from_blocks(blocks: &'a [SackBlock]) -> Self {
        Self(Source::Blocks(blocks))
    }

    /// The blocks in a SACK area: `floor(len / 8)` of them, trailing bytes ignored, as in
    /// the reference.
    #[must_use]
    pub fn from_wire(area: &'a [u8]) -> Self {
        let whole = area.len() - area.len() % SACK_BLOCK_LEN;
        Self(Source::Wire(area.get(..whole).unwrap_or_default()))
    }

    /// The number of blocks.
    #[must_use]
    pub const fn len(&self) -> usize {
        match self.0 {
            Source::Wire(b) => b.len() / SACK_BLOCK_LEN,
            Source::Blocks(b) => b.len(),
        }
    }

    /// No block.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The blocks in order.
    #[must_use]
    pub fn iter(&self) -> SackIter<'a> {
        SackIter(match self.0 {
            Source::Wire(b) => IterSource::Wire(b.chunks_exact(SACK_BLOCK_LEN)),
            Source::Blocks(b) => IterSource::Blocks(b.iter()),
        })
    }

    /// The wire length of the blocks.
    #[must_use]
    pub const fn wire_len(&self) -> usize {
        self.len() * SACK_BLOCK_LEN
    }

    /// Writes the blocks' wire form to the front of `out`; `out` must hold
    /// [`wire_len`](Self::wire_len) bytes (the caller checks), extra blocks are dropped.
    pub(crate) fn write(&self, out: &mut [u8]) {
        for (block, dst) in self.iter().zip(out.chunks_exact_mut(SACK_BLOCK_LEN)) {
            dst.copy_from_slice(&block.to_bytes());
        }
    }
}

impl Default for SackList<'_> {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl<'a> From<&'a [SackBlock]> for SackList<'a> {
    fn from(blocks: &'a [SackBlock]) -> Self {
        Self::from_blocks(blocks)
    }
}

impl<'a> IntoIterator for SackList<'a> {
    type Item = SackBlock;
    type IntoIter = SackIter<'a>;
    fn into_iter(self) -> SackIter<'a> {
        self.iter()
    }
}

impl PartialEq for SackList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for SackList<'_> {}

impl fmt::Debug for SackList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator over the blocks of a [`SackList`].
#[derive(Debug, Clone)]
pub struct SackIter<'a>(IterSource<'a>);

#[derive(Debug, Clone)]
enum IterSource<'a> {
    Wire(ChunksExact<'a, u8>),
    Blocks(Iter<'a, SackBlock>),
}

impl Iterator for SackIter<'_> {
    type Item = SackBlock;

    fn next(&mut self) -> Option<SackBlock> {
        match &mut self.0 {
            IterSource::Wire(chunks) => {
                let chunk = chunks.next()?;
                chunk.try_into().ok().map(SackBlock::from_bytes)
            }
            IterSource::Blocks(blocks) => blocks.next().copied(),
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        match &self.0 {
            IterSource::Wire(c) => c.size_hint(),
            IterSource::Blocks(b) => b.size_hint(),
        }
    }
}

impl ExactSizeIterator for SackIter<'_> {}
impl FusedIterator for SackIter<'_> {}
