//! Evaluates the datrs `compact-encoding` crate (Rust registry, 2.x) against the reference vectors
//! recorded from the JS `compact-encoding` 3.5.2 and against `shared/spec/compact-encoding.md`,
//! side by side with `plures-compact`. Findings: `docs/decisions.md`.
//!
//! ```text
//! cargo run --release -p plures-benches --example eval_compact_encoding
//! ```
//!
//! `CE_VECTORS` overrides the vector file (default:
//! `<workspace>/../shared/reference-vectors/compact-encoding.json`).
//!
//! Sections:
//! 1. every reference vector the datrs crate can express, through datrs and through ours;
//! 2. spec-derived probes the vector file does not cover (range, array limit, UTF-8, ...);
//! 3. allocation behaviour of single decodes (borrowing, allocating errors);
//! 4. totality: adversarial and a few thousand seeded pseudo-random inputs fed to every
//!    decoder of both crates inside `catch_unwind`, with the bytes each decode allocated
//!    (counting global allocator). Each decoder runs in a child process (this binary with
//!    `--child`), because a failed allocation aborts the process, which `catch_unwind`
//!    cannot catch; the parent counts such aborts and resumes after the input that caused it.

use std::fmt::{self, Debug};
use std::io::Write;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::unix::process::ExitStatusExt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::process::{Command, Stdio};

use compact_encoding::{CompactEncoding, FixedWidthEncoding, FixedWidthU32, FixedWidthU64};
use peak_alloc::PeakAlloc;
use plures_compact::{Decoder, Encoder, Sink, encode_bitfield};
use serde_json::Value;

#[global_allocator]
static ALLOC: PeakAlloc = PeakAlloc;

// ---------------------------------------------------------------------------------------
// Verdicts
// ---------------------------------------------------------------------------------------

/// The outcome of one check for one implementation.
enum V {
    Pass,
    Fail(String),
    /// The implementation has no codec for this.
    Na(String),
}

impl fmt::Display for V {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pass => write!(f, "pass"),
            Self::Fail(why) => write!(f, "FAIL: {why}"),
            Self::Na(why) => write!(f, "can't express: {why}"),
        }
    }
}

fn na(why: &str) -> V {
    V::Na(why.to_owned())
}

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).expect("vector hex")
}

/// Encodes with datrs, compares with `want_hex`, then decodes `want_hex` and compares with
/// `want` (all bytes must be consumed).
fn datrs_rt<T, D>(value: &T, want_hex: &str, want: &D) -> V
where
    T: CompactEncoding<D> + ?Sized,
    D: PartialEq + Debug,
{
    let enc = match value.to_encoded_bytes() {
        Ok(b) => hex::encode(&*b),
        Err(e) => return V::Fail(format!("encode error: {e}")),
    };
    if enc != want_hex {
        return V::Fail(format!("encodes {enc}"));
    }
    let bytes = unhex(want_hex);
    match T::decode(&bytes) {
        Ok((d, rest)) if &d == want && rest.is_empty() => V::Pass,
        Ok((d, rest)) => V::Fail(format!("decodes {d:?} leaving {} bytes", rest.len())),
        Err(e) => V::Fail(format!("decode error: {e}")),
    }
}

/// The same with plures-compact: `enc` writes the value, `dec` reads it back.
fn ours_rt<T: PartialEq + Debug>(
    enc: impl FnOnce(&mut Encoder),
    want_hex: &str,
    dec: impl FnOnce(&mut Decoder<'_>) -> Result<T, plures_compact::DecodeError>,
    want: &T,
) -> V {
    let mut e = Encoder::new();
    enc(&mut e);
    let enc = match e.finish() {
        Ok(b) => hex::encode(b),
        Err(err) => return V::Fail(format!("encode error: {err}")),
    };
    if enc != want_hex {
        return V::Fail(format!("encodes {enc}"));
    }
    let bytes = unhex(want_hex);
    let mut d = Decoder::new(&bytes);
    match dec(&mut d) {
        Ok(v) if &v == want && d.is_empty() => V::Pass,
        Ok(v) => V::Fail(format!("decodes {v:?} leaving {} bytes", d.remaining())),
        Err(err) => V::Fail(format!("decode error: {err}")),
    }
}

/// Compares a decode result `(value, bytes consumed)` with the expectation: `Some(value)` or
/// `None` for "must fail". `consumed` additionally pins the number of bytes read.
fn expect_dec<T: PartialEq + Debug>(
    got: Result<(T, usize), String>,
    want: Option<&T>,
    consumed: Option<usize>,
) -> V {
    match (got, want) {
        (Ok((v, n)), Some(w)) if &v == w && consumed.is_none_or(|c| c == n) => V::Pass,
        (Ok((v, n)), Some(_)) => V::Fail(format!("decodes {v:?} consuming {n} bytes")),
        (Ok((v, n)), None) => V::Fail(format!("accepts: decodes {v:?} consuming {n} bytes")),
        (Err(_), None) => V::Pass,
        (Err(e), Some(_)) => V::Fail(format!("rejects: {e}")),
    }
}

fn datrs_dec<T: CompactEncoding<D> + ?Sized, D>(b: &[u8]) -> Result<(D, usize), String> {
    T::decode(b)
        .map(|(v, rest)| (v, b.len() - rest.len()))
        .map_err(|e| e.to_string())
}

fn ours_dec<'a, T>(
    b: &'a [u8],
    f: impl FnOnce(&mut Decoder<'a>) -> Result<T, plures_compact::DecodeError>,
) -> Result<(T, usize), String> {
    let mut d = Decoder::new(b);
    f(&mut d)
        .map(|v| (v, d.position()))
        .map_err(|e| e.to_string())
}

fn ours_enc(f: impl FnOnce(&mut Encoder)) -> Result<String, String> {
    let mut e = Encoder::new();
    f(&mut e);
    e.finish().map(hex::encode).map_err(|e| e.to_string())
}

fn expect_enc(got: Result<String, String>, want: Option<&str>) -> V {
    match (got, want) {
        (Ok(h), Some(w)) if h == w => V::Pass,
        (Ok(h), Some(_)) => V::Fail(format!("encodes {h}")),
        (Ok(h), None) => V::Fail(format!("accepts: encodes {h}")),
        (Err(_), None) => V::Pass,
        (Err(e), Some(_)) => V::Fail(format!("rejects: {e}")),
    }
}

fn datrs_enc<T: CompactEncoding<D> + ?Sized, D>(v: &T) -> Result<String, String> {
    v.to_encoded_bytes()
        .map(|b| hex::encode(&*b))
        .map_err(|e| e.to_string())
}

// ---------------------------------------------------------------------------------------
// 1. Reference vectors
// ---------------------------------------------------------------------------------------

fn v4(x: &Value) -> SocketAddrV4 {
    SocketAddrV4::new(
        x["host"].as_str().expect("host").parse().expect("ipv4"),
        x["port"].as_u64().expect("port") as u16,
    )
}

fn v6(x: &Value) -> SocketAddrV6 {
    SocketAddrV6::new(
        x["host"].as_str().expect("host").parse().expect("ipv6"),
        x["port"].as_u64().expect("port") as u16,
        0,
        0,
    )
}

fn check_vector(v: &Value) -> (V, V) {
    let f = v["fn"].as_str().unwrap_or_default();
    let input = &v["input"];
    let hex = v["hex"].as_str().unwrap_or_default();
    let value = &input["value"];
    let out = &v["output"];
    let func = f.split(' ').next().unwrap_or_default();
    match func {
        "c.uint.encode" => {
            let n = value.as_u64().expect("u64");
            (
                datrs_rt(&n, hex, &n),
                ours_rt(|e| e.uint(n), hex, |d| d.uint(), &n),
            )
        }
        "c.uint8.encode" => {
            let n = value.as_u64().expect("u8") as u8;
            (
                datrs_rt(&n, hex, &n),
                ours_rt(|e| e.u8(n), hex, |d| d.u8(), &n),
            )
        }
        "c.uint16.encode" => {
            let n = value.as_u64().expect("u16") as u16;
            (
                datrs_rt(&n, hex, &n),
                ours_rt(|e| e.u16(n), hex, |d| d.u16(), &n),
            )
        }
        "c.uint24.encode" => {
            let n = value.as_u64().expect("u24") as u32;
            (
                na("no uint24 codec"),
                ours_rt(|e| e.u24(n), hex, |d| d.u24(), &n),
            )
        }
        "c.uint32.encode" => {
            let n = value.as_u64().expect("u32") as u32;
            (
                datrs_rt(&n.as_fixed_width(), hex, &n),
                ours_rt(|e| e.u32(n), hex, |d| d.u32(), &n),
            )
        }
        "c.uint64.encode" => {
            let n = value.as_u64().expect("u64");
            (
                datrs_rt(&n.as_fixed_width(), hex, &n),
                ours_rt(|e| e.u64(n), hex, |d| d.u64(), &n),
            )
        }
        "c.int.encode" => {
            let n = value.as_i64().expect("i64");
            (
                na("no signed / zig-zag codec"),
                ours_rt(|e| e.int(n), hex, |d| d.int(), &n),
            )
        }
        "c.buffer.encode" if value.is_null() => (
            na("null is not a Rust &[u8] (JS throws)"),
            na("null is not a Rust &[u8] (JS throws)"),
        ),
        "c.buffer.encode" => {
            let b = unhex(value.as_str().expect("buffer hex"));
            let slice: &[u8] = &b;
            (
                datrs_rt(&slice, hex, &b),
                ours_rt(
                    |e| e.buffer(&b),
                    hex,
                    |d| d.buffer().map(<[u8]>::to_vec),
                    &b,
                ),
            )
        }
        "c.optionalBuffer.encode" => (
            na("no Option codec (an empty &[u8] writes the same 00, but decode never yields None)"),
            ours_rt(
                |e| e.optional_buffer(None),
                hex,
                |d| d.optional_buffer().map(|o| o.map(<[u8]>::to_vec)),
                &None,
            ),
        ),
        "c.fixed32.encode" => {
            let b: [u8; 32] = unhex(value.as_str().expect("hex")).try_into().expect("32");
            (
                datrs_rt(&b, hex, &b),
                ours_rt(|e| e.fixed(&b, 32), hex, |d| d.fixed::<32>(), &b),
            )
        }
        "c.fixed64.encode" => {
            let b: [u8; 64] = unhex(value.as_str().expect("hex")).try_into().expect("64");
            (
                datrs_rt(&b, hex, &b),
                ours_rt(|e| e.fixed(&b, 64), hex, |d| d.fixed::<64>(), &b),
            )
        }
        "c.string.encode" => {
            let s = value.as_str().expect("string").to_owned();
            (
                datrs_rt(s.as_str(), hex, &s),
                ours_rt(
                    |e| e.string(&s),
                    hex,
                    |d| d.string().map(|c| c.into_owned()),
                    &s,
                ),
            )
        }
        "c.bool.encode" => {
            let b = value.as_bool().expect("bool");
            (
                na("no bool codec"),
                ours_rt(|e| e.bool(b), hex, |d| d.bool(), &b),
            )
        }
        "c.array(c.uint).encode" => {
            let ns: Vec<u64> = value
                .as_array()
                .expect("array")
                .iter()
                .map(|x| x.as_u64().expect("u64"))
                .collect();
            // datrs' only counted integer array is Vec<u32> (u64 has no VecEncodable).
            let n32: Vec<u32> = ns.iter().map(|&n| n as u32).collect();
            let datrs = match datrs_rt(&n32, hex, &n32) {
                V::Fail(why) => V::Fail(format!(
                    "Vec<u32> {why} (its elements are fixed-width u32, while a lone u32 is a \
                     varint); hand-composing usize count + u64 elements gives the right bytes"
                )),
                other => other,
            };
            (
                datrs,
                ours_rt(
                    |e| e.array(&ns, |e, &n| e.uint(n)),
                    hex,
                    |d| d.array(Decoder::uint),
                    &ns,
                ),
            )
        }
        "c.array(c.ipv4Address).encode" => {
            let addrs: Vec<SocketAddrV4> =
                value.as_array().expect("array").iter().map(v4).collect();
            (
                datrs_rt(&addrs, hex, &addrs),
                ours_rt(
                    |e| e.array(&addrs, |e, &a| e.ipv4_address(a)),
                    hex,
                    |d| d.array(Decoder::ipv4_address),
                    &addrs,
                ),
            )
        }
        "c.ipv4Address.encode" => {
            let a = v4(input);
            (
                datrs_rt(&a, hex, &a),
                ours_rt(|e| e.ipv4_address(a), hex, |d| d.ipv4_address(), &a),
            )
        }
        "c.ipv6Address.encode" => {
            let a = v6(input);
            (
                datrs_rt(&a, hex, &a),
                ours_rt(|e| e.ipv6_address(a), hex, |d| d.ipv6_address(), &a),
            )
        }
        "compact-encoding-net" => {
            let a = SocketAddr::new(
                input["host"].as_str().expect("host").parse().expect("ip"),
                input["port"].as_u64().expect("port") as u16,
            );
            (
                na("no ip / ipAddress (family byte) codec"),
                ours_rt(|e| e.ip_address(a), hex, |d| d.ip_address(), &a),
            )
        }
        _ if f.starts_with("c.decode(") => {
            let b = unhex(input["hex"].as_str().expect("hex"));
            let want = &out["value"];
            let fails = out.get("error").is_some();
            if f.starts_with("c.decode(c.uint,") {
                let w = (!fails).then(|| want.as_u64().expect("u64"));
                (
                    expect_dec(datrs_dec::<u64, u64>(&b), w.as_ref(), None),
                    expect_dec(ours_dec(&b, Decoder::uint), w.as_ref(), None),
                )
            } else if f.starts_with("c.decode(c.buffer,") {
                let w = (!fails).then(|| unhex(want.as_str().expect("hex")));
                (
                    expect_dec(datrs_dec::<Vec<u8>, Vec<u8>>(&b), w.as_ref(), None),
                    expect_dec(
                        ours_dec(&b, |d| d.buffer().map(<[u8]>::to_vec)),
                        w.as_ref(),
                        None,
                    ),
                )
            } else if f.starts_with("c.decode(c.ipv4Address,") {
                let w = (!fails).then(|| v4(want));
                (
                    expect_dec(
                        datrs_dec::<SocketAddrV4, SocketAddrV4>(&b),
                        w.as_ref(),
                        None,
                    ),
                    expect_dec(ours_dec(&b, Decoder::ipv4_address), w.as_ref(), None),
                )
            } else if f.starts_with("c.decode(c.bool,") {
                let w = (!fails).then(|| want.as_bool().expect("bool"));
                (
                    na("no bool codec"),
                    expect_dec(ours_dec(&b, Decoder::bool), w.as_ref(), None),
                )
            } else {
                (na("unmapped"), na("unmapped"))
            }
        }
        _ => (na("unmapped"), na("unmapped")),
    }
}

#[derive(Default)]
struct Tally {
    pass: usize,
    fail: usize,
    na: usize,
}

impl Tally {
    fn add(&mut self, v: &V) {
        match v {
            V::Pass => self.pass += 1,
            V::Fail(_) => self.fail += 1,
            V::Na(_) => self.na += 1,
        }
    }
}

impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} pass, {} FAIL, {} can't express",
            self.pass, self.fail, self.na
        )
    }
}

fn print_row(name: &str, datrs: &V, ours: &V) {
    println!("| {name} | {datrs} | {ours} |");
}

fn section_vectors() -> (Tally, Tally) {
    let path = std::env::var("CE_VECTORS").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/reference-vectors/compact-encoding.json"
        )
        .to_owned()
    });
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let json: Value = serde_json::from_str(&text).expect("vector json");
    let vectors = json["vectors"].as_array().expect("vectors[]");
    println!(
        "## 1. Reference vectors ({} from {path}, JS compact-encoding {})\n",
        vectors.len(),
        json["versions"]["compact-encoding"]
    );
    println!(
        "Encode vectors: encode the value, compare bytes, decode the bytes back (all consumed)."
    );
    println!("Decode vectors: decode the hex, compare the value or expect an error.\n");
    println!("| vector | datrs compact-encoding 2.x | plures-compact |");
    println!("| --- | --- | --- |");
    let (mut td, mut to) = (Tally::default(), Tally::default());
    for v in vectors {
        let (d, o) = check_vector(v);
        print_row(v["name"].as_str().unwrap_or("?"), &d, &o);
        td.add(&d);
        to.add(&o);
    }
    println!("\nvectors: datrs {td}; plures-compact {to}\n");
    (td, to)
}

// ---------------------------------------------------------------------------------------
// 2. Spec probes
// ---------------------------------------------------------------------------------------

fn section_probes() -> (Tally, Tally) {
    println!(
        "## 2. Spec probes (shared/spec/compact-encoding.md; expected = JS 3.5.2 behaviour)\n"
    );
    println!("| probe | spec | datrs compact-encoding 2.x | plures-compact |");
    println!("| --- | --- | --- | --- |");
    let (mut td, mut to) = (Tally::default(), Tally::default());
    let mut row = |name: &str, spec: &str, d: V, o: V| {
        println!("| {name} | {spec} | {d} | {o} |");
        td.add(&d);
        to.add(&o);
    };

    let b = unhex("ff0000000000002000");
    row(
        "uint decode ff0000000000002000 (2^53) -> error",
        "§2.1, §7",
        expect_dec(datrs_dec::<u64, u64>(&b), None, None),
        expect_dec(ours_dec(&b, Decoder::uint), None, None),
    );
    let b = unhex("ffffffffffffffffff");
    row(
        "uint decode ff ff*8 (2^64-1) -> error",
        "§2.1",
        expect_dec(datrs_dec::<u64, u64>(&b), None, None),
        expect_dec(ours_dec(&b, Decoder::uint), None, None),
    );
    row(
        "uint encode 2^53 -> error (JS throws)",
        "§2.1",
        expect_enc(datrs_enc(&(1u64 << 53)), None),
        expect_enc(ours_enc(|e| e.uint(1 << 53)), None),
    );
    row(
        "uint64 encode 2^53 -> error (JS throws)",
        "§2.2",
        expect_enc(datrs_enc(&(1u64 << 53).as_fixed_width()), None),
        expect_enc(ours_enc(|e| e.u64(1 << 53)), None),
    );
    let b = unhex("ffffffffffffff2000");
    row(
        "uint64 decode ffffffffffffff2000.. (> 2^53-1) -> error",
        "§2.2",
        expect_dec(
            FixedWidthU64::decode(&b[1..])
                .map(|(v, r)| (v, 8 - r.len()))
                .map_err(|e| e.to_string()),
            None,
            None,
        ),
        expect_dec(ours_dec(&b[1..], Decoder::u64), None, None),
    );
    let b = unhex("ff0100000000000000");
    row(
        "u32-typed uint decode of 9-byte form of 1 -> 1, 9 bytes",
        "§2.1 (non-minimal accepted)",
        expect_dec(datrs_dec::<u32, u32>(&b), Some(&1), Some(9)),
        expect_dec(
            ours_dec(&b, |d| d.uint().map(|n| n as u32)),
            Some(&1),
            Some(9),
        ),
    );
    let b = unhex("ff0000000001000000");
    row(
        "u32-typed uint decode of 2^32 -> error (does not fit)",
        "§2.1",
        expect_dec(datrs_dec::<u32, u32>(&b), None, None),
        expect_dec(
            ours_dec(&b, |d| {
                d.uint().and_then(|n| {
                    u32::try_from(n).map_err(|_| plures_compact::DecodeError::Invalid("u32"))
                })
            }),
            None,
            None,
        ),
    );
    let b = unhex("fd0500");
    row(
        "uint decode fd0500 (non-minimal) -> 5",
        "§2.1, §7",
        expect_dec(datrs_dec::<u64, u64>(&b), Some(&5), Some(3)),
        expect_dec(ours_dec(&b, Decoder::uint), Some(&5), Some(3)),
    );
    for h in ["", "fd", "fd05", "fe010000", "ff01000000000000"] {
        let b = unhex(h);
        row(
            &format!("uint decode truncated '{h}' -> error"),
            "§2.1",
            expect_dec(datrs_dec::<u64, u64>(&b), None, None),
            expect_dec(ours_dec(&b, Decoder::uint), None, None),
        );
    }
    // Array count limit: a full, valid-looking input with count 0x100001.
    let mut big = unhex("fe01001000");
    big.resize(5 + 0x10_0001 * 6, 0);
    row(
        "array(ipv4Address) count 0x100001 with all elements present -> error",
        "§4.3, §7 (Array is too big)",
        expect_dec(
            datrs_dec::<Vec<SocketAddrV4>, Vec<SocketAddrV4>>(&big).map(|(v, n)| (v.len(), n)),
            None,
            None,
        ),
        expect_dec(
            ours_dec(&big, |d| d.array(Decoder::ipv4_address)).map(|(v, n)| (v.len(), n)),
            None,
            None,
        ),
    );
    let b = unhex("fe01001000");
    row(
        "array decode fe01001000 (count 0x100001, no elements) -> error",
        "§7",
        expect_dec(
            datrs_dec::<Vec<SocketAddrV4>, Vec<SocketAddrV4>>(&b),
            None,
            None,
        ),
        expect_dec(ours_dec(&b, |d| d.array(Decoder::ipv4_address)), None, None),
    );
    let mut ok = unhex("fe00001000");
    ok.resize(5 + 0x10_0000 * 6, 0);
    row(
        "array(ipv4Address) count 0x100000 (the limit) -> accepted",
        "§4.3",
        expect_dec(
            datrs_dec::<Vec<SocketAddrV4>, Vec<SocketAddrV4>>(&ok).map(|(v, n)| (v.len(), n)),
            Some(&0x10_0000),
            None,
        ),
        expect_dec(
            ours_dec(&ok, |d| d.array(Decoder::ipv4_address)).map(|(v, n)| (v.len(), n)),
            Some(&0x10_0000),
            None,
        ),
    );
    let n = [1u64, 300, 70000];
    row(
        "array(uint) [1,300,70000] hand-composed (usize count + u64 elements)",
        "§4.3",
        expect_enc(datrs_array_uint(&n), Some("0301fd2c01fe70110100")),
        expect_enc(
            ours_enc(|e| e.array(&n, |e, &x| e.uint(x))),
            Some("0301fd2c01fe70110100"),
        ),
    );
    for (h, want) in [
        ("02ff41", "\u{FFFD}A"),
        ("03e080af", "\u{FFFD}\u{FFFD}\u{FFFD}"),
        ("04f09f9841", "\u{FFFD}A"),
    ] {
        let b = unhex(h);
        let want = want.to_owned();
        row(
            &format!("string decode invalid UTF-8 {h} -> {want:?} (lossy, like Node)"),
            "§3.3",
            expect_dec(datrs_dec::<String, String>(&b), Some(&want), None),
            expect_dec(
                ours_dec(&b, |d| d.string().map(|c| c.into_owned())),
                Some(&want),
                None,
            ),
        );
    }
    let b = unhex("00");
    row(
        "optionalBuffer decode 00 -> null",
        "§3.2",
        na("no Option codec"),
        expect_dec(ours_dec(&b, |d| d.optional_buffer()), Some(&None), None),
    );
    for (h, want) in [("00", false), ("01", true), ("02", false), ("ff", false)] {
        let b = unhex(h);
        row(
            &format!("bool decode {h} -> {want}"),
            "§4.1",
            na("no bool codec"),
            expect_dec(ours_dec(&b, Decoder::bool), Some(&want), None),
        );
    }
    for (n, h) in [
        ((1i64 << 52) - 1, "fffeffffffffff1f00"),
        (-(1i64 << 52), "ffffffffffffff1f00"),
        (63, "7e"),
        (-64, "7f"),
        (127, "fdfe00"),
    ] {
        row(
            &format!("int {n} -> {h}"),
            "§2.3",
            na("no signed / zig-zag codec"),
            expect_enc(ours_enc(|e| e.int(n)), Some(h)),
        );
    }
    row(
        "int encode 2^52 -> error",
        "§2.3",
        na("no signed / zig-zag codec"),
        expect_enc(ours_enc(|e| e.int(1 << 52)), None),
    );
    row(
        "uint24 0x123456 -> 563412",
        "§7",
        na("no uint24 codec"),
        expect_enc(ours_enc(|e| e.u24(0x12_3456)), Some("563412")),
    );
    row(
        "uint32be 0x12345678 -> 12345678",
        "§7",
        na("no big-endian codecs"),
        expect_enc(ours_enc(|e| e.uint_be(0x1234_5678, 4)), Some("12345678")),
    );
    row(
        "uint64be 0x123456789abc",
        "§2.2",
        na("no big-endian codecs"),
        expect_enc(
            ours_enc(|e| e.uint_be(0x1234_5678_9abc, 8)),
            Some("0000123456789abc"),
        ),
    );
    row(
        "uint64 0x123456789abc -> bc9a785634120000",
        "§7",
        expect_enc(
            datrs_enc(&0x1234_5678_9abcu64.as_fixed_width()),
            Some("bc9a785634120000"),
        ),
        expect_enc(
            ours_enc(|e| e.u64(0x1234_5678_9abc)),
            Some("bc9a785634120000"),
        ),
    );
    let ip6: Ipv6Addr = "fe80::1:2".parse().expect("ipv6");
    row(
        "ipv6 fe80::1:2 -> fe800000000000000000000000010002",
        "§7",
        expect_enc(datrs_enc(&ip6), Some("fe800000000000000000000000010002")),
        expect_enc(
            ours_enc(|e| e.ipv6(ip6)),
            Some("fe800000000000000000000000010002"),
        ),
    );
    let a: SocketAddr = "1.2.3.4:80".parse().expect("addr");
    row(
        "ipAddress 1.2.3.4:80 -> 04010203045000",
        "§5.4, §7",
        na("no ip / ipAddress codec"),
        expect_enc(ours_enc(|e| e.ip_address(a)), Some("04010203045000")),
    );
    let b = unhex("05000000000000000000000000000000015000");
    row(
        "ipAddress decode family 5 -> read as IPv6",
        "§5.4",
        na("no ip / ipAddress codec"),
        expect_dec(
            ours_dec(&b, Decoder::ip_address),
            Some(&"[::1]:80".parse().expect("addr")),
            None,
        ),
    );
    row(
        "frame(string) \"ab\" -> 03026162",
        "§4.4, §7",
        na("no frame codec"),
        expect_enc(
            ours_enc(|e| {
                e.uint(3);
                e.string("ab");
            }),
            Some("03026162"),
        ),
    );
    let b = unhex("0402616263ff");
    row(
        "frame(string) decode skips the rest of the frame",
        "§4.4",
        na("no frame codec"),
        expect_dec(
            ours_dec(&b, |d| d.frame(|f| f.string().map(|c| c.into_owned()))),
            Some(&"ab".to_owned()),
            Some(5),
        ),
    );
    row(
        "bitfield(7) 5 -> 05",
        "§4.5, §7",
        na("no bitfield codec"),
        expect_enc(ours_enc(|e| encode_bitfield(e, 5, 7)), Some("05")),
    );
    row(
        "bitfield(16) 0x0102 -> fd0201",
        "§4.5",
        na("no bitfield codec"),
        expect_enc(ours_enc(|e| encode_bitfield(e, 0x0102, 16)), Some("fd0201")),
    );
    let b = unhex("9fb356611daf1a0727bc739d4701839f68ef0fbec519d88ed801f4f079e82d");
    row(
        "fixed32 decode of 31 bytes -> error",
        "§3.4",
        expect_dec(datrs_dec::<[u8; 32], [u8; 32]>(&b), None, None),
        expect_dec(ours_dec(&b, Decoder::fixed::<32>), None, None),
    );
    row(
        "fixed(32) encode of 31 bytes -> error",
        "§3.4",
        na("[u8; 32] makes a wrong length a type error"),
        expect_enc(ours_enc(|e| e.fixed(&b, 32)), None),
    );
    let b = unhex("05ff");
    row(
        "top-level decode ignores trailing bytes (05ff -> 5)",
        "§1",
        expect_dec(datrs_dec::<u64, u64>(&b), Some(&5), Some(1)),
        expect_dec(ours_dec(&b, Decoder::uint), Some(&5), Some(1)),
    );
    println!("\nprobes: datrs {td}; plures-compact {to}\n");
    (td, to)
}

/// `array(uint)` of `n` written with datrs' building blocks: a `usize` count, then `u64`
/// varints.
fn datrs_array_uint(n: &[u64]) -> Result<String, String> {
    let mut size = n.len().encoded_size().map_err(|e| e.to_string())?;
    for x in n {
        size += x.encoded_size().map_err(|e| e.to_string())?;
    }
    let mut buf = vec![0u8; size];
    let mut rest = n.len().encode(&mut buf).map_err(|e| e.to_string())?;
    for x in n {
        rest = x.encode(rest).map_err(|e| e.to_string())?;
    }
    Ok(hex::encode(&buf))
}

// ---------------------------------------------------------------------------------------
// 3. Allocation behaviour of single decodes
// ---------------------------------------------------------------------------------------

/// Runs `f` and returns its result and the peak number of bytes allocated meanwhile above
/// what was allocated before.
fn measure<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let base = ALLOC.current_usage();
    ALLOC.reset_peak_usage();
    let out = f();
    (out, ALLOC.peak_usage().saturating_sub(base))
}

fn section_alloc() {
    println!("## 3. Allocation of single decodes (bytes allocated during the call)\n");
    println!("| decode | input | datrs | plures-compact |");
    println!("| --- | --- | --- | --- |");
    let row = |what: &str, b: &[u8], d: fn(&[u8]) -> bool, o: fn(&[u8]) -> bool| {
        let (_, da) = measure(|| d(b));
        let (_, oa) = measure(|| o(b));
        println!("| {what} | {} bytes | {da} B | {oa} B |", b.len());
    };
    row(
        "uint, truncated fd05 (error path)",
        &unhex("fd05"),
        |b| u64::decode(b).is_ok(),
        |b| Decoder::new(b).uint().is_ok(),
    );
    row(
        "ipv4Address, too short (error path)",
        &unhex("7f000001"),
        |b| SocketAddrV4::decode(b).is_ok(),
        |b| Decoder::new(b).ipv4_address().is_ok(),
    );
    row(
        "string \"hello\"",
        &unhex("0568656c6c6f"),
        |b| String::decode(b).is_ok(),
        |b| Decoder::new(b).string().is_ok(),
    );
    let mut kib = unhex("fd0004");
    kib.resize(3 + 1024, 7);
    row(
        "buffer of 1 KiB",
        &kib,
        |b| Vec::<u8>::decode(b).is_ok(),
        |b| Decoder::new(b).buffer().is_ok(),
    );
    let mut arr = vec![20u8];
    arr.resize(1 + 20 * 6, 1);
    row(
        "array of 20 ipv4Address",
        &arr,
        |b| Vec::<SocketAddrV4>::decode(b).is_ok(),
        |b| Decoder::new(b).array(Decoder::ipv4_address).is_ok(),
    );
    println!();
}

// ---------------------------------------------------------------------------------------
// 4. Totality
// ---------------------------------------------------------------------------------------

type DecodeFn = fn(&[u8]) -> bool;

fn dd<T: CompactEncoding<D>, D>(b: &[u8]) -> bool {
    T::decode(b).is_ok()
}

/// Every decoder of the datrs crate, by the type it decodes.
const DATRS: &[(&str, DecodeFn)] = &[
    ("u8", dd::<u8, u8>),
    ("u16", dd::<u16, u16>),
    ("u32 (varint)", dd::<u32, u32>),
    ("u64 (varint)", dd::<u64, u64>),
    ("usize (varint)", dd::<usize, usize>),
    ("FixedWidthU32", |b| FixedWidthU32::decode(b).is_ok()),
    ("FixedWidthU64", |b| FixedWidthU64::decode(b).is_ok()),
    ("String", dd::<String, String>),
    ("Vec<u8>", dd::<Vec<u8>, Vec<u8>>),
    ("Box<[u8]>", dd::<Box<[u8]>, Box<[u8]>>),
    ("[u8; 32]", dd::<[u8; 32], [u8; 32]>),
    ("[u8; 64]", dd::<[u8; 64], [u8; 64]>),
    ("Ipv4Addr", dd::<Ipv4Addr, Ipv4Addr>),
    ("Ipv6Addr", dd::<Ipv6Addr, Ipv6Addr>),
    ("SocketAddrV4", dd::<SocketAddrV4, SocketAddrV4>),
    ("SocketAddrV6", dd::<SocketAddrV6, SocketAddrV6>),
    ("Vec<u32>", dd::<Vec<u32>, Vec<u32>>),
    ("Vec<[u8; 32]>", dd::<Vec<[u8; 32]>, Vec<[u8; 32]>>),
    (
        "Vec<SocketAddrV4>",
        dd::<Vec<SocketAddrV4>, Vec<SocketAddrV4>>,
    ),
    (
        "Vec<SocketAddrV6>",
        dd::<Vec<SocketAddrV6>, Vec<SocketAddrV6>>,
    ),
    ("Vec<String>", dd::<Vec<String>, Vec<String>>),
    ("Vec<Vec<u8>>", dd::<Vec<Vec<u8>>, Vec<Vec<u8>>>),
];

/// The plures-compact decoders.
const OURS: &[(&str, DecodeFn)] = &[
    ("uint", |b| Decoder::new(b).uint().is_ok()),
    ("int", |b| Decoder::new(b).int().is_ok()),
    ("uint8", |b| Decoder::new(b).u8().is_ok()),
    ("uint16", |b| Decoder::new(b).u16().is_ok()),
    ("uint24", |b| Decoder::new(b).u24().is_ok()),
    ("uint32", |b| Decoder::new(b).u32().is_ok()),
    ("uint64", |b| Decoder::new(b).u64().is_ok()),
    ("uint64be", |b| Decoder::new(b).uint_be(8).is_ok()),
    ("bool", |b| Decoder::new(b).bool().is_ok()),
    ("buffer", |b| Decoder::new(b).buffer().is_ok()),
    ("optionalBuffer", |b| {
        Decoder::new(b).optional_buffer().is_ok()
    }),
    ("string", |b| Decoder::new(b).string().is_ok()),
    ("fixed32", |b| Decoder::new(b).fixed::<32>().is_ok()),
    ("fixed64", |b| Decoder::new(b).fixed::<64>().is_ok()),
    ("ipv4Address", |b| Decoder::new(b).ipv4_address().is_ok()),
    ("ipv6Address", |b| Decoder::new(b).ipv6_address().is_ok()),
    ("ipAddress", |b| Decoder::new(b).ip_address().is_ok()),
    ("array(uint)", |b| {
        Decoder::new(b).array(Decoder::uint).is_ok()
    }),
    ("array(fixed32)", |b| {
        Decoder::new(b).array(Decoder::fixed::<32>).is_ok()
    }),
    ("array(ipv4Address)", |b| {
        Decoder::new(b).array(Decoder::ipv4_address).is_ok()
    }),
    ("array(ipv6Address)", |b| {
        Decoder::new(b).array(Decoder::ipv6_address).is_ok()
    }),
    ("array(string)", |b| {
        Decoder::new(b).array(Decoder::string).is_ok()
    }),
    ("array(buffer)", |b| {
        Decoder::new(b).array(Decoder::buffer).is_ok()
    }),
    ("frame(string)", |b| {
        Decoder::new(b).frame(Decoder::string).is_ok()
    }),
    ("bitfield(7)", |b| Decoder::new(b).bitfield(7).is_ok()),
    ("bitfield(64)", |b| Decoder::new(b).bitfield(64).is_ok()),
];

const N_UNIFORM: usize = 2048;
const N_PREFIXED: usize = 1024;
const SEED: u64 = 0x5eed_c0de_2026_0001;

/// The adversarial inputs: name, hex prefix, number of zero bytes appended.
const ADVERSARIAL: &[(&str, &str, usize)] = &[
    ("empty input", "", 0),
    ("fd01 (truncated varint)", "fd01", 0),
    ("ff (truncated varint)", "ff", 0),
    ("uint 2^53 (ff0000000000002000)", "ff0000000000002000", 0),
    (
        "9-byte form of 1 (ff0100000000000000)",
        "ff0100000000000000",
        0,
    ),
    ("len/count 2^31-1 (feffffff7f)", "feffffff7f", 0),
    (
        "len/count 2^32 (ff0000000001000000)",
        "ff0000000001000000",
        0,
    ),
    (
        "len/count 2^53-1 (ffffffffffffff1f00)",
        "ffffffffffffff1f00",
        0,
    ),
    (
        "len/count 2^64-1 (ffffffffffffffffff)",
        "ffffffffffffffffff",
        0,
    ),
    ("count 2^31-1 + 1 KiB zeros", "feffffff7f", 1024),
    ("count 2^32 + 1 KiB zeros", "ff0000000001000000", 1024),
    (
        "count 0x100000 (the limit) + 1 MiB zeros",
        "fe00001000",
        1 << 20,
    ),
    (
        "count 0x100001 + 32 MiB zeros",
        "fe01001000",
        0x10_0001 * 32,
    ),
    ("invalid UTF-8 (02ff41)", "02ff41", 0),
];

/// xorshift64* seeded through splitmix64, one stream per corpus index.
struct Rng(u64);

impl Rng {
    fn new(i: u64) -> Self {
        let mut z = SEED.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        Self((z ^ (z >> 31)) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn corpus_len() -> usize {
    ADVERSARIAL.len() + N_UNIFORM + N_PREFIXED
}

/// Input `i` of the totality corpus: the adversarial inputs, then `N_UNIFORM` uniformly
/// random byte strings of 0..64 bytes, then `N_PREFIXED` that start with a varint prefix
/// byte (fd, fe, ff) so that lengths and counts are large.
fn corpus_item(i: usize) -> (String, Vec<u8>) {
    if let Some(&(name, prefix, zeros)) = ADVERSARIAL.get(i) {
        let mut b = unhex(prefix);
        b.resize(b.len() + zeros, 0);
        return (name.to_owned(), b);
    }
    let j = i - ADVERSARIAL.len();
    let mut rng = Rng::new(i as u64);
    let len = (rng.next() % 64) as usize;
    let mut b: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
    if j >= N_UNIFORM {
        let prefix = [0xfd, 0xfe, 0xff][(rng.next() % 3) as usize];
        b.insert(0, prefix);
        (format!("prefixed random #{}", j - N_UNIFORM), b)
    } else {
        (format!("random #{j}"), b)
    }
}

fn decoder(imp: &str, idx: usize) -> (&'static str, DecodeFn) {
    if imp == "datrs" {
        DATRS[idx]
    } else {
        OURS[idx]
    }
}

/// Child mode: decode corpus inputs from `start` with one decoder, one line per input:
/// `index outcome bytes_allocated`. Flushes each line, so the parent knows where an abort hit.
fn child(imp: &str, idx: usize, start: usize) {
    std::panic::set_hook(Box::new(|_| {}));
    let (_, f) = decoder(imp, idx);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    for i in start..corpus_len() {
        let (_, bytes) = corpus_item(i);
        let (r, extra) = measure(|| catch_unwind(AssertUnwindSafe(|| f(&bytes))));
        let (outcome, message) = match r {
            Ok(true) => ("ok", String::new()),
            Ok(false) => ("err", String::new()),
            Err(payload) => (
                "panic",
                payload
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_default(),
            ),
        };
        writeln!(out, "{i} {outcome} {extra} {message}").expect("stdout");
        out.flush().expect("flush");
    }
}

#[derive(Default)]
struct Totality {
    ok: usize,
    err: usize,
    panic: usize,
    abort: usize,
    /// Largest allocation during one decode, and the input.
    max_alloc: (usize, String),
    /// Largest allocation request that failed (from the abort message).
    max_failed: usize,
    /// Inputs whose decode allocated more than 4 KiB beyond the input's own length.
    amplified: usize,
    /// Error results that allocated.
    alloc_errors: usize,
    notable: Vec<String>,
    /// The distinct panic messages.
    panic_messages: Vec<String>,
}

fn run_decoder(imp: &str, idx: usize) -> Totality {
    let exe = std::env::current_exe().expect("current_exe");
    let n = corpus_len();
    let (names, lens): (Vec<String>, Vec<usize>) = (0..n)
        .map(|i| {
            let (name, b) = corpus_item(i);
            (name, b.len())
        })
        .unzip();
    let mut t = Totality::default();
    let mut start = 0;
    while start < n {
        let output = Command::new(&exe)
            .args(["--child", imp, &idx.to_string(), &start.to_string()])
            .stdin(Stdio::null())
            .output()
            .expect("spawn child");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let mut next = start;
        for line in stdout.lines() {
            let mut it = line.splitn(4, ' ');
            let (Some(i), Some(outcome), Some(extra)) = (it.next(), it.next(), it.next()) else {
                continue;
            };
            let message = it.next().unwrap_or_default();
            let (i, extra): (usize, usize) = (i.parse().expect("i"), extra.parse().expect("n"));
            next = i + 1;
            match outcome {
                "ok" => t.ok += 1,
                "err" => {
                    t.err += 1;
                    if extra > 0 {
                        t.alloc_errors += 1;
                    }
                }
                _ => {
                    t.panic += 1;
                    if !t.panic_messages.iter().any(|m| m == message) {
                        t.panic_messages.push(message.to_owned());
                    }
                    if i < ADVERSARIAL.len() {
                        t.notable.push(format!(
                            "{} ({} bytes): panic \"{message}\" after allocating {extra} bytes",
                            names[i], lens[i]
                        ));
                    }
                }
            }
            if extra > t.max_alloc.0 {
                t.max_alloc = (extra, names[i].clone());
            }
            if extra > lens[i] + 4096 {
                t.amplified += 1;
                if i < ADVERSARIAL.len() {
                    t.notable.push(format!(
                        "{} ({} bytes): {outcome} after allocating {extra} bytes",
                        names[i], lens[i]
                    ));
                }
            }
        }
        if output.status.success() {
            break;
        }
        // The child died on input `next`: an abort (failed allocation) or a crash.
        let stderr = String::from_utf8_lossy(&output.stderr);
        let failed = stderr
            .lines()
            .filter_map(|l| l.strip_prefix("memory allocation of "))
            .filter_map(|l| l.split(' ').next()?.parse::<usize>().ok())
            .next_back();
        t.abort += 1;
        if let Some(f) = failed {
            t.max_failed = t.max_failed.max(f);
        }
        if next < n && next < ADVERSARIAL.len() {
            t.notable.push(format!(
                "{} ({} bytes): process ABORTED (signal {:?}){}",
                names[next],
                lens[next],
                output.status.signal(),
                failed.map_or(String::new(), |f| format!(", failed to allocate {f} bytes")),
            ));
        }
        start = next + 1;
    }
    t
}

fn section_totality() -> (usize, usize) {
    println!(
        "## 4. Totality: {} adversarial + {N_UNIFORM} random + {N_PREFIXED} varint-prefixed random inputs (seed {SEED:#x}) per decoder\n",
        ADVERSARIAL.len()
    );
    println!(
        "Each decode runs in catch_unwind in a child process; ABORT = the child was killed by a failed allocation (uncatchable)."
    );
    println!(
        "'> input+4KiB' counts decodes that allocated more than 4 KiB beyond their input's length.\n"
    );
    println!(
        "| crate | decoder | ok | err | panic (message) | ABORT | > input+4KiB | errors that allocate | max allocated by one decode | largest failed request |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
    let mut notable = Vec::new();
    let (mut bad_datrs, mut bad_ours) = (0, 0);
    for (imp, list) in [("datrs", DATRS), ("ours", OURS)] {
        for (idx, (name, _)) in list.iter().enumerate() {
            let t = run_decoder(imp, idx);
            println!(
                "| {imp} | {name} | {} | {} | {}{} | {} | {} | {} | {} B{} | {} |",
                t.ok,
                t.err,
                t.panic,
                if t.panic_messages.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", t.panic_messages.join("; "))
                },
                t.abort,
                t.amplified,
                t.alloc_errors,
                t.max_alloc.0,
                if t.max_alloc.0 > 0 {
                    format!(" ({})", t.max_alloc.1)
                } else {
                    String::new()
                },
                if t.max_failed > 0 {
                    format!("{} B", t.max_failed)
                } else {
                    "-".to_owned()
                }
            );
            let bad = t.panic + t.abort;
            if imp == "datrs" {
                bad_datrs += bad;
            } else {
                bad_ours += bad;
            }
            notable.extend(t.notable.iter().map(|n| format!("{imp} {name}: {n}")));
        }
    }
    println!("\nNotable adversarial outcomes (panic, abort, or > input + 4 KiB allocated):\n");
    for n in &notable {
        println!("- {n}");
    }
    println!();
    (bad_datrs, bad_ours)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        let idx = args[3].parse().expect("decoder index");
        let start = args[4].parse().expect("start");
        child(&args[2], idx, start);
        return;
    }
    println!("# datrs compact-encoding vs plures-compact\n");
    let (vd, vo) = section_vectors();
    let (pd, po) = section_probes();
    section_alloc();
    let (td, to) = section_totality();
    println!("## Summary\n");
    println!("- reference vectors: datrs {vd}; plures-compact {vo}");
    println!("- spec probes: datrs {pd}; plures-compact {po}");
    println!("- totality: datrs {td} decodes panicked or aborted the process; plures-compact {to}");
}
