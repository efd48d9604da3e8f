//! The operations of a script, and the script format (see the parent module docs).

/// How deep arrays and frames nest in a script.
pub const MAX_DEPTH: usize = 4;

/// The most operations one frame runs.
pub const MAX_FRAME_OPS: usize = 4;

/// One [`Decoder`] operation (and the matching [`Sink`] method for re-encoding).
///
/// [`Decoder`]: plures_compact::Decoder
/// [`Sink`]: plures_compact::Sink
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// `uint`.
    Uint,
    /// `uint_usize`.
    UintUsize,
    /// `int`.
    Int,
    /// `u8`.
    U8,
    /// `u16`.
    U16,
    /// `u24`.
    U24,
    /// `u32`.
    U32,
    /// `u64`.
    U64,
    /// `uint_le(width)`, width 0..=9.
    UintLe(usize),
    /// `uint_be(width)`, width 0..=9.
    UintBe(usize),
    /// `int_le(width)`, width 0..=9.
    IntLe(usize),
    /// `f32`.
    F32,
    /// `f64`.
    F64,
    /// `bool`.
    Bool,
    /// `buffer`.
    Buffer,
    /// `optional_buffer`.
    OptionalBuffer,
    /// `string`.
    String,
    /// `fixed::<0>`.
    Fixed0,
    /// `fixed::<1>`.
    Fixed1,
    /// `fixed::<2>`.
    Fixed2,
    /// `fixed::<16>`.
    Fixed16,
    /// `fixed::<32>`.
    Fixed32,
    /// `fixed::<64>`.
    Fixed64,
    /// `raw`.
    Raw,
    /// `take(n)` (re-encoded with `put`).
    Take(usize),
    /// `array_len`.
    ArrayLen,
    /// `array` of one element operation.
    Array(Box<Op>),
    /// `frame` running a sequence of operations on its region.
    Frame(Vec<Op>),
    /// `ipv4`.
    Ipv4,
    /// `ipv4_address`.
    Ipv4Address,
    /// `ipv6`.
    Ipv6,
    /// `ipv6_address`.
    Ipv6Address,
    /// `ip`.
    Ip,
    /// `ip_address`.
    IpAddress,
    /// `bitfield(length)`, length 0..=64.
    Bitfield(u32),
}

/// The number of distinct op codes.
const CODES: u8 = 35;

fn next_byte(bytes: &mut &[u8]) -> Option<u8> {
    let (&b, rest) = bytes.split_first()?;
    *bytes = rest;
    Some(b)
}

impl Op {
    /// Parses one operation from the front of `bytes`; `None` once they are used up.
    pub fn parse(bytes: &mut &[u8], depth: usize) -> Option<Self> {
        let code = next_byte(bytes)? % CODES;
        let mut param = || next_byte(bytes).unwrap_or(0);
        Some(match code {
            0 => Self::Uint,
            1 => Self::UintUsize,
            2 => Self::Int,
            3 => Self::U8,
            4 => Self::U16,
            5 => Self::U24,
            6 => Self::U32,
            7 => Self::U64,
            8 => Self::UintLe(usize::from(param() % 10)),
            9 => Self::UintBe(usize::from(param() % 10)),
            10 => Self::IntLe(usize::from(param() % 10)),
            11 => Self::F32,
            12 => Self::F64,
            13 => Self::Bool,
            14 => Self::Buffer,
            15 => Self::OptionalBuffer,
            16 => Self::String,
            17 => Self::Fixed0,
            18 => Self::Fixed1,
            19 => Self::Fixed2,
            20 => Self::Fixed16,
            21 => Self::Fixed32,
            22 => Self::Fixed64,
            23 => Self::Raw,
            24 => Self::Take(usize::from(param())),
            25 => Self::ArrayLen,
            26 if depth < MAX_DEPTH => {
                Self::Array(Box::new(Self::parse(bytes, depth + 1).unwrap_or(Self::U8)))
            }
            27 if depth < MAX_DEPTH => {
                let n = usize::from(param()) % (MAX_FRAME_OPS + 1);
                Self::Frame(
                    (0..n)
                        .map_while(|_| Self::parse(bytes, depth + 1))
                        .collect(),
                )
            }
            26 | 27 => Self::Uint,
            28 => Self::Ipv4,
            29 => Self::Ipv4Address,
            30 => Self::Ipv6,
            31 => Self::Ipv6Address,
            32 => Self::Ip,
            33 => Self::IpAddress,
            _ => Self::Bitfield(u32::from(param()) % 65),
        })
    }

    /// Appends the op bytes that [`parse`](Self::parse) reads back as `self` (within
    /// [`MAX_DEPTH`], at most [`MAX_FRAME_OPS`] per frame, widths below 10, `take` below 256).
    pub fn write(&self, out: &mut Vec<u8>) {
        let param = |n: usize| u8::try_from(n).expect("op parameter above 255");
        match self {
            Self::Uint => out.push(0),
            Self::UintUsize => out.push(1),
            Self::Int => out.push(2),
            Self::U8 => out.push(3),
            Self::U16 => out.push(4),
            Self::U24 => out.push(5),
            Self::U32 => out.push(6),
            Self::U64 => out.push(7),
            Self::UintLe(w) => out.extend([8, param(*w)]),
            Self::UintBe(w) => out.extend([9, param(*w)]),
            Self::IntLe(w) => out.extend([10, param(*w)]),
            Self::F32 => out.push(11),
            Self::F64 => out.push(12),
            Self::Bool => out.push(13),
            Self::Buffer => out.push(14),
            Self::OptionalBuffer => out.push(15),
            Self::String => out.push(16),
            Self::Fixed0 => out.push(17),
            Self::Fixed1 => out.push(18),
            Self::Fixed2 => out.push(19),
            Self::Fixed16 => out.push(20),
            Self::Fixed32 => out.push(21),
            Self::Fixed64 => out.push(22),
            Self::Raw => out.push(23),
            Self::Take(n) => out.extend([24, param(*n)]),
            Self::ArrayLen => out.push(25),
            Self::Array(elem) => {
                out.push(26);
                elem.write(out);
            }
            Self::Frame(ops) => {
                out.extend([27, param(ops.len())]);
                for op in ops {
                    op.write(out);
                }
            }
            Self::Ipv4 => out.push(28),
            Self::Ipv4Address => out.push(29),
            Self::Ipv6 => out.push(30),
            Self::Ipv6Address => out.push(31),
            Self::Ip => out.push(32),
            Self::IpAddress => out.push(33),
            Self::Bitfield(length) => out.extend([34, param(*length as usize)]),
        }
    }

    /// The size of a `fixed::<N>` operation.
    pub(super) fn fixed_len(&self) -> Option<usize> {
        match self {
            Self::Fixed0 => Some(0),
            Self::Fixed1 => Some(1),
            Self::Fixed2 => Some(2),
            Self::Fixed16 => Some(16),
            Self::Fixed32 => Some(32),
            Self::Fixed64 => Some(64),
            _ => None,
        }
    }

    /// Whether every strict prefix of a successful decoding must fail. Not so for anything
    /// that ends in `raw`, which accepts any tail; a frame is closed whatever it holds,
    /// because its length prefix is checked first.
    pub(super) fn closed(&self) -> bool {
        match self {
            Self::Raw => false,
            Self::Array(elem) => elem.closed(),
            _ => true,
        }
    }
}

/// Splits an input into its operations and its payload (see the module docs).
pub fn parse_script(data: &[u8]) -> (Vec<Op>, &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return (Vec::new(), &[]);
    };
    let (mut op_bytes, payload) = rest.split_at(usize::from(k).min(rest.len()));
    let mut ops = Vec::new();
    while let Some(op) = Op::parse(&mut op_bytes, 0) {
        ops.push(op);
    }
    (ops, payload)
}

/// The script running `ops` over `payload`.
///
/// # Panics
///
/// If the operations take more than 255 op bytes.
pub fn script(ops: &[Op], payload: &[u8]) -> Vec<u8> {
    let mut op_bytes = Vec::new();
    for op in ops {
        op.write(&mut op_bytes);
    }
    let k = u8::try_from(op_bytes.len()).expect("script above 255 op bytes");
    let mut out = vec![k];
    out.extend(op_bytes);
    out.extend_from_slice(payload);
    out
}
