//! The uint24 little-endian length framing of secret-stream (spec `secret-stream.md` §2).
//!
//! `frame = len (uint24 LE) ‖ body (len bytes)`. Every Noise message, the header and every
//! encrypted message is one frame. Parsing never panics: the incremental reader takes bytes in
//! any chunking and hands out whole bodies.

/// Length of the frame prefix.
pub const LEN_PREFIX: usize = 3;
/// Largest frame body, `2^24 − 1` (JS `MAX_ATOMIC_WRITE`).
pub const MAX_FRAME_LEN: usize = (1 << 24) - 1;

/// Appends `uint24_le(body.len()) ‖ body` to `out`. The caller keeps `body` at most
/// [`MAX_FRAME_LEN`] bytes.
pub(crate) fn write_frame(out: &mut Vec<u8>, body: &[u8]) {
    debug_assert!(body.len() <= MAX_FRAME_LEN);
    out.extend_from_slice(&len_prefix(body.len()));
    out.extend_from_slice(body);
}

/// The 3-byte little-endian length prefix of a body of `len` bytes.
pub(crate) fn len_prefix(len: usize) -> [u8; LEN_PREFIX] {
    let b = (len as u32).to_le_bytes();
    [b[0], b[1], b[2]]
}

/// The body length announced by a prefix.
pub(crate) fn read_len(prefix: [u8; LEN_PREFIX]) -> usize {
    u32::from_le_bytes([prefix[0], prefix[1], prefix[2], 0]) as usize
}

/// Incremental frame parser: buffers input and yields complete bodies.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    buf: Vec<u8>,
    pos: usize,
}

/// What [`FrameReader::next_frame`] found.
pub(crate) enum Next {
    /// A complete body at this range of [`FrameReader::buffer`].
    Frame(core::ops::Range<usize>),
    /// More bytes are needed; the announced body length, if the prefix is complete.
    Pending(Option<usize>),
}

impl FrameReader {
    pub(crate) fn extend(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    pub(crate) fn buffer(&self) -> &[u8] {
        &self.buf
    }

    /// The next complete frame, consuming it.
    pub(crate) fn next_frame(&mut self) -> Next {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let Some(prefix) = rest.first_chunk::<LEN_PREFIX>() else {
            return Next::Pending(None);
        };
        let len = read_len(*prefix);
        if rest.len() < LEN_PREFIX + len {
            return Next::Pending(Some(len));
        }
        let start = self.pos + LEN_PREFIX;
        self.pos = start + len;
        Next::Frame(start..start + len)
    }

    /// Drops consumed bytes so the buffer does not grow without bound.
    pub(crate) fn compact(&mut self) {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// Whether bytes of an unfinished frame are buffered.
    pub(crate) fn has_partial(&self) -> bool {
        self.pos < self.buf.len()
    }

    pub(crate) fn clear(&mut self) {
        self.buf = Vec::new();
        self.pos = 0;
    }
}
