//! plures-compact against the datrs `compact-encoding` crate (Rust registry, 2.x) on the same
//! workloads as `benches/js/compact.mjs` (JS compact-encoding 3.5.2). Run all three with
//! `benches/run-compact.sh`; the decision is in `docs/decisions.md`.
//!
//! Cases (criterion group / function):
//! - `uint10k-encode`, `uint10k-decode`: 10 000 `uint`s, 60 % 1-byte, 25 % 3-byte, 10 % 5-byte,
//!   5 % 9-byte forms (seeded xorshift64, the same values as the JS script).
//! - `msg-encode`, `msg-decode`: a dht-rpc-like message (flags uint, tid uint16, to
//!   ipv4Address, id fixed32, token fixed32, command uint, target fixed32, value buffer of
//!   100 bytes, 20 closer nodes as array(ipv4Address); 328 bytes).
//! - `buf1k-*`, `buf64k-*`: one `buffer` of 1 KiB / 64 KiB.
//!
//! Encodes produce a fresh exactly-sized buffer (size pass, then write), as `c.encode` does.
//! Function `ours` is plures-compact's natural API (decode borrows byte strings from the
//! input, like JS `subarray`); `ours-owned` copies them into `Vec`s, like datrs must.

use std::hint::black_box;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use compact_encoding::{CompactEncoding, EncodingError};
use criterion::Criterion;
use plures_compact::{Counter, DecodeError, Decoder, Encode, Encoder, Sink};

/// The JS script uses the same generator and seed.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

fn uints() -> Vec<u64> {
    let mut r = XorShift(SEED);
    (0..10_000)
        .map(|_| {
            let class = r.next() % 100;
            if class < 60 {
                r.next() % 0xfd
            } else if class < 85 {
                0xfd + r.next() % (0x1_0000 - 0xfd)
            } else if class < 95 {
                0x1_0000 + r.next() % (0x1_0000_0000 - 0x1_0000)
            } else {
                0x1_0000_0000 + r.next() % ((1 << 53) - 0x1_0000_0000)
            }
        })
        .collect()
}

/// FNV-1a 64 of the encoded workloads; `benches/js/compact.mjs` checks the same constants,
/// so all three implementations provably work on identical bytes.
fn fnv1a64(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf2_9ce4_8422_2325, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Length and FNV-1a 64 of the encoded 10 000 uints.
const UINTS_DIGEST: (usize, u64) = (23186, 0x63de_bd9b_ad5d_ff3a);
/// FNV-1a 64 of the encoded message (328 bytes).
const MSG_DIGEST: u64 = 0xd238_2d95_9642_a7b8;

fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut r = XorShift(seed);
    (0..n).map(|_| r.next() as u8).collect()
}

/// A dht-rpc-like request; optional fields are announced by bits of `flags`.
#[derive(Debug, Clone, PartialEq)]
struct Msg {
    tid: u16,
    to: SocketAddrV4,
    id: Option<[u8; 32]>,
    token: Option<[u8; 32]>,
    command: u64,
    target: Option<[u8; 32]>,
    value: Option<Vec<u8>>,
    nodes: Vec<SocketAddrV4>,
}

/// The same message decoded with borrowed byte strings.
#[derive(Debug)]
struct MsgRef<'a> {
    tid: u16,
    to: SocketAddrV4,
    id: Option<[u8; 32]>,
    token: Option<[u8; 32]>,
    command: u64,
    target: Option<[u8; 32]>,
    value: Option<&'a [u8]>,
    nodes: Vec<SocketAddrV4>,
}

fn message() -> Msg {
    let fixed = |seed| -> [u8; 32] { bytes(32, seed).try_into().expect("32 bytes") };
    Msg {
        tid: 0xbeef,
        to: SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 7), 49737),
        id: Some(fixed(1)),
        token: Some(fixed(2)),
        command: 3,
        target: Some(fixed(3)),
        value: Some(bytes(100, 4)),
        nodes: (0..20u8)
            .map(|i| SocketAddrV4::new(Ipv4Addr::new(10, 0, i, 1 + i), 10_000 + u16::from(i)))
            .collect(),
    }
}

impl Msg {
    fn flags(&self) -> u64 {
        u64::from(self.id.is_some())
            | u64::from(self.token.is_some()) << 1
            | u64::from(self.target.is_some()) << 2
            | u64::from(self.value.is_some()) << 3
            | u64::from(!self.nodes.is_empty()) << 4
    }
}

// ---- plures-compact ----------------------------------------------------------------------

impl Encode for Msg {
    fn encode<S: Sink>(&self, s: &mut S) {
        s.uint(self.flags());
        s.u16(self.tid);
        s.ipv4_address(self.to);
        if let Some(id) = &self.id {
            s.fixed(id, 32);
        }
        if let Some(token) = &self.token {
            s.fixed(token, 32);
        }
        s.uint(self.command);
        if let Some(target) = &self.target {
            s.fixed(target, 32);
        }
        if let Some(value) = &self.value {
            s.buffer(value);
        }
        if !self.nodes.is_empty() {
            s.array(&self.nodes, |s, &a| s.ipv4_address(a));
        }
    }
}

fn ours_msg_ref(b: &[u8]) -> Result<MsgRef<'_>, DecodeError> {
    let mut d = Decoder::new(b);
    let flags = d.uint()?;
    let tid = d.u16()?;
    let to = d.ipv4_address()?;
    let id = if flags & 1 != 0 {
        Some(d.fixed()?)
    } else {
        None
    };
    let token = if flags & 2 != 0 {
        Some(d.fixed()?)
    } else {
        None
    };
    let command = d.uint()?;
    let target = if flags & 4 != 0 {
        Some(d.fixed()?)
    } else {
        None
    };
    let value = if flags & 8 != 0 {
        Some(d.buffer()?)
    } else {
        None
    };
    let nodes = if flags & 16 != 0 {
        d.array(Decoder::ipv4_address)?
    } else {
        Vec::new()
    };
    Ok(MsgRef {
        tid,
        to,
        id,
        token,
        command,
        target,
        value,
        nodes,
    })
}

fn ours_msg_owned(b: &[u8]) -> Result<Msg, DecodeError> {
    let m = ours_msg_ref(b)?;
    Ok(Msg {
        tid: m.tid,
        to: m.to,
        id: m.id,
        token: m.token,
        command: m.command,
        target: m.target,
        value: m.value.map(<[u8]>::to_vec),
        nodes: m.nodes,
    })
}

fn ours_uints_encode(v: &[u64]) -> Vec<u8> {
    let mut c = Counter::new();
    for &n in v {
        c.uint(n);
    }
    let mut e = Encoder::with_capacity(c.len());
    for &n in v {
        e.uint(n);
    }
    e.finish().expect("in range")
}

fn ours_uints_decode(b: &[u8], n: usize) -> Result<u64, DecodeError> {
    let mut d = Decoder::new(b);
    let mut acc = 0u64;
    for _ in 0..n {
        acc = acc.wrapping_add(d.uint()?);
    }
    Ok(acc)
}

fn ours_buffer_encode(b: &[u8]) -> Vec<u8> {
    let mut c = Counter::new();
    c.buffer(b);
    let mut e = Encoder::with_capacity(c.len());
    e.buffer(b);
    e.finish().expect("encodable")
}

// ---- datrs compact-encoding ------------------------------------------------------------------

fn datrs_msg_encode(m: &Msg) -> Result<Box<[u8]>, EncodingError> {
    let value: Option<&[u8]> = m.value.as_deref();
    let mut size = m.flags().encoded_size()?
        + m.tid.encoded_size()?
        + m.to.encoded_size()?
        + m.command.encoded_size()?;
    for f in [&m.id, &m.token, &m.target].into_iter().flatten() {
        size += f.encoded_size()?;
    }
    if let Some(v) = &value {
        size += v.encoded_size()?;
    }
    if !m.nodes.is_empty() {
        size += m.nodes.encoded_size()?;
    }
    let mut buf = vec![0u8; size].into_boxed_slice();
    let mut rest = m.flags().encode(&mut buf)?;
    rest = m.tid.encode(rest)?;
    rest = m.to.encode(rest)?;
    if let Some(id) = &m.id {
        rest = id.encode(rest)?;
    }
    if let Some(token) = &m.token {
        rest = token.encode(rest)?;
    }
    rest = m.command.encode(rest)?;
    if let Some(target) = &m.target {
        rest = target.encode(rest)?;
    }
    if let Some(v) = &value {
        rest = v.encode(rest)?;
    }
    if !m.nodes.is_empty() {
        m.nodes.encode(rest)?;
    }
    Ok(buf)
}

fn datrs_msg_decode(b: &[u8]) -> Result<Msg, EncodingError> {
    fn opt<T: CompactEncoding>(on: bool, rest: &[u8]) -> Result<(Option<T>, &[u8]), EncodingError> {
        if !on {
            return Ok((None, rest));
        }
        let (v, r) = T::decode(rest)?;
        Ok((Some(v), r))
    }
    let (flags, rest) = u64::decode(b)?;
    let (tid, rest) = u16::decode(rest)?;
    let (to, rest) = SocketAddrV4::decode(rest)?;
    let (id, rest) = opt::<[u8; 32]>(flags & 1 != 0, rest)?;
    let (token, rest) = opt::<[u8; 32]>(flags & 2 != 0, rest)?;
    let (command, rest) = u64::decode(rest)?;
    let (target, rest) = opt::<[u8; 32]>(flags & 4 != 0, rest)?;
    let (value, rest) = opt::<Vec<u8>>(flags & 8 != 0, rest)?;
    let (nodes, _) = opt::<Vec<SocketAddrV4>>(flags & 16 != 0, rest)?;
    let nodes = nodes.unwrap_or_default();
    Ok(Msg {
        tid,
        to,
        id,
        token,
        command,
        target,
        value,
        nodes,
    })
}

fn datrs_uints_encode(v: &[u64]) -> Result<Box<[u8]>, EncodingError> {
    let mut size = 0;
    for n in v {
        size += n.encoded_size()?;
    }
    let mut buf = vec![0u8; size].into_boxed_slice();
    let mut rest = &mut buf[..];
    for n in v {
        rest = n.encode(rest)?;
    }
    Ok(buf)
}

fn datrs_uints_decode(mut b: &[u8], n: usize) -> Result<u64, EncodingError> {
    let mut acc = 0u64;
    for _ in 0..n {
        let (v, rest) = u64::decode(b)?;
        acc = acc.wrapping_add(v);
        b = rest;
    }
    Ok(acc)
}

// ---- benchmarks ------------------------------------------------------------------------------

fn bench_uints(c: &mut Criterion) {
    let v = uints();
    let ours = ours_uints_encode(&v);
    let datrs = datrs_uints_encode(&v).expect("datrs encode");
    assert_eq!(&ours[..], &datrs[..], "both crates write the same bytes");
    assert_eq!(
        (ours.len(), fnv1a64(&ours)),
        UINTS_DIGEST,
        "same bytes as the JS bench"
    );
    let sum = v.iter().fold(0u64, |a, &n| a.wrapping_add(n));
    assert_eq!(ours_uints_decode(&ours, v.len()).ok(), Some(sum));
    assert_eq!(datrs_uints_decode(&ours, v.len()).ok(), Some(sum));

    let mut g = c.benchmark_group("uint10k-encode");
    g.bench_function("ours", |b| b.iter(|| ours_uints_encode(black_box(&v))));
    g.bench_function("datrs", |b| b.iter(|| datrs_uints_encode(black_box(&v))));
    g.finish();
    let mut g = c.benchmark_group("uint10k-decode");
    g.bench_function("ours", |b| {
        b.iter(|| ours_uints_decode(black_box(&ours), v.len()))
    });
    g.bench_function("datrs", |b| {
        b.iter(|| datrs_uints_decode(black_box(&ours), v.len()))
    });
    g.finish();
}

fn bench_msg(c: &mut Criterion) {
    let m = message();
    let ours = m.to_bytes().expect("encodable");
    let datrs = datrs_msg_encode(&m).expect("datrs encode");
    assert_eq!(ours.len(), 328);
    assert_eq!(&ours[..], &datrs[..], "both crates write the same bytes");
    assert_eq!(fnv1a64(&ours), MSG_DIGEST, "same bytes as the JS bench");
    assert_eq!(ours_msg_owned(&ours).as_ref(), Ok(&m));
    assert_eq!(datrs_msg_decode(&ours).as_ref(), Ok(&m));

    let mut g = c.benchmark_group("msg-encode");
    g.bench_function("ours", |b| b.iter(|| black_box(&m).to_bytes()));
    g.bench_function("datrs", |b| b.iter(|| datrs_msg_encode(black_box(&m))));
    g.finish();
    let mut g = c.benchmark_group("msg-decode");
    g.bench_function("ours", |b| {
        b.iter(|| ours_msg_ref(black_box(&ours)).is_ok())
    });
    g.bench_function("ours-owned", |b| {
        b.iter(|| ours_msg_owned(black_box(&ours)))
    });
    g.bench_function("datrs", |b| b.iter(|| datrs_msg_decode(black_box(&ours))));
    g.finish();
}

fn bench_buffers(c: &mut Criterion) {
    for (name, n) in [("buf1k", 1024), ("buf64k", 64 * 1024)] {
        let payload = bytes(n, 5);
        let ours = ours_buffer_encode(&payload);
        let slice: &[u8] = &payload;
        let datrs = slice.to_encoded_bytes().expect("datrs encode");
        assert_eq!(&ours[..], &datrs[..], "both crates write the same bytes");

        let mut g = c.benchmark_group(format!("{name}-encode"));
        g.bench_function("ours", |b| {
            b.iter(|| ours_buffer_encode(black_box(&payload)))
        });
        g.bench_function("datrs", |b| b.iter(|| black_box(slice).to_encoded_bytes()));
        g.finish();
        let mut g = c.benchmark_group(format!("{name}-decode"));
        g.bench_function("ours", |b| {
            b.iter(|| Decoder::new(black_box(&ours)).buffer())
        });
        g.bench_function("ours-owned", |b| {
            b.iter(|| Decoder::new(black_box(&ours)).buffer().map(<[u8]>::to_vec))
        });
        g.bench_function("datrs", |b| b.iter(|| Vec::<u8>::decode(black_box(&ours))));
        g.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

fn main() {
    let mut c = config().configure_from_args();
    bench_uints(&mut c);
    bench_msg(&mut c);
    bench_buffers(&mut c);
    c.final_summary();
}
