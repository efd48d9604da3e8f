//! The send queue: written bytes waiting to be packetised, kept as the chunks they were
//! written in, so that a packet's payload is usually a cheap slice of one chunk (shared
//! with nothing else once cut) that retransmissions reuse without copying.

use std::collections::VecDeque;

use bytes::{Bytes, BytesMut};

/// Written, not yet packetised bytes.
#[derive(Debug, Default)]
pub(super) struct SendQueue {
    chunks: VecDeque<Bytes>,
    len: usize,
}

impl SendQueue {
    /// Appends a chunk (empty chunks are ignored).
    pub(super) fn push(&mut self, chunk: Bytes) {
        if !chunk.is_empty() {
            self.len += chunk.len();
            self.chunks.push_back(chunk);
        }
    }

    /// Queued bytes.
    pub(super) const fn len(&self) -> usize {
        self.len
    }

    pub(super) const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Removes and returns the first `min(n, len)` bytes: a slice of the first chunk when
    /// it holds them, else a copy gathered from as many chunks as needed.
    pub(super) fn take(&mut self, n: usize) -> Bytes {
        let n = n.min(self.len);
        let Some(front) = self.chunks.front_mut() else {
            return Bytes::new();
        };
        if front.len() >= n {
            let out = front.split_to(n);
            if front.is_empty() {
                self.chunks.pop_front();
            }
            self.len -= n;
            return out;
        }
        let mut out = BytesMut::with_capacity(n);
        while out.len() < n {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            let want = (n - out.len()).min(front.len());
            out.extend_from_slice(&front.split_to(want));
            if front.is_empty() {
                self.chunks.pop_front();
            }
        }
        self.len -= out.len();
        out.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn queue(chunks: &[&[u8]]) -> SendQueue {
        let mut q = SendQueue::default();
        for c in chunks {
            q.push(Bytes::copy_from_slice(c));
        }
        q
    }

    #[test]
    fn take_within_one_chunk_is_a_slice() {
        let mut q = queue(&[b"hello world"]);
        let first = q.take(5);
        assert_eq!(&first[..], b"hello");
        assert_eq!(q.len(), 6);
        assert_eq!(&q.take(100)[..], b" world");
        assert!(q.is_empty());
        assert!(q.take(3).is_empty());
    }

    #[test]
    fn take_across_chunks_gathers() {
        let mut q = queue(&[b"ab", b"", b"cde", b"f"]);
        assert_eq!(q.len(), 6);
        assert_eq!(&q.take(4)[..], b"abcd");
        assert_eq!(q.len(), 2);
        assert_eq!(&q.take(4)[..], b"ef");
        assert_eq!(q.len(), 0);
        assert!(q.chunks.is_empty());
    }

    #[test]
    fn matches_a_flat_buffer() {
        // Arbitrary chunking and packet sizes give the same byte stream.
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut q = SendQueue::default();
        let mut at = 0;
        for (i, size) in [1usize, 7, 1152, 3000, 13, 0, 5000]
            .iter()
            .cycle()
            .enumerate()
        {
            if at >= data.len() || i > 100 {
                break;
            }
            let end = (at + size).min(data.len());
            q.push(Bytes::copy_from_slice(&data[at..end]));
            at = end;
        }
        q.push(Bytes::copy_from_slice(&data[at..]));
        let mut out = Vec::new();
        for n in [1152usize, 1, 1132, 4000].iter().cycle() {
            if q.is_empty() {
                break;
            }
            let before = q.len();
            let got = q.take(*n);
            assert_eq!(got.len(), (*n).min(before));
            out.extend_from_slice(&got);
        }
        assert_eq!(out, data);
    }
}
