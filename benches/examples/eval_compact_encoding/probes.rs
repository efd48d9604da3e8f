//! Section 2: spec probes the vector file does not cover.

#[allow(unused_imports)]
use super::*;

// ---------------------------------------------------------------------------------------
// 2. Spec probes
// ---------------------------------------------------------------------------------------

pub(super) fn section_probes() -> (Tally, Tally) {
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
pub(super) fn datrs_array_uint(n: &[u64]) -> Result<String, String> {
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
