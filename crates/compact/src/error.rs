//! Error types of the codecs.

/// Why a decode failed. Small and `Copy`: decoders run on untrusted network input and must
/// not allocate to report a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes remained than the named field needs (the JS decoders' "Out of bounds").
    #[error("out of bounds while decoding {0}")]
    OutOfBounds(&'static str),
    /// An integer above 2^53 - 1 (the JS safe-integer limit the reference rejects).
    #[error("{0} is above 2^53-1")]
    UintTooLarge(&'static str),
    /// An array count above [`MAX_ARRAY_LEN`](crate::MAX_ARRAY_LEN) ("Array is too big").
    #[error("array count {0} is above the limit")]
    ArrayTooBig(u64),
    /// A value that decodes but that the named field does not allow.
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// Why an encode failed: the value cannot be represented so that a JS peer decodes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// An unsigned value above 2^53 - 1.
    #[error("unsigned value {0} is above 2^53-1")]
    UintOutOfRange(u64),
    /// A value that does not fit the fixed width of its field (JS would truncate it).
    #[error("value {value} does not fit {bytes} bytes")]
    Width {
        /// The value.
        value: u64,
        /// The width of the field in bytes.
        bytes: usize,
    },
    /// A signed value outside -2^52 ..= 2^52 - 1 (the range of the JS `int` codec).
    #[error("signed value {0} is outside -2^52..2^52-1")]
    IntOutOfRange(i64),
    /// A fixed-size field given a value of another length ("Incorrect buffer size").
    #[error("fixed field of {expected} bytes given {actual} bytes")]
    FixedSize {
        /// The size of the field.
        expected: usize,
        /// The size of the value.
        actual: usize,
    },
    /// An array longer than [`MAX_ARRAY_LEN`](crate::MAX_ARRAY_LEN), which no peer decodes.
    #[error("array of {0} elements is above the limit")]
    ArrayTooBig(usize),
    /// A bitfield wider than 64 bits, or a value with more bits than its declared width.
    #[error("bitfield value does not fit {0} bits")]
    Bitfield(u32),
}
